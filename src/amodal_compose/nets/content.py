"""AMICO's object content completion generator (supplementary Tables 6-7) and a WGAN-GP critic.

Input triplet (AMICO section 3.1): the masked object ``I_o * m_vis``, ``m_vis`` and ``m_inv``. The
coarse net (Table 6) predicts ``I_coarse``; the refine net (Table 7) takes the coarse result pasted
into the hole and predicts ``I_o`` with contextual attention at three scales. All convs are gated,
"same"-padded, ELU-activated; the outputs are mapped to [0, 1] by ``(tanh + 1) / 2``.

``prior="residual"`` (not in the paper) gives both stages a classical fill of the hole to improve on:
the hole is pre-filled (e.g. by Telea, see :class:`~amodal_compose.systems.ContentSystem`'s
``prefill``) instead of zeroed, and each stage predicts a correction in [-1, 1], zero at
initialisation, so training starts from the classical result and a few minutes of CPU training
refine it rather than first having to learn what diffusion already gives.

``prior="select"`` (not in the paper) takes several candidate fills (``candidates``; e.g. Telea's
diffusion and a copy along the object's self-similar offsets, which continues stripes and checkers)
and lets the coarse stage choose between them per pixel: it sees every candidate and predicts softmax
weights over them (uniform at initialisation, so training starts from their average) plus a
correction of the weighted fill; the refine stage is residual as above. Where one candidate is right
and the other wrong the weights can pick it at full resolution, which a correction computed through
the coarse net's 1/4-resolution bottleneck cannot. With ``prior_weights=True`` the generator also
takes per-image log-weights of the candidates (e.g. from how well each predicts known pixels held out
next to the hole, :func:`~amodal_compose.baselines.holdout_log_weights`): they are added to the
selection logits, so training starts from that blend instead of the plain average, and the coarse net
sees the weights as constant input channels, so it can learn where to trust them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import RecordedInit, tanh_to_unit
from .layers import ContextualAttention, GatedConv2d, GatedDeconv2d

__all__ = ["CoarseNet", "RefineNet", "ContentGenerator", "Critic"]


def _zero_features(layer: nn.Module) -> None:
    """Zero the feature half of a gated layer's conv: its output is 0 whatever the gate."""
    conv = layer.conv.conv if isinstance(layer, GatedDeconv2d) else layer.conv
    with torch.no_grad():
        conv.weight[: conv.out_channels // 2].zero_()
        conv.bias[: conv.out_channels // 2].zero_()


class CoarseNet(nn.Module):
    """Table 6: gconv 5x5 /2, gconv, gconv /2, ``repeats[0]`` gconvs, dilated gconvs at rates 2, 4,
    8 (``repeats[1:4]`` of each), ``repeats[4]`` gconvs, two upsampling gated convs.

    The paper's text calls the coarse network a U-Net, while Table 6 lists no skip connections; the
    default follows the table. ``skips=True`` adds the two U-Net skips (the 1/4 and 1/2 scale
    encoder features concatenated before each upsampling conv).

    Args:
        in_channels: input channels (5: RGB + two masks).
        width: channels at 1/4 resolution (paper: 64; the first layers use ``width // 2``).
        repeats: layer counts of the plain / rate-2 / rate-4 / rate-8 / plain groups (paper: 6, 5, 4, 2, 3).
        skips: the U-Net skips (not in Table 6).
        out_channels: output channels (3: RGB).
    """

    def __init__(
        self, in_channels: int = 5, width: int = 64, repeats: Sequence[int] = (6, 5, 4, 2, 3), skips: bool = False,
        out_channels: int = 3,
    ) -> None:  # fmt: skip
        super().__init__()
        if len(repeats) != 5:
            raise ValueError(f"repeats needs 5 counts (plain, rate 2, rate 4, rate 8, plain), got {repeats}")
        half, k = max(width // 2, 1), 2 if skips else 1
        layers: list[nn.Module] = [
            GatedConv2d(in_channels, half, 5, 2),
            GatedConv2d(half, width, 3, 1),
            GatedConv2d(width, width, 3, 2),
        ]
        for count, rate in zip(repeats, (1, 2, 4, 8, 1)):
            layers += [GatedConv2d(width, width, 3, 1, rate) for _ in range(int(count))]
        layers += [GatedDeconv2d(k * width, half), GatedDeconv2d(k * half, int(out_channels), activation="none")]
        self.body = nn.Sequential(*layers)
        self.skips = bool(skips)

    def forward(self, x: Tensor) -> Tensor:
        if not self.skips:
            return tanh_to_unit(self.body(x))
        half_scale = self.body[0](x)
        quarter = self.body[2](self.body[1](half_scale))
        y = self.body[3:-2](quarter)
        y = self.body[-2](torch.cat([y, quarter], 1))
        return tanh_to_unit(self.body[-1](torch.cat([y, half_scale], 1)))


class RefineNet(nn.Module):
    """Table 7: an encoder to 1/8 resolution with dilated gated convs (rates 2, 4, 8, 16), then a
    decoder where each scale (1/8, 1/4, 1/2) has a gated conv followed by contextual attention that
    fills the hole's features from the known region's.

    Args:
        in_channels: input channels (5).
        widths: channels at 1/2, 1/4, 1/8 resolution (paper: 32, 64, 128).
        dilations: rates of the dilated group (paper: 2, 4, 8, 16).
        softmax_scale, propagate, attention_rate: contextual-attention settings (``attention_rate``
            is the layer's ``rate``: Yu et al.'s 2 matches on a 2x coarser grid).

    ``forward(x, hole, source)``: ``source`` restricts what the attention copies (see
    :class:`~amodal_compose.nets.layers.ContextualAttention`).
    """

    def __init__(
        self, in_channels: int = 5, widths: Sequence[int] = (32, 64, 128), dilations: Sequence[int] = (2, 4, 8, 16),
        softmax_scale: float = 10.0, propagate: bool = False, attention_rate: int = 2,
    ) -> None:  # fmt: skip
        super().__init__()
        c1, c2, c3 = (int(w) for w in widths)
        self.encoder = nn.Sequential(
            GatedConv2d(in_channels, c1, 5, 2),
            GatedConv2d(c1, c1, 3, 1),
            GatedConv2d(c1, c2, 3, 2),
            GatedConv2d(c2, c3, 3, 2),
            GatedConv2d(c3, c3, 3, 1),
            GatedConv2d(c3, c3, 3, 1),
            *[GatedConv2d(c3, c3, 3, 1, int(r)) for r in dilations],
        )
        self.conv3, self.up2 = GatedConv2d(c3, c3), GatedDeconv2d(c3, c2)
        self.conv2, self.up1 = GatedConv2d(c2, c2), GatedDeconv2d(c2, c1)
        self.conv1, self.out = GatedConv2d(c1, c1), GatedDeconv2d(c1, 3, activation="none")
        self.attention = ContextualAttention(3, softmax_scale, propagate, rate=attention_rate)

    def _attend(self, x: Tensor, hole: Tensor, source: Tensor | None) -> Tensor:
        h = F.interpolate(hole, size=x.shape[-2:], mode="nearest")
        return x * (1 - h) + self.attention(x, x, h, source) * h  # only the hole is replaced

    def forward(self, x: Tensor, hole: Tensor, source: Tensor | None = None) -> Tensor:
        y = self.encoder(x)
        y = self.up2(self._attend(self.conv3(y), hole, source))
        y = self.up1(self._attend(self.conv2(y), hole, source))
        return tanh_to_unit(self.out(self._attend(self.conv1(y), hole, source)))


class ContentGenerator(RecordedInit):
    """f_content's two-stage generator (AMICO section 3.1, Tables 6-7).

    Args:
        coarse_width, coarse_repeats: :class:`CoarseNet` settings (paper: 64, (6, 5, 4, 2, 3)).
        refine_widths, refine_dilations: :class:`RefineNet` settings (paper: (32, 64, 128), (2, 4, 8, 16)).
        softmax_scale, propagate, attention_rate: contextual attention (Yu et al.: 10, off, 2).
        attend: what contextual attention copies from: ``"visible"`` (the object's visible pixels,
            AMICO's "attention on object areas"; a sample with almost nothing visible falls back to
            ``"known"``) or ``"known"`` (every pixel outside the hole, the object crop's empty
            background included, as Yu et al. do for whole images).
        coarse_skips: the coarse net's U-Net skips (see :class:`CoarseNet`; not in Table 6).
        prior: ``"none"`` (the paper: the hole is zeroed), ``"residual"`` (``forward`` takes a
            ``prior`` fill of the hole, and each stage outputs ``clamp(input + correction)`` with a
            zero-initialised correction) or ``"select"`` (``prior`` stacks ``candidates`` fills and
            the coarse stage weighs them per pixel); see the module's documentation.
        candidates: the number of candidate fills with ``prior="select"`` (ignored otherwise).
        prior_weights: with ``prior="select"``, ``forward`` also takes ``prior_logits`` ``(B, K)``,
            log-weights of the candidates that the selection starts from (see the module's documentation).

    Shape:
        object ``(B, 3, H, W)`` (every pixel outside ``m_inv`` is read: the object alone, zero
        outside its mask, as in the paper, or the object on its scene for the ablation), ``m_vis``,
        ``m_inv`` ``(B, 1, H, W)`` and, with a prior, ``prior`` ``(B, 3 * K, H, W)`` (K = 1 for
        ``"residual"``, ``candidates`` for ``"select"``; with ``prior_weights``, ``prior_logits``
        ``(B, K)``) -> ``{"coarse", "refine", "completed"}``,
        each ``(B, 3, H, W)``; ``completed`` keeps the known pixels and takes the refined ones in
        ``m_inv``. ``H, W`` must be multiples of ``8 * attention_rate``.

    Example:
        >>> g = ContentGenerator(16, (1, 1, 1, 1, 1), (8, 16, 16), (2,))
        >>> out = g(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32), torch.zeros(1, 1, 32, 32))
        >>> tuple(out["refine"].shape)
        (1, 3, 32, 32)
    """

    def __init__(
        self,
        coarse_width: int = 64,
        coarse_repeats: Sequence[int] = (6, 5, 4, 2, 3),
        refine_widths: Sequence[int] = (32, 64, 128),
        refine_dilations: Sequence[int] = (2, 4, 8, 16),
        softmax_scale: float = 10.0,
        propagate: bool = False,
        attention_rate: int = 2,
        attend: Literal["visible", "known"] = "visible",
        coarse_skips: bool = False,
        prior: Literal["none", "residual", "select"] = "none",
        candidates: int = 2,
        prior_weights: bool = False,
    ) -> None:
        super().__init__()
        self.record_init(locals())
        if attend not in ("visible", "known"):
            raise ValueError(f"attend must be 'visible' or 'known', got {attend!r}")
        if prior not in ("none", "residual", "select"):
            raise ValueError(f"prior must be 'none', 'residual' or 'select', got {prior!r}")
        if prior == "select" and int(candidates) < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        if prior_weights and prior != "select":
            raise ValueError(f"prior_weights needs prior='select', got prior={prior!r}")
        self.attend, self.prior, self.prior_weights = attend, prior, bool(prior_weights)
        self.candidates = int(candidates) if prior == "select" else (0 if prior == "none" else 1)
        extra = 3 * self.candidates if prior == "select" else 0  # the candidates themselves
        extra += self.candidates if self.prior_weights else 0  # and their prior weights, as constant maps
        weights = self.candidates if prior == "select" else 0  # their per-pixel logits
        self.coarse = CoarseNet(5 + extra, coarse_width, coarse_repeats, coarse_skips, 3 + weights)
        self.refine = RefineNet(5, refine_widths, refine_dilations, softmax_scale, propagate, attention_rate)
        self.size_multiple = 8 * int(attention_rate)  # the 1/8 scale is matched on a 1/rate grid
        if prior != "none":  # both stages start as the identity on their input (select: the mean)
            _zero_features(self.coarse.body[-1])
            _zero_features(self.refine.out)

    def forward(
        self, object_image: Tensor, visible: Tensor, invisible: Tensor, prior: Tensor | None = None,
        prior_logits: Tensor | None = None,
    ) -> dict[str, Tensor]:  # fmt: skip
        if (prior is None) != (self.prior == "none"):
            raise ValueError(f"ContentGenerator(prior={self.prior!r}) "
                             f"{'needs' if prior is None else 'takes no'} a prior fill")  # fmt: skip
        if (prior_logits is None) == self.prior_weights:
            raise ValueError(f"ContentGenerator(prior_weights={self.prior_weights}) "
                             f"{'needs' if prior_logits is None else 'takes no'} prior_logits")  # fmt: skip
        if object_image.ndim != 4 or object_image.shape[1] != 3:
            raise ValueError(f"object_image: expected (B, 3, H, W), got {tuple(object_image.shape)}")
        if visible.shape != invisible.shape or visible.shape[-2:] != object_image.shape[-2:]:
            raise ValueError(
                f"sizes differ: object_image {tuple(object_image.shape)}, visible {tuple(visible.shape)}, "
                f"invisible {tuple(invisible.shape)}"
            )
        h, w = object_image.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"ContentGenerator: H and W must be multiples of {self.size_multiple}, got {h}x{w}")
        known = object_image * (1 - invisible)  # the object alone: I_o * m_vis; the ablation: plus its scene
        if prior is not None and prior.shape != (len(known), 3 * self.candidates, h, w):
            raise ValueError(f"prior: expected {(len(known), 3 * self.candidates, h, w)} "
                             f"({self.candidates} fill(s)), got {tuple(prior.shape)}")  # fmt: skip
        if self.prior == "select":
            fills = prior.unflatten(1, (self.candidates, 3)) * invisible[:, None]  # (B, K, 3, H, W)
            if prior_logits is None:  # equal weights: start from the candidates' mean
                start, inputs, bias = known + fills.mean(1), [], 0.0
            else:
                if prior_logits.shape != (len(known), self.candidates):
                    raise ValueError(f"prior_logits: expected {(len(known), self.candidates)}, "
                                     f"got {tuple(prior_logits.shape)}")  # fmt: skip
                bias = prior_logits.to(known)[..., None, None]  # (B, K, 1, 1)
                start_w = bias.softmax(1)
                start = known + (start_w[:, :, None] * fills).sum(1)
                inputs = [start_w.expand(-1, -1, h, w)]  # the prior weights, as constant maps
            out = self.coarse(torch.cat([start, visible, invisible, fills.flatten(1, 2), *inputs], 1))
            # logits in [-4, 4] ((tanh + 1) / 2 = 0.5 is 0: the prior's weights at initialisation)
            weights = torch.softmax(4 * (2 * out[:, 3:] - 1) + bias, 1)
            chosen = known + (weights[:, :, None] * fills).sum(1)
            coarse = (chosen + 2 * out[:, :3] - 1).clamp(0, 1)
        else:
            start = known if prior is None else known + prior * invisible
            coarse = self.coarse(torch.cat([start, visible, invisible], 1))
            if prior is not None:  # a correction of the prior: (tanh + 1) / 2 = 0.5 is none
                coarse = (start + 2 * coarse - 1).clamp(0, 1)
        pasted = known + coarse * invisible
        source = visible if self.attend == "visible" else None
        refine = self.refine(torch.cat([pasted, visible, invisible], 1), invisible, source)
        if prior is not None:
            refine = (pasted + 2 * refine - 1).clamp(0, 1)
        return {"coarse": coarse, "refine": refine, "completed": known + refine * invisible}


class Critic(RecordedInit):
    """WGAN-GP critic: 5x5 stride-2 convs with LeakyReLU (no normalisation, as the gradient
    penalty requires), then a linear score.

    Args:
        in_channels: 3 (the completed object) or 4 with its mask.
        widths: channels of the stride-2 convs.
        image_size: input side (fixes the linear layer).

    Shape:
        ``(B, in_channels, S, S) -> (B,)``.
    """

    def __init__(
        self, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 256), image_size: int = 256
    ) -> None:
        super().__init__()
        self.record_init(locals())
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, int(w), 5, 2, 2), nn.LeakyReLU(0.2)]
            c = int(w)
        self.features = nn.Sequential(*layers)
        side = image_size // 2 ** len(widths)
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for {len(widths)} stride-2 layers")
        self.score = nn.Linear(c * side * side, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.score(self.features(x).flatten(1))[:, 0]
