"""A PNG grid of scenes with modal and amodal outlines, so a person can see what the data is.

Each scene gives three tiles side by side: the image; the image with each instance's visible
(modal) outline in a solid colour; and the clean background (where known, else the image) with
each amodal outline and the hidden region shaded, plus the depth rank of each instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..io import write_png
from ..ops.convert import to_uint8_hwc
from ..ops.grid import tile
from ..structures import Scene

__all__ = ["render_scene_tiles", "save_preview"]

_PALETTE = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
    ],
    dtype=np.uint8,
)


def _outline(
    canvas: np.ndarray, mask: np.ndarray, colour: tuple[int, ...], scale: int, thickness: int
) -> None:
    big = cv2.resize(mask.astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(canvas, contours, -1, colour, thickness, lineType=cv2.LINE_AA)


def render_scene_tiles(scene: Scene, scale: int = 3) -> np.ndarray:
    """Three tiles (image, modal outlines, amodal outlines with hidden parts shaded) as one RGB array.

    Args:
        scene: the scene to draw.
        scale: integer upsampling so small scenes are readable.

    Returns:
        uint8 ``(H * scale, 3 * W * scale + 2 * gap, 3)`` array.
    """
    img = to_uint8_hwc(scene.image)
    big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    modal = big.copy()
    base = to_uint8_hwc(scene.background) if scene.background is not None else img
    amodal = cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST).astype(np.float32)
    for k, inst in enumerate(scene.instances):
        colour = tuple(int(c) for c in _PALETTE[k % len(_PALETTE)])
        vis = inst.modal_mask[0].numpy() > 0.5
        _outline(modal, vis, colour, scale, 2)
        if inst.amodal_mask is not None:
            am = inst.amodal_mask[0].numpy() > 0.5
            hidden = (
                cv2.resize(
                    (am & ~vis).astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST
                )
                > 0
            )
            amodal[hidden] = 0.45 * amodal[hidden] + 0.55 * np.array(colour, np.float32)
    amodal = amodal.astype(np.uint8)
    for k, inst in enumerate(scene.instances):
        colour = tuple(int(c) for c in _PALETTE[k % len(_PALETTE)])
        if inst.amodal_mask is not None:
            _outline(amodal, inst.amodal_mask[0].numpy() > 0.5, colour, scale, 1)
        ys, xs = np.nonzero(inst.modal_mask[0].numpy() > 0.5)
        if len(xs):
            label = str(inst.depth if inst.depth is not None else k)
            cv2.putText(
                modal,
                label,
                (int(xs.mean() * scale) - 4, int(ys.mean() * scale) + 4),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
    gap = np.full((big.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([big, gap, modal, gap, amodal], axis=1)


def save_preview(scenes: Sequence[Scene], path: str | Path, cols: int = 2, scale: int = 3) -> Path:
    """Write a PNG grid of :func:`render_scene_tiles` for ``scenes``.

    Args:
        scenes: scenes of equal size.
        path: output PNG path (parent folders are created).
        cols: scenes per row.
        scale: upsampling of each tile.

    Returns:
        The written path.
    """
    if not scenes:
        raise ValueError("save_preview: no scenes given")
    grid = tile([render_scene_tiles(s, scale) for s in scenes], cols=cols, pad=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_png(path, grid)
