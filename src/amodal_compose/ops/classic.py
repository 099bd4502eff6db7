"""Classical (non-learned) image operations backed by OpenCV: convex hull fill, Poisson
blending, Telea inpainting. They take and return tensors in the package's data contract and
are the building blocks of the baselines in :mod:`amodal_compose.baselines`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from .convert import to_uint8_hwc

__all__ = ["convex_hull", "poisson_blend", "telea_inpaint"]


def _mask_np(mask: Tensor) -> np.ndarray:
    return (mask.detach()[0] > 0.5).cpu().numpy().astype(np.uint8)


def convex_hull(mask: Tensor) -> Tensor:
    """Fill the convex hull of all foreground pixels (PCNet / AMICO "Convex" baseline).

    Args:
        mask: ``(1, H, W)`` or ``(B, 1, H, W)`` binary.

    Returns:
        Same shape; an empty mask stays empty.
    """
    if mask.ndim == 4:
        return torch.stack([convex_hull(m) for m in mask]) if len(mask) else mask.clone()
    m = _mask_np(mask)
    ys, xs = np.nonzero(m)
    out = np.zeros_like(m)
    if len(xs):
        # hull of the pixel centres, filled with its boundary (so a line of pixels stays a line)
        hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))
        cv2.fillPoly(out, [hull], 1, lineType=cv2.LINE_8)
        cv2.polylines(out, [hull], True, 1, lineType=cv2.LINE_8)
        out |= m
    return torch.from_numpy(out).float()[None].to(mask.device)


def poisson_blend(background: Tensor, foreground: Tensor, mask: Tensor) -> Tensor:
    """Poisson image editing (Perez et al. 2003) via OpenCV ``seamlessClone`` (NORMAL_CLONE).

    Args:
        background: ``(3, H, W)`` or ``(B, 3, H, W)``.
        foreground: same shape: the object already placed at its target position.
        mask: ``(1, H, W)`` / ``(B, 1, H, W)`` region of ``foreground`` to clone.

    Returns:
        The blended image, same shape as ``background``. An empty mask returns the background;
        a mask touching the border is shrunk by one pixel there (seamlessClone needs a margin).
    """
    if background.ndim == 4:
        return torch.stack([poisson_blend(b, f, m) for b, f, m in zip(background, foreground, mask)])
    bg, fg = to_uint8_hwc(background), to_uint8_hwc(foreground)
    m = _mask_np(mask) * 255
    m[0, :] = m[-1, :] = 0
    m[:, 0] = m[:, -1] = 0
    if m.max() == 0:
        return background.clone()
    x, y, w, h = cv2.boundingRect(m)
    center = (x + w // 2, y + h // 2)
    # seamlessClone centres the mask's bounding box at `center`: (x + w // 2, y + h // 2) leaves the
    # object where it is (checked in tests/test_ops.py).
    out = cv2.seamlessClone(fg, bg, m, center, cv2.NORMAL_CLONE)
    return torch.from_numpy(out).permute(2, 0, 1).float().div(255.0).to(background.device)


def telea_inpaint(image: Tensor, hole: Tensor, radius: int = 3) -> Tensor:
    """Fast-marching inpainting (Telea 2004) via OpenCV ``inpaint``.

    Args:
        image: ``(3, H, W)`` or ``(B, 3, H, W)``.
        hole: ``(1, H, W)`` / ``(B, 1, H, W)`` pixels to fill.
        radius: neighbourhood radius in pixels.

    Returns:
        The inpainted image, same shape as ``image``; pixels outside ``hole`` are unchanged.
    """
    if image.ndim == 4:
        return torch.stack([telea_inpaint(i, h, radius) for i, h in zip(image, hole)])
    img = to_uint8_hwc(image)
    m = _mask_np(hole)
    if m.max() == 0:
        return image.clone()
    out = cv2.inpaint(img, m, radius, cv2.INPAINT_TELEA)
    res = torch.from_numpy(out).permute(2, 0, 1).float().div(255.0).to(image.device)
    keep = hole <= 0.5
    return torch.where(keep, image, res)
