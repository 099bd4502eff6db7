"""Amodal-VAE (Ling et al., NeurIPS 2020, section 4): class-conditioned convolutional mask encoders with
factorial Normal posteriors, a deconvolutional Bernoulli decoder, and a spatial transformer that
places the completed mask in the partial mask's frame (eq. 6). No normalisation layers: a frozen
part stays bit-identical in training mode."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import RecordedInit

__all__ = ["MaskEncoder", "MaskDecoder", "SpatialTransformer", "AmodalVAE", "kl_normal"]


def kl_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample, summed over the latent dimensions:
    ``-1/2 sum(1 + logvar - mu^2 - exp(logvar))``."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))


class MaskEncoder(nn.Module):
    """``q(z | y, c)``: a mask (and its class, as learned embedding channels) -> the mean and log-variance
    of a factorial Normal posterior.

    Shape:
        mask ``(B, 1, S, S)``, category ``(B,)`` -> ``(mu, logvar)``, each ``(B, latent)``.
    """

    def __init__(self, size: int, latent: int, widths: Sequence[int], num_classes: int, embed: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed) if embed > 0 else None
        layers, c = [], 1 + max(embed, 0)
        for w in widths:
            layers.append(_conv(c, int(w)))
            c = int(w)
        self.body = nn.Sequential(*layers)
        side = size // 2 ** len(widths)
        self.head = nn.Linear(c * side * side, 2 * latent)

    def forward(self, mask: Tensor, category: Tensor) -> tuple[Tensor, Tensor]:
        x = mask
        if self.embed is not None:
            e = self.embed(category)[:, :, None, None].expand(-1, -1, *mask.shape[-2:])
            x = torch.cat([mask, e], 1)
        mu, logvar = self.head(self.body(x).flatten(1)).chunk(2, -1)
        return mu, logvar.clamp(-10, 10)


class MaskDecoder(nn.Module):
    """``p(y | z)``: a latent code -> the logits of a factorial Bernoulli mask (deconvolutions)."""

    def __init__(self, size: int, latent: int, widths: Sequence[int]) -> None:
        super().__init__()
        widths = [int(w) for w in widths][::-1]
        self.side = size // 2 ** len(widths)
        self.fc = nn.Linear(latent, widths[0] * self.side * self.side)
        layers = []
        for cin, cout in zip(widths, [*widths[1:], widths[-1]]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers, nn.Conv2d(widths[-1], 1, 3, 1, 1))
        self.width = widths[0]

    def forward(self, z: Tensor) -> Tensor:
        x = F.leaky_relu(self.fc(z), 0.2).view(-1, self.width, self.side, self.side)
        return self.body(x)


class SpatialTransformer(nn.Module):
    """Eq. 6: ``(t_x, t_y, s_x, s_y) = g_theta(y, y_hat)`` and ``A = [[s_x, 0, t_x], [0, s_y, t_y]]``,
    which resamples the decoded mask ``y`` into the frame of the partial mask ``y_hat`` (Jaderberg et
    al.'s differentiable sampling). It starts at ``s = init_scale, t = 0``.

    Shape:
        decoded ``(B, 1, S, S)`` probabilities, partial ``(B, 1, S, S)`` -> ``(B, 1, S, S)`` resampled, and
        the parameters ``(B, 4)``.
    """

    def __init__(self, size: int, widths: Sequence[int] = (16, 32), init_scale: float = 1.0) -> None:
        super().__init__()
        layers, c = [], 2
        for w in widths:
            layers.append(_conv(c, int(w)))
            c = int(w)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c * (size // 2 ** len(widths)) ** 2, 4)
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([0.0, 0.0, math.log(init_scale), math.log(init_scale)]))

    def parameters_of(self, decoded: Tensor, partial: Tensor) -> Tensor:
        """``(t_x, t_y, s_x, s_y)`` per sample (scales positive: predicted as logarithms)."""
        p = self.head(self.body(torch.cat([decoded, partial], 1)).flatten(1))
        return torch.cat([p[:, :2], p[:, 2:].exp()], 1)

    def warp(self, decoded: Tensor, params: Tensor) -> Tensor:
        """Resample ``decoded`` with ``A`` (output pixel ``x`` reads ``A [x; 1]`` of the input, in [-1, 1] units)."""
        b = len(params)
        theta = torch.zeros(b, 2, 3, dtype=decoded.dtype, device=decoded.device)
        theta[:, 0, 0], theta[:, 1, 1] = params[:, 2], params[:, 3]
        theta[:, 0, 2], theta[:, 1, 2] = params[:, 0], params[:, 1]
        grid = F.affine_grid(theta, list(decoded.shape), align_corners=False)
        return F.grid_sample(decoded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def forward(self, decoded: Tensor, partial: Tensor) -> tuple[Tensor, Tensor]:
        params = self.parameters_of(decoded, partial)
        return self.warp(decoded, params), params


class AmodalVAE(RecordedInit):
    """Amodal-VAE's networks (Ling et al., section 4): the full-mask encoder ``q_w2``, the partial-mask
    encoder ``q_w3``, the decoder ``p_w1`` and the spatial transformer ``g_theta``, over ``size x size``
    tightly cropped masks.

    Args:
        size: side of the cropped masks (a multiple of ``2 ** len(widths)``).
        latent: latent dimensions.
        widths: encoder channels (the decoder mirrors them).
        num_classes: categories for class conditioning.
        embed: class-embedding channels of the encoders (0: no class conditioning, Table 2's ablation).
        context: the output frame's side over the partial mask's box (the spatial transformer places the
            completion there, so it may extend past the partial box).

    Example:
        >>> vae = AmodalVAE(size=32, latent=8, widths=(8, 16), num_classes=3)
        >>> mu, logvar = vae.partial_encoder(torch.zeros(2, 1, 32, 32), torch.tensor([0, 2]))
        >>> vae.decoder(mu).shape
        torch.Size([2, 1, 32, 32])
    """

    def __init__(
        self, size: int = 32, latent: int = 32, widths: Sequence[int] = (32, 64, 128), num_classes: int = 8,
        embed: int = 4, context: float = 2.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.record_init(locals())
        if size % 2 ** len(widths):
            raise ValueError(f"size {size} must be a multiple of {2 ** len(widths)}")
        self.size, self.latent, self.context = int(size), int(latent), float(context)
        self.full_encoder = MaskEncoder(size, latent, widths, num_classes, embed)
        self.partial_encoder = MaskEncoder(size, latent, widths, num_classes, embed)
        self.decoder = MaskDecoder(size, latent, widths)
        self.transformer = SpatialTransformer(size, init_scale=context)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)`` (the reparameterisation trick)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype) if generator is not None \
            else torch.randn_like(mu)  # fmt: skip
        return mu + (0.5 * logvar).exp() * eps
