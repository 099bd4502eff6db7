"""AMICO's losses for f_content (eq. 2), f_shape (eq. 10-11) and f_comp (eq. 6-8). Pure functions on tensors; the
systems own the weights (``lambda_4``, ``lambda_5``) and the schedules."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "weighted_bce",
    "shape_loss",
    "reconstruction_loss",
    "alpha_mask_loss",
    "alpha_sparsity",
    "object_reconstruction_loss",
]


def _check_pair(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} {tuple(a.shape)} and {names[1]} {tuple(b.shape)} differ in shape")


def weighted_bce(logits: Tensor, target: Tensor, omega: float = 5.0) -> Tensor:
    """AMICO eq. 11, ``l(m1, m2) = omega * BCE(m1 * m2, m2) + BCE((1 - m1) * (1 - m2), 1 - m2)``.

    With ``m1 = sigmoid(logits)`` and means over all pixels, the first term is the BCE of the
    pixels inside the target (weighted by ``omega``), the second that of the pixels outside; the
    masked-out pixels of each term contribute exactly 0, so this is computed stably from logits.

    Args:
        logits: ``(B, 1, H, W)`` predicted mask logits.
        target: ``(B, 1, H, W)`` binary mask.
        omega: weight of the inside term (paper: 5).

    Returns:
        Scalar loss.
    """
    _check_pair(logits, target, ("logits", "target"))
    t = target.to(logits.dtype)
    inside = t * F.softplus(-logits)  # -log(sigmoid(x)) on target pixels
    outside = (1 - t) * F.softplus(logits)  # -log(1 - sigmoid(x)) elsewhere
    return omega * inside.mean() + outside.mean()


def shape_loss(logits: Tensor, visible: Tensor, amodal: Tensor, omega: float = 5.0) -> Tensor:
    """AMICO eq. 10: ``l(m_vis_hat, m_vis) + l(m_amodal_hat, m_amodal)``.

    Args:
        logits: ``(B, 2, H, W)`` from :class:`~amodal_compose.nets.AmodalShapeNet` (visible, amodal).
        visible, amodal: ``(B, 1, H, W)`` target masks.
        omega: see :func:`weighted_bce`.
    """
    if logits.ndim != 4 or logits.shape[1] != 2:
        raise ValueError(f"shape_loss: logits must be (B, 2, H, W), got {tuple(logits.shape)}")
    return weighted_bce(logits[:, :1], visible, omega) + weighted_bce(logits[:, 1:], amodal, omega)


def reconstruction_loss(composite: Tensor, target: Tensor) -> Tensor:
    """AMICO eq. 6: ``E ||I_hat - I||_1``, the mean absolute error per pixel and channel."""
    _check_pair(composite, target, ("composite", "target"))
    return (composite - target).abs().mean()


def alpha_mask_loss(alpha: Tensor, mask: Tensor, inside_mask: Tensor | None = None) -> Tensor:
    """AMICO eq. 7: ``||m (1 - alpha)||_1 / (2 ||m||_1) + ||(1 - m) alpha||_1 / (2 ||1 - m||_1)``.

    Per sample, then averaged over the batch; an empty ``m`` (or ``1 - m``) makes its term 0.

    Args:
        alpha: ``(B, 1, H, W)`` predicted alpha.
        mask: ``(B, 1, H, W)`` the object mask ``m``.
        inside_mask: the mask of the first term if it differs from ``m`` (AMICO erodes ``m`` by 3 px
            there after 100K steps, since polygon annotations overshoot the object).
    """
    _check_pair(alpha, mask, ("alpha", "mask"))
    m_in = mask if inside_mask is None else inside_mask
    _check_pair(alpha, m_in, ("alpha", "inside_mask"))
    m_out = 1.0 - mask
    dims = (1, 2, 3)
    first = (m_in * (1 - alpha)).sum(dims) / (2 * m_in.sum(dims)).clamp_min(1.0)
    second = (m_out * alpha).sum(dims) / (2 * m_out.sum(dims)).clamp_min(1.0)
    return (first + second).mean()


def alpha_sparsity(alpha: Tensor, gamma: float = 2.0) -> Tensor:
    """AMICO eq. 8: ``E [gamma * |alpha| + 2 * sigmoid(5 * alpha) - 1]``, an L1 plus a smooth L0
    surrogate that makes alpha spatially sparse (mean over pixels)."""
    return (gamma * alpha.abs() + 2 * torch.sigmoid(5 * alpha) - 1).mean()


def object_reconstruction_loss(
    pred: Tensor, target: Tensor, visible: Tensor, invisible: Tensor, beta: float = 5.0
) -> Tensor:
    """AMICO eq. 2: ``E[ |pred - I_o|_1 * m_inv + beta |pred - I_o|_1 * m_vis ]`` (mean over pixels)."""
    err = (pred - target).abs()
    return (err * invisible).mean() + beta * (err * visible).mean()
