"""The U-Net backbone of AMICO's f_shape and f_comp (AMICO supplementary A.1, Table 5)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import RecordedInit

__all__ = ["UNet"]


def _same_pad_4x4() -> nn.Module:
    # a 4x4 kernel at stride 1 keeps the size with an asymmetric zero pad (1 before, 2 after)
    return nn.ZeroPad2d((1, 2, 1, 2))


class UNet(RecordedInit):
    """AMICO Table 5: 4x4 stride-2 conv encoder (BN + LeakyReLU 0.2, no BN on the first layer),
    stride-1 4x4 bottleneck convs, 4x4 transposed-conv decoder (BN + ReLU) fed by skip
    connections, and a final 4x4 conv.

    The paper's network is ``widths=(64, 128, 256, 256, 256)``, ``bottleneck=(256, 256)`` at
    256 px. The decoder at level ``k`` outputs ``widths[max(k - 2, 0)]`` channels (Table 5:
    256, 256, 128, 64, 64). The last layer returns *pre-activation* values; the paper's ``tanh``
    is applied by the heads (:class:`~amodal_compose.nets.amico.AmodalShapeNet` maps it to a mask
    logit, since ``(tanh(x) + 1) / 2 == sigmoid(2x)``).

    Args:
        in_channels: input channels.
        out_channels: output channels (Table 5: 4).
        widths: channels of the stride-2 encoder layers; their number is the depth, and the input
            side must be divisible by ``2 ** len(widths)``.
        bottleneck: channels of the stride-1 layers after the encoder (may be empty).
        negative_slope: LeakyReLU slope of the encoder.
        input_skip: also feed the input to the final conv (a full-resolution skip that Table 5 does
            not have: its first skip is at half resolution, so fine texture must pass a stride-2
            conv and a transposed conv). Off by default (the paper's network).

    Shape:
        ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.

    Example:
        >>> net = UNet(4, 2, widths=(8, 16, 16), bottleneck=(16,))
        >>> net(torch.zeros(2, 4, 32, 32)).shape
        torch.Size([2, 2, 32, 32])
    """

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        widths: Sequence[int] = (64, 128, 256, 256, 256),
        bottleneck: Sequence[int] = (256, 256),
        negative_slope: float = 0.2,
        input_skip: bool = False,
    ) -> None:
        super().__init__()
        self.record_init(locals())
        widths, bottleneck = [int(w) for w in widths], [int(w) for w in bottleneck]
        if not widths:
            raise ValueError("UNet needs at least one encoder layer (widths is empty)")
        if in_channels < 1 or out_channels < 1 or min(widths + bottleneck) < 1:
            raise ValueError("UNet: channel counts must be positive")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.depth = len(widths)

        def down(cin: int, cout: int, stride: int, bn: bool) -> nn.Sequential:
            layers: list[nn.Module] = [] if stride == 2 else [_same_pad_4x4()]
            layers.append(nn.Conv2d(cin, cout, 4, stride, 1 if stride == 2 else 0, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(negative_slope, inplace=True))
            return nn.Sequential(*layers)

        self.encoder = nn.ModuleList()
        cin = in_channels
        for i, w in enumerate(widths):
            self.encoder.append(down(cin, w, 2, bn=i > 0))
            cin = w
        self.bottleneck = nn.Sequential(*[down(c_in, c, 1, bn=True) for c_in, c in zip([cin, *bottleneck], bottleneck)])
        self.decoder = nn.ModuleList()
        prev = bottleneck[-1] if bottleneck else None
        for k in range(self.depth, 0, -1):  # skip_k, deepest first
            skip = widths[k - 1]
            cin = skip + (prev if prev is not None else 0)
            cout = widths[max(k - 2, 0)]
            self.decoder.append(
                nn.Sequential(
                    nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                )
            )
            prev = cout
        self.input_skip = bool(input_skip)
        head_in = prev + (in_channels if self.input_skip else 0)
        self.head = nn.Sequential(_same_pad_4x4(), nn.Conv2d(head_in, out_channels, 4, 1, 0))

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this (``2 ** depth``)."""
        return 2**self.depth

    def forward(self, x: Tensor) -> Tensor:
        inp = x
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet: expected (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        f = 2**self.depth
        if h % f or w % f:
            raise ValueError(f"UNet of depth {self.depth}: H and W must be multiples of {f}, got {h}x{w}")
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        y = self.bottleneck(x) if len(self.bottleneck) else None
        for layer, skip in zip(self.decoder, reversed(skips)):
            y = layer(skip if y is None else torch.cat([y, skip], 1))
        return self.head(torch.cat([y, inp], 1) if self.input_skip else y)
