"""Image files: reading images and masks into the data contract, and writing PNGs.

One home for file I/O of pictures (figures, previews, predictions, the command-line tools), so
every writer checks its result and every reader gives the same clear errors.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch import Tensor

from .ops.convert import as_image, as_mask, to_uint8_hwc

__all__ = ["write_png", "read_image", "read_mask"]


def write_png(path: str | Path, image: np.ndarray | Tensor) -> Path:
    """Write an RGB / grey picture as PNG, creating the folder.

    Args:
        path: output file.
        image: uint8 ``(H, W, 3)`` / ``(H, W)`` array, or a ``(C, H, W)`` tensor in [0, 1] (``C`` 1 or 3).

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
    out = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
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
    """An image file as ``(3, H, W)`` float RGB in [0, 1] (grey images repeated, alpha dropped).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable image.
    """
    arr = _read(path, cv2.IMREAD_COLOR)
    return as_image(cv2.cvtColor(arr, cv2.COLOR_BGR2RGB), str(path))


def read_mask(path: str | Path, threshold: float | None = None) -> Tensor:
    """A mask file as ``(1, H, W)`` float {0, 1}: black / white (or 0 / 1) PNGs are exact; other grey
    levels need ``threshold`` (in 0-255 units), as for any soft mask.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable image, or a soft mask without ``threshold``.
    """
    arr = _read(path, cv2.IMREAD_GRAYSCALE)
    return as_mask(arr, str(path), threshold=threshold)
