"""The ``amodal-compose`` command.

Sub-commands:
    ``data preview``   write a PNG grid of synthetic scenes with modal / amodal outlines;
    ``data stats``     print what the generator makes (objects, categories, occlusion ratios);
    ``demo``           the end-to-end job of the current release (preview + COCOA round-trip + baselines);
    ``bench``          seeded benchmark rows into ``reports/bench.{json,md}``;
    ``fit`` / ``validate`` / ``test`` / ``predict``  LightningCLI, e.g.
                       ``amodal-compose fit --config lightning_configs/shape/synthetic.yaml``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__all__ = ["main", "LIGHTNING_SUBCOMMANDS"]

#: sub-commands handed to LightningCLI (see :mod:`amodal_compose.lightning_cli`).
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _cmd_preview(args: argparse.Namespace) -> int:
    from .data.datasets import SyntheticScenes
    from .data.preview import save_preview

    scenes = SyntheticScenes(args.num, image_size=args.size, split=args.split, seed=args.seed)
    path = save_preview(
        [scenes[i] for i in range(len(scenes))],
        Path(args.out) / "synthetic_preview.png",
        cols=args.cols,
        scale=max(1, 192 // args.size),
    )
    print(
        f"wrote {path}  ({args.num} scenes, {args.size} px; tiles: image | modal outlines + depth | "
        "background with amodal outlines, hidden parts shaded)"
    )
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    import numpy as np

    from .data.datasets import SyntheticScenes

    ds = SyntheticScenes(args.num, image_size=args.size, split=args.split, seed=args.seed)
    n_obj, cats, ratios = Counter(), Counter(), []
    t0 = time.perf_counter()
    for s in ds:
        n_obj[len(s)] += 1
        for inst in s.instances:
            cats[ds.categories[inst.category]] += 1
            ratios.append(inst.occluded_ratio)
    dt = time.perf_counter() - t0
    r = np.array(ratios)
    edges = [0.0, 1e-9, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    hist = np.histogram(r, bins=edges)[0]
    print(f"{args.num} scenes at {args.size} px in {dt:.2f}s ({args.num / dt:.0f} scenes/s, one process)")
    print("objects per scene:", dict(sorted(n_obj.items())))
    print("categories:", dict(sorted(cats.items())))
    labels = ["0 (none)", "(0,0.1)", "[0.1,0.3)", "[0.3,0.5)", "[0.5,0.7)", "[0.7,0.9)", "[0.9,1]"]
    print("occluded ratio:", ", ".join(f"{lab}: {h}" for lab, h in zip(labels, hist)))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from .baselines import BASELINES
    from .bench.ordering import heuristic_rows
    from .data.datasets import InstanceCrops, SyntheticScenes
    from .data.preview import save_preview
    from .data.readers import CocoaAmodal
    from .data.writers import write_cocoa
    from .metrics import MethodMetrics, mask_metrics
    from .ops.masks import iou
    from .structures import Keys

    out = Path(args.out)
    t0 = time.perf_counter()
    scenes = [SyntheticScenes(8, image_size=96, split="val")[i] for i in range(8)]
    prev = save_preview(scenes, out / "synthetic_preview.png", cols=2, scale=2)
    print(f"[1/3] preview of 8 synthetic scenes: {prev}")

    path = write_cocoa(scenes, out / "cocoa_roundtrip")
    back = CocoaAmodal(path, out / "cocoa_roundtrip")
    orders_equal = all(torch.equal(a.order, b.order) for a, b in zip(scenes, back))
    ious = torch.cat([iou(a.amodal_masks(), b.amodal_masks()) for a, b in zip(scenes, back)])
    vis = torch.cat(
        [
            iou(x.modal_mask, y.modal_mask)[None]
            for a, b in zip(scenes, back)
            for x, y in zip(a.instances, b.instances)
            if x.is_occluded
        ]
    )
    print(
        f"[2/3] COCOA round-trip: wrote {path}, read back {len(back)} scenes; order matrices equal: "
        f"{orders_equal}; visible RLE masks exact: {bool((vis == 1).all())}; amodal polygon IoU "
        f"mean {ious.mean():.3f} (min {ious.min():.3f})"
    )

    val = SyntheticScenes(200, image_size=64, split="val")
    crops = torch.utils.data.default_collate(list(InstanceCrops(val, crop_size=64, select="occluded")))
    scores = MethodMetrics(BASELINES["amodal_mask"], mask_metrics)
    preds = {name: fn(crops[Keys.MODAL_MASK], crops[Keys.IMAGE]) for name, fn in BASELINES["amodal_mask"].items()}
    scores.update(preds, crops[Keys.AMODAL_MASK], crops[Keys.MODAL_MASK])
    miou = scores.compute()
    parts = [f"{m}: full {miou[f'miou_full/{m}']:.3f} / invisible {miou[f'miou_invisible/{m}']:.3f}" for m in preds]
    train = SyntheticScenes(100, image_size=64, split="train")
    acc = [f"{r['method']} {r['value']:.3f}" for r in heuristic_rows(train, val, "ordering", 64)]
    print(
        f"[3/3] baselines on 200 held-out scenes: amodal mIoU {'; '.join(parts)}; ordering accuracy {', '.join(acc)}"
    )
    print(f"demo done in {time.perf_counter() - t0:.1f}s; outputs under {out}/")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    rows = run_bench(args.task, args.out, seeds=args.seeds, recipes=args.recipes)
    for r in rows:
        if not r["metric"].startswith("curve/"):
            spread = f" ± {r['std']}" if r["seeds"] > 1 and r["std"] is not None else ""
            print(f"{r['task']:<18} {r['method']:<24} {r['metric']:<28} {r['value']}{spread}")
    print(f"wrote {Path(args.out) / 'bench.json'} and {Path(args.out) / 'bench.md'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="amodal-compose", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="look at the embedded synthetic data set")
    dsub = data.add_subparsers(dest="data_command", required=True)
    for name, fn, helptext in (
        ("preview", _cmd_preview, "write a PNG grid of scenes"),
        ("stats", _cmd_stats, "print generator statistics"),
    ):
        q = dsub.add_parser(name, help=helptext)
        q.add_argument("--num", type=int, default=8 if name == "preview" else 500, help="number of scenes")
        q.add_argument("--size", type=int, default=96, help="image side in pixels (32-512)")
        q.add_argument("--split", default="val", choices=["train", "val", "test"])
        q.add_argument("--seed", type=int, default=0)
        if name == "preview":
            q.add_argument("--out", default="previews", help="output folder")
            q.add_argument("--cols", type=int, default=2)
        q.set_defaults(func=fn)

    demo = sub.add_parser("demo", help="run the end-to-end demo")
    demo.add_argument("--out", default="demo_out")
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="write reports/bench.{json,md}")
    bench.add_argument("--task", default="all", help="a task, an alias (shape, compose, content) or a comma list")
    bench.add_argument("--seeds", type=int, default=1, help="training seeds per learned task (mean and spread)")
    bench.add_argument("--recipes", default=None, help="folder of the recipes (default: lightning_configs/bench)")
    bench.add_argument("--out", default="reports")
    bench.set_defaults(func=_cmd_bench)

    for name in LIGHTNING_SUBCOMMANDS:  # handled by LightningCLI in main()
        sub.add_parser(name, help=f"LightningCLI {name} (see `amodal-compose {name} --help`)", add_help=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``amodal-compose`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from .lightning_cli import run_lightning_cli

        run_lightning_cli(argv)
        return 0
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"amodal-compose: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
