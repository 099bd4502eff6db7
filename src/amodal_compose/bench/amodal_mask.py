"""Task ``amodal_mask``: amodal masks of the occluded instances of held-out scenes, pooled full /
invisible mIoU, every method given the exact visible mask, every row scored on the same pixels: each
method's mask in the scene frame (a crop-based network's mask pasted back from its crop, as the
pipelines do), on the instances every method takes (:func:`scene_frame_scores`). Methods:

* f_shape (AMICO section 3.3; recipe ``amodal_mask.yaml``);
* PCNet-M (recipe ``pcnet_m.yaml``): eq. 4 as the paper writes it (one view; grounded in eq. 3's order,
  and non-grounded), and with the recipe's views and order (its grounded and non-grounded rows);
* ``raw``, ``convex`` and ``convex_r`` (grounded in PCNet-M's recipe order).

Amodal-VAE has a task of its own (:mod:`~amodal_compose.bench.amodal_vae`), scored on the same test
instances and pixels, so that each task trains within the bench's time per task.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..baselines import amodal_convex, amodal_convex_refined
from ..metrics import MethodMetrics, mask_metrics
from ..ops.masks import SquareBox, paste_square
from ..structures import Keys
from .runner import BenchContext, LearnedTask, Recipe, TrainedRun, aggregate

MASK_METRICS = ("miou_full", "miou_invisible")
PCNET_ROWS = ("pcnet_m (grounded, paper)", "pcnet_m (non-grounded, paper)", "pcnet_m (grounded)",
              "pcnet_m (non-grounded)")  # fmt: skip


def _crop_masks(run: TrainedRun, methods: dict[str, str], batch_size: int = 64) -> dict[tuple[int, int], dict]:
    """``{(scene, instance): {row: scene-frame mask}}`` of a crop-based system's test items: each of its
    ``methods`` (its method -> row name) pasted back from the item's crop into the scene frame."""
    ds = run.datamodule.dataset("test")
    system = run.system.eval()
    out: dict[tuple[int, int], dict] = {}
    for start in range(0, len(ds), batch_size):
        idx = list(range(start, min(start + batch_size, len(ds))))
        batch = torch.utils.data.default_collate([ds[i] for i in idx])
        batch = {k: v.to(system.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        with torch.no_grad():
            preds, _ = system.evaluate(batch)
        for j, i in enumerate(idx):
            scene_index, k = ds.index[i]
            size = ds.scenes[scene_index].size
            box = SquareBox(*batch[Keys.BOX][j].tolist(), *size)
            out[(scene_index, k)] = {row: paste_square(preds[m][j].float().cpu(), box, mode="mask")
                                     for m, row in methods.items()}  # fmt: skip
    return out


def scene_frame_scores(
    crop_runs: Sequence[tuple[TrainedRun, dict[str, str]]], pcnet: TrainedRun | None = None,
) -> dict:  # fmt: skip
    """One seed's pooled full / invisible mIoU of every method on the same pixels: the occluded instances
    that every crop-based run scores (its test items), each method's mask in the scene frame, against
    the scene's amodal mask. ``raw`` / ``convex`` and, given a PCNet-M run, its masks and ``convex_r``
    (grounded in its order) are made in the scene frame. Returns ``{(row, metric): value}``
    (``("samples", "count/all")``: the instances)."""
    crops = [_crop_masks(run, methods) for run, methods in crop_runs]
    common = sorted(set.intersection(*(set(c) for c in crops)))
    scenes = crop_runs[0][0].datamodule.dataset("test").scenes
    source = {row: crop for crop, (_, methods) in zip(crops, crop_runs) for row in methods.values()}
    rows = list(source)
    scene_rows = (*PCNET_ROWS, "raw", "convex", "convex_r") if pcnet is not None else ("raw", "convex")
    metrics = MethodMetrics((*rows, *scene_rows), mask_metrics)
    system = pcnet.system.eval() if pcnet is not None else None
    by_scene: dict[int, list[int]] = {}
    for i, k in common:
        by_scene.setdefault(i, []).append(k)
    for i, ks in by_scene.items():
        scene = scenes[i]
        modal, cats, gt = scene.modal_masks(), scene.categories(), scene.amodal_masks()
        made = {"raw": modal, "convex": amodal_convex(modal)}
        if system is not None:
            order = system.order(scene.image, modal, cats)
            paper_order = system.order(scene.image, modal, cats, mirror=False, scales=(1.0,), context=0,
                                       cycles="keep")  # fmt: skip
            made |= {
                "pcnet_m (grounded, paper)": system.amodal(scene.image, modal, paper_order, cats, mirror=False),
                "pcnet_m (non-grounded, paper)": system.amodal(scene.image, modal, None, cats, mirror=False),
                "pcnet_m (grounded)": system.amodal(scene.image, modal, order, cats),
                "pcnet_m (non-grounded)": system.amodal(scene.image, modal, None, cats),
                "convex_r": amodal_convex_refined(modal, order),
            }  # fmt: skip
        preds = {row: made[row][ks].float() for row in made}
        for row in rows:
            preds[row] = torch.stack([source[row][(i, k)][row] for k in ks])
        metrics.update(preds, gt[ks].float(), modal[ks].float())
    values = {}
    for key, value in metrics.compute().items():
        method, metric = key.rsplit("/", 1)[1], key.rsplit("/", 1)[0]
        values[(method, metric)] = float(value)
    return values


class AmodalMaskTask(LearnedTask):
    def __init__(self) -> None:
        super().__init__("amodal_mask", [Recipe("amodal_mask.yaml"), Recipe("pcnet_m.yaml", ("miou",))],
                         aliases=("shape",))  # fmt: skip

    def run(self, ctx: BenchContext) -> list[dict]:
        shape_recipe, pcnet_recipe = self.recipes
        # every test row is scored in the scene frame below: the systems' own test passes are not needed
        shape = [ctx.trained(ctx.recipes / shape_recipe.file, seed, test=False) for seed in range(ctx.seeds)]
        pcnet = [ctx.trained(ctx.recipes / pcnet_recipe.file, seed, test=False) for seed in range(ctx.seeds)]
        rows = [r for r in self.rows(shape, shape_recipe) + self.rows(pcnet, pcnet_recipe) if r["split"] != "test"]
        per_seed = [scene_frame_scores([(shape[i], {"f_shape": "f_shape"})], pcnet[i]) for i in range(ctx.seeds)]
        steps = {"pcnet_m": pcnet[0].steps, "f_shape": shape[0].steps}
        return scored_rows(self.name, per_seed, shape[0], steps, "amodal_mask.yaml, pcnet_m.yaml") + rows

    def image_size(self, run: TrainedRun) -> int:
        return crop_size(run)


def crop_size(run: TrainedRun) -> int:
    """The crop size a crop-based run's rows are reported at."""
    return int(run.datamodule.hparams.get("crop_size", 64))


def scored_rows(
    task: str, per_seed: list[dict], first: TrainedRun, steps: dict[str, int], recipe: str,
) -> list[dict]:  # fmt: skip
    """The test rows of :func:`scene_frame_scores` over the seeds: each row's training steps from the
    longest prefix of its method's name in ``steps`` (a chain's steps are its stages' sum; 0 for the
    classical rows), the recipes and the test seed."""
    scored = aggregate(task, per_seed, "test", first.steps, crop_size(first))
    test_seed = first.datamodule.hparams.get("test_seed")
    for row in scored:
        prefixes = [p for p in steps if row["method"].startswith(p)]
        row["recipe"] = recipe
        row["test_seed"] = test_seed
        row["steps"] = steps[max(prefixes, key=len)] if prefixes else 0
    return scored


TASK = AmodalMaskTask()
__all__ = ["TASK", "AmodalMaskTask", "crop_size", "scene_frame_scores", "scored_rows"]
