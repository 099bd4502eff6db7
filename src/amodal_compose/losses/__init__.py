"""Functional losses, each tested on hand-made tensors."""

from .amico import (
    alpha_mask_loss,
    alpha_sparsity,
    object_reconstruction_loss,
    reconstruction_loss,
    shape_loss,
    weighted_bce,
)
from .gan import gradient_penalty, wgan_critic_loss, wgan_generator_loss

__all__ = [
    "alpha_mask_loss",
    "alpha_sparsity",
    "gradient_penalty",
    "object_reconstruction_loss",
    "reconstruction_loss",
    "shape_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "weighted_bce",
]
