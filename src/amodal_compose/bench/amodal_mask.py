"""Task ``amodal_mask``: amodal masks of the occluded instances of held-out scenes, pooled full /
invisible mIoU, every method given the exact visible mask, every row scored on the same pixels: each
method's mask in the scene frame (a crop-based network's mask pasted back from its crop, as the
pipelines do), on the instances every method takes (:func:`scene_frame_scores`). Methods:

* f_shape (AMICO section 3.3; recipe ``amodal_mask.yaml``);
* PCNet-M (recipe ``pcnet_m.yaml``): eq. 4 as the paper writes it (one view; grounded in eq. 3's order,
  and non-grounded), and with the recipe's views and order (its grounded and non-grounded rows);
* Amodal-VAE (Ling et al.), trained in its three chained stages (chain ``amodal_vae.yaml``): the
  posterior mode, the best of N posterior samples by visible IoU, the nearest-neighbour baseline, and
  the Table 2 ablations the chain lists;
* ``raw``, ``convex`` and ``convex_r`` (grounded in PCNet-M's recipe order).

Rows carry their recipe; a chain's ``train_seconds`` is the sum of its stages'.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..baselines import amodal_convex, amodal_convex_refined
from ..metrics import MethodMetrics, mask_metrics
from ..ops.masks import SquareBox, paste_square
from ..structures import Keys
from .runner import BenchContext, LearnedTask, Recipe, TrainedRun, aggregate, read_recipe, save_run

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


def scene_frame_scores(crop_runs: Sequence[tuple[TrainedRun, dict[str, str]]], pcnet: TrainedRun) -> dict:
    """One seed's pooled full / invisible mIoU of every method on the same pixels: the occluded instances
    that every crop-based run scores (its test items), each method's mask in the scene frame, against
    the scene's amodal mask. PCNet-M's masks and ``raw`` / ``convex`` / ``convex_r`` are made in the
    scene frame. Returns ``{(row, metric): value}`` (``("samples", "count/all")``: the instances)."""
    crops = [_crop_masks(run, methods) for run, methods in crop_runs]
    common = sorted(set.intersection(*(set(c) for c in crops)))
    scenes = crop_runs[0][0].datamodule.dataset("test").scenes
    source = {row: crop for crop, (_, methods) in zip(crops, crop_runs) for row in methods.values()}
    rows = list(source)
    metrics = MethodMetrics((*rows, *PCNET_ROWS, "raw", "convex", "convex_r"), mask_metrics)
    system = pcnet.system.eval()
    by_scene: dict[int, list[int]] = {}
    for i, k in common:
        by_scene.setdefault(i, []).append(k)
    for i, ks in by_scene.items():
        scene = scenes[i]
        modal, cats, gt = scene.modal_masks(), scene.categories(), scene.amodal_masks()
        order = system.order(scene.image, modal, cats)
        paper_order = system.order(scene.image, modal, cats, mirror=False, scales=(1.0,), context=0, cycles="keep")
        made = {
            "pcnet_m (grounded, paper)": system.amodal(scene.image, modal, paper_order, cats, mirror=False),
            "pcnet_m (non-grounded, paper)": system.amodal(scene.image, modal, None, cats, mirror=False),
            "pcnet_m (grounded)": system.amodal(scene.image, modal, order, cats),
            "pcnet_m (non-grounded)": system.amodal(scene.image, modal, None, cats),
            "raw": modal, "convex": amodal_convex(modal), "convex_r": amodal_convex_refined(modal, order),
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

VAE_METHODS = ("amodal_vae", "amodal_vae (best of N)", "nearest_neighbour")
#: ablation -> (train stage 1?, stage-2 arguments, arguments of every stage, evaluate stage 3?)
ABLATIONS = {
    "without stage 3": (True, (), (), False),
    "without stage 1": (False, ("--model.init_args.train_decoder", "true"), (), True),
    "without class conditioning": (True, (), ("--model.init_args.net.init_args.embed", "0"), True),
}


class AmodalMaskTask(LearnedTask):
    def __init__(self) -> None:
        super().__init__("amodal_mask", [Recipe("amodal_mask.yaml"), Recipe("pcnet_m.yaml", ("miou",))],
                         aliases=("shape",))  # fmt: skip
        self.chain = "amodal_vae.yaml"

    @property
    def recipe_files(self) -> list[str]:
        return [*super().recipe_files, self.chain]

    def vae_chain(
        self, ctx: BenchContext, seed: int, stage1: bool = True, stage2_args=(), common=(), stage3: bool = True,
    ) -> tuple[TrainedRun, float]:  # fmt: skip
        """One seed of the Amodal-VAE chain: the last stage's run and the chain's training seconds."""
        files = [ctx.recipes / f for f in read_recipe(ctx.recipes / self.chain)["stages"]]
        folder = ctx.runs / self.name / "amodal_vae" / f"seed{seed}" / ("embed0" if common else "default")
        runs, init = [], []
        if stage1:
            runs.append(ctx.trained(files[0], seed, extra=common, test=False))  # no row reports stage 1
            init = ["--model.init_args.init_from", str(save_run(runs[-1], folder / "stage1.ckpt"))]
        two_args = (*common, *init, *stage2_args)
        runs.append(ctx.trained(files[1], seed, extra=two_args, test=not stage3))  # scored when it ends the chain
        if stage3:
            tag = "scratch" if not stage1 else ""
            ckpt = save_run(runs[-1], folder / f"stage2{tag}.ckpt")
            runs.append(ctx.trained(files[2], seed, extra=(*common, "--model.init_args.init_from", str(ckpt))))
        return runs[-1], sum(r.train_seconds for r in runs)

    def run(self, ctx: BenchContext) -> list[dict]:
        shape_recipe, pcnet_recipe = self.recipes
        shape = [ctx.trained(ctx.recipes / shape_recipe.file, seed) for seed in range(ctx.seeds)]
        pcnet = [ctx.trained(ctx.recipes / pcnet_recipe.file, seed) for seed in range(ctx.seeds)]
        chain = read_recipe(ctx.recipes / self.chain)
        full = [self.vae_chain(ctx, seed) for seed in range(ctx.seeds)]
        rows = [r for r in self.rows(shape, shape_recipe) + self.rows(pcnet, pcnet_recipe) if r["split"] != "test"]
        rows += [r for r in self.rows([r for r, _ in full], Recipe(self.chain, methods=VAE_METHODS),
                                      [s for _, s in full]) if r["split"] != "test"]  # fmt: skip
        per_seed_runs = [[(shape[i], {"f_shape": "f_shape"}), (full[i][0], {m: m for m in VAE_METHODS})]
                         for i in range(ctx.seeds)]  # fmt: skip
        for name in chain.get("ablations") or []:
            if name not in ABLATIONS:
                raise ValueError(f"{self.chain}: unknown ablation {name!r}; known: {sorted(ABLATIONS)}")
            stage1, two_args, common, stage3 = ABLATIONS[name]
            done = [self.vae_chain(ctx, seed, stage1, two_args, common, stage3) for seed in range(ctx.seeds)]
            label = f"amodal_vae ({name})"
            rows += [r for r in self.rows([r for r, _ in done], Recipe(self.chain, methods=("amodal_vae",), label=name),
                                          [s for _, s in done]) if r["split"] != "test"]  # fmt: skip
            for i, (run, _) in enumerate(done):
                per_seed_runs[i].append((run, {"amodal_vae": label}))
        per_seed = [scene_frame_scores(runs, pcnet[i]) for i, runs in enumerate(per_seed_runs)]
        scored = aggregate(self.name, per_seed, "test", shape[0].steps, int(shape[0].datamodule.hparams["image_size"]))
        test_seed = shape[0].datamodule.hparams.get("test_seed")
        for row in scored:
            method = row["method"]
            run = pcnet[0] if method.startswith("pcnet_m") else full[0][0] if method in VAE_METHODS else shape[0]
            row["recipe"] = "amodal_mask.yaml, pcnet_m.yaml, amodal_vae.yaml"
            row["test_seed"] = test_seed
            row["steps"] = 0 if method in ("raw", "convex", "convex_r", "samples") else run.steps
        return scored + rows

    def image_size(self, run: TrainedRun) -> int:
        return int(run.datamodule.hparams.get("crop_size", 64))


TASK = AmodalMaskTask()
__all__ = ["TASK", "AmodalMaskTask"]
