"""Tiling images into one picture: data previews and the image grids logged during validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from torch import Tensor

from .convert import to_uint8_hwc

__all__ = ["tile", "image_grid"]


def tile(tiles: Sequence[np.ndarray], cols: int, pad: int = 8, fill: int = 255) -> np.ndarray:
    """Lay equal-size ``(h, w, 3)`` uint8 tiles out row by row, ``cols`` per row, with a ``pad`` border.

    Raises:
        ValueError: no tiles, or tiles of different sizes.
    """
    if not tiles:
        raise ValueError("tile: no tiles given")
    th, tw = tiles[0].shape[:2]
    if any(t.shape[:2] != (th, tw) for t in tiles):
        raise ValueError("tile: tiles must share one size")
    rows = (len(tiles) + cols - 1) // cols
    grid = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, 3), fill, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        grid[y : y + th, x : x + tw] = t
    return grid


def image_grid(columns: Mapping[str, Tensor], max_rows: int = 8, scale: int = 2) -> np.ndarray:
    """One row per sample, one column per named batch (e.g. input, prediction, target).

    Args:
        columns: name -> ``(B, C, H, W)`` in [0, 1] with ``C`` 1 (shown grey) or 3; all the same ``H, W``.
        max_rows: samples shown.
        scale: nearest-neighbour upsampling of small images.

    Returns:
        uint8 ``(rows, cols, 3)`` array; the column order follows ``columns``.
    """
    if not columns:
        raise ValueError("image_grid: no columns given")
    n = min(min(int(v.shape[0]) for v in columns.values()), int(max_rows))
    tiles = []
    for i in range(n):
        for v in columns.values():
            x = v[i].detach().float().cpu().clamp(0, 1)
            x = x.expand(3, -1, -1) if x.shape[0] == 1 else x[:3]
            t = to_uint8_hwc(x)
            tiles.append(cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))
    if not tiles:
        raise ValueError("image_grid: the batch is empty")
    return tile(tiles, cols=len(columns), pad=2)
