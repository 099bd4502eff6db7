"""Task ``object_removal``: inpainting-driven mask optimisation (Shimosato & Ukita). For each seed the
three stages are trained in turn, each from the previous one's weights: the segmentation network,
the three inpainters on ground-truth masks, then two joint trainings from the same pretraining,
without and with the mask expansion loss (MEL). The joint systems' test rows (PSNR / SSIM per mask-ratio
bin, on the same copy-paste items) compare the inpainter with the ground-truth mask, the mask dilated by
2 / 4 / 8 px and eroded by 2 px (the paper's Table I), the pretrained segmentation mask, the jointly
trained mask, and Telea with the segmentation mask. Recipe: ``lightning_configs/bench/object_removal.yaml``
(the stage recipes it chains).

Each joint system fine-tunes its own inpainters, so a baseline row of the second and later joint
recipes (usually only ``inpainter, segmentation mask``: the pretrained mask through that system's
inpainters, the comparison that isolates what its mask gained) is reported as ``"<row> (<system>)"``,
e.g. ``"inpainter, segmentation mask (joint+MEL)"``; the first joint recipe's rows keep their names."""

from __future__ import annotations

from .runner import BenchContext, LearnedTask, Recipe, read_recipe, save_run


class RemovalTask(LearnedTask):
    def __init__(self) -> None:
        super().__init__("object_removal", "object_removal.yaml", aliases=("removal",))

    @property
    def recipe_files(self) -> list[str]:
        return ["object_removal.yaml"]

    def run(self, ctx: BenchContext) -> list[dict]:
        chain = read_recipe(ctx.recipes / self.recipe)["stages"]
        rows = []
        joint_runs: dict[str, list] = {name: [] for name in chain["joint"]}
        for seed in range(ctx.seeds):
            folder = ctx.runs / self.name / f"seed{seed}"
            seg = ctx.trained(ctx.recipes / chain["segmentation"], seed, test=False)  # no row reports it
            seg_ckpt = save_run(seg, folder / "segmentation.ckpt")
            init = ["--model.init_args.init_from", f"[{seg_ckpt}]"]
            inp = ctx.trained(ctx.recipes / chain["inpainters"], seed, extra=init, test=False)
            inp_ckpt = save_run(inp, folder / "inpainters.ckpt")
            start = ["--model.init_args.init_from", f"[{inp_ckpt}]"]
            for name in chain["joint"]:
                joint_runs[name].append(ctx.trained(ctx.recipes / name, seed, extra=start))
        for i, (name, runs) in enumerate(joint_runs.items()):
            own = runs[0].system.methods[0]
            for row in self.rows(runs, Recipe(name)):
                if i > 0 and not row["method"].startswith(own):
                    row["method"] = f"{row['method']} ({own})"
                rows.append(row)
        return rows


TASK = RemovalTask()
