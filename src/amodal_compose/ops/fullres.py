"""Low-resolution network outputs applied as full-resolution edits.

The networks see a crop resized to the side they were trained on; the image they edit is often ten
times larger. These functions carry each kind of output back to the image's resolution without
replacing pixels the network was not asked to change:

* a **soft mask** (f_comp's alpha, a removal mask) is upsampled bilinearly and then refined by a
  guided filter (He, Sun and Tang, "Guided Image Filtering", ECCV 2010) whose guide is the
  full-resolution image, so its edges follow the object's edges rather than the network's pixels
  (:func:`upsample_alpha`);
* a **per-pixel colour transform** (f_comp's affine head) is smooth, so its coefficients are upsampled
  and applied to the full-resolution pixels (:func:`apply_color_transform`);
* **generated content** (a hidden part, a revealed background, a removed object's region) is
  upsampled and written only inside its hole, shifted by a smooth correction that makes it meet the
  known pixels around the hole (:func:`seam_fill`; the correction is a membrane interpolated by
  push-pull over an image pyramid, as in Gortler et al.'s "Lumigraph" pull-push, a fast stand-in for
  the Laplace equation of seamless cloning).

Every function here is a pure tensor op; the pipeline decides where to crop and what to run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .masks import dilate

__all__ = [
    "box_mean",
    "guided_filter",
    "upsample",
    "upsample_alpha",
    "apply_color_transform",
    "push_pull",
    "seam_fill",
    "ALPHA_SNAP",
]

#: alpha within this of 0 or 1 is snapped to it, so pixels the layer does not touch stay exact.
ALPHA_SNAP = 1.0 / 255.0


def _batched(x: Tensor) -> tuple[Tensor, bool]:
    return (x[None], True) if x.ndim == 3 else (x, False)


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over the ``(2 radius + 1)^2`` window of every pixel of ``(B, C, H, W)`` ``x``, the window
    cut at the border (each pixel averages only pixels inside the image). Summed-area tables: the cost
    does not grow with the radius.

    Example:
        >>> box_mean(torch.ones(1, 1, 5, 7), 2).unique()
        tensor([1.])
    """
    if radius <= 0:
        return x
    b, c, h, w = x.shape
    r = int(radius)

    def window_sum(t: Tensor, dim: int, n: int) -> Tensor:
        s = torch.cumsum(t, dim)
        s = torch.cat([torch.zeros_like(s.narrow(dim, 0, 1)), s], dim)  # s[i] = sum of t[:i]
        idx = torch.arange(n, device=t.device)
        hi = (idx + r + 1).clamp(max=n)
        lo = (idx - r).clamp(min=0)
        return s.index_select(dim, hi) - s.index_select(dim, lo)

    ones = x.new_ones(1, 1, h, w)
    total = window_sum(window_sum(x.double(), 2, h), 3, w)
    count = window_sum(window_sum(ones.double(), 2, h), 3, w)
    return (total / count).to(x.dtype)


def guided_filter(guide: Tensor, src: Tensor, radius: int, eps: float = 1e-3) -> Tensor:
    """He et al.'s guided filter (ECCV 2010, eq. 7-8) with a grey guide: ``src`` smoothed locally as a
    linear function of ``guide``, so its edges move onto the guide's.

    Args:
        guide: ``(B, 1 or 3, H, W)``; colour guides are averaged to grey.
        src: ``(B, C, H, W)`` the image to filter.
        radius: window radius in pixels.
        eps: regularisation (larger: smoother, fewer guide edges transferred).

    Returns:
        ``(B, C, H, W)``.
    """
    g = guide.mean(1, keepdim=True) if guide.shape[1] != 1 else guide
    mean_g, mean_p = box_mean(g, radius), box_mean(src, radius)
    cov = box_mean(g * src, radius) - mean_g * mean_p
    var = box_mean(g * g, radius) - mean_g * mean_g
    a = cov / (var + eps)
    b = mean_p - a * mean_g
    return box_mean(a, radius) * g + box_mean(b, radius)


def upsample(x: Tensor, size: tuple[int, int] | int) -> Tensor:
    """Bilinear resize of ``(C, h, w)`` / ``(B, C, h, w)`` ``x`` to ``size`` (``(H, W)`` or a side)."""
    xb, single = _batched(x)
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(xb.shape[-2:]) != size:
        xb = F.interpolate(xb, size=size, mode="bilinear", align_corners=False)
    return xb[0] if single else xb


def upsample_alpha(alpha: Tensor, guide: Tensor, radius: int | None = None, eps: float = 1e-2) -> Tensor:
    """A low-resolution alpha (or soft mask) at the guide's resolution, its edges following the guide.

    Bilinear upsampling; then, in the transition band (where the alpha is neither 0 nor 1, and a filter
    window around it), :func:`guided_filter` guided by the full-resolution image over a window about one
    low-resolution pixel wide, clamped to [0, 1]. Values within :data:`ALPHA_SNAP` of 0 or 1 are
    snapped, so the pixels the layer leaves alone, or covers, stay exactly as they are. At the same size
    the alpha is returned as it is.

    Args:
        alpha: ``(1, h, w)`` / ``(B, 1, h, w)`` in [0, 1].
        guide: ``(3, H, W)`` / ``(B, 3, H, W)`` the full-resolution image (or ``(1, H, W)``).
        radius: the filter's radius; default: the upscale factor (at least 1).
        eps: the filter's regularisation.

    Example:
        >>> guide = torch.zeros(3, 64, 64); guide[:, :, 29:] = 1  # an edge at x = 29
        >>> low = torch.zeros(1, 8, 8); low[:, :, 4:] = 1  # the network's edge at x = 32
        >>> up = upsample_alpha(low, guide)[0, 32]
        >>> bool(up[28] < 0.05), bool(up[29] - up[28] > 0.3)  # the step moved onto the guide's edge
        (True, True)
    """
    a, single = _batched(alpha)
    g, _ = _batched(guide)
    size = tuple(g.shape[-2:])
    if tuple(a.shape[-2:]) == size:
        return alpha
    factor = max(size[0] / a.shape[-2], size[1] / a.shape[-1])
    r = max(1, int(round(factor))) if radius is None else int(radius)
    up = upsample(a, size)
    snap = lambda t: torch.where(t < ALPHA_SNAP, 0.0, torch.where(t > 1 - ALPHA_SNAP, 1.0, t))  # noqa: E731
    up = snap(up)
    # only the transition band (and a filter window around it) is refined: where the network is sure,
    # its 0 or 1 stands, and the guide's texture cannot leak into an opaque or absent layer
    band = ((up > 0) & (up < 1)).to(up.dtype)
    band = F.max_pool2d(band, 2 * r + 1, 1, r) > 0
    refined = guided_filter(g.to(up.dtype), up, r, eps).clamp(0, 1)
    out = torch.where(band, snap(refined), up)
    return out[0] if single else out


def apply_color_transform(transform: Tensor, image: Tensor) -> Tensor:
    """A per-pixel affine colour transform ``I' = I + A(x) I + b(x)`` (f_comp's affine head) applied to
    ``image``; the transform is upsampled bilinearly to the image's size first.

    Args:
        transform: ``(12, h, w)`` / ``(B, 12, h, w)``: per pixel, ``A`` (3x3, row-major) and ``b`` (3)
            as the rows of a 3x4 matrix, the change from the identity.
        image: ``(3, H, W)`` / ``(B, 3, H, W)`` in [0, 1].

    Returns:
        The transformed image, clamped to [0, 1], the shape of ``image``.

    Example:
        >>> img = torch.rand(3, 40, 40)
        >>> torch.equal(apply_color_transform(torch.zeros(12, 5, 5), img), img)  # zero change: identity
        True
    """
    t, _ = _batched(transform)
    x, single = _batched(image)
    if t.shape[1] != 12:
        raise ValueError(f"a colour transform has 12 channels (3x4 per pixel), got {tuple(transform.shape)}")
    t = upsample(t, tuple(x.shape[-2:])).to(x.dtype)
    b, _, h, w = t.shape
    m = t.view(b, 3, 4, h, w)
    out = x + torch.einsum("bijhw,bjhw->bihw", m[:, :, :3], x) + m[:, :, 3]
    out = out.clamp(0, 1)
    return out[0] if single else out


def push_pull(values: Tensor, weights: Tensor, min_side: int = 1) -> Tensor:
    """Fill ``values`` where ``weights`` is 0 with a smooth interpolation of where it is not (pull-push
    over a pyramid: weighted means down to one pixel, then each level's gaps filled from the level
    below, upsampled bilinearly).

    Args:
        values: ``(C, H, W)`` / ``(B, C, H, W)``.
        weights: ``(1, H, W)`` / ``(B, 1, H, W)`` in [0, 1]; 0 marks unknown values.

    Returns:
        The filled values; where ``weights`` is 1 they are the input's.
    """
    v, single = _batched(values)
    w, _ = _batched(weights)
    w = w.to(v.dtype)
    levels = [(v * w, w)]
    while min(levels[-1][0].shape[-2:]) > min_side:
        sv, sw = levels[-1]
        levels.append((F.avg_pool2d(sv, 2, ceil_mode=True) * 4, F.avg_pool2d(sw, 2, ceil_mode=True) * 4))
    sv, sw = levels[-1]
    filled = torch.where(sw > 0, sv / sw.clamp(min=1e-12), torch.zeros_like(sv))
    for sv, sw in reversed(levels[:-1]):
        coarse = upsample(filled, tuple(sv.shape[-2:]))
        here = sv / sw.clamp(min=1e-12)
        share = sw.clamp(max=1.0)
        filled = share * here + (1 - share) * coarse
    return filled[0] if single else filled


def seam_fill(image: Tensor, hole: Tensor, fill: Tensor, known: Tensor | None = None, ring: int = 2) -> Tensor:
    """Write generated content into ``hole`` only, matched to the known pixels around it.

    ``fill`` (upsampled from a network's crop, so blurrier and slightly off in colour) is shifted by a
    smooth correction: the difference ``image - fill`` on a ring of ``ring`` pixels outside the hole,
    interpolated into the hole by :func:`push_pull`. The seam then has no step, and pixels outside the
    hole are returned bit for bit.

    Args:
        image: ``(3, H, W)`` / ``(B, 3, H, W)`` the known image (its hole pixels are ignored).
        hole: ``(1, H, W)`` / ``(B, 1, H, W)`` binary.
        fill: the generated image at the same size (its pixels outside the hole are only read on the
            ring).
        known: ``(1, H, W)`` / ``(B, 1, H, W)`` where ``image`` holds pixels the fill must meet (an
            object's visible part, when the rest of ``image`` is not its own); default: outside the hole.
        ring: width of the ring the correction is measured on (pixels).

    Returns:
        ``image`` outside the hole, ``fill`` plus the correction inside.

    Example:
        >>> img = torch.full((3, 32, 32), 0.5); hole = torch.zeros(1, 32, 32); hole[:, 8:24, 8:24] = 1
        >>> out = seam_fill(img, hole, torch.full((3, 32, 32), 0.3))  # a fill 0.2 too dark
        >>> round(float(out[:, 8:24, 8:24].mean()), 3), torch.equal(out * (1 - hole), img * (1 - hole))
        (0.5, True)
    """
    x, single = _batched(image)
    h, _ = _batched(hole)
    f, _ = _batched(fill)
    h = (h > 0.5).to(x.dtype)
    band = (dilate(h, ring) - h).clamp(0, 1)
    if known is not None:
        band = band * (_batched(known)[0] > 0.5).to(x.dtype)
    known = band.sum((1, 2, 3)) > 0
    correction = push_pull((x - f) * band, band)
    correction = correction * known.view(-1, 1, 1, 1).to(x.dtype)
    out = torch.where(h > 0, (f + correction).clamp(0, 1), x)
    return out[0] if single else out
