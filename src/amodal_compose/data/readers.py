"""Readers for real annotation files, each returning :class:`~amodal_compose.structures.Scene` objects.

Supported formats (field for field as released):

* **COCO instances** (:class:`CocoInstances`): ``images`` / ``annotations`` / ``categories``;
  ``segmentation`` as polygons, uncompressed RLE (``iscrowd = 1``) or compressed RLE. Modal only.
* **COCOA amodal** (:class:`CocoaAmodal`), ``COCO_amodal_{train,val}2014.json``: one annotation per
  image with a ``regions`` list; a region's ``segmentation`` is the amodal polygon; occluded regions
  carry compressed-RLE ``visible_mask`` / ``invisible_mask``; ``order`` (1 = nearest), ``isStuff``,
  ``occlude_rate``, ``area``; the annotation may hold ``depth_constraint`` like ``"1-2,1-3"``
  (region 1 in front of region 2, 1-based region indices). Also the per-instance "with classes"
  variant (``segmentation`` amodal RLE, ``visible_mask``, ``category_id``), detected automatically.
* **KINS** (:class:`KinsAmodal`): the original release (``segmentation`` amodal polygons, ``bbox``,
  ``inmodal_seg`` RLE, ``inmodal_bbox``, ``category_id``) and the 2020 release (``a_segm``,
  ``i_segm``, ``a_bbox``, ``i_bbox``, ``oco_id`` = occlusion cluster, ``ico_id`` = order inside the
  cluster, smaller = nearer), detected per annotation.

Bad input never crashes deep inside: a malformed file raises :class:`AnnotationFormatError` naming
the file and the entry; a missing image raises ``FileNotFoundError`` naming the path; an unknown
category, a polygon with fewer than 3 points, an empty mask or a visible mask outside its amodal
mask is skipped (or repaired, as documented) and counted in ``reader.stats`` with one summary warning.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from torch.utils.data import Dataset

from ..structures import Instance, Scene
from .index import InstanceStats

__all__ = [
    "AnnotationFormatError",
    "SceneReader",
    "CocoInstances",
    "CocoaAmodal",
    "KinsAmodal",
    "decode_segmentation",
    "parse_depth_constraint",
]


class AnnotationFormatError(ValueError):
    """An annotation file does not follow its format; the message names the file and the entry."""


# ----------------------------------------------------------------------------- decoding
def _polygons(seg: Any) -> list[list[float]]:
    """Normalise a polygon field to a list of flat coordinate lists (COCOA stores one flat list)."""
    if len(seg) and isinstance(seg[0], (int, float)):
        return [list(seg)]
    return [list(p) for p in seg]


def decode_segmentation(seg: Any, height: int, width: int, stats: Counter | None = None) -> np.ndarray:
    """Decode a COCO-style segmentation to a ``(H, W)`` uint8 {0, 1} mask.

    Args:
        seg: polygons (list of flat ``[x1, y1, x2, y2, ...]`` lists, or one flat list), a compressed
            RLE dict (``counts`` str / bytes) or an uncompressed RLE dict (``counts`` list of ints).
        height, width: image size.
        stats: counter for skipped polygons (``"polygon_lt_3_points"``).

    Returns:
        uint8 mask ``(H, W)``.

    Raises:
        AnnotationFormatError: an unknown encoding or an RLE whose size differs from the image.
    """
    if isinstance(seg, dict):
        if "counts" not in seg or "size" not in seg:
            raise AnnotationFormatError(f"RLE needs 'counts' and 'size', got keys {sorted(seg)}")
        if list(seg["size"]) != [height, width]:
            raise AnnotationFormatError(f"RLE size {list(seg['size'])} != image size {[height, width]}")
        if isinstance(seg["counts"], list):  # uncompressed
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            counts = seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"]
            rle = {"size": [height, width], "counts": counts}
        return mask_utils.decode(rle).astype(np.uint8)
    if isinstance(seg, (list, tuple)):
        polys = []
        for p in _polygons(seg):
            if len(p) < 6 or len(p) % 2:
                if stats is not None:
                    stats["polygon_lt_3_points"] += 1
                continue
            polys.append([float(v) for v in p])
        if not polys:
            return np.zeros((height, width), np.uint8)
        rles = mask_utils.frPyObjects(polys, height, width)
        return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
    raise AnnotationFormatError(f"unknown segmentation type {type(seg).__name__}")


def parse_depth_constraint(text: str, n: int) -> torch.Tensor:
    """COCOA ``depth_constraint`` (``"1-2,1-3"``: region 1 in front of 2 and 3) to an order matrix.

    Args:
        text: the string; empty means no pairs.
        n: number of regions.

    Returns:
        ``(n, n)`` int64 with ``order[i, j] = 1`` when region ``i + 1`` is in front of ``j + 1``.

    Raises:
        AnnotationFormatError: a malformed pair or an index outside ``1..n``.
    """
    order = torch.zeros(n, n, dtype=torch.int64)
    for pair in filter(None, (p.strip() for p in text.split(","))):
        try:
            a, b = (int(v) for v in pair.split("-"))
        except ValueError as err:
            raise AnnotationFormatError(f"depth_constraint pair {pair!r} is not 'i-j'") from err
        if not (1 <= a <= n and 1 <= b <= n):
            raise AnnotationFormatError(f"depth_constraint pair {pair!r} refers outside 1..{n}")
        order[a - 1, b - 1] = 1
    return order


def _load_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        with path.open() as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise AnnotationFormatError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise AnnotationFormatError(f"{path}: top level must be an object, got {type(data).__name__}")
    for key in ("images", "annotations"):
        if key not in data or not isinstance(data[key], list):
            raise AnnotationFormatError(f"{path}: missing list {key!r} at the top level")
    for i, img in enumerate(data["images"]):
        missing = [k for k in ("id", "file_name", "height", "width") if k not in img]
        if missing:
            raise AnnotationFormatError(f"{path}: images[{i}] lacks {missing}")
    return data


# ----------------------------------------------------------------------------- base
class SceneReader(Dataset):
    """A map-style dataset of :class:`Scene` read from one annotation file.

    Subclasses fill ``self._records``: one ``(image_info, raw_annotations)`` pair per image, and
    implement ``_instances``. Masks are decoded lazily in ``__getitem__``.

    Attributes:
        categories: category names; an instance's ``category`` indexes this list.
        stats: counts of skipped / repaired entries by reason.
    """

    categories: tuple[str, ...] = ("object",)

    def __init__(
        self, annotation_file: str | Path, image_root: str | Path, check_images: bool = False
    ) -> None:
        self.annotation_file = Path(annotation_file)
        self.image_root = Path(image_root)
        self.stats: Counter = Counter()
        self._records: list[tuple[dict, list[dict], dict]] = []
        self._load(_load_json(self.annotation_file))
        if check_images:
            missing = [
                r[0]["file_name"]
                for r in self._records
                if not (self.image_root / r[0]["file_name"]).is_file()
            ]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} of {len(self._records)} images missing under {self.image_root}, "
                    f"e.g. {missing[:3]}"
                )
        self._warn_stats()

    # subclasses -----------------------------------------------------------------
    def _load(self, data: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _instances(
        self, info: dict, anns: list[dict], extra: dict, h: int, w: int
    ) -> tuple[list[Instance], Any]:
        raise NotImplementedError  # pragma: no cover

    # shared -----------------------------------------------------------------------
    def _warn_stats(self) -> None:
        if self.stats:
            desc = ", ".join(f"{k}: {v}" for k, v in sorted(self.stats.items()))
            warnings.warn(f"{self.annotation_file.name}: skipped or repaired entries ({desc})", stacklevel=3)

    def _precheck(self, ann: dict, seg_keys: tuple[str, ...], cat_map: dict | None = None) -> None:
        """Count what can be seen without decoding: unknown categories and polygons under 3 points."""
        if cat_map is not None and ann.get("category_id") not in cat_map:
            self.stats["unknown_category"] += 1
            return
        if ann.get("iscrowd", 0) and not getattr(self, "include_crowd", True):
            self.stats["crowd_skipped"] += 1
            return
        for key in seg_keys:
            seg = ann.get(key)
            if isinstance(seg, list) and seg:
                short = sum(len(p) < 6 or len(p) % 2 for p in _polygons(seg))
                if short:
                    self.stats["polygon_lt_3_points"] += short

    def _count_at_access(self, reason: str) -> None:
        """Count a problem only visible once masks are decoded; warn the first time per reason."""
        self.stats[reason] += 1
        warned = self.__dict__.setdefault("_warned", set())
        if reason not in warned:
            warned.add(reason)
            warnings.warn(f"{self.annotation_file.name}: {reason} (counted in reader.stats)", stacklevel=3)

    def _group(self, data: dict) -> dict[Any, list[dict]]:
        by_image: dict[Any, list[dict]] = defaultdict(list)
        ids = {img["id"] for img in data["images"]}
        for i, ann in enumerate(data["annotations"]):
            if "image_id" not in ann:
                raise AnnotationFormatError(f"{self.annotation_file}: annotations[{i}] lacks 'image_id'")
            if ann["image_id"] not in ids:
                self.stats["annotation_without_image"] += 1
                continue
            by_image[ann["image_id"]].append(ann)
        return by_image

    def _category_map(self, data: dict) -> dict[int, int]:
        cats = data.get("categories")
        if not isinstance(cats, list) or not cats:
            raise AnnotationFormatError(f"{self.annotation_file}: missing list 'categories'")
        cats = sorted(cats, key=lambda c: c["id"])
        self.categories = tuple(str(c.get("name", c["id"])) for c in cats)
        return {c["id"]: k for k, c in enumerate(cats)}

    def load_image(self, info: dict) -> torch.Tensor:
        """Load the image of ``info`` as ``(3, H, W)`` float; checks its size against the file."""
        path = self.image_root / info["file_name"]
        if not path.is_file():
            raise FileNotFoundError(
                f"image not found: {path} (image id {info['id']} in {self.annotation_file.name})"
            )
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
        if arr.shape[:2] != (info["height"], info["width"]):
            raise AnnotationFormatError(
                f"{path}: image is {arr.shape[:2]} but {self.annotation_file.name} says "
                f"{(info['height'], info['width'])}"
            )
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255.0)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Scene:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} scenes")
        info, anns, extra = self._records[index]
        h, w = int(info["height"]), int(info["width"])
        image = self.load_image(info)
        instances, file_order = self._instances(info, anns, extra, h, w)
        source = "file" if file_order is not None else None
        scene = Scene(image=image, instances=instances, order=file_order, scene_id=info["id"],
                      meta={"file_name": info["file_name"], "order_source": source})
        if file_order is None and instances:
            scene.order = scene.order_from_masks()
            scene.meta["order_source"] = "masks" if scene.order is not None else None
        return scene

    def instance_stats(self, index: int) -> list[InstanceStats]:
        """The instances' areas and categories of scene ``index``, from its masks alone (no image is
        read): what :class:`~amodal_compose.data.index.InstanceIndex` needs to index by instance."""
        info, anns, extra = self._records[index]
        instances, _ = self._instances(info, anns, extra, int(info["height"]), int(info["width"]))
        return [InstanceStats.of(inst) for inst in instances]

    def _make_instance(
        self, modal: np.ndarray, amodal: np.ndarray | None, category: int, meta: dict
    ) -> Instance | None:
        """Build an instance; skip empty ones and repair visible-outside-amodal (counted)."""
        if amodal is not None and amodal.sum() == 0:
            self._count_at_access("empty_amodal_mask")
            return None
        if modal.sum() == 0:
            if amodal is None:
                self._count_at_access("empty_mask")
                return None
            self.stats["fully_occluded"] += 1  # kept: a valid amodal object with nothing visible
        if amodal is not None and (modal & ~amodal.astype(bool)).any():
            self._count_at_access("visible_outside_amodal_repaired")
            amodal = amodal | modal
        return Instance(
            modal_mask=torch.from_numpy(modal.astype(np.float32))[None],
            amodal_mask=None if amodal is None else torch.from_numpy(amodal.astype(np.float32))[None],
            category=category,
            meta=meta,
        )


# ----------------------------------------------------------------------------- COCO
class CocoInstances(SceneReader):
    """COCO instance annotations (modal masks only), indexed with pycocotools.

    Args:
        annotation_file: ``instances_*.json``.
        image_root: folder that ``file_name`` is relative to.
        include_crowd: keep ``iscrowd = 1`` regions as instances (default: skip them, counted).
        check_images: verify that every image file exists when the reader is built.

    Example:
        >>> reader = CocoInstances("tests/fixtures/coco/instances.json", "tests/fixtures/coco")  # doctest: +SKIP
        >>> scene = reader[0]
    """

    def __init__(self, annotation_file, image_root, include_crowd: bool = False, check_images: bool = False):
        self.include_crowd = include_crowd
        super().__init__(annotation_file, image_root, check_images)

    def _load(self, data: dict) -> None:
        from pycocotools.coco import COCO

        self._cat_map = self._category_map(data)
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = data
            coco.createIndex()
        self.coco = coco
        for info in sorted(data["images"], key=lambda i: i["id"]):
            anns = coco.imgToAnns.get(info["id"], [])
            for j, ann in enumerate(anns):
                if "segmentation" not in ann or "category_id" not in ann:
                    raise AnnotationFormatError(
                        f"{self.annotation_file}: annotation {ann.get('id', j)} lacks 'segmentation' or 'category_id'"
                    )
                self._precheck(ann, ("segmentation",), self._cat_map)
            self._records.append((info, anns, {}))

    def _instances(self, info, anns, extra, h, w):
        out = []
        for ann in anns:
            if ann["category_id"] not in self._cat_map:
                continue  # counted at load
            if ann.get("iscrowd", 0) and not self.include_crowd:
                continue  # counted at load
            m = decode_segmentation(ann["segmentation"], h, w)
            inst = self._make_instance(
                m,
                None,
                self._cat_map[ann["category_id"]],
                {"id": ann.get("id"), "iscrowd": ann.get("iscrowd", 0)},
            )
            if inst is not None:
                out.append(inst)
        return out, None


# ----------------------------------------------------------------------------- COCOA
class CocoaAmodal(SceneReader):
    """COCOA amodal annotations: the per-image ``regions`` release and the per-instance "cls" variant.

    Args:
        annotation_file: ``COCO_amodal_{train,val}2014.json`` or a COCOA-cls file.
        image_root: folder that ``file_name`` is relative to.
        include_stuff: keep regions with ``isStuff = 1`` (regions format only).
        check_images: verify that every image file exists when the reader is built.

    The variant is detected from the first annotation (``regions`` present or not). Scenes carry
    the file's order (from ``depth_constraint``) where it exists, else the order derived from masks.
    """

    def __init__(self, annotation_file, image_root, include_stuff: bool = True, check_images: bool = False):
        self.include_stuff = include_stuff
        super().__init__(annotation_file, image_root, check_images)

    def _load(self, data: dict) -> None:
        anns = data["annotations"]
        self.variant = "regions" if (not anns or "regions" in anns[0]) else "cls"
        if self.variant == "cls":
            self._cat_map = self._category_map(data)
        by_image = self._group(data)
        for info in sorted(data["images"], key=lambda i: i["id"]):
            items = by_image.get(info["id"], [])
            if self.variant == "regions":
                if len(items) > 1:
                    raise AnnotationFormatError(
                        f"{self.annotation_file}: image {info['id']} has {len(items)} annotations; "
                        "COCOA keeps one per image with a 'regions' list"
                    )
                ann = items[0] if items else {"regions": []}
                if not isinstance(ann.get("regions"), list):
                    raise AnnotationFormatError(
                        f"{self.annotation_file}: image {info['id']}: 'regions' is not a list"
                    )
                for k, reg in enumerate(ann["regions"]):
                    if "segmentation" not in reg:
                        raise AnnotationFormatError(
                            f"{self.annotation_file}: image {info['id']} region {k + 1} lacks 'segmentation'"
                        )
                    self._precheck(reg, ("segmentation",))
                self._records.append(
                    (info, ann["regions"], {"depth_constraint": ann.get("depth_constraint")})
                )
            else:
                for j, a in enumerate(items):
                    if "segmentation" not in a or "category_id" not in a:
                        raise AnnotationFormatError(
                            f"{self.annotation_file}: annotation {a.get('id', j)} lacks 'segmentation' or 'category_id'"
                        )
                    self._precheck(a, ("segmentation",), self._cat_map)
                self._records.append((info, items, {}))

    def _instances(self, info, anns, extra, h, w):
        return self._regions(anns, extra, h, w) if self.variant == "regions" else self._cls(anns, h, w)

    def _regions(self, regions, extra, h, w):
        out, kept = [], []
        for k, reg in enumerate(regions):
            if reg.get("isStuff", 0) and not self.include_stuff:
                continue
            amodal = decode_segmentation(reg["segmentation"], h, w)
            modal = decode_segmentation(reg["visible_mask"], h, w) if "visible_mask" in reg else amodal.copy()
            meta = {k2: reg[k2] for k2 in ("name", "area", "isStuff", "occlude_rate", "order") if k2 in reg}
            inst = self._make_instance(modal, amodal, 0, meta)
            if inst is not None:
                inst.depth = reg.get("order")
                out.append(inst)
                kept.append(k)
        order = None
        text = extra.get("depth_constraint")
        if isinstance(text, str):
            order = parse_depth_constraint(text, len(regions))[kept][:, kept]
        return out, order

    def _cls(self, anns, h, w):
        out = []
        for ann in anns:
            if ann["category_id"] not in self._cat_map:
                continue  # counted at load
            amodal = decode_segmentation(ann["segmentation"], h, w)
            modal = decode_segmentation(ann["visible_mask"], h, w) if "visible_mask" in ann else amodal.copy()
            meta = {k: ann[k] for k in ("id", "area", "occlude_rate") if k in ann}
            inst = self._make_instance(modal, amodal, self._cat_map[ann["category_id"]], meta)
            if inst is not None:
                out.append(inst)
        return out, None


# ----------------------------------------------------------------------------- KINS
class KinsAmodal(SceneReader):
    """KINS amodal annotations, original or 2020 release (detected per annotation).

    Args:
        annotation_file: ``instances_{train,val}.json`` or ``update_{train,test}_2020.json``.
        image_root: folder that ``file_name`` is relative to.
        check_images: verify that every image file exists when the reader is built.

    Order: where annotations carry ``oco_id`` / ``ico_id``, instance ``i`` occludes ``j`` when both
    are in the same cluster (``oco_id``), ``i`` has the smaller ``ico_id`` and their amodal masks
    overlap; otherwise the order is derived from the masks.
    """

    def _load(self, data: dict) -> None:
        self._cat_map = self._category_map(data)
        by_image = self._group(data)
        for info in sorted(data["images"], key=lambda i: i["id"]):
            items = by_image.get(info["id"], [])
            for j, a in enumerate(items):
                has_2020 = "a_segm" in a and "i_segm" in a
                has_orig = "segmentation" in a and "inmodal_seg" in a
                if not (has_2020 or has_orig) or "category_id" not in a:
                    raise AnnotationFormatError(
                        f"{self.annotation_file}: annotation {a.get('id', j)} of image {info['id']} has neither "
                        "('segmentation', 'inmodal_seg') nor ('a_segm', 'i_segm'), or lacks 'category_id'"
                    )
                self._precheck(a, ("segmentation", "inmodal_seg", "a_segm", "i_segm"), self._cat_map)
            self._records.append((info, items, {}))

    def _instances(self, info, anns, extra, h, w):
        out, clusters = [], []
        for ann in anns:
            if ann["category_id"] not in self._cat_map:
                continue  # counted at load
            if "a_segm" in ann:
                amodal = decode_segmentation(ann["a_segm"], h, w)
                modal = decode_segmentation(ann["i_segm"], h, w)
            else:
                amodal = decode_segmentation(ann["segmentation"], h, w)
                modal = decode_segmentation(ann["inmodal_seg"], h, w)
            meta = {
                k: ann[k]
                for k in ("id", "oco_id", "ico_id", "a_bbox", "i_bbox", "bbox", "inmodal_bbox")
                if k in ann
            }
            inst = self._make_instance(modal, amodal, self._cat_map[ann["category_id"]], meta)
            if inst is not None:
                out.append(inst)
                clusters.append((ann.get("oco_id"), ann.get("ico_id")))
        order = None
        if out and all(c is not None and r is not None for c, r in clusters):
            n = len(out)
            a = torch.stack([i.amodal_mask for i in out]).flatten(1)
            meet = (a @ a.T) > 0
            order = torch.zeros(n, n, dtype=torch.int64)
            for i in range(n):
                for j in range(n):
                    same = clusters[i][0] == clusters[j][0]
                    if i != j and same and clusters[i][1] < clusters[j][1] and meet[i, j]:
                        order[i, j] = 1
        return out, order
