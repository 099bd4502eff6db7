"""``make bench``: seeded, reproducible quality and speed rows on held-out synthetic scenes.

Rows are ``{task, method, metric, value, split, steps, image_size}`` and go to
``reports/bench.json`` and a markdown table ``reports/bench.md``. Baseline rows are computed on
the same held-out scenes as the learned methods that later tasks add.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from .baselines import BASELINES
from .data.datasets import InstanceCrops, SyntheticScenes
from .metrics import OrderingAccuracy, PooledMIoU

__all__ = [
    "TASKS",
    "run_bench",
    "write_report",
    "bench_rows_amodal_baselines",
    "bench_rows_ordering_baselines",
]

BENCH_SEED = 0


def _row(task, method, metric, value, split="test", steps=0, image_size=64) -> dict:
    return {
        "task": task,
        "method": method,
        "metric": metric,
        "value": None
        if value is None or (isinstance(value, float) and math.isnan(value))
        else round(float(value), 4),
        "split": split,
        "steps": steps,
        "image_size": image_size,
    }


def bench_rows_amodal_baselines(
    num_scenes: int = 200, image_size: int = 64, split: str = "test"
) -> list[dict]:
    """Pooled full / invisible mIoU of the amodal baselines on occluded held-out instance crops."""
    crops = InstanceCrops(
        SyntheticScenes(num_scenes, image_size=image_size, split=split, seed=BENCH_SEED),
        crop_size=image_size,
        select="occluded",
    )
    batch = torch.utils.data.default_collate([crops[i] for i in range(len(crops))])
    rows = []
    for name, fn in BASELINES["amodal_mask"].items():
        pred = fn(batch["modal_mask"], batch["image"])
        for part in ("full", "invisible"):
            m = PooledMIoU(part)
            m.update(pred, batch["amodal_mask"], batch["modal_mask"])
            rows.append(
                _row("amodal_mask", name, f"miou_{part}", float(m.compute()), split, image_size=image_size)
            )
    return rows


def _ordering_accuracy(fn: Callable, scenes) -> float:
    m = OrderingAccuracy()
    for s in scenes:
        if len(s) > 1:
            m.update(fn(s.modal_masks(), s.image), s.order)
    return float(m.compute())


def bench_rows_ordering_baselines(
    num_scenes: int = 200, image_size: int = 64, split: str = "test"
) -> list[dict]:
    """Pairwise ordering accuracy of the ordering baselines on held-out scenes.

    As in PCNet (Table 1, footnote 1) the direction of the ``area`` heuristic is tuned per data set:
    here on training scenes, never on the test scenes.
    """
    train = SyntheticScenes(num_scenes // 2, image_size=image_size, split="train", seed=BENCH_SEED)
    test = SyntheticScenes(num_scenes, image_size=image_size, split=split, seed=BENCH_SEED)
    area = BASELINES["ordering"]["area"]
    larger = _ordering_accuracy(partial(area, larger_in_front=True), train) > _ordering_accuracy(area, train)
    rows = []
    for name, fn in BASELINES["ordering"].items():
        if name == "area":
            fn = partial(fn, larger_in_front=larger)
            name = f"area ({'larger' if larger else 'smaller'} in front)"
        rows.append(
            _row("ordering", name, "pair_accuracy", _ordering_accuracy(fn, test), image_size=image_size)
        )
    return rows


def bench_rows_data_speed(num_scenes: int = 200, image_size: int = 64) -> list[dict]:
    """Synthetic scene generation throughput (one process), a speed row."""
    ds = SyntheticScenes(num_scenes, image_size=image_size, split="test", seed=BENCH_SEED)
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    dt = time.perf_counter() - t0
    return [_row("data", "synthetic_generator", "scenes_per_s", num_scenes / dt, image_size=image_size)]


TASKS: dict[str, Callable[..., list[dict]]] = {
    "amodal_mask": bench_rows_amodal_baselines,
    "ordering": bench_rows_ordering_baselines,
    "data": bench_rows_data_speed,
}


def write_report(rows: list[dict], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``bench.json`` and ``bench.md``; rows of tasks that were re-run replace the old ones."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out_dir / "bench.json", out_dir / "bench.md"
    old = json.loads(jpath.read_text()) if jpath.is_file() else []
    tasks = {r["task"] for r in rows}
    merged = [r for r in old if r["task"] not in tasks] + rows
    jpath.write_text(json.dumps(merged, indent=1))
    lines = [
        "| task | method | metric | value | split | steps | image_size |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in merged:
        v = "n/a" if r["value"] is None else f"{r['value']:.4f}"
        lines.append(
            f"| {r['task']} | {r['method']} | {r['metric']} | {v} | {r['split']} | {r['steps']} | {r['image_size']} |"
        )
    mpath.write_text("\n".join(lines) + "\n")
    return jpath, mpath


def run_bench(task: str = "all", out_dir: str | Path = "reports", **kwargs) -> list[dict]:
    """Run one task (or ``"all"``) and write the report. Returns the new rows."""
    names = list(TASKS) if task == "all" else [task]
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ValueError(f"unknown bench task {unknown}; choose from {['all', *TASKS]}")
    torch.manual_seed(BENCH_SEED)
    rows = []
    for n in names:
        t0 = time.perf_counter()
        new = TASKS[n](**kwargs)
        print(f"[bench] {n}: {len(new)} rows in {time.perf_counter() - t0:.1f}s", flush=True)
        rows += new
    write_report(rows, out_dir)
    return rows
