"""Colour transfer between images (Reinhard et al. 2001, in CIE-LAB via kornia).

AMICO eq. 5 uses ``ColorTransfer(I, I_ref)`` to give an object the colour statistics of a
random reference image; this is that module.
"""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

__all__ = ["reinhard_transfer"]


def _stats(lab: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    if mask is None:
        mask = torch.ones_like(lab[:, :1])
    w = mask.float()
    n = w.flatten(1).sum(-1).clamp_min(1.0).view(-1, 1, 1, 1)
    mean = (lab * w).sum(dim=(-2, -1), keepdim=True) / n
    var = ((lab - mean) ** 2 * w).sum(dim=(-2, -1), keepdim=True) / n
    return mean, var.clamp_min(1e-6).sqrt()


def reinhard_transfer(
    source: Tensor,
    reference: Tensor,
    source_mask: Tensor | None = None,
    reference_mask: Tensor | None = None,
) -> Tensor:
    """Match the per-channel LAB mean and standard deviation of ``source`` to ``reference``.

    Args:
        source: ``(3, H, W)`` or ``(B, 3, H, W)`` RGB in [0, 1].
        reference: same batch layout as ``source`` (any spatial size).
        source_mask: optional ``(.., 1, H, W)`` region whose statistics are measured (e.g. the object).
        reference_mask: optional region of the reference.

    Returns:
        The recoloured source, RGB in [0, 1], same shape as ``source``.

    Example:
        >>> out = reinhard_transfer(torch.rand(3, 8, 8), torch.rand(3, 16, 16))
        >>> out.shape
        torch.Size([3, 8, 8])
    """
    single = source.ndim == 3
    src = source[None] if single else source
    ref = reference[None] if reference.ndim == 3 else reference
    sm = None if source_mask is None else (source_mask[None] if source_mask.ndim == 3 else source_mask)
    rm = (
        None
        if reference_mask is None
        else (reference_mask[None] if reference_mask.ndim == 3 else reference_mask)
    )
    if src.shape[0] != ref.shape[0]:
        raise ValueError(f"batch sizes differ: source {src.shape[0]}, reference {ref.shape[0]}")
    lab_s = kornia.color.rgb_to_lab(src.clamp(0, 1))
    lab_r = kornia.color.rgb_to_lab(ref.clamp(0, 1))
    mu_s, sd_s = _stats(lab_s, sm)
    mu_r, sd_r = _stats(lab_r, rm)
    out_lab = (lab_s - mu_s) / sd_s * sd_r + mu_r
    out_lab = torch.cat([out_lab[:, :1].clamp(0, 100), out_lab[:, 1:].clamp(-128, 127)], dim=1)
    out = kornia.color.lab_to_rgb(out_lab, clip=True)
    return out[0] if single else out
