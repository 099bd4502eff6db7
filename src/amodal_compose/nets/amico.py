"""AMICO's U-Net networks: the amodal shape net f_shape (section 3.3) and the RGBA compositing net
f_comp (section 3.2), both on the Table 5 backbone (:class:`~amodal_compose.nets.unet.UNet`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..ops.convert import check_same_size
from .base import RecordedInit, tanh_to_unit
from .unet import UNet

__all__ = ["AmodalShapeNet", "CompositionNet"]


def _check(name: str, x: Tensor, channels: int) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name}: expected (B, {channels}, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a float tensor in [0, 1], got {x.dtype} (use ops.as_image / as_mask)")


class AmodalShapeNet(RecordedInit):
    """f_shape (AMICO section 3.3, Fig. 2c): image crop + ``m_edit`` -> visible and amodal masks.

    The U-Net's 2 output channels are mask logits. Table 5 ends in ``tanh``; a ``tanh`` output
    ``t`` read as a probability ``(t + 1) / 2`` equals ``sigmoid(2x)``, so the logit returned here
    is ``2x`` and the losses use the numerically stable ``*_with_logits`` form.

    Args:
        widths, bottleneck: the U-Net's encoder and bottleneck channels (paper: ``(64, 128, 256,
            256, 256)`` and ``(256, 256)`` at 256 px).
        use_image: feed the RGB crop (4 input channels) or the mask alone (1 channel).
        input_skip: see :class:`~amodal_compose.nets.unet.UNet` (off = the paper's network).

    Shape:
        image ``(B, 3, H, W)``, edit_mask ``(B, 1, H, W)`` -> logits ``(B, 2, H, W)``: channel 0
        the visible mask, channel 1 the amodal mask.

    Example:
        >>> net = AmodalShapeNet(widths=(8, 16, 16), bottleneck=(16,))
        >>> net(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)).shape
        torch.Size([1, 2, 32, 32])
    """

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256, 256, 256),
        bottleneck: Sequence[int] = (256, 256),
        use_image: bool = True,
        input_skip: bool = False,
    ) -> None:
        super().__init__()
        self.record_init(locals())
        self.use_image = bool(use_image)
        self.unet = UNet(4 if use_image else 1, 2, widths, bottleneck, input_skip=input_skip)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this (the U-Net's ``2 ** depth``)."""
        return self.unet.size_multiple

    def forward(self, image: Tensor, edit_mask: Tensor) -> Tensor:
        _check("edit_mask", edit_mask, 1)
        if self.use_image:
            _check("image", image, 3)
            check_same_size(image=image, edit_mask=edit_mask)
            x = torch.cat([image, edit_mask], 1)
        else:
            x = edit_mask
        return 2.0 * self.unet(x)


class CompositionNet(RecordedInit):
    """f_comp (AMICO section 3.2, Fig. 2b): background + edited object -> RGBA layer.

    Args:
        widths, bottleneck, input_skip: U-Net settings (see :class:`AmodalShapeNet`).

    Shape:
        background, object_image ``(B, 3, H, W)`` -> ``(I_out (B, 3, H, W), alpha (B, 1, H, W))``,
        both in [0, 1] (the Table 5 ``tanh`` mapped by ``(t + 1) / 2``). Compose with
        :func:`~amodal_compose.ops.blend.alpha_blend`.

    Example:
        >>> net = CompositionNet(widths=(8, 16, 16), bottleneck=(16,))
        >>> rgb, alpha = net(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
        >>> tuple(alpha.shape)
        (1, 1, 32, 32)
    """

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256, 256, 256),
        bottleneck: Sequence[int] = (256, 256),
        input_skip: bool = False,
    ) -> None:
        super().__init__()
        self.record_init(locals())
        self.unet = UNet(6, 4, widths, bottleneck, input_skip=input_skip)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this (the U-Net's ``2 ** depth``)."""
        return self.unet.size_multiple

    def forward(self, background: Tensor, object_image: Tensor) -> tuple[Tensor, Tensor]:
        _check("background", background, 3)
        _check("object_image", object_image, 3)
        check_same_size(background=background, object_image=object_image)
        out = tanh_to_unit(self.unet(torch.cat([background, object_image], 1)))
        return out[:, :3], out[:, 3:]
