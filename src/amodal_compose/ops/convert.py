"""Input conversion: numpy / PIL / tensors to the package's data contract.

The contract (see ``structures``): images are float32 RGB in [0, 1] shaped ``(3, H, W)`` or
``(B, 3, H, W)``; masks are float32 in {0, 1} shaped ``(1, H, W)`` or ``(B, 1, H, W)``.

Documented conversions (everything else is a ``ValueError`` naming the argument):

* ``uint8`` images are divided by 255; float images must already lie in [0, 1].
* ``HWC`` numpy arrays and PIL images are moved to ``CHW``; grey images are repeated to RGB.
* masks may be ``bool``, ``uint8`` in {0, 1} or {0, 255}, or float in {0, 1}. A mask with other
  values (soft or 0-255 float) is rejected unless ``threshold`` is given, in which case
  ``mask > threshold`` is used. Nothing is binarised silently.
* NaN and Inf are rejected everywhere, naming the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_image",
    "as_mask",
    "check_same_size",
    "check_same_batch",
    "pad_to_multiple",
    "to_uint8_hwc",
]


def _to_tensor(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:  # PIL without importing it eagerly
        from PIL import Image

        if isinstance(x, Image.Image):
            x = np.asarray(x)
    except ImportError:  # pragma: no cover - pillow is a dependency
        pass
    if isinstance(x, np.ndarray):
        if x.dtype == np.bool_:
            return torch.from_numpy(x.astype(np.uint8)).bool()
        x = np.ascontiguousarray(x)
        return torch.from_numpy(x if x.flags.writeable else x.copy())
    raise TypeError(f"{name}: expected a torch.Tensor, numpy array or PIL image, got {type(x).__name__}")


def as_image(x: Any, name: str = "image", single: bool = False) -> Tensor:
    """Convert an image (or batch) to float32 RGB in [0, 1], channels first.

    Args:
        x: tensor ``(3, H, W)`` / ``(B, 3, H, W)``, numpy ``(H, W, 3)`` / ``(H, W)``, or a PIL image.
            ``uint8`` values are divided by 255.
        name: argument name used in error messages.
        single: refuse a batch (one image ``(3, H, W)`` expected).

    Returns:
        float32 tensor ``(3, H, W)`` or ``(B, 3, H, W)``.

    Raises:
        ValueError: wrong channel count, a batch where ``single``, or float values outside [0, 1].

    Example:
        >>> as_image(np.zeros((4, 5, 3), np.uint8)).shape
        torch.Size([3, 4, 5])
    """
    from_array = not isinstance(x, Tensor)
    t = _to_tensor(x, name)
    if from_array:  # numpy / PIL are HWC or HW
        if t.ndim == 2:
            t = t[..., None]
        if t.ndim != 3:
            raise ValueError(f"{name}: expected an HxW or HxWxC array, got shape {tuple(t.shape)}")
        t = t.permute(2, 0, 1)
    if t.ndim not in (3, 4):
        raise ValueError(f"{name}: expected (3, H, W) or (B, 3, H, W), got shape {tuple(t.shape)}")
    if single and t.ndim != 3:
        raise ValueError(f"{name}: expected one image (3, H, W), got {tuple(t.shape)}")
    cdim = t.ndim - 3
    if t.shape[cdim] == 1:
        t = t.repeat_interleave(3, dim=cdim)
    if t.shape[cdim] == 4 and from_array:  # RGBA file: drop alpha
        t = t.narrow(cdim, 0, 3)
    if t.shape[cdim] != 3:
        raise ValueError(f"{name}: expected 3 colour channels, got {t.shape[cdim]} (shape {tuple(t.shape)})")
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    if t.dtype == torch.bool or not t.is_floating_point():
        raise ValueError(f"{name}: integer images must be uint8 (0-255), got {t.dtype}")
    t = t.float()
    if not t.numel():
        return t
    lo, hi = torch.aminmax(t)
    if not (lo >= -1e-4 and hi <= 1 + 1e-4):  # also false for NaN
        _check_finite(t, name)
        raise ValueError(
            f"{name}: float images must lie in [0, 1] (got min {lo:.3g}, max {hi:.3g}); pass uint8 for 0-255 data"
        )
    return t.clamp(0.0, 1.0) if (lo < 0 or hi > 1) else t


def as_mask(x: Any, name: str = "mask", threshold: float | None = None) -> Tensor:
    """Convert a mask (or batch) to float32 in {0, 1} with a channel axis.

    Args:
        x: tensor ``(H, W)``, ``(1, H, W)`` or ``(B, 1, H, W)``; numpy ``(H, W)``; PIL image.
            Accepted values: bool, uint8 {0, 1} or {0, 255}, float {0, 1}.
        name: argument name used in error messages.
        threshold: if given, any real-valued mask is binarised as ``x > threshold``.

    Returns:
        float32 tensor ``(1, H, W)`` or ``(B, 1, H, W)``.

    Raises:
        ValueError: non-binary values without ``threshold``, or a bad shape.

    Example:
        >>> as_mask(np.array([[0, 255]], np.uint8)).tolist()
        [[[0.0, 1.0]]]
    """
    t = _to_tensor(x, name)
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 3 and t.shape[0] != 1 and not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a single-channel mask, got shape {tuple(t.shape)}")
    if t.ndim not in (3, 4) or t.shape[-3] != 1:
        raise ValueError(f"{name}: expected (H, W), (1, H, W) or (B, 1, H, W), got shape {tuple(t.shape)}")
    if t.dtype == torch.bool:
        return t.float()
    if threshold is not None:
        if t.is_floating_point():
            _check_finite(t, name)
        return (t.float() > threshold).float()
    if t.dtype == torch.uint8 and t.numel() and bool(((t == 0) | (t == 255)).all()):
        return (t > 0).float()
    t = t.float()
    if t.numel() and not bool(((t == 0) | (t == 1)).all()):  # also false for NaN
        _check_finite(t, name)
        raise ValueError(
            f"{name}: mask must be binary (bool, {{0, 1}}, or uint8 {{0, 255}}); got values in "
            f"[{t.min():.3g}, {t.max():.3g}]. Pass threshold=0.5 to binarise a soft mask."
        )
    return t.float()


def _check_finite(t: Tensor, name: str) -> None:
    if t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name}: contains {bad} NaN or Inf value(s)")


def check_same_size(**tensors: Tensor | None) -> tuple[int, int]:
    """Check that all given tensors share the same spatial size ``(H, W)``.

    Args:
        **tensors: named tensors whose last two dims are spatial; ``None`` values are skipped.

    Returns:
        The common ``(H, W)``.

    Raises:
        ValueError: naming each argument and its size when they differ.
    """
    sizes = {k: tuple(v.shape[-2:]) for k, v in tensors.items() if v is not None}
    if len(set(sizes.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in sizes.items())
        raise ValueError(f"spatial sizes differ: {desc}")
    return next(iter(sizes.values())) if sizes else (0, 0)


def check_same_batch(**tensors: Tensor | None) -> int:
    """Check that all given ``(B, ...)`` tensors share one batch size.

    Returns:
        The common batch size.

    Raises:
        ValueError: naming each argument and its full shape when they differ.
    """
    shapes = {k: tuple(v.shape) for k, v in tensors.items() if v is not None}
    if len({s[0] for s in shapes.values()}) > 1:
        desc = ", ".join(f"{k} {v}" for k, v in shapes.items())
        raise ValueError(f"batch sizes differ: {desc}")
    return next(iter(shapes.values()))[0] if shapes else 0


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Zero-pad ``(..., H, W)`` at the bottom and right up to the next multiples of ``multiple``
    (as a crop that runs past an image border is zero there); crop back with ``y[..., :H, :W]``.

    Example:
        >>> pad_to_multiple(torch.ones(1, 1, 5, 7), 4).shape
        torch.Size([1, 1, 8, 8])
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    return torch.nn.functional.pad(x, (0, pw, 0, ph))


def to_uint8_hwc(image: Tensor) -> np.ndarray:
    """Convert a ``(3, H, W)`` [0, 1] image (or ``(1, H, W)`` mask) to a uint8 ``HWC`` numpy array."""
    if image.ndim != 3:
        raise ValueError(f"expected (C, H, W), got shape {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return arr.permute(1, 2, 0).cpu().numpy().copy()
