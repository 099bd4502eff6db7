"""Task ``deocclusion_speed``: the time PCNet-M takes to recover the occlusion order of a scene with 8
and with 16 instances (256 px), dual completion with the pairs' crops through the network in batches of
each size of the recipe's ``max_batch`` list against one pair per call, measured side by side in one run
(median of ``repeats``), for each network of the recipe (the bench recipe's and the real-data configs'
size), untrained (speed does not depend on the weights), on the recipe's ``device`` (``auto``: a CUDA
device when present; its rows' methods then carry the device's name). The ``default`` rows are what
:class:`~amodal_compose.systems.PCNetMSystem` does on that device when its ``max_batch`` is not set. Every
path runs eq. 3's single pass (``mirror=False, scales=(1.0,), context=0``: the recipe's mirror and
crop-scale views and its context passes multiply every path's forwards alike). Recipe:
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


def _order_seconds(system, scene: Scene, batch: bool, repeats: int, device) -> float:
    """The median time of eq. 3's single pass over ``scene`` (after a warm-up)."""
    modal, cats = scene.modal_masks(), scene.categories()
    runs = []
    for k in range(repeats + 1):
        synchronize(device)
        t0 = time.perf_counter()
        system.order(scene.image, modal, cats, batch=batch, mirror=False, scales=(1.0,), context=0)
        synchronize(device)
        if k:  # the first is the warm-up
            runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


class DeocclusionSpeedTask(Task):
    def run(self, ctx: BenchContext) -> list[dict]:
        recipe = read_recipe(ctx.recipes / self.recipe)
        device, tag = speed_device(recipe.get("device"))
        networks = recipe.get("networks") or {"bench": recipe["network"]}
        size, repeats = int(recipe["image_size"]), int(recipe.get("repeats", 3))
        sizes = [int(b) for b in recipe.get("max_batch", [256])]
        rows = []
        for net, path in networks.items():
            system = instantiate(read_recipe(ctx.recipes / path)["model"]).eval().to(device)
            system.hparams.max_batch = None
            default = system.max_batch_on(device)
            params = sum(p.numel() for p in system.parameters())
            rows.append(make_row(self.name, f"{net} network", "parameters_millions", [params / 1e6], "-",
                                 image_size=size))  # fmt: skip
            for count in recipe["instances"]:
                scene = crowded_scene(int(count), size)
                pairs = int(neighbour_pairs(scene.modal_masks(), system.hparams.neighbour_dilation).triu(1).sum())
                times = {}
                for mb in dict.fromkeys([*sizes, default]):
                    system.hparams.max_batch = mb
                    times[f"{mb} per forward"] = _order_seconds(system, scene, True, repeats, device)
                system.hparams.max_batch = None
                times["one pair per call"] = _order_seconds(system, scene, False, repeats, device)
                times[f"default ({default} per forward)"] = times[f"{default} per forward"]
                for path_name, seconds in times.items():
                    rows.append(make_row(self.name, f"{net} network, {path_name}{tag}",
                                         f"order_seconds/{count}_instances", [seconds], "-", image_size=size))
                rows.append(make_row(self.name, "scene", f"neighbour_pairs/{count}_instances", [pairs], "-",
                                     image_size=size))  # fmt: skip
                shown = ", ".join(f"{k} {v:.3f}s" for k, v in times.items())
                ctx.log(f"[bench] deocclusion_speed ({device}, {net} network, {params / 1e6:.1f} M parameters): "
                        f"{count} instances, {pairs} pairs: {shown}")  # fmt: skip
        return rows


TASK = DeocclusionSpeedTask("deocclusion_speed", "deocclusion_speed.yaml")
