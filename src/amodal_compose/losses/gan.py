"""WGAN-GP losses (Gulrajani et al. 2017), used by AMICO's content GAN (section 3.1, eq. 3-4:
sigma_1 = 10)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["gradient_penalty", "wgan_critic_loss", "wgan_generator_loss"]


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    epsilon: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``E[(||grad_x D(x_hat)||_2 - 1)^2]`` at ``x_hat = eps * real + (1 - eps) * fake``.

    Args:
        critic: ``(B, ...) -> (B, ...)`` scores (summed per sample).
        real, fake: ``(B, C, H, W)``; ``fake`` is detached here.
        epsilon: ``(B,)`` interpolation weights; drawn uniformly when ``None``.
        generator: for the draw of ``epsilon``.

    Returns:
        Scalar penalty, differentiable in the critic's parameters.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ")
    b = real.shape[0]
    if epsilon is None:
        epsilon = torch.rand(b, generator=generator).to(real.device, real.dtype)
    eps = epsilon.view(b, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat).reshape(b, -1).sum(1)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.reshape(b, -1).norm(2, dim=1) - 1) ** 2).mean()


def wgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E[D(fake)] - E[D(real)]`` (add ``sigma_1 * gradient_penalty``)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """``-E[D(G(z))]``, the adversarial term of the generator."""
    return -fake_scores.mean()
