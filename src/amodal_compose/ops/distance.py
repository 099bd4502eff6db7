"""Signed distance maps of binary masks (exact Euclidean, via OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

__all__ = ["signed_distance"]


def _edt(binary: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest zero pixel (exact Euclidean), bitwise reproducible.

    OpenCV's multi-threaded exact transform differs between calls by a float32 rounding step (about
    1e-6) on some pixels, which made training runs that use it (the removal system's mask losses) differ.
    An exact Euclidean distance is the root of a whole number of squared pixels, so the result is
    snapped to ``sqrt(round(d**2))``: the same value on every call and thread count.
    """
    if binary.all():  # no zero pixel: distance is unbounded; use the image diagonal
        return np.full(binary.shape, float(np.hypot(*binary.shape)), np.float32)
    dist = cv2.distanceTransform(binary.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.sqrt(np.rint(np.square(dist, dtype=np.float64))).astype(np.float32)


def signed_distance(mask: Tensor, normalize: bool = False) -> Tensor:
    """Signed distance to the mask boundary: positive inside, negative outside, in pixels.

    A pixel inside is at distance ``d`` from the nearest outside pixel centre; a pixel outside
    is at ``-d`` from the nearest inside pixel centre. So pixels next to the boundary are +1 / -1.

    Args:
        mask: ``(1, H, W)`` or ``(B, 1, H, W)`` binary.
        normalize: divide by the image diagonal so values lie in [-1, 1].

    Returns:
        float32, same shape as ``mask``. An empty mask is all ``-diag``; a full mask all ``+diag``.

    Example:
        >>> m = torch.zeros(1, 1, 1, 3); m[..., 1] = 1
        >>> signed_distance(m).flatten().tolist()
        [-1.0, 1.0, -1.0]
    """
    squeezed = mask.ndim == 3
    m = (mask[None] if squeezed else mask) > 0.5
    diag = float(np.hypot(*m.shape[-2:]))
    out = []
    for item in m[:, 0].cpu().numpy():
        inside = _edt(item)
        outside = _edt(~item)
        out.append(np.where(item, inside, -outside))
    res = torch.from_numpy(np.stack(out)).float()[:, None].to(mask.device)
    if normalize:
        res = res / diag
    return res[0] if squeezed else res
