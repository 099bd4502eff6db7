"""Task ``amodal_mask``: amodal masks of the occluded instances of held-out scenes, pooled full /
invisible mIoU, every method given the exact visible mask:

* f_shape (AMICO section 3.3) against ``raw`` and ``convex`` on instance crops (recipe
  ``amodal_mask.yaml``);
* PCNet-M's ordering-grounded and non-grounded completion against ``raw``, ``convex`` and ``convex_r``
  on the same instances in the scene frame (recipe ``pcnet_m.yaml``, its amodal rows);
* Amodal-VAE (Ling et al.), trained in its three chained stages (chain ``amodal_vae.yaml``): the
  posterior mode, the best of N posterior samples by visible IoU, the nearest-neighbour baseline, and
  the Table 2 ablations the chain lists, on the same crops as f_shape.

Rows carry their recipe; a chain's ``train_seconds`` is the sum of its stages'.
"""

from __future__ import annotations

from .runner import BenchContext, LearnedTask, Recipe, TrainedRun, read_recipe, save_run

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
        rows = super().run(ctx)
        chain = read_recipe(ctx.recipes / self.chain)
        full = [self.vae_chain(ctx, seed) for seed in range(ctx.seeds)]
        recipe = Recipe(self.chain, methods=VAE_METHODS)
        rows += self.rows([r for r, _ in full], recipe, [s for _, s in full])
        for name in chain.get("ablations") or []:
            if name not in ABLATIONS:
                raise ValueError(f"{self.chain}: unknown ablation {name!r}; known: {sorted(ABLATIONS)}")
            stage1, two_args, common, stage3 = ABLATIONS[name]
            done = [self.vae_chain(ctx, seed, stage1, two_args, common, stage3) for seed in range(ctx.seeds)]
            rows += self.rows([r for r, _ in done], Recipe(self.chain, methods=("amodal_vae",), label=name),
                              [s for _, s in done])  # fmt: skip
        return rows

    def image_size(self, run: TrainedRun) -> int:
        return int(run.datamodule.hparams.get("crop_size", 64))


TASK = AmodalMaskTask()
__all__ = ["TASK", "AmodalMaskTask"]
