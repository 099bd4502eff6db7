"""Task ``deocclusion_speed``: the time PCNet-M takes to recover the occlusion order of a scene with 8
and with 16 instances (256 px), dual completion batched (every neighbouring pair of the scene through
the network as one batch) against one pair per forward, measured side by side in one run (median of
``repeats``), with the bench recipe's network, untrained (speed does not depend on the weights), on the
recipe's ``device`` (``auto``: a CUDA device when present; its rows' methods then carry the device's
name). Both paths run eq. 3's single pass (``mirror=False, scales=(1.0,), context=0``: the recipe's mirror
and crop-scale views and its context passes multiply either path's forwards alike). Recipe:
``lightning_configs/bench/deocclusion_speed.yaml``."""

from __future__ import annotations

import statistics
import time

from ..data.datasets import SyntheticScenes
from ..ops.graph import neighbour_pairs
from ..structures import Scene
from .runner import BenchContext, Task, instantiate, make_row, read_recipe, speed_device, synchronize


def crowded_scene(count: int, size: int) -> Scene:
    """A synthetic test scene with exactly ``count`` instances (smaller objects, many placements)."""
    ds = SyntheticScenes(50, size, "test", min_objects=count, max_objects=count, size_range=(0.07, 0.14),
                         cluster_prob=0.9, placement_tries=30)  # fmt: skip
    for scene in ds:
        if len(scene) == count:
            return scene
    raise RuntimeError(f"no synthetic scene with {count} instances among {len(ds)}")


class DeocclusionSpeedTask(Task):
    def run(self, ctx: BenchContext) -> list[dict]:
        recipe = read_recipe(ctx.recipes / self.recipe)
        device, tag = speed_device(recipe.get("device"))
        system = instantiate(read_recipe(ctx.recipes / recipe["network"])["model"]).eval().to(device)
        size, repeats = int(recipe["image_size"]), int(recipe.get("repeats", 3))
        rows, times = [], {}
        for count in recipe["instances"]:
            scene = crowded_scene(int(count), size)
            modal, cats = scene.modal_masks(), scene.categories()
            pairs = int(neighbour_pairs(modal, system.hparams.neighbour_dilation).triu(1).sum())
            for batch in (True, False):
                system.order(scene.image, modal, cats, batch=batch, mirror=False, scales=(1.0,), context=0)  # warm-up
                runs = []
                for _ in range(repeats):
                    synchronize(device)
                    t0 = time.perf_counter()
                    system.order(scene.image, modal, cats, batch=batch, mirror=False, scales=(1.0,), context=0)
                    synchronize(device)
                    runs.append(time.perf_counter() - t0)
                method = ("batched" if batch else "one_pair_per_forward") + tag
                times[(method, count)] = statistics.median(runs)
                rows.append(make_row(self.name, method, f"order_seconds/{count}_instances", [times[(method, count)]],
                                     "-", image_size=size))  # fmt: skip
            rows.append(make_row(self.name, "scene", f"neighbour_pairs/{count}_instances", [pairs], "-",
                                 image_size=size))  # fmt: skip
            fast, slow = times[("batched" + tag, count)], times[("one_pair_per_forward" + tag, count)]
            rows.append(make_row(self.name, "batched" + tag, f"speedup/{count}_instances", [slow / fast], "-",
                                 image_size=size))  # fmt: skip
            ctx.log(f"[bench] deocclusion_speed ({device}): {count} instances, {pairs} pairs: batched {fast:.4f}s, "
                    f"one pair per forward {slow:.4f}s")  # fmt: skip
        return rows


TASK = DeocclusionSpeedTask("deocclusion_speed", "deocclusion_speed.yaml")
