"""PCNet's losses (Self-Supervised Scene De-occlusion, section 3.1): PCNet-M's weighted binary cross
entropy (eq. 1) and PCNet-C's reconstruction terms (eq. 2, after Liu et al. 2018)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["partial_completion_loss", "hole_valid_l1"]


def partial_completion_loss(logits: Tensor, target: Tensor, eraser: Tensor, inside_weight: float = 5.0) -> Tensor:
    """PCNet eq. 1's ``L``: binary cross entropy of the predicted target mask, weighted ``inside_weight``
    inside the eraser (where the partial completion happens) and 1 elsewhere (PCNet's code: 5).

    Args:
        logits: ``(B, 1, H, W)``.
        target: ``(B, 1, H, W)`` the target's modal mask ``M_A``.
        eraser: ``(B, 1, H, W)`` the eraser as shown to the network.
    """
    if logits.shape != target.shape or eraser.shape != target.shape:
        raise ValueError(f"shapes differ: logits {tuple(logits.shape)}, target {tuple(target.shape)}, "
                         f"eraser {tuple(eraser.shape)}")  # fmt: skip
    weight = 1.0 + (inside_weight - 1.0) * eraser
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight)


def hole_valid_l1(pred: Tensor, target: Tensor, hole: Tensor) -> tuple[Tensor, Tensor]:
    """Liu et al.'s ``(L_valid, L_hole)``: the mean absolute error over all elements, counted on the
    known pixels and on the hole respectively (so the hole term grows with the hole)."""
    err = (pred - target).abs()
    return (err * (1 - hole)).mean(), (err * hole).mean()
