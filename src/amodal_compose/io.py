"""Image files: reading images and masks into the data contract, and writing PNGs.

One home for file I/O of pictures (figures, previews, predictions, the command-line tools), so
every writer checks its result and every reader gives the same clear errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from .ops.convert import as_image, as_mask, to_uint8_hwc

__all__ = ["write_png", "read_image", "read_rgba", "read_cutout", "read_mask", "read_instance_masks", "InstanceMasks",
           "category_ranks"]


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


def read_cutout(image: str | Path, mask: str | Path | None = None, threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """An object's image and visible mask: from a mask file (soft ones split at ``threshold`` of their
    range), or, with ``mask=None``, an RGBA cut-out whose alpha is the mask.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: no mask and no alpha channel, an empty alpha, or an unreadable file.
    """
    rgb, alpha = read_rgba(image)
    if mask is not None:
        return rgb, read_mask(mask, threshold=255 * threshold)
    if alpha is None:
        raise ValueError(f"{image}: no mask given and the image has no alpha channel (give a mask, or an RGBA cut-out)")
    if not (alpha > threshold).any():
        raise ValueError(f"{image}: the alpha channel is empty (fully transparent)")
    return rgb, (alpha > threshold).float()


def read_mask(path: str | Path, threshold: float | None = None) -> Tensor:
    """A mask file as ``(1, H, W)`` float {0, 1}: black / white (or 0 / 1) PNGs are exact; other grey
    levels need ``threshold`` (in 0-255 units), as for any soft mask.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable image, or a soft mask without ``threshold``.
    """
    arr = _read(path, cv2.IMREAD_GRAYSCALE)
    return as_mask(arr, str(path), threshold=threshold)


@dataclass
class InstanceMasks:
    """Instance masks read for one image (:func:`read_instance_masks`).

    Attributes:
        masks: ``(1, H, W)`` float masks, soft where the source is (a grey PNG, a probability map).
        categories: per mask, the category index a network takes (the rank of its ``category_id``
            among the sorted ids of a COCO ``categories`` list), or ``None`` when the source has none.
        scores: per mask, the detector's score (COCO results files), else ``None``.
        source: what was read, for messages.
    """

    masks: list[Tensor]
    categories: list[int] | None = None
    scores: list[float] | None = None
    source: str = ""


def category_ranks(categories: list[dict]) -> dict[int, int]:
    """``category_id -> index``: the rank of each id among the sorted ids of a COCO ``categories`` list,
    the rule the package's readers train with (so a network trained on a file maps its ids back)."""
    try:
        return {int(c["id"]): k for k, c in enumerate(sorted(categories, key=lambda c: int(c["id"])))}
    except (TypeError, KeyError, ValueError) as err:
        raise ValueError(f"a COCO 'categories' list holds dicts with an integer 'id' ({err})") from err


def read_instance_masks(
    source: str | Path, image: str | Path, size: tuple[int, int], *, score_threshold: float = 0.5,
    image_id: int | None = None, category_map: str | Path | None = None,
) -> InstanceMasks:  # fmt: skip
    """Instance masks of one image from a detector's or an annotator's output.

    Sources:

    * a **folder** of mask images, one per instance, sorted by name (grey levels kept: soft masks);
    * an **.npz** with ``masks`` ``(N, H, W)`` (bool, uint8 0 / 1 or 0-255, or float 0-1) and optionally
      ``categories`` ``(N,)`` (indices) and ``scores`` ``(N,)``;
    * a **COCO instances** JSON (``images`` / ``annotations`` / ``categories``): the annotations of the
      image whose ``file_name`` matches ``image``'s name; categories by :func:`category_ranks`;
    * a **COCO results** JSON, a detector's output: a list of ``{image_id, category_id, segmentation,
      score}`` (RLE or polygons). Detections under ``score_threshold`` are dropped. A file of one
      ``image_id`` is used whole; with several, ``image_id`` picks one. Categories come through
      ``category_map``, any COCO JSON with a ``categories`` list (the training annotations: ids map to
      the indices the network was trained with); without it they are unknown (``None``).

    Raises:
        FileNotFoundError: no such file or folder, or a folder without mask images.
        ValueError: anything else that cannot be used, in one line naming the source.
    """
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif"))
        if not files:
            raise FileNotFoundError(f"--masks {src}: no mask images in the folder")
        masks = [torch.from_numpy(_read(f, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0)[None] for f in files]
        return InstanceMasks(_sized(masks, size, src), source=f"{len(files)} mask images in {src}")
    if not src.is_file():
        raise FileNotFoundError(f"--masks {src}: no such file or folder")
    if src.suffix.lower() == ".npz":
        return _read_npz(src, size)
    try:
        data = json.loads(src.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"--masks {src}: not a JSON file ({err})") from err
    cats = None
    if category_map is not None:
        path = Path(category_map)
        try:
            cats = category_ranks(json.loads(path.read_text())["categories"])
        except FileNotFoundError as err:
            raise FileNotFoundError(f"--category-map {path}: no such file") from err
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"--category-map {path}: not a COCO JSON with a 'categories' list ({err})") from err
    if isinstance(data, list):
        return _read_results(src, data, size, score_threshold, image_id, cats)
    if isinstance(data, dict) and "annotations" in data:
        return _read_coco(src, data, Path(image).name, size, cats, image_id)
    raise ValueError(f"--masks {src}: neither a COCO instances file (images / annotations) nor a COCO results "
                     "list ([{image_id, category_id, segmentation, score}, ...])")  # fmt: skip


def _sized(masks: list[Tensor], size: tuple[int, int], src: Path) -> list[Tensor]:
    for k, m in enumerate(masks):
        if tuple(m.shape[-2:]) != tuple(size):
            raise ValueError(f"--masks {src}: mask {k} is {tuple(m.shape[-2:])}, the image {tuple(size)}")
    return masks


def _read_npz(src: Path, size: tuple[int, int]) -> InstanceMasks:
    try:
        with np.load(src) as z:
            if "masks" not in z:
                raise ValueError(f"--masks {src}: the .npz has no 'masks' array (it has {sorted(z.files)})")
            arr = z["masks"]
            cats = z["categories"].astype(int).tolist() if "categories" in z else None
            scores = z["scores"].astype(float).tolist() if "scores" in z else None
    except (OSError, EOFError) as err:  # zipfile's errors are OSErrors
        raise ValueError(f"--masks {src}: not a readable .npz ({err})") from err
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"--masks {src}: 'masks' must be (N, H, W), got {arr.shape}")
    scale = 255.0 if arr.dtype == np.uint8 and arr.max(initial=0) > 1 else 1.0  # uint8 0-255, or 0 / 1
    m = torch.from_numpy(arr.astype(np.float32) / scale)
    if cats is not None and len(cats) != len(m):
        raise ValueError(f"--masks {src}: {len(cats)} categories for {len(m)} masks")
    return InstanceMasks(_sized(list(m[:, None]), size, src), cats, scores, f"{len(m)} masks in {src}")


def _decode(seg: object, size: tuple[int, int], src: Path, what: str) -> Tensor:
    from .data.readers import decode_segmentation

    if isinstance(seg, dict) and "size" in seg and [int(v) for v in seg["size"]] != list(size):
        raise ValueError(f"--masks {src}: {what}'s RLE is {tuple(seg['size'])}, the image {tuple(size)}")
    try:
        return torch.from_numpy(decode_segmentation(seg, *size)).float()[None]
    except Exception as err:  # pycocotools raises many kinds on a malformed segmentation
        raise ValueError(f"--masks {src}: {what}'s segmentation cannot be decoded ({err})") from err


def _read_results(
    src: Path, data: list, size: tuple[int, int], threshold: float, image_id: int | None, cats: dict | None
) -> InstanceMasks:
    if not data:
        raise ValueError(f"--masks {src}: the results list is empty")
    if not all(isinstance(d, dict) and {"image_id", "segmentation"} <= set(d) for d in data):
        raise ValueError(f"--masks {src}: every COCO result needs 'image_id' and 'segmentation'")
    ids = sorted({d["image_id"] for d in data}, key=str)
    if image_id is None and len(ids) > 1:
        shown = ", ".join(map(str, ids[:8])) + (" ..." if len(ids) > 8 else "")
        raise ValueError(f"--masks {src}: results of {len(ids)} images ({shown}); pick one with --image-id")
    wanted = ids[0] if image_id is None else image_id
    mine = [d for d in data if str(d["image_id"]) == str(wanted)]
    if not mine:
        raise ValueError(f"--masks {src}: no results for image_id {wanted}")
    kept = [d for d in mine if float(d.get("score", 1.0)) >= threshold]
    if not kept:
        best = max(float(d.get("score", 1.0)) for d in mine)
        raise ValueError(f"--masks {src}: no detection of image {wanted} scores >= {threshold} (best {best:.3f}); "
                         "lower --score-threshold")  # fmt: skip
    masks = [_decode(d["segmentation"], size, src, f"result {k}") for k, d in enumerate(kept)]
    categories = None
    if cats is not None:
        unknown = sorted({d.get("category_id") for d in kept} - set(cats), key=str)
        if unknown:
            raise ValueError(f"--masks {src}: category_id {unknown[0]} is not in the --category-map")
        categories = [cats[int(d["category_id"])] for d in kept]
    return InstanceMasks(masks, categories, [float(d.get("score", 1.0)) for d in kept],
                         f"{len(kept)} of {len(mine)} detections of image {wanted} in {src}")  # fmt: skip


def _read_coco(
    src: Path, data: dict, name: str, size: tuple[int, int], cats: dict | None, image_id: int | None
) -> InstanceMasks:
    images = data.get("images") or []
    if image_id is not None:
        matches = [i for i in images if isinstance(i, dict) and str(i.get("id")) == str(image_id)]
    else:
        matches = [i for i in images if isinstance(i, dict) and Path(str(i.get("file_name", ""))).name == name]
    if not matches:
        which = f"id {image_id}" if image_id is not None else f"named {name!r}"
        raise ValueError(f"--masks {src}: no image {which} in the file")
    info = matches[0]
    anns = [a for a in data.get("annotations") or [] if isinstance(a, dict) and a.get("image_id") == info.get("id")]
    anns = [a for a in anns if "segmentation" in a and not a.get("iscrowd", 0)]
    if not anns:
        raise ValueError(f"--masks {src}: image {info.get('file_name', info.get('id'))!r} has no annotations")
    masks = [_decode(a["segmentation"], size, src, f"annotation {a.get('id', k)}") for k, a in enumerate(anns)]
    if cats is None and isinstance(data.get("categories"), list) and data["categories"]:
        cats = category_ranks(data["categories"])
    categories = [cats.get(int(a["category_id"]), 0) for a in anns] if cats and all(
        "category_id" in a for a in anns) else None  # fmt: skip
    return InstanceMasks(masks, categories, None, f"{len(anns)} annotations of {info.get('file_name')} in {src}")
