"""Image files: reading images and masks into the data contract, and writing PNGs.

One home for file I/O of pictures (figures, previews, predictions, the command-line tools), so
every writer checks its result and every reader gives the same clear errors.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from .ops.convert import as_image, as_mask, to_uint8_hwc

__all__ = ["write_png", "read_image", "read_rgba", "read_mask"]


def write_png(path: str | Path, image: np.ndarray | Tensor) -> Path:
    """Write an RGB, RGBA or grey picture as PNG, creating the folder; an alpha channel is kept.

    Args:
        path: output file.
        image: uint8 ``(H, W, 3)`` / ``(H, W, 4)`` / ``(H, W)`` array, or a ``(C, H, W)`` tensor in
            [0, 1] (``C`` 1, 3 or 4).

    Returns:
        The path written.

    Raises:
        OSError: the file could not be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = to_uint8_hwc(image) if isinstance(image, Tensor) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] not in (3, 4):
        raise ValueError(f"write_png: expected 1, 3 or 4 channels, got {arr.shape[2]}")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    out = arr
    if not cv2.imwrite(str(path), out):
        raise OSError(f"could not write {path}")
    return path


def _read(path: str | Path, flags: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    arr = cv2.imread(str(path), flags)
    if arr is None:
        raise ValueError(f"{path}: not an image file OpenCV can read")
    return arr


def read_image(path: str | Path) -> Tensor:
    """An image file as ``(3, H, W)`` float RGB in [0, 1] (grey images repeated; an alpha channel is
    not part of the image: :func:`read_rgba` gives it).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable image.
    """
    arr = _read(path, cv2.IMREAD_COLOR)
    return as_image(cv2.cvtColor(arr, cv2.COLOR_BGR2RGB), str(path))


def read_rgba(path: str | Path) -> tuple[Tensor, Tensor | None]:
    """An image file and its alpha: ``(3, H, W)`` float RGB in [0, 1] and ``(1, H, W)`` alpha in [0, 1],
    or ``None`` when the file has no alpha channel (an RGBA cut-out's alpha is its object mask).

    Example:
        >>> import tempfile, torch
        >>> rgba = torch.rand(4, 6, 8); path = write_png(tempfile.mkdtemp() + "/cut.png", rgba)
        >>> image, alpha = read_rgba(path)
        >>> image.shape, alpha.shape, bool((alpha - rgba[3:]).abs().max() <= 0.5 / 255)
        (torch.Size([3, 6, 8]), torch.Size([1, 6, 8]), True)

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable image.
    """
    arr = _read(path, cv2.IMREAD_UNCHANGED)
    if arr.dtype != np.uint8:  # 16-bit PNGs: to 8 bits, as the rest of the pipeline reads images
        arr = (arr / 257.0 + 0.5).astype(np.uint8) if arr.dtype == np.uint16 else arr.astype(np.uint8)
    if arr.ndim == 2:
        return as_image(np.repeat(arr[..., None], 3, 2), str(path)), None
    if arr.shape[2] == 4:
        rgb = as_image(cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB), str(path))
        return rgb, torch.from_numpy(arr[..., 3].astype(np.float32) / 255.0)[None]
    return as_image(cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB), str(path)), None


def read_mask(path: str | Path, threshold: float | None = None) -> Tensor:
    """A mask file as ``(1, H, W)`` float {0, 1}: black / white (or 0 / 1) PNGs are exact; other grey
    levels need ``threshold`` (in 0-255 units), as for any soft mask.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable image, or a soft mask without ``threshold``.
    """
    arr = _read(path, cv2.IMREAD_GRAYSCALE)
    return as_mask(arr, str(path), threshold=threshold)
