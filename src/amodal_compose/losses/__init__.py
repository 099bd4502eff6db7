"""Functional losses, each tested on hand-made tensors."""

from .amico import alpha_mask_loss, alpha_sparsity, reconstruction_loss, shape_loss, weighted_bce

__all__ = ["alpha_mask_loss", "alpha_sparsity", "reconstruction_loss", "shape_loss", "weighted_bce"]
