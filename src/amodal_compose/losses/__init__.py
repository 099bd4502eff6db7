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
from .inpainting import (
    feature_matching_loss,
    gram_matrix,
    hinge_discriminator_loss,
    hinge_generator_loss,
    masked_l1,
    style_loss,
    total_variation,
)
from .pcnet import hole_valid_l1, partial_completion_loss
from .removal import boundary_loss, boundary_potential, mask_expansion_loss

__all__ = [
    "boundary_loss",
    "boundary_potential",
    "feature_matching_loss",
    "gram_matrix",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "hole_valid_l1",
    "mask_expansion_loss",
    "masked_l1",
    "partial_completion_loss",
    "style_loss",
    "total_variation",
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
