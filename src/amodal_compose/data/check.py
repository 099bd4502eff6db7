"""``amodal-compose data check``: is a prepared data set what a config expects, before a long run finds out?

For every split of a config's DataModule that reads files (COCOA, KINS, COCO), :func:`check_config`
parses the annotation file with the reader training uses, checks that every referenced image exists,
decodes a sample of them (``all_images``: every one) against the size the file states, decodes the
sampled images' masks (inside the image, a mask per region), and reports the instance and category
counts, where the occlusion order comes from (COCOA and KINS must have one) and the entries the reader
skips or repairs. Each problem is one line.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .datasets import SPLITS

__all__ = ["DataReport", "check_config", "check_split"]


@dataclass
class DataReport:
    """What a check found: ``lines`` to print (counts per split) and ``problems`` (one line each)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _data_args(config: str | Path) -> tuple[str, dict[str, Any]]:
    """The DataModule's class path and init arguments of a LightningCLI config file."""
    path = Path(config)
    if not path.is_file():
        raise FileNotFoundError(f"config not found: {path}")
    data = (yaml.safe_load(path.read_text()) or {}).get("data")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: no 'data' section")
    return str(data.get("class_path", "")), dict(data.get("init_args") or {})


def _polygon_outside(seg: Any, h: int, w: int, tolerance: float = 1.0) -> bool:
    if isinstance(seg, list):
        polys = seg if seg and isinstance(seg[0], list) else [seg]
        for poly in polys:
            xs, ys = poly[0::2], poly[1::2]
            if xs and (min(xs) < -tolerance or max(xs) > w + tolerance or min(ys) < -tolerance
                       or max(ys) > h + tolerance):  # fmt: skip
                return True
    elif isinstance(seg, dict) and "size" in seg:
        return [int(v) for v in seg["size"]] != [h, w]
    return False


def check_split(source: str, split: str, annotation_file: str, image_root: str, all_images: bool = False,
                sample: int = 20, seed: int = 0) -> DataReport:  # fmt: skip
    """Check one split's files (see the module); problems name the split and the file."""
    from PIL import Image

    from .datamodules import READERS
    from .readers import AnnotationFormatError

    report, tag = DataReport(), f"{split}: {annotation_file}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the reader's counts are reported below
            reader = READERS[source](annotation_file, image_root)
    except (FileNotFoundError, AnnotationFormatError, ValueError, KeyError, TypeError) as err:
        report.problems.append(f"{tag}: {err}")
        return report
    records = reader._records
    root = Path(image_root)
    missing = [info["file_name"] for info, _, _ in records if not (root / info["file_name"]).is_file()]
    for name in missing[:10]:
        report.problems.append(f"{split}: image missing: {root / name}")
    if len(missing) > 10:
        report.problems.append(f"{split}: ... and {len(missing) - 10} more images missing under {root}")
    present = [i for i, (info, _, _) in enumerate(records) if (root / info["file_name"]).is_file()]
    chosen = present if all_images else sorted(random.Random(seed).sample(present, min(sample, len(present))))
    instances, categories, orders = 0, Counter(), Counter()
    for i in chosen:
        info, anns, _ = records[i]
        path = root / info["file_name"]
        try:
            with Image.open(path) as im:
                im.load()
                size = (im.height, im.width)
        except OSError as err:
            report.problems.append(f"{split}: image does not decode: {path} ({err})")
            continue
        if size != (int(info["height"]), int(info["width"])):
            report.problems.append(f"{split}: {path} is {size[0]}x{size[1]}, the file says "
                                   f"{info['height']}x{info['width']}")  # fmt: skip
            continue
        for ann in anns:
            for key in ("segmentation", "visible_mask", "inmodal_seg", "a_segm", "i_segm"):
                if key in ann and _polygon_outside(ann[key], size[0], size[1]):
                    report.problems.append(f"{split}: image {info['id']}: a {key} lies outside the image")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scene = reader[i]
        except (ValueError, OSError, KeyError) as err:
            report.problems.append(f"{split}: image {info['id']}: {err}")
            continue
        instances += len(scene.instances)
        categories.update(reader.categories[inst.category] for inst in scene.instances)
        if len(scene.instances) > 1:
            orders[scene.meta.get("order_source") or "none"] += 1
    notes = [f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(reader.stats.items())]
    if notes:  # what the reader skips or repairs, as training will: worth knowing, not a failure
        report.lines.append(f"{split}: entries skipped or repaired by the reader: {', '.join(notes)}")
    if orders.get("none") and source in ("cocoa", "kins"):  # amodal data sets carry an order
        report.problems.append(f"{split}: {orders['none']} of the checked scenes with several instances have "
                               "no occlusion order (neither in the file nor from amodal masks)")  # fmt: skip
    checked = "all" if all_images else f"{len(chosen)} sampled"
    cats = ", ".join(f"{k} {v}" for k, v in categories.most_common(8)) or "none"
    order_text = ", ".join(f"{k} {v}" for k, v in sorted(orders.items())) or "no scene with several instances"
    report.lines.append(f"{split}: {len(records)} images ({len(missing)} missing), {checked} decoded: "
                        f"{instances} instances; categories: {cats}; order from: {order_text}")  # fmt: skip
    return report


def check_config(config: str | Path, all_images: bool = False, sample: int = 20) -> DataReport:
    """Check every split of a config's data set (see the module).

    Raises:
        FileNotFoundError, ValueError: the config itself cannot be read.
    """
    class_path, args = _data_args(config)
    source = args.get("source", "synthetic")
    report = DataReport()
    if source == "synthetic":
        report.lines.append(f"{config}: synthetic scenes, generated at run time: nothing to check")
        return report
    for split in SPLITS:
        ann, root = args.get(f"{split}_annotation_file"), args.get(f"{split}_image_root")
        if not ann or not root:
            report.problems.append(f"{split}: the config names no {split}_annotation_file / {split}_image_root")
            continue
        part = check_split(source, split, ann, root, all_images, sample)
        report.lines += part.lines
        report.problems += part.problems
    return report
