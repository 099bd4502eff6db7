"""PCNet-M, the partial mask completion network of scene de-occlusion (PCNet section 3.1, Fig. 3a;
supplementary A: a U-Net with widening factor 2, on 256 px crops)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import RecordedInit
from .unet import UNet

__all__ = ["PartialMaskNet"]


class PartialMaskNet(RecordedInit):
    """PCNet-M: the target's erased modal mask (times its category id, when categories exist) and the
    eraser, optionally the image with the eraser's pixels removed -> the logit of the target's mask.

    PCNet's backbone is a U-Net "with widening factor 2"; here it is the package's
    :class:`~amodal_compose.nets.unet.UNet` (Table 5 layout) with twice AMICO's widths by default.
    PCNet found the RGB input makes little difference on COCOA / KINS (``use_image=False``, the default).

    Args:
        widths, bottleneck: U-Net settings.
        use_image: take the erased RGB patch too (5 input channels instead of 2).

    Shape:
        erased ``(B, 1, H, W)`` (already multiplied by the category id), eraser ``(B, 1, H, W)``, image
        ``(B, 3, H, W)`` or ``None`` -> logits ``(B, 1, H, W)``.

    Example:
        >>> net = PartialMaskNet(widths=(8, 16, 16), bottleneck=(16,))
        >>> net(torch.ones(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256, 512, 512),
        bottleneck: Sequence[int] = (512, 512),
        use_image: bool = False,
    ) -> None:
        super().__init__()
        self.record_init(locals())
        self.use_image = bool(use_image)
        self.unet = UNet(5 if self.use_image else 2, 1, widths, bottleneck)

    @property
    def size_multiple(self) -> int:
        return self.unet.size_multiple

    def forward(self, erased: Tensor, eraser: Tensor, image: Tensor | None = None) -> Tensor:
        parts = [erased, eraser]
        if self.use_image:
            if image is None:
                raise ValueError("PartialMaskNet(use_image=True) needs the erased image")
            parts.append(image)
        return 2.0 * self.unet(torch.cat(parts, 1))  # (tanh + 1) / 2 of Table 5 read as sigmoid(2x)
