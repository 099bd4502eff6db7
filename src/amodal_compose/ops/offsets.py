"""Hole filling by copying along an image's dominant self-similar offsets.

A simplified form of He & Sun, "Statistics of Patch Offsets for Image Completion" (ECCV 2012): a
texture that repeats (stripes, checkers, a linear gradient) matches itself under a few translations
(along the stripes, by a whole checker period, along the iso-lines), so a hidden pixel can take the
value of the known pixel one such translation away. Unlike He & Sun, the offsets are whole-region
translations scored by the mean squared difference of every known pixel with its translate (one
masked cross-correlation, by FFT, for all offsets at once), and the fill is greedy: each hidden pixel
takes the best-scoring offset whose source is known, then filled pixels serve as sources for the next
pass. There is no graph cut, so where no offset is exact the fill shows seams.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["offset_fill"]


def _correlate(a: Tensor, b: Tensor) -> Tensor:
    """``c[t] = sum_x a[x] * b[x + t]`` for every offset ``t`` in ``[-(H-1), H-1] x [-(W-1), W-1]``.

    ``a, b``: ``(B, H, W)`` -> ``(B, 2H-1, 2W-1)``, offset ``(0, 0)`` at index ``(H-1, W-1)``.
    """
    h, w = a.shape[-2:]
    size = (2 * h, 2 * w)  # zero padding: no wrap-around between offsets
    c = torch.fft.irfft2(torch.fft.rfft2(a, s=size).conj() * torch.fft.rfft2(b, s=size), s=size)
    return torch.roll(c, shifts=(h - 1, w - 1), dims=(-2, -1))[..., : 2 * h - 1, : 2 * w - 1]


def offset_fill(
    image: Tensor,
    hole: Tensor,
    source: Tensor | None = None,
    offsets: int = 8,
    passes: int = 8,
    min_shift: int = 2,
    min_overlap: float = 0.15,
) -> tuple[Tensor, Tensor]:
    """Fill ``hole`` by copying ``source`` pixels along the image's best self-similar offsets.

    Args:
        image: ``(B, C, H, W)`` float; only ``source`` pixels are read.
        hole: ``(B, 1, H, W)`` binary, the pixels to fill.
        source: ``(B, 1, H, W)`` binary, the known pixels to copy from (default: outside ``hole``).
        offsets: how many offsets are kept (the best-scoring, one per 3x3 neighbourhood of offsets).
        passes: greedy passes; after each one the filled pixels become sources.
        min_shift: offsets shorter than this in both axes are ignored (copying a pixel's neighbour
            only smears it).
        min_overlap: an offset is scored only where at least this share of the source (and 8 pixels)
            overlaps its own translate.

    Returns:
        ``(filled, unfilled)``: ``filled`` ``(B, C, H, W)`` is ``image`` with the hole pixels that an
        offset reached replaced (the rest keep ``image``'s values); ``unfilled`` ``(B, 1, H, W)`` marks
        the hole pixels no offset reached (a caller fills them another way, e.g. by Telea).

    Example:
        >>> stripes = (torch.arange(32.0) % 8 < 4).float().expand(1, 3, 32, 32).clone()
        >>> hole = torch.zeros(1, 1, 32, 32); hole[..., 10:20, 10:20] = 1
        >>> filled, unfilled = offset_fill(stripes * (1 - hole), hole)
        >>> bool(torch.equal(filled, stripes)), int(unfilled.sum())
        (True, 0)
    """
    if image.ndim != 4 or hole.shape != (image.shape[0], 1, *image.shape[-2:]):
        raise ValueError(f"offset_fill: expected image (B, C, H, W) and hole (B, 1, H, W), got "
                         f"{tuple(image.shape)} and {tuple(hole.shape)}")  # fmt: skip
    b, c, h, w = image.shape
    hole = (hole > 0.5).float()
    src = (1 - hole) if source is None else (source > 0.5).float() * (1 - hole)
    x = (image.float() * src)
    v = src[:, 0]
    # mean squared difference between each source pixel and its translate, over the overlap
    overlap = _correlate(v, v)
    power = (x * x).sum(1)
    cross = sum(_correlate(x[:, k], x[:, k]) for k in range(c))
    score = (_correlate(power, v) + _correlate(v, power) - 2 * cross).clamp_min(0) / overlap.clamp_min(1)
    ty = torch.arange(-(h - 1), h, device=image.device).view(-1, 1)
    tx = torch.arange(-(w - 1), w, device=image.device).view(1, -1)
    area = v.flatten(1).sum(1).view(b, 1, 1)
    bad = ((ty.abs() < min_shift) & (tx.abs() < min_shift)) | (overlap < (min_overlap * area).clamp_min(8) - 0.5)
    # ties (a repeating texture matches itself exactly along a whole line of offsets) go to the
    # shorter offset, whose source is more often inside the image
    score = score + 1e-4 * (ty * ty + tx * tx) / float(h * h + w * w)
    inf = torch.tensor(float("inf"), device=image.device)
    score = torch.where(bad, inf, score)
    local_min = -F.max_pool2d(-score.clamp(max=1e9)[:, None], 3, 1, 1)[:, 0]
    score = torch.where(score <= local_min, score, inf)  # one offset per 3x3 neighbourhood
    k = min(int(offsets), score[0].numel())
    best, index = score.flatten(1).topk(k, largest=False)
    dy, dx = index // (2 * w - 1) - (h - 1), index % (2 * w - 1) - (w - 1)  # (B, k)
    ys = torch.arange(h, device=image.device).view(1, h, 1)
    xs = torch.arange(w, device=image.device).view(1, 1, w)
    out = image.clone().flatten(2)
    known, todo = v.flatten(1).bool(), hole[:, 0].flatten(1).bool()
    for _ in range(passes):
        filled_now = torch.zeros_like(todo)
        for j in range(k):
            sy, sx = ys + dy[:, j].view(b, 1, 1), xs + dx[:, j].view(b, 1, 1)
            inside = ((sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)).flatten(1)
            at = (sy.clamp(0, h - 1) * w + sx.clamp(0, w - 1)).flatten(1)  # (B, H*W) source index
            ok = inside & todo & known.gather(1, at) & torch.isfinite(best[:, j : j + 1])
            out = torch.where(ok[:, None], out.gather(2, at[:, None].expand(-1, c, -1)), out)
            todo, filled_now = todo & ~ok, filled_now | ok
        if not filled_now.any():
            break
        known = known | filled_now
    return out.view(b, c, h, w), todo.view(b, 1, h, w).float()
