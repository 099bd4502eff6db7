"""Tasks ``amodal_vae`` and ``amodal_vae_ablations``: Amodal-VAE (Ling et al.), trained in its three
chained stages (chain ``amodal_vae.yaml``), on the test instances and pixels of task ``amodal_mask``
(the occluded instances' crops, each mask pasted back into the scene frame; see
:func:`~amodal_compose.bench.amodal_mask.scene_frame_scores`).

* ``amodal_vae``: the posterior mode (the paper's method), the best of N posterior samples by visible
  IoU (Table 4), the nearest-neighbour baseline (section 5.1), and ``raw`` / ``convex``;
* ``amodal_vae_ablations``: the same rows and the Table 2 ablations the chain lists, each a chain of its
  own (the full chain is trained once when both tasks run together).

Rows carry their recipe; a chain's ``train_seconds`` is the sum of its stages'.
"""

from __future__ import annotations

from .amodal_mask import crop_size, scene_frame_scores, scored_rows
from .runner import BenchContext, LearnedTask, Recipe, TrainedRun, read_recipe, save_run

VAE_METHODS = ("amodal_vae", "amodal_vae (best of N)", "nearest_neighbour")
#: ablation -> (train stage 1?, stage-2 arguments, arguments of every stage, evaluate stage 3?)
ABLATIONS = {
    "without stage 3": (True, (), (), False),
    "without stage 1": (False, ("--model.init_args.train_decoder", "true"), (), True),
    "without class conditioning": (True, (), ("--model.init_args.net.init_args.embed", "0"), True),
}


class AmodalVAETask(LearnedTask):
    """Amodal-VAE's chain, with (``ablations``) or without the Table 2 ablations its chain file lists."""

    def __init__(self, name: str = "amodal_vae", aliases: tuple[str, ...] = ("vae",), ablations: bool = False) -> None:
        super().__init__(name, [Recipe("amodal_vae.yaml", methods=VAE_METHODS)], aliases=aliases)
        self.ablations = ablations

    def vae_chain(
        self, ctx: BenchContext, seed: int, stage1: bool = True, stage2_args=(), common=(), stage3: bool = True,
    ) -> tuple[TrainedRun, float, int]:  # fmt: skip
        """One seed of the Amodal-VAE chain: the last stage's run, the chain's training seconds and steps
        (runs the chain's variants share are trained once: ``without stage 3`` is the full chain's stage 2)."""
        files = [ctx.recipes / f for f in read_recipe(ctx.recipes / self.recipes[0].file)["stages"]]
        folder = ctx.runs / "amodal_vae" / f"seed{seed}" / ("embed0" if common else "default")
        runs, init = [], []
        if stage1:
            runs.append(ctx.trained(files[0], seed, extra=common, test=False))  # no row reports stage 1
            init = ["--model.init_args.init_from", str(save_run(runs[-1], folder / "stage1.ckpt"))]
        two_args = (*common, *init, *stage2_args)
        runs.append(ctx.trained(files[1], seed, extra=two_args, test=False))
        if stage3:
            tag = "scratch" if not stage1 else ""
            ckpt = save_run(runs[-1], folder / f"stage2{tag}.ckpt")
            runs.append(ctx.trained(files[2], seed, extra=(*common, "--model.init_args.init_from", str(ckpt)),
                                    test=False))  # fmt: skip
        runs[-1].system.use_neighbour_bank(runs[-1].datamodule)  # a reused training has no Trainer to give it
        return runs[-1], sum(r.train_seconds for r in runs), sum(r.steps for r in runs)

    def run(self, ctx: BenchContext) -> list[dict]:
        recipe = self.recipes[0]
        chain = read_recipe(ctx.recipes / recipe.file)
        full = [self.vae_chain(ctx, seed) for seed in range(ctx.seeds)]
        rows = [r for r in self.rows([r for r, *_ in full], recipe, [s for _, s, _ in full]) if r["split"] != "test"]
        steps = {"amodal_vae": full[0][2]}
        per_seed_runs = [[(full[i][0], {m: m for m in VAE_METHODS})] for i in range(ctx.seeds)]
        for name in (chain.get("ablations") or []) if self.ablations else []:
            if name not in ABLATIONS:
                raise ValueError(f"{recipe.file}: unknown ablation {name!r}; known: {sorted(ABLATIONS)}")
            stage1, two_args, common, stage3 = ABLATIONS[name]
            done = [self.vae_chain(ctx, seed, stage1, two_args, common, stage3) for seed in range(ctx.seeds)]
            label = f"amodal_vae ({name})"
            ablation = Recipe(recipe.file, methods=("amodal_vae",), label=name)
            rows += [r for r in self.rows([r for r, *_ in done], ablation, [s for _, s, _ in done])
                     if r["split"] != "test"]  # fmt: skip
            steps[label] = done[0][2]
            for i, (run, *_) in enumerate(done):
                per_seed_runs[i].append((run, {"amodal_vae": label}))
        per_seed = [scene_frame_scores(runs) for runs in per_seed_runs]
        for row in rows:  # a chain's training seconds are those of all its stages' steps
            if row["metric"] == "train_seconds":
                row["steps"] = steps[row["method"]]
        return scored_rows(self.name, per_seed, full[0][0], steps, recipe.file) + rows

    def image_size(self, run: TrainedRun) -> int:
        return crop_size(run)


TASK = AmodalVAETask()
ABLATIONS_TASK = AmodalVAETask("amodal_vae_ablations", ("vae_ablations",), ablations=True)
__all__ = ["ABLATIONS_TASK", "TASK", "AmodalVAETask"]
