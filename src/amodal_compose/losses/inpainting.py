"""Losses of the inpainting networks: PCNet-C (PCNet supplementary A, after Liu et al. 2018) and the
edge / segmentation / image inpainters of the removal model (Shimosato & Ukita eq. 1-7, after
EdgeConnect). Pure functions on tensors; the systems own the weights.

Discriminator features (``list`` of ``(B, C_i, H_i, W_i)`` activations) stand in for the VGG features
of perceptual and style losses: no pretrained weights are downloaded, and Shimosato & Ukita compute
their style loss (eq. 6) on the discriminator's activations too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "feature_matching_loss",
    "gram_matrix",
    "style_loss",
    "masked_l1",
    "total_variation",
]


def hinge_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The hinge GAN loss of a discriminator: ``E[relu(1 - D(real))] + E[relu(1 + D(fake))]``."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_generator_loss(fake_scores: Tensor) -> Tensor:
    """The generator's side of the hinge GAN loss (Shimosato & Ukita eq. 2): ``-E[D(fake)]``."""
    return -fake_scores.mean()


def feature_matching_loss(real_features: Sequence[Tensor], fake_features: Sequence[Tensor]) -> Tensor:
    """Shimosato & Ukita eq. 3: ``sum_i (1 / N_i) ||D^i(real) - D^i(fake)||_1`` over the discriminator's
    activation layers (``N_i`` elements each); the real features are constants."""
    if len(real_features) != len(fake_features):
        raise ValueError(f"{len(real_features)} real and {len(fake_features)} fake feature maps")
    return sum((r.detach() - f).abs().mean() for r, f in zip(real_features, fake_features))


def gram_matrix(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, C, C)``: feature correlations, normalised by ``C * H * W``."""
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(real_features: Sequence[Tensor], fake_features: Sequence[Tensor]) -> Tensor:
    """Shimosato & Ukita eq. 6: ``sum_i ||G(phi_i(real)) - G(phi_i(fake))||_1`` (mean over entries)."""
    if len(real_features) != len(fake_features):
        raise ValueError(f"{len(real_features)} real and {len(fake_features)} fake feature maps")
    return sum((gram_matrix(r.detach()) - gram_matrix(f)).abs().mean() for r, f in zip(real_features, fake_features))


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Shimosato & Ukita eq. 7: ``||pred - target||_1 / N_M``, the absolute error summed over the whole
    image (and its channels) divided by the number of masked pixels (times channels) in the batch.

    Args:
        pred, target: ``(B, C, H, W)``.
        mask: ``(B, 1, H, W)`` the inpainted region ``m_G``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    n = mask.sum().clamp_min(1.0) * pred.shape[1]
    return (pred - target).abs().sum() / n


def total_variation(x: Tensor, region: Tensor | None = None) -> Tensor:
    """Mean absolute difference of horizontally and vertically neighbouring pixels, where both lie in
    ``region`` (Liu et al.'s TV term on the hole grown by a pixel), or everywhere.

    Args:
        x: ``(B, C, H, W)``.
        region: ``(B, 1, H, W)`` or ``None``.
    """
    dh, dw = (x[..., 1:, :] - x[..., :-1, :]).abs(), (x[..., 1:] - x[..., :-1]).abs()
    if region is None:
        return dh.mean() + dw.mean()
    rh, rw = region[..., 1:, :] * region[..., :-1, :], region[..., 1:] * region[..., :-1]
    c = x.shape[1]
    return (dh * rh).sum() / (rh.sum() * c).clamp_min(1.0) + (dw * rw).sum() / (rw.sum() * c).clamp_min(1.0)
