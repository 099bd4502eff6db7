"""The mask losses of inpainting-driven mask optimisation (Shimosato & Ukita, section III-D): the
boundary loss (eq. 8, Kervadec et al.) and the mask expansion loss (eq. 9). Pure functions; the
signed distance maps come from :func:`~amodal_compose.ops.distance.signed_distance`."""

from __future__ import annotations

from torch import Tensor

from ..ops.distance import signed_distance

__all__ = ["boundary_potential", "boundary_loss", "mask_expansion_loss"]


def boundary_potential(target: Tensor) -> Tensor:
    """``phi_{m_G}`` of eq. 8: the distance to the boundary of ``m_G``, negative inside and positive
    outside, normalised by the image diagonal (so it lies in [-1, 1], as Fig. 3 normalises it).

    Args:
        target: ``(B, 1, H, W)`` the ground-truth mask ``m_G``.
    """
    return -signed_distance(target, normalize=True)


def boundary_loss(prob: Tensor, potential: Tensor) -> Tensor:
    """Eq. 8: ``sum_p phi(p) m_hat(p)`` over the pixels, averaged (zero at the ideal estimate up to the
    constant of ``m_G`` itself; minimising it pulls the predicted region onto ``m_G``).

    Args:
        prob: ``(B, 1, H, W)`` the segmentation's soft probability of the selected segment.
        potential: ``(B, 1, H, W)`` from :func:`boundary_potential`.
    """
    if prob.shape != potential.shape:
        raise ValueError(f"prob {tuple(prob.shape)} and potential {tuple(potential.shape)} differ")
    return (potential * prob).mean()


def mask_expansion_loss(prob: Tensor, potential: Tensor, alpha: float = 0.03) -> Tensor:
    """Eq. 9: ``sum_p (phi(p) - alpha) m_hat(p)``: the boundary loss with its zero level moved
    ``alpha`` (in units of the diagonal) outside ``m_G``, so the optimal mask covers ``m_G`` with a
    margin (paper: alpha = 0.03, weight lambda_X = 1000)."""
    if prob.shape != potential.shape:
        raise ValueError(f"prob {tuple(prob.shape)} and potential {tuple(potential.shape)} differ")
    return ((potential - alpha) * prob).mean()
