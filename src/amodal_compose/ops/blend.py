"""Alpha blending (AMICO, the equation after eq. 5)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["alpha_blend"]


def alpha_blend(foreground: Tensor, alpha: Tensor, background: Tensor) -> Tensor:
    """``I_hat = I_out * alpha + I_bg * (1 - alpha)`` (AMICO section 3.2).

    Args:
        foreground: ``(B, 3, H, W)`` the RGB layer ``I_out``.
        alpha: ``(B, 1, H, W)`` in [0, 1].
        background: ``(B, 3, H, W)``.

    Returns:
        ``(B, 3, H, W)`` the composite.
    """
    if foreground.shape[-2:] != alpha.shape[-2:] or foreground.shape[-2:] != background.shape[-2:]:
        raise ValueError(
            f"alpha_blend: sizes differ fg {tuple(foreground.shape)}, alpha {tuple(alpha.shape)}, "
            f"bg {tuple(background.shape)}"
        )
    return foreground * alpha + background * (1.0 - alpha)
