"""Inpainting networks: the partial-convolution U-Net of PCNet-C (PCNet supplementary A; Liu et al.
2018), an EdgeConnect-style encoder / residual / decoder generator (the removal model's edge,
segmentation and image inpainters, Shimosato & Ukita III-B) and the 5-layer spectral-norm patch
discriminator both papers use."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .base import RecordedInit, tanh_to_unit

__all__ = ["PartialConv2d", "PartialUNet", "PatchDiscriminator", "ResidualInpainter"]


class PartialConv2d(nn.Module):
    """Partial convolution (Liu et al. 2018): the convolution of the valid pixels only, rescaled by
    the share of the window that is valid, and the updated validity mask.

    ``out = W^T (x * m) * (k^2 / sum(m)) + b`` where the window holds a valid pixel, else 0; the new
    mask is 1 where the window held one.

    Args:
        in_channels, out_channels, kernel_size, stride: as ``nn.Conv2d`` ("same" padding).
        bias: a bias.

    Shape:
        ``x (B, C, H, W)``, ``mask (B, 1, H, W)`` (1 = valid) -> ``(B, out, H / s, W / s)``,
        ``(B, 1, H / s, W / s)``.

    Example:
        >>> conv = PartialConv2d(3, 8, 3)
        >>> y, m = conv(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8))
        >>> y.shape, bool(m.all())
        (torch.Size([1, 8, 8, 8]), True)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=bias)
        self.register_buffer("ones", torch.ones(1, 1, kernel_size, kernel_size), persistent=False)
        self.window = float(kernel_size * kernel_size)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            count = F.conv2d(mask, self.ones, stride=self.conv.stride, padding=self.conv.padding)
            new_mask = (count > 0).to(x.dtype)
            scale = self.window / count.clamp_min(1.0) * new_mask
        raw = F.conv2d(x * mask, self.conv.weight, None, self.conv.stride, self.conv.padding)
        out = raw * scale
        if self.conv.bias is not None:
            out = out + self.conv.bias.view(1, -1, 1, 1) * new_mask
        return out, new_mask


class PartialUNet(RecordedInit):
    """PCNet-C's backbone: a U-Net of partial convolutions (Liu et al. 2018): stride-2 encoder layers
    (kernels 7, 5, 5, 3, ...; ReLU, batch norm after the first), then nearest upsampling, skip
    concatenation and 3x3 partial convolutions (LeakyReLU 0.2), ending in an RGB image in [0, 1].

    Args:
        in_channels: input channels (PCNet-C: the erased image, 3, plus the target's remaining modal
            mask and the eraser, 2).
        widths: encoder channels, one stride-2 layer each (Liu et al. at 512 px: 64, 128, 256, 512 x 5).

    Shape:
        ``x (B, in, H, W)``, ``valid (B, 1, H, W)`` (0 in the hole) -> ``(B, 3, H, W)``;
        ``H, W`` multiples of ``2 ** len(widths)``.

    Example:
        >>> net = PartialUNet(5, (8, 16, 16))
        >>> net(torch.rand(1, 5, 32, 32), torch.ones(1, 1, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(self, in_channels: int = 5, widths: Sequence[int] = (64, 128, 256, 512, 512, 512)) -> None:
        super().__init__()
        self.record_init(locals())
        widths = [int(w) for w in widths]
        if not widths:
            raise ValueError("PartialUNet needs at least one encoder layer")
        kernels = [7, 5, 5] + [3] * max(0, len(widths) - 3)
        self.down = nn.ModuleList()
        self.down_norm = nn.ModuleList()
        cin = in_channels
        for i, w in enumerate(widths):
            self.down.append(PartialConv2d(cin, w, kernels[i], stride=2, bias=i == 0))
            self.down_norm.append(nn.Identity() if i == 0 else nn.BatchNorm2d(w))
            cin = w
        self.up = nn.ModuleList()
        self.up_norm = nn.ModuleList()
        skips = [in_channels, *widths[:-1]]
        for i in range(len(widths) - 1, -1, -1):
            out = 3 if i == 0 else skips[i]
            self.up.append(PartialConv2d(cin + skips[i], out, 3, bias=i == 0))
            self.up_norm.append(nn.Identity() if i == 0 else nn.BatchNorm2d(out))
            cin = out
        self.size_multiple = 2 ** len(widths)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"PartialUNet: H and W must be multiples of {self.size_multiple}, got {h}x{w}")
        feats, masks = [x], [valid]
        y, m = x, valid
        for conv, norm in zip(self.down, self.down_norm):
            y, m = conv(y, m)
            y = F.relu(norm(y))
            feats.append(y)
            masks.append(m)
        feats.pop(), masks.pop()
        for k, (conv, norm) in enumerate(zip(self.up, self.up_norm)):
            y = F.interpolate(y, scale_factor=2, mode="nearest")
            m = F.interpolate(m, scale_factor=2, mode="nearest")
            skip, skip_mask = feats.pop(), masks.pop()
            y, m = conv(torch.cat([y, skip], 1), torch.maximum(m, skip_mask))
            if k < len(self.up) - 1:
                y = F.leaky_relu(norm(y), 0.2)
        return tanh_to_unit(y)


class PatchDiscriminator(RecordedInit):
    """The 5-layer spectral-norm patch discriminator (PCNet-C, and EdgeConnect's, which the removal
    inpainters use): 4x4 convolutions, strides 2, 2, 2, 1, 1, LeakyReLU 0.2, a score per patch.

    Args:
        in_channels: channels of what it judges (with its condition, if any).
        widths: channels of the first four layers (EdgeConnect: 64, 128, 256, 512).

    Shape:
        ``(B, in, H, W) -> (scores (B, 1, H', W'), [the four activations])``; the activations feed
        feature-matching and style losses.
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.record_init(locals())
        widths = [int(w) for w in widths]
        if len(widths) != 4:
            raise ValueError(f"PatchDiscriminator has 4 hidden layers, got widths {widths}")
        strides = (2, 2, 2, 1)
        layers, c = [], in_channels
        for w, s in zip(widths, strides):
            layers.append(spectral_norm(nn.Conv2d(c, w, 4, s, 1)))
            c = w
        self.layers = nn.ModuleList(layers)
        self.score = spectral_norm(nn.Conv2d(c, 1, 4, 1, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = []
        for conv in self.layers:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        return self.score(x), features


class _Residual(nn.Module):
    def __init__(self, c: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(dilation), nn.Conv2d(c, c, 3, dilation=dilation), nn.InstanceNorm2d(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResidualInpainter(RecordedInit):
    """An EdgeConnect-style inpainting generator: a 7x7 conv and two stride-2 convs, residual blocks
    with dilation 2 at 1/4 resolution, two transposed convs and a 7x7 conv (instance norm, ReLU).
    Shimosato & Ukita use this network for their edge, segmentation and image inpainters.

    Args:
        in_channels: input channels (the masked input and its cues, the mask among them).
        out_channels: 1 (edges), the number of segment classes, or 3 (the image).
        width: channels at full resolution (EdgeConnect: 64; x2 and x4 below).
        blocks: residual blocks (EdgeConnect: 8).
        output: ``"sigmoid"`` (edges: probabilities), ``"logits"`` (segmentation) or ``"image"``
            (``(tanh + 1) / 2`` in [0, 1]).

    Shape:
        ``(B, in, H, W) -> (B, out, H, W)``; ``H, W`` multiples of 4.
    """

    def __init__(
        self, in_channels: int = 4, out_channels: int = 3, width: int = 64, blocks: int = 8, output: str = "image"
    ) -> None:
        super().__init__()
        self.record_init(locals())
        if output not in ("sigmoid", "logits", "image"):
            raise ValueError(f"output must be 'sigmoid', 'logits' or 'image', got {output!r}")
        w = int(width)

        def block(cin, cout, conv):
            return [conv(cin, cout), nn.InstanceNorm2d(cout), nn.ReLU(True)]

        self.body = nn.Sequential(
            nn.ReflectionPad2d(3), *block(in_channels, w, lambda i, o: nn.Conv2d(i, o, 7)),
            *block(w, 2 * w, lambda i, o: nn.Conv2d(i, o, 4, 2, 1)),
            *block(2 * w, 4 * w, lambda i, o: nn.Conv2d(i, o, 4, 2, 1)),
            *[_Residual(4 * w, 2) for _ in range(int(blocks))],
            *block(4 * w, 2 * w, lambda i, o: nn.ConvTranspose2d(i, o, 4, 2, 1)),
            *block(2 * w, w, lambda i, o: nn.ConvTranspose2d(i, o, 4, 2, 1)),
            nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7),
        )  # fmt: skip
        self.output = output
        self.size_multiple = 4

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4:
            raise ValueError(f"ResidualInpainter: H and W must be multiples of 4, got {h}x{w}")
        y = self.body(x)
        if self.output == "sigmoid":
            return torch.sigmoid(y)
        return tanh_to_unit(y) if self.output == "image" else y
