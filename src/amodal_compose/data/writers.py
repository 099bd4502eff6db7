"""Write scenes in the COCOA amodal format (e.g. to hand synthetic data to COCOA tools).

The output is a ``COCO_amodal_*.json``-style file: one annotation per image with ``regions``
(amodal ``segmentation`` polygons; ``visible_mask`` / ``invisible_mask`` compressed RLE for
occluded regions; ``order``, ``isStuff``, ``occlude_rate``, ``area``, ``name``) and a
``depth_constraint`` string built from the scene's order matrix. Images are written as PNG.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..io import write_png
from ..structures import Scene

__all__ = ["write_cocoa", "mask_to_polygons", "encode_rle"]


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed RLE of a ``(H, W)`` binary mask with ``counts`` as a str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer boundary polygons of a binary mask, as pixel-corner coordinates.

    Traced on a 2x upsampled mask so that polygon rasterisation (pycocotools) gives back the mask
    up to boundary pixels; exact masks travel as RLE.
    """
    big = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64) / 2.0 + 0.25
        if len(pts) >= 3:
            polys.append([round(float(v), 2) for v in pts.reshape(-1)])
    return polys


def write_cocoa(
    scenes: Sequence[Scene], out_dir: str | Path, name: str = "COCO_amodal_synthetic.json",
    file_names: Sequence[str] | None = None, categories: Sequence[str] | None = None,
) -> Path:  # fmt: skip
    """Write ``scenes`` (with amodal masks) as a COCOA regions file, plus their images as PNGs.

    Args:
        scenes: scenes whose instances all have amodal masks.
        out_dir: folder for the JSON file and, without ``file_names``, an ``images/`` sub-folder.
        name: JSON file name.
        file_names: the images' existing file names (then no image is written; e.g. when converting a
            data set whose images stay where they are). Image ids are the scenes' ids when they are ints.
        categories: category names; a region's ``name`` is its instance's (else the category index).

    Returns:
        Path of the JSON file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for k, scene in enumerate(scenes):
        h, w = scene.size
        image_id = scene.scene_id if (file_names is not None and isinstance(scene.scene_id, int)) else k + 1
        if file_names is None:
            file_name = f"images/{k:06d}.png"
            write_png(out_dir / file_name, scene.image)
        else:
            file_name = file_names[k]
        images.append({"id": image_id, "file_name": file_name, "height": h, "width": w})
        regions = []
        for j, inst in enumerate(scene.instances):
            if inst.amodal_mask is None:
                raise ValueError(f"scene {k}, instance {j}: COCOA needs amodal masks")
            am = (inst.amodal_mask[0].numpy() > 0.5).astype(np.uint8)
            vis = (inst.modal_mask[0].numpy() > 0.5).astype(np.uint8)
            polys = mask_to_polygons(am)
            reg = {
                # COCOA stores one flat polygon; a mask cut into parts (e.g. by the frame) keeps all parts
                "segmentation": polys[0] if len(polys) == 1 else polys,
                "area": int(am.sum()),
                "isStuff": 0,
                "name": categories[inst.category] if categories is not None else str(inst.category),
                "order": int(len(scene.instances) - inst.depth) if inst.depth is not None else j + 1,
                "occlude_rate": round(float(inst.occluded_ratio or 0.0), 4),
            }
            if reg["occlude_rate"] > 0:
                reg["visible_mask"] = encode_rle(vis)
                reg["invisible_mask"] = encode_rle(am & (1 - vis))
            regions.append(reg)
        pairs = []
        if scene.order is not None:
            for i, j in zip(*np.nonzero(scene.order.numpy())):
                pairs.append(f"{i + 1}-{j + 1}")
        annotations.append(
            {
                "image_id": image_id,
                "id": k + 1,
                "regions": regions,
                "size": len(regions),
                "depth_constraint": ",".join(pairs),
            }
        )
    path = out_dir / name
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path
