"""Task ``pipeline_speed``: latency of :meth:`~amodal_compose.pipeline.Pipeline.compose` with 1, 2,
4 and 8 occluded instances on a 256 px background, batched (each network takes the independent
instances as one batch) against one instance at a time, measured side by side in one run (median of
``repeats``). The networks are those of the users' synthetic configs, untrained, on the recipe's ``device`` (``auto``:
a CUDA device when present; its rows' methods then carry the device's name). Recipe:
``lightning_configs/bench/pipeline_speed.yaml``."""

from __future__ import annotations

import statistics
import time

import torch

from ..data.datasets import SyntheticScenes
from ..lightning_cli import find_configs
from ..ops.masks import dilate
from ..pipeline import ComposeInstance, Pipeline
from .runner import BenchContext, Task, instantiate, make_row, read_recipe, speed_device, synchronize


def speed_instances(count: int, size: int) -> tuple[torch.Tensor, list[ComposeInstance]]:
    """A background and ``count`` occluded objects of other scenes, coarsely cut, placed on a grid of
    the background at half size (so their crop windows do not overlap)."""
    scenes = SyntheticScenes(count + 1 + 20, image_size=size, split="test")
    background = scenes[0].image
    instances, cells = [], int(count**0.5 + 0.999)
    for s in range(1, len(scenes)):
        if len(instances) == count:
            break
        scene = scenes[s]
        occluded = [i for i in scene.instances if i.is_occluded and float(i.modal_mask.sum()) > 100]
        if not occluded:
            continue
        n = len(instances)
        cx, cy = (n % cells + 0.5) * size / cells, (n // cells + 0.5) * size / cells
        instances.append(ComposeInstance(scene.image, dilate(occluded[0].modal_mask, 2), (cx, cy), 0.5, True))
    if len(instances) < count:
        raise RuntimeError(f"found {len(instances)} occluded objects, {count} needed")
    return background, instances


class PipelineSpeedTask(Task):
    def run(self, ctx: BenchContext) -> list[dict]:
        recipe = read_recipe(ctx.recipes / self.recipe)
        systems = {name: instantiate(read_recipe(find_configs() / path)["model"])
                   for name, path in recipe["components"].items()}  # fmt: skip
        device, tag = speed_device(recipe.get("device"))
        pipe = Pipeline(device=device, **systems)
        size, repeats = int(recipe["image_size"]), int(recipe.get("repeats", 3))
        rows, latency = [], {}
        pipe.compose(*speed_instances(1, size))  # warm-up
        for count in recipe["instances"]:
            background, instances = speed_instances(int(count), size)
            for batch in (True, False):
                times = []
                for _ in range(repeats):
                    synchronize(device)
                    t0 = time.perf_counter()
                    pipe.compose(background, instances, batch=batch, progress=False)
                    synchronize(device)
                    times.append(time.perf_counter() - t0)
                method = "batched" if batch else "one_at_a_time"
                latency[(method, count)] = statistics.median(times)
                rows.append(make_row(self.name, method + tag, f"latency_s/{count}_instances",
                                     [latency[(method, count)]], "-", image_size=size))  # fmt: skip
            fast, slow = latency[("batched", count)], latency[("one_at_a_time", count)]
            ctx.log(f"[bench] pipeline_speed ({device}): {count} instances: batched {fast:.3f}s, "
                    f"one at a time {slow:.3f}s")  # fmt: skip
        most = max(int(c) for c in recipe["instances"])
        speedup = latency[("one_at_a_time", most)] / latency[("batched", most)]
        rows.append(make_row(self.name, "batched" + tag, f"speedup/{most}_instances", [speedup], "-", image_size=size))
        return rows


TASK = PipelineSpeedTask("pipeline_speed", "pipeline_speed.yaml")
