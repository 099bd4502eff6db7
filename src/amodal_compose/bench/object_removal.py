"""Task ``object_removal``: inpainting-driven mask optimisation (Shimosato & Ukita). For each seed the
three stages are trained in turn, each from the previous one's weights: the segmentation network,
the three inpainters on ground-truth masks, then two joint trainings from the same pretraining,
without and with the mask expansion loss (MEL). Rows (PSNR / SSIM per mask-ratio bin, on the same
copy-paste test items):

* the paper's method, ``joint+MEL`` (eq. 10 with eq. 9), and its ablation ``joint`` (no MEL);
* the natural baseline: the pretrained segmentation mask through the pretrained inpainters (the
  inpainters stage, scored on test: ``"<row> (pretrained inpainters)"``), and the gain of each joint
  system over it;
* the segmentation mask through each joint system's own fine-tuned inpainters
  (``"inpainter, segmentation mask (joint+MEL)"``): what the mask alone gained;
* the inpainter with the ground-truth mask, dilated by 2 / 4 / 8 px and eroded by 2 px (the paper's
  Table I), and Telea with the segmentation mask and with the true mask; the pretrained image
  inpainter with the true mask reports its gain over Telea on that mask.

Recipe: ``lightning_configs/bench/object_removal.yaml`` (the stage recipes it chains)."""

from __future__ import annotations

from ..systems.removal import TELEA, TELEA_GT
from .runner import BenchContext, LearnedTask, Recipe, gain_rows, order_rows, read_recipe, save_run

PRETRAINED = "pretrained inpainters"
NATURAL = f"inpainter, segmentation mask ({PRETRAINED})"
TRUE_MASK = f"inpainter, gt mask ({PRETRAINED})"


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
        pretrained = []
        for seed in range(ctx.seeds):
            folder = ctx.runs / self.name / f"seed{seed}"
            seg = ctx.trained(ctx.recipes / chain["segmentation"], seed, test=False)  # no row reports it
            seg_ckpt = save_run(seg, folder / "segmentation.ckpt")
            init = ["--model.init_args.init_from", f"[{seg_ckpt}]"]
            pretrained.append(ctx.trained(ctx.recipes / chain["inpainters"], seed, extra=init))
            inp_ckpt = save_run(pretrained[-1], folder / "inpainters.ckpt")
            start = ["--model.init_args.init_from", f"[{inp_ckpt}]"]
            for name in chain["joint"]:
                joint_runs[name].append(ctx.trained(ctx.recipes / name, seed, extra=start))
        owners = []
        for i, (name, runs) in enumerate(joint_runs.items()):
            own = runs[0].system.methods[0]
            owners.append(own)
            for row in self.rows(runs, Recipe(name)):
                if i > 0 and not row["method"].startswith(own):
                    row["method"] = f"{row['method']} ({own})"
                rows.append(row)
        recipe = Recipe(chain["inpainters"], label=PRETRAINED, drop=(TELEA, TELEA_GT))  # the joint runs score them
        rows += [r for r in self.rows(pretrained, recipe) if r["split"] == "test"]
        for own in owners[::-1]:
            rows += gain_rows(rows, own, NATURAL)
        rows += gain_rows(rows, TRUE_MASK, TELEA_GT)  # the image inpainter against the classical fill
        return order_rows(rows)


TASK = RemovalTask()
