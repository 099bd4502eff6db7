"""Object removal on the user's own images (Shimosato & Ukita): :class:`RemovalPipeline` runs the
remover on a window at its own scale and applies its mask and fill at the image's resolution."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..ops.convert import as_image, as_mask
from ..ops.fullres import upsample_alpha
from ..ops.masks import SquareBox, bbox, context_square
from ..systems import RemovalSystem
from .components import Components
from .task import TaskPipeline
from .window import Window

__all__ = ["RemovalPipeline"]


def _removal_window(mask: Tensor, size: int) -> Window:
    """The window object removal runs on: PCNet's adaptive square around the rough mask with 4 times the
    box's area (the object then covers about a fifth of it, as in removal's training images), at least
    the network's side (a small image is seen whole at its own scale, zero-padded, not enlarged), moved
    inside the image where it fits."""
    h, w = mask.shape[-2:]
    box = context_square(bbox(mask[0]), (h, w), area_factor=4.0)
    side = max(box.side, int(size))
    cx, cy = box.x0 + box.side // 2, box.y0 + box.side // 2
    x0 = min(max(cx - side // 2, 0), w - side) if side <= w else (w - side) // 2
    y0 = min(max(cy - side // 2, 0), h - side) if side <= h else (h - side) // 2
    return Window(SquareBox(x0, y0, side, h, w), size)


class RemovalPipeline(TaskPipeline):
    """Remove the object a rough mask points at.

    Args:
        remover: the :class:`~amodal_compose.systems.RemovalSystem` (segmentation and inpainters).
        device, dtype, input_sizes: see :class:`~amodal_compose.pipeline.components.Components`.
        components: instead of the system, a shared set of loaded components.

    Example:
        >>> RemovalPipeline(remover=load_system("remover.ckpt")).remove(photo, box_mask)["image"]  # doctest: +SKIP
    """

    uses = ("remover",)

    def __init__(
        self, remover: RemovalSystem | None = None, *, device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32, input_sizes: dict[str, int] | None = None,
        components: Components | None = None,
    ) -> None:  # fmt: skip
        super().__init__(components, device, dtype, input_sizes, remover=remover)

    def remove(self, image: Any, mask: Any, mask_threshold: float = 0.5) -> dict[str, Tensor]:
        """Remove the object a rough mask points at (Shimosato & Ukita): the segmentation network picks
        the segment overlapping ``mask`` most and draws the mask the inpainters need; they fill it.

        Args:
            image: ``(3, H, W)`` tensor, ``(H, W, 3)`` numpy array or PIL image; any size.
            mask: a rough mask of the object, same size: a box-like scribble or a detector's mask (soft
                masks are binarised above ``mask_threshold`` of their range).

        Returns:
            ``{"image": (3, H, W) the image without the object, "mask": (1, H, W) what was removed}``.

        Raises:
            MissingComponentError: without ``remover``.
            ValueError: sizes differ, an empty mask, or a mask touching no object the segmentation finds.
        """
        remover = self.require("remover", "remove")
        img = as_image(image, "image")
        raw = mask if isinstance(mask, Tensor) else torch.from_numpy(np.array(mask))
        m = as_mask(raw, "mask", threshold=mask_threshold * (255.0 if raw.dtype == torch.uint8 else 1.0))
        if img.ndim != 3 or m.ndim != 3:
            raise ValueError(f"expected one image and one mask, got {tuple(img.shape)} and {tuple(m.shape)}")
        if img.shape[-2:] != m.shape[-2:]:
            raise ValueError(f"image {tuple(img.shape[-2:])} and mask {tuple(m.shape[-2:])} differ in size")
        if not m.any():
            raise ValueError("the mask is empty")
        win = _removal_window(m, self.input_sizes["remover"])
        out = self._run(remover.remove, win.net(img)[None], win.net(m, "mask")[None])
        # the removed region: the network's mask upsampled along the photo's edges; the fill inside it only
        soft = upsample_alpha(out["mask"][0], win.full(img))
        removed = win.paste((soft > 0.5).to(img.dtype), torch.zeros_like(m))
        return {"image": win.fill(img, removed, out["image"][0]), "mask": removed}
