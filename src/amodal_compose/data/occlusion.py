"""Occlusion simulators and editing ops used to build self-supervised training pairs.

Every function takes a ``torch.Generator`` (or an int seed, turned into one) so that a training
pair is reproducible.

* :func:`place_eraser`: put another instance's mask over a target with random scale and shift until
  the hidden share of the target lies in a range (PCNet 3.1: 0.001-0.9; AMICO 3.1: 0.1-0.9).
* :func:`pcnet_case`: PCNet-M case 1 (eraser in front) / case 2 (eraser behind), chosen with
  probability ``gamma`` (PCNet eq. 1, gamma = 0.8).
* :func:`edit_mask`: AMICO 3.3's ``m_edit``: the visible mask randomly dilated or eroded.
* :func:`coarse_cutout`: AMICO eq. 5's ``Dilate(m, iter)``, ``iter ~ U{0..25}`` px at 256 px, scaled.
* :func:`random_color_change`: AMICO eq. 5's ``ColorTransfer(I, I_ref)`` of a whole image, or a
  harder non-affine change.
* :func:`copy_paste_triplet`: object-removal pairs (Shimosato & Ukita III-A): image with a pasted
  object, the same image without it, the object mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..ops.color import reinhard_transfer, smooth_gain, tone_curves
from ..ops.masks import bbox, dilate, erode

__all__ = [
    "as_generator",
    "EraserPlacement",
    "place_eraser",
    "pcnet_case",
    "edit_mask",
    "coarse_cutout",
    "random_color_change",
    "COLOR_CHANGES",
    "copy_paste_triplet",
    "shift_scale",
]


def as_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A ``torch.Generator`` from an int seed, an existing generator, or ``None`` (fresh entropy)."""
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def shift_scale(x: Tensor, scale: float, shift: tuple[float, float], mode: str = "nearest") -> Tensor:
    """Scale ``x`` about its centre and shift it by ``(dx, dy)`` pixels; zero where nothing lands.

    Args:
        x: ``(C, H, W)``.
        scale: > 0, 2 doubles the size.
        shift: ``(dx, dy)`` in pixels.
        mode: ``"nearest"`` for masks, ``"bilinear"`` for images.

    Returns:
        ``(C, H, W)``.
    """
    c, h, w = x.shape
    # grid_sample maps output coords to input coords: in = (out - shift_norm) / scale
    theta = torch.tensor(
        [[1.0 / scale, 0.0, -2.0 * shift[0] / w / scale], [0.0, 1.0 / scale, -2.0 * shift[1] / h / scale]],
        dtype=x.dtype,
    )
    grid = F.affine_grid(theta[None], [1, c, h, w], align_corners=False)
    return F.grid_sample(x[None].float(), grid, mode=mode, padding_mode="zeros", align_corners=False)[0]


@dataclass
class EraserPlacement:
    """Result of :func:`place_eraser`.

    Attributes:
        eraser: ``(1, H, W)`` the placed eraser mask.
        ratio: hidden share of the target, ``|target ∩ eraser| / |target|``.
        in_range: whether ``ratio`` lies in the requested range (else the closest try is returned).
        tries: placements tried.
    """

    eraser: Tensor
    ratio: float
    in_range: bool
    tries: int


def place_eraser(
    target: Tensor,
    eraser: Tensor,
    ratio_range: tuple[float, float] = (0.1, 0.9),
    generator: int | torch.Generator | None = None,
    scale_range: tuple[float, float] = (0.6, 1.4),
    max_tries: int = 30,
) -> EraserPlacement:
    """Place ``eraser`` over ``target`` with a random scale and shift so that it hides a share of the
    target inside ``ratio_range``.

    The eraser is first resized so that its box is comparable to the target's box (times a random
    factor from ``scale_range``), then shifted so that one of its pixels lands on a random target pixel.

    Args:
        target: ``(1, H, W)`` binary mask of the object to occlude.
        eraser: ``(1, h, w)`` binary mask of another instance (any size; only its shape is used).
        ratio_range: accepted ``[lo, hi]`` hidden share of the target.
        generator: seed or ``torch.Generator``.
        scale_range: random size factor relative to the target box.
        max_tries: placements to try; if none is in range the closest is returned with ``in_range=False``.

    Returns:
        :class:`EraserPlacement`.

    Raises:
        ValueError: an empty target or eraser.
    """
    g = as_generator(generator)
    lo, hi = ratio_range
    if not 0 <= lo <= hi <= 1:
        raise ValueError(f"ratio_range must satisfy 0 <= lo <= hi <= 1, got {ratio_range}")
    t_area = float(target.sum())
    if t_area == 0:
        raise ValueError("place_eraser: the target mask is empty")
    eb = bbox(eraser[0])
    if int(eb[2] - eb[0]) == 0:
        raise ValueError("place_eraser: the eraser mask is empty")
    ex0, ey0, ex1, ey1 = eb.tolist()
    tight = eraser[:, ey0:ey1, ex0:ex1].float()
    tx0, ty0, tx1, ty1 = bbox(target[0]).tolist()
    t_side = max(tx1 - tx0, ty1 - ty0)
    h, w = target.shape[-2:]
    t_pix = torch.nonzero(target[0] > 0.5)
    inside = target.float()
    best: tuple[float, float, tuple, tuple, Tensor] | None = None  # (distance, ratio, frame, patch, small)
    for tries in range(1, max_tries + 1):  # noqa: B007 (the count is returned)
        s = float(torch.empty(1).uniform_(*scale_range, generator=g)) * t_side / max(tight.shape[-2:])
        eh, ew = max(1, round(tight.shape[-2] * s)), max(1, round(tight.shape[-1] * s))
        small = (
            F.interpolate(tight[None], size=(eh, ew), mode="bilinear", align_corners=False)[0] > 0.5
        ).float()
        e_pix = torch.nonzero(small[0] > 0.5)
        if len(e_pix) == 0:
            continue
        ty, tx = t_pix[int(torch.randint(len(t_pix), (1,), generator=g))].tolist()
        ey, ex = e_pix[int(torch.randint(len(e_pix), (1,), generator=g))].tolist()
        # eraser pixel (ey, ex) lands on target pixel (ty, tx), so the overlap with the frame is never empty;
        # the hidden share is counted there, and the full-size mask built once, for the try returned
        frame, patch = _overlap(ty - ey, tx - ex, eh, ew, h, w)
        ratio = float((small[(slice(None), *patch)] * inside[(slice(None), *frame)]).sum()) / t_area
        dist = lo - ratio if ratio < lo else ratio - hi if ratio > hi else 0.0
        if best is None or dist < best[0]:
            best = (dist, ratio, frame, patch, small)
        if dist == 0.0:
            break
    assert best is not None
    dist, ratio, frame, patch, small = best
    placed = torch.zeros(1, h, w)
    placed[(slice(None), *frame)] = small[(slice(None), *patch)]
    return EraserPlacement(placed, ratio, dist == 0.0, tries)


def _overlap(oy: int, ox: int, eh: int, ew: int, h: int, w: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Where an ``(eh, ew)`` patch at offset ``(oy, ox)`` overlaps an ``(h, w)`` frame: the frame's
    ``(rows, cols)`` slices and the patch's."""
    y0, x0, y1, x1 = max(oy, 0), max(ox, 0), min(oy + eh, h), min(ox + ew, w)
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))


def pcnet_case(
    target: Tensor, eraser: Tensor, gamma: float = 0.8, generator: int | torch.Generator | None = None
) -> dict[str, Tensor | int]:
    """Build one PCNet-M training sample (PCNet section 3.1, eq. 1).

    Case 1 (probability ``gamma``): the eraser is in front; the input is ``target \\ eraser`` and the
    network must recover ``target``. Case 2: the eraser is behind; the eraser shown is
    ``eraser \\ target`` and the network must leave ``target`` unchanged.

    Args:
        target: ``(1, H, W)`` modal mask of instance A.
        eraser: ``(1, H, W)`` placed mask of instance B (e.g. from :func:`place_eraser`).
        gamma: probability of case 1.
        generator: seed or ``torch.Generator``.

    Returns:
        dict with ``input_mask`` (the erased / intact target), ``eraser`` (as shown to the net),
        ``target`` (= ``target``), ``case`` (1 or 2) and ``erased`` (``target ∩ eraser``; zero in case 2).
    """
    g = as_generator(generator)
    case1 = bool(torch.rand(1, generator=g) < gamma)
    if case1:
        return {
            "input_mask": target * (1 - eraser),
            "eraser": eraser,
            "target": target,
            "case": 1,
            "erased": target * eraser,
        }
    return {
        "input_mask": target.clone(),
        "eraser": eraser * (1 - target),
        "target": target,
        "case": 2,
        "erased": torch.zeros_like(target),
    }


def edit_mask(
    mask: Tensor,
    max_radius: int = 5,
    generator: int | torch.Generator | None = None,
    p_dilate: float = 0.5,
) -> Tensor:
    """AMICO section 3.3's ``m_edit``: dilate or erode the visible mask by a random radius.

    Args:
        mask: ``(1, H, W)`` or ``(B, 1, H, W)``.
        max_radius: radius drawn uniformly from ``{0..max_radius}`` per sample.
        generator: seed or ``torch.Generator``.
        p_dilate: probability of dilation (else erosion) per sample.

    Returns:
        The edited mask, same shape. Erosion never empties a non-empty mask: if it would, the
        radius is reduced until something is left.
    """
    g = as_generator(generator)
    single = mask.ndim == 3
    m = mask[None] if single else mask
    b = m.shape[0]
    radius = torch.randint(0, max_radius + 1, (b,), generator=g)
    grow = torch.rand(b, generator=g) < p_dilate
    out = torch.where(grow.view(b, 1, 1, 1), dilate(m, radius * grow), m)
    shrink = ~grow
    if shrink.any():
        r = radius * shrink
        eroded = erode(m, r)
        emptied = (eroded.flatten(1).sum(1) == 0) & (m.flatten(1).sum(1) > 0)
        while emptied.any():  # back off radius where erosion removed everything
            r = torch.where(emptied, (r - 1).clamp_min(0), r)
            eroded = torch.where(emptied.view(b, 1, 1, 1), erode(m, r), eroded)
            emptied = (eroded.flatten(1).sum(1) == 0) & (m.flatten(1).sum(1) > 0) & (r > 0)
        out = torch.where(shrink.view(b, 1, 1, 1), eroded, out)
    return out[0] if single else out


def coarse_cutout(
    mask: Tensor,
    max_pixels: int = 25,
    reference_size: int = 256,
    generator: int | torch.Generator | None = None,
    min_pixels: int = 0,
) -> Tensor:
    """AMICO eq. 5's ``Dilate(m, iter)``: a coarse cut-out by a random dilation.

    ``iter ~ U{min_pixels..max_pixels}`` at ``reference_size``; the radius is scaled by
    ``H / reference_size`` so that a 64 px image gets 0-6 px for the paper's 0-25 at 256 px.

    Args:
        mask: ``(1, H, W)`` or ``(B, 1, H, W)``.
        max_pixels: largest dilation at the reference size (paper: 25).
        reference_size: the resolution ``max_pixels`` refers to (paper: 256).
        generator: seed or ``torch.Generator``.
        min_pixels: smallest dilation at the reference size (AMICO Table 2 evaluates with 5-10).

    Returns:
        The dilated mask.
    """
    g = as_generator(generator)
    m = mask[None] if mask.ndim == 3 else mask
    scale = m.shape[-2] / float(reference_size)
    it = torch.randint(min_pixels, max_pixels + 1, (m.shape[0],), generator=g).float()
    radius = torch.round(it * scale).long()
    out = dilate(m, radius)
    return out[0] if mask.ndim == 3 else out


#: the colour changes of :func:`random_color_change`.
COLOR_CHANGES = ("reinhard", "tone", "mixed", "none")


def random_color_change(
    image: Tensor,
    reference: Tensor,
    kind: str = "reinhard",
    generator: int | torch.Generator | None = None,
    strength: float = 1.0,
) -> Tensor:
    """The colour change of AMICO eq. 5, ``ColorTransfer(I, I_ref)``, applied to a *whole* image.

    Recolouring the whole image (and cutting the object out afterwards) is what makes the ring of
    background inside a coarse cut-out carry the same change as the object: it tells a compositor
    what changed.

    Args:
        image: ``(3, H, W)`` the image to recolour (the whole scene, not a crop).
        reference: ``(3, h, w)`` the reference image ``I_ref``.
        kind: ``"reinhard"``: the image's LAB statistics mapped to the reference's (the paper's
            definition with a global colour transfer: an affine map per LAB channel);
            ``"tone"``: harder and non-affine, random monotone tone curves per RGB channel times a
            smooth random gain field (a local change; the reference is not used); ``"mixed"``: one of
            the two at random; ``"none"``: no change.
        generator: seed or ``torch.Generator`` of the random parts.
        strength: blend between the original (0) and the full change (1).

    Returns:
        ``(3, H, W)`` in [0, 1].
    """
    if kind not in COLOR_CHANGES:
        raise ValueError(f"kind must be one of {COLOR_CHANGES}, got {kind!r}")
    g = as_generator(generator)
    if kind == "mixed":
        kind = "reinhard" if bool(torch.rand(1, generator=g) < 0.5) else "tone"
    if kind == "none" or strength == 0:
        return image.clone()
    if kind == "reinhard":
        out = reinhard_transfer(image, reference)
    else:
        # curves through 5 knots: a random black / white point and uneven steps between them
        steps = torch.empty(3, 4).uniform_(0.3, 1.7, generator=g)
        lo = torch.empty(3, 1).uniform_(0.0, 0.15, generator=g)
        hi = torch.empty(3, 1).uniform_(0.8, 1.0, generator=g)
        knots = torch.cat([lo, lo + (hi - lo) * steps.cumsum(1) / steps.sum(1, keepdim=True)], 1)
        out = smooth_gain(tone_curves(image, knots), torch.empty(3, 3, 3).uniform_(0.75, 1.25, generator=g))
    return (image + strength * (out - image)).clamp(0, 1)


def copy_paste_triplet(
    image: Tensor,
    object_image: Tensor,
    object_mask: Tensor,
    generator: int | torch.Generator | None = None,
    scale_range: tuple[float, float] = (0.7, 1.3),
    max_shift: float = 0.3,
) -> dict[str, Tensor]:
    """A copy-paste pair for object removal (Shimosato & Ukita, III-A).

    The object (from any image) is scaled and shifted at random, then pasted onto ``image``.

    Args:
        image: ``(3, H, W)`` the clean target image.
        object_image: ``(3, H, W)`` image holding the object.
        object_mask: ``(1, H, W)`` its mask.
        generator: seed or ``torch.Generator``.
        scale_range: random scale of the object.
        max_shift: random shift as a fraction of the image side.

    Returns:
        ``{"image": with object, "target": without object (= image), "object_mask": pasted mask}``.
        The pasted mask may be empty if the object leaves the frame; callers can test ``.sum()``.
    """
    g = as_generator(generator)
    h, w = image.shape[-2:]
    s = float(torch.empty(1).uniform_(*scale_range, generator=g))
    dx = float(torch.empty(1).uniform_(-max_shift, max_shift, generator=g)) * w
    dy = float(torch.empty(1).uniform_(-max_shift, max_shift, generator=g)) * h
    m = (shift_scale(object_mask.float(), s, (dx, dy), mode="bilinear") > 0.5).float()
    obj = shift_scale(object_image.float(), s, (dx, dy), mode="bilinear")
    pasted = obj * m + image * (1 - m)
    return {"image": pasted, "target": image.clone(), "object_mask": m}
