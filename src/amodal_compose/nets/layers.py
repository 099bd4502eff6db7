"""Reusable layers of the content-completion GAN (AMICO section 3.1, supplementary Tables 6-7):
gated convolution (Yu et al., free-form inpainting), its dilated and upsampling forms, and
contextual attention (Yu et al. 2018, generative inpainting)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GatedConv2d", "GatedDeconv2d", "ContextualAttention"]


class GatedConv2d(nn.Module):
    """``act(conv_f(x)) * sigmoid(conv_g(x))`` with "same" padding (AMICO Tables 6-7 "gconv").

    Args:
        in_channels, out_channels: channels.
        kernel_size: square kernel.
        stride: 1 or 2 (2 halves even sizes).
        dilation: dilation rate (the "dilated gated conv" of Tables 6-7).
        activation: ``"elu"`` (the paper's), ``"none"`` (e.g. the last layer).

    Shape:
        ``(B, in, H, W) -> (B, out, H / stride, W / stride)``.

    Example:
        >>> GatedConv2d(4, 8, 3, dilation=2)(torch.zeros(1, 4, 16, 16)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1,
        activation: str = "elu",
    ) -> None:  # fmt: skip
        super().__init__()
        if activation not in ("elu", "none"):
            raise ValueError(f"activation must be 'elu' or 'none', got {activation!r}")
        pad = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, pad, dilation)
        self.activation = nn.ELU() if activation == "elu" else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        feature, gate = self.conv(x).chunk(2, dim=1)
        return self.activation(feature) * torch.sigmoid(gate)


class GatedDeconv2d(nn.Module):
    """Tables 6-7 "deconv": 2x nearest upsampling, then a gated 3x3 conv.

    Shape:
        ``(B, in, H, W) -> (B, out, 2H, 2W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, activation: str = "elu") -> None:
        super().__init__()
        self.conv = GatedConv2d(in_channels, out_channels, 3, 1, 1, activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class ContextualAttention(nn.Module):
    """Contextual attention (Yu et al. 2018; AMICO Table 7 "attn"): every foreground location is
    matched against all background patches by cosine similarity, the scores are softmax-weighted
    (``softmax_scale``), and the output is the weighted overlap-add of the background patches.

    Patches that touch the hole are never used as sources. With ``propagate``, the scores are
    smoothed along the diagonal (a ``propagate_size`` identity kernel), which favours coherent
    neighbouring matches.

    Args:
        patch_size: side of the matched patches (odd).
        softmax_scale: sharpness of the softmax over patches (paper code: 10).
        propagate: attention propagation.
        propagate_size: length of the propagation kernel.

    Shape:
        foreground ``(B, C, H, W)``, background ``(B, C, H, W)``, hole ``(B, 1, H, W)`` (1 = missing)
        -> ``(B, C, H, W)``.

    Example:
        >>> att = ContextualAttention()
        >>> att(torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8), torch.zeros(1, 1, 8, 8)).shape
        torch.Size([1, 4, 8, 8])
    """

    def __init__(
        self, patch_size: int = 3, softmax_scale: float = 10.0, propagate: bool = False, propagate_size: int = 3
    ) -> None:
        super().__init__()
        if patch_size % 2 != 1:
            raise ValueError(f"patch_size must be odd, got {patch_size}")
        self.patch_size, self.softmax_scale = int(patch_size), float(softmax_scale)
        self.propagate, self.propagate_size = bool(propagate), int(propagate_size)

    def forward(self, foreground: Tensor, background: Tensor, hole: Tensor) -> Tensor:
        if foreground.shape != background.shape:
            raise ValueError(f"foreground {tuple(foreground.shape)} and background {tuple(background.shape)} differ")
        if hole.shape[-2:] != foreground.shape[-2:]:
            hole = F.interpolate(hole.float(), size=foreground.shape[-2:], mode="nearest")
        k, pad = self.patch_size, self.patch_size // 2
        outs = []
        for f, b, m in zip(foreground, background, hole):  # per sample: the patches are its own kernels
            c, h, w = b.shape
            patches = F.unfold(b[None], k, padding=pad)[0].T.reshape(h * w, c, k, k)  # (L, C, k, k)
            norm = patches.flatten(1).norm(dim=1).clamp_min(1e-4).view(-1, 1, 1, 1)
            scores = F.conv2d(f[None], patches / norm, padding=pad)  # (1, L, H, W)
            if self.propagate:
                scores = self._propagate(scores, h, w)
            # a source patch is valid when no pixel of it lies in the hole
            touched = F.max_pool2d(m[None].float(), k, 1, pad).flatten() > 0  # (L,)
            scores = scores.masked_fill(touched.view(1, -1, 1, 1), float("-inf"))
            attn = torch.softmax(scores * self.softmax_scale, dim=1)
            if bool(touched.all()):
                attn = torch.zeros_like(attn)
            out = F.conv_transpose2d(attn, patches, padding=pad) / (k * k)
            outs.append(out[0])
        return torch.stack(outs)

    def _propagate(self, scores: Tensor, h: int, w: int) -> Tensor:
        """score(p, x) += score(p + d, x + d) for |d| <= size // 2: along image rows (row-major
        order), then along columns (column-major order)."""
        s = self.propagate_size
        eye = torch.eye(s, device=scores.device, dtype=scores.dtype).view(1, 1, s, s)
        n = h * w
        m = scores.reshape(1, 1, n, n)  # [source patch p, target location x], both row-major
        m = F.conv2d(m, eye, padding=s // 2)
        m = m.view(h, w, h, w).permute(1, 0, 3, 2).reshape(1, 1, n, n)  # column-major order
        m = F.conv2d(m, eye, padding=s // 2)
        return m.view(w, h, w, h).permute(1, 0, 3, 2).reshape(1, n, h, w)
