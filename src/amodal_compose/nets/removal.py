"""Networks of inpainting-driven mask optimisation (Shimosato & Ukita, section III): a segmentation
network labelling every pixel (the paper's PanopticFPN; any differentiable network works), here a
compact encoder-decoder written in the package, or a timm encoder with a light decoder for users with
pretrained weights (the optional ``[timm]`` extra)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .base import RecordedInit
from .unet import UNet

__all__ = ["SegmentationNet", "TimmSegmentationNet"]


class SegmentationNet(RecordedInit):
    """Per-pixel class logits from an image: the package's U-Net (AMICO Table 5 layout).

    Args:
        num_classes: classes (0 = background, ``c + 1`` = category ``c``).
        widths, bottleneck: U-Net settings.

    Shape:
        ``(B, 3, H, W) -> (B, num_classes, H, W)``.

    Example:
        >>> SegmentationNet(8, widths=(8, 16, 16), bottleneck=(16,))(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 8, 32, 32])
    """

    def __init__(
        self, num_classes: int = 8, widths: Sequence[int] = (32, 64, 128, 128, 128), bottleneck: Sequence[int] = (128,)
    ) -> None:
        super().__init__()
        self.record_init(locals())
        self.num_classes = int(num_classes)
        self.unet = UNet(3, self.num_classes, widths, bottleneck)

    @property
    def size_multiple(self) -> int:
        return self.unet.size_multiple

    def forward(self, image: Tensor) -> Tensor:
        return self.unet(image)


class TimmSegmentationNet(RecordedInit):
    """Per-pixel class logits from a timm encoder (``features_only``) and a light decoder: each feature
    level projected to ``decoder_width`` channels, upsampled to the finest level, summed, then a 3x3
    convolution and bilinear upsampling to the input size.

    Needs the optional extra (``pip install "amodal_compose[timm]"``); pretrained weights are used only
    when present locally (``pretrained=True`` with timm's cache filled): nothing is downloaded here.

    Args:
        num_classes: classes.
        encoder: a timm model name with ``features_only`` support (e.g. ``"resnet18"``).
        pretrained: load timm's pretrained weights (from its local cache).
        decoder_width: channels of the decoder.

    Shape:
        ``(B, 3, H, W) -> (B, num_classes, H, W)``.
    """

    def __init__(
        self, num_classes: int = 8, encoder: str = "resnet18", pretrained: bool = False, decoder_width: int = 64
    ) -> None:
        super().__init__()
        self.record_init(locals())
        try:
            import timm
        except ImportError as err:  # pragma: no cover - depends on the extra
            raise ImportError(
                'TimmSegmentationNet needs timm: pip install "amodal_compose[timm]" (and a torchvision that matches '
                "your torch)"
            ) from err
        self.encoder = timm.create_model(encoder, pretrained=pretrained, features_only=True)
        channels = self.encoder.feature_info.channels()
        self.lateral = nn.ModuleList(nn.Conv2d(c, decoder_width, 1) for c in channels)
        self.head = nn.Sequential(nn.Conv2d(decoder_width, decoder_width, 3, padding=1), nn.ReLU(True),
                                  nn.Conv2d(decoder_width, num_classes, 1))  # fmt: skip
        self.size_multiple = int(max(self.encoder.feature_info.reduction()))

    def forward(self, image: Tensor) -> Tensor:
        feats = self.encoder(image)
        size = feats[0].shape[-2:]
        y = sum(F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False)
                for lat, f in zip(self.lateral, feats))  # fmt: skip
        return F.interpolate(self.head(y), size=image.shape[-2:], mode="bilinear", align_corners=False)
