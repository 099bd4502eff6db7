"""Task ``data``: throughput of the synthetic scene generator (one process), of the training items of
each DataModule of the recipe (``num_workers`` processes), and, for the real data sets' formats, each
network's training items at the real configs' size (the recipe's ``real:`` section): the COCOA / KINS
fixtures repeated to a few hundred images, read by the readers training uses, items per second and
CPU milliseconds per item in one process, and from those the loader workers a GPU step of a given
length needs. Speed rows. Recipe: ``lightning_configs/bench/data.yaml``."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

from ..data.datasets import SyntheticScenes
from .runner import BenchContext, Task, instantiate, make_row, read_recipe


def repeated_annotations(annotation_file: str | Path, copies: int, folder: Path) -> Path:
    """The annotation file with its images listed ``copies`` times (new ids, the same image files), so a
    one-image fixture reads as a data set of ``copies`` images."""
    data = json.loads(Path(annotation_file).read_text())
    images, anns, next_ann = [], [], 1
    for c in range(copies):
        for img in data["images"]:
            new_id = c * 100_000 + int(img["id"])
            images.append({**img, "id": new_id})
            for a in data["annotations"]:
                if a["image_id"] == img["id"]:
                    anns.append({**a, "image_id": new_id, "id": next_ann})
                    next_ann += 1
    out = folder / f"repeated_{Path(annotation_file).name}"
    out.write_text(json.dumps({**data, "images": images, "annotations": anns}))
    return out


class DataTask(Task):
    def run(self, ctx: BenchContext) -> list[dict]:
        recipe = read_recipe(ctx.recipes / self.recipe)
        scenes = recipe["scenes"]
        ds = SyntheticScenes(scenes["length"], image_size=scenes["image_size"], split="test")
        t0 = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        rate = len(ds) / (time.perf_counter() - t0)
        rows = [make_row(self.name, "synthetic_generator", "scenes_per_s", [rate], image_size=scenes["image_size"])]
        for name, spec in (recipe.get("datamodules") or {}).items():
            dm = instantiate(spec)
            t0 = time.perf_counter()
            dm.setup("fit")
            setup = time.perf_counter() - t0
            loader, n, t0 = dm.train_dataloader(), 0, time.perf_counter()
            for batch in loader:
                n += len(next(iter(batch.values())))
            rate = n / (time.perf_counter() - t0)
            rows += [
                make_row(self.name, name, "setup_seconds", [setup], "train", image_size=dm.image_size),
                make_row(self.name, name, "train_items_per_s", [rate], "train", image_size=dm.image_size),
            ]
            ctx.log(f"[bench] data: {name} setup {setup:.1f}s, {rate:.0f} items/s over {n} items")
        if recipe.get("real"):
            rows += self.real_rows(ctx, recipe["real"])
        return rows

    def real_rows(self, ctx: BenchContext, real: dict) -> list[dict]:
        """Items per second and CPU milliseconds per item of each network's real-format training items
        (one process, no workers), and the workers a GPU step of ``step_ms`` needs at ``batch_size``."""
        import resource

        root = Path(real.get("root", "."))
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for source, (ann, images) in real["sources"].items():
                repeated = repeated_annotations(root / ann, int(real["copies"]), Path(tmp))
                files = {f"{s}_{k}": str(v) for s in ("train", "val", "test")
                         for k, v in (("annotation_file", repeated), ("image_root", root / images))}  # fmt: skip
                for name, spec in real["datamodules"].items():
                    args = {**(spec.get("init_args") or {}), **files, "source": source, "num_workers": 0}
                    dm = instantiate({"class_path": spec["class_path"], "init_args": args})
                    ds = dm.dataset("train")
                    n = min(len(ds), int(real.get("items", 200)))
                    own = resource.getrusage(resource.RUSAGE_SELF)
                    cpu0, t0 = own.ru_utime + own.ru_stime, time.perf_counter()
                    for i in range(n):
                        ds[(0, i)]
                    seconds = time.perf_counter() - t0
                    own = resource.getrusage(resource.RUSAGE_SELF)
                    cpu_ms = 1000 * (own.ru_utime + own.ru_stime - cpu0) / max(n, 1)
                    size = int(args.get("crop_size", 256))
                    method = f"{name}, {source}"
                    workers = math.ceil(int(real["batch_size"]) * cpu_ms / float(real["step_ms"]))
                    rows += [make_row(self.name, method, "train_items_per_s", [n / seconds], "train", image_size=size),
                             make_row(self.name, method, "cpu_ms_per_item", [cpu_ms], "train", image_size=size),
                             make_row(self.name, method, f"workers_for_{real['step_ms']}ms_step_at_batch_"
                                      f"{real['batch_size']}", [workers], "train", image_size=size)]  # fmt: skip
                    ctx.log(f"[bench] data: {method} at {size} px: {n / seconds:.1f} items/s, {cpu_ms:.1f} CPU-ms "
                            f"per item")  # fmt: skip
        return rows


TASK = DataTask("data", "data.yaml")
