"""Reusable layers of the content-completion GAN (AMICO section 3.1, supplementary Tables 6-7):
gated convolution (Yu et al., free-form inpainting), its dilated and upsampling forms, and
contextual attention (Yu et al. 2018, generative inpainting)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GatedConv2d", "GatedDeconv2d", "ContextualAttention"]

FEATURE_GAIN = 1.7  # see GatedConv2d.reset_parameters


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
        self.reset_parameters()

    def reset_parameters(self, feature_gain: float = FEATURE_GAIN) -> None:
        """Kaiming-normal weights (ReLU gain), zero biases, and the feature half scaled by
        ``feature_gain`` to make up for the sigmoid gate, which roughly halves the signal.

        With PyTorch's default conv init, the input-dependent part of the signal shrinks about
        100-fold through the 10 gated layers of the bench's coarse net, so the early output is a
        constant and learning is slow. With this init it stays within a few-fold through the
        25 layers of the paper's coarse net (``tests/test_gan_parts.py`` checks it).
        """
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.conv.bias)
        with torch.no_grad():
            self.conv.weight[: self.conv.out_channels // 2] *= feature_gain

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

    As in Yu et al., matching can run on features downsampled by ``rate`` (nearest): the scores
    are computed between ``patch_size`` patches of the ``1 / rate`` grid, and the pasted patches
    are the full-resolution ``2 * rate`` patches at stride ``rate`` (``rate = 1``: the matched
    ``patch_size`` patches themselves). ``rate = 2`` makes the score matrix 16x smaller, which is
    what makes the layer affordable at 128x128 (the 1/2 scale of a 256 px input). Overlapping
    pasted patches are averaged.

    Patches that touch the hole are never used as sources. A ``source`` mask restricts them further
    to patches centred on it (AMICO: attention on the object's visible area, not on the empty
    background of the object crop); a sample with fewer than ``min_sources`` such patches falls back to
    every patch that does not touch the hole. With ``propagate``, the scores are smoothed along the
    diagonal (a ``propagate_size`` identity kernel), which favours coherent neighbouring matches.

    Args:
        patch_size: side of the matched patches (odd).
        softmax_scale: sharpness of the softmax over patches (paper code: 10).
        propagate: attention propagation.
        propagate_size: length of the propagation kernel.
        rate: downsampling of the matching (1 or even; Yu et al.: 2). ``H`` and ``W`` must be
            multiples of it.
        min_sources: fewest source patches a ``source`` mask must leave, else it is ignored.

    Shape:
        foreground ``(B, C, H, W)``, background ``(B, C, H, W)``, hole ``(B, 1, H, W)`` (1 = missing),
        optional source ``(B, 1, H', W')`` (1 = may be copied; any size, a cell counts when wholly
        inside) -> ``(B, C, H, W)``.

    Example:
        >>> att = ContextualAttention(rate=2)
        >>> att(torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8), torch.zeros(1, 1, 8, 8)).shape
        torch.Size([1, 4, 8, 8])
    """

    def __init__(
        self, patch_size: int = 3, softmax_scale: float = 10.0, propagate: bool = False, propagate_size: int = 3,
        rate: int = 1, min_sources: int = 4,
    ) -> None:  # fmt: skip
        super().__init__()
        if patch_size % 2 != 1:
            raise ValueError(f"patch_size must be odd, got {patch_size}")
        if rate < 1 or (rate > 1 and rate % 2):
            raise ValueError(f"rate must be 1 or even, got {rate}")
        self.patch_size, self.softmax_scale = int(patch_size), float(softmax_scale)
        self.propagate, self.propagate_size, self.rate = bool(propagate), int(propagate_size), int(rate)
        self.min_sources = int(min_sources)

    def forward(self, foreground: Tensor, background: Tensor, hole: Tensor, source: Tensor | None = None) -> Tensor:
        if foreground.shape != background.shape:
            raise ValueError(f"foreground {tuple(foreground.shape)} and background {tuple(background.shape)} differ")
        b, c, h, w = background.shape
        r, k = self.rate, self.patch_size
        if h % r or w % r:
            raise ValueError(f"ContextualAttention: H and W must be multiples of rate {r}, got {h}x{w}")
        if hole.shape[-2:] != (h, w):
            hole = F.interpolate(hole.float(), size=(h, w), mode="nearest")
        hole = hole.to(background.dtype)
        # the pasted patches: full resolution, 2r x 2r at stride r (r = 1: the k x k matched ones)
        raw_k, raw_pad = (k, k // 2) if r == 1 else (2 * r, r // 2)
        raw = F.unfold(background, raw_k, padding=raw_pad, stride=r)  # (B, C * raw_k^2, L)
        # matching on the 1/r grid
        fg, bg, m = foreground, background, hole
        if r > 1:
            fg, bg = fg[..., ::r, ::r], bg[..., ::r, ::r]
            m = F.max_pool2d(hole, r)  # a cell is in the hole when any of its pixels is
        hd, wd = fg.shape[-2:]
        keys = F.unfold(bg, k, padding=k // 2)  # (B, C k^2, L)
        keys = keys / keys.norm(dim=1, keepdim=True).clamp_min(1e-4)
        queries = F.unfold(fg, k, padding=k // 2)  # (B, C k^2, N)
        scores = keys.transpose(1, 2) @ queries  # (B, L, N): source patch x target location
        if self.propagate:
            scores = self._propagate(scores, hd, wd)
        # a source is valid when neither its matched nor its pasted patch touches the hole
        touched = F.max_pool2d(m, k, 1, k // 2).flatten(1) > 0
        touched |= F.unfold(hole, raw_k, padding=raw_pad, stride=r).amax(1) > 0  # (B, L)
        if source is not None:  # only patches centred on a cell wholly inside the source region
            inside = -F.adaptive_max_pool2d(-source.to(background.dtype), (hd, wd))
            outside = touched | (inside.flatten(1) < 0.5)
            enough = (~outside).sum(1, keepdim=True) >= self.min_sources
            touched = torch.where(enough, outside, touched)
        scores = scores.masked_fill(touched[:, :, None], float("-inf"))
        attn = torch.softmax(scores * self.softmax_scale, dim=1)
        attn = attn.masked_fill(touched.all(1)[:, None, None], 0.0)  # nothing to copy from
        out = F.fold(raw @ attn, (h, w), raw_k, padding=raw_pad, stride=r)
        cover = F.fold(torch.ones_like(raw[:1]), (h, w), raw_k, padding=raw_pad, stride=r)
        return out / cover

    def _propagate(self, scores: Tensor, h: int, w: int) -> Tensor:
        """score(p, x) += score(p + d, x + d) for |d| <= size // 2: along image rows (row-major
        order), then along columns (column-major order). ``scores``: ``(B, L, N)``, ``L = N = h w``."""
        s, b, n = self.propagate_size, scores.shape[0], h * w
        eye = torch.eye(s, device=scores.device, dtype=scores.dtype).view(1, 1, s, s)
        m = F.conv2d(scores.reshape(b, 1, n, n), eye, padding=s // 2)  # both axes row-major
        m = m.view(b, h, w, h, w).permute(0, 2, 1, 4, 3).reshape(b, 1, n, n)  # column-major order
        m = F.conv2d(m, eye, padding=s // 2)
        return m.view(b, w, h, w, h).permute(0, 2, 1, 4, 3).reshape(b, n, n)
