"""Task ``data``: throughput of the synthetic scene generator (one process) and of the training items
of each DataModule of the recipe (``num_workers`` processes), speed rows. Recipe:
``lightning_configs/bench/data.yaml``."""

from __future__ import annotations

import time

from ..data.datasets import SyntheticScenes
from .runner import BenchContext, Task, instantiate, make_row, read_recipe


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
        return rows


TASK = DataTask("data", "data.yaml")
