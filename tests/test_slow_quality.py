"""Slow checks (``make test-slow``; ``make test`` leaves them out): each network trained for a minute or
two on the CPU, through its bench recipe at a reduced budget, must beat its own starting point or its
strongest classical rival on held-out test scenes by a margin:

* networks that start from a classical fill (f_content from the held-out blend, PCNet-C from Telea's)
  against that fill: an untrained one reproduces it exactly, so only a learned correction passes;
* the others against the strongest classical method of their task (f_shape against the better of raw
  and convex, f_comp against Poisson blending, PCNet-M against the convex ordering, Amodal-VAE against
  the raw mask, joint removal against the segmentation mask through the same inpainters).

Each check also runs with zero training steps, where it must fail: a check an untrained network passes
guards nothing. Not a benchmark (``make bench`` has the figures, ``docs/results.md`` the tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from amodal_compose.bench.runner import BenchContext, find_recipes, save_run, train_and_test

pytestmark = pytest.mark.slow

#: tiny data: 32 px scenes and crops (a step costs a quarter of the recipe's 64 px one), in the
#: procedural world the margins were set in (the bench's photo-world rows are in docs/results.md)
SMALL = ["--data.init_args.image_size", "32", "--data.init_args.crop_size", "32",
         "--data.init_args.train_scenes", "400", "--data.init_args.val_scenes", "10",
         "--data.init_args.test_scenes", "80", "--trainer.val_check_interval", "100000",
         "--data.init_args.texture", "procedural"]  # fmt: skip

#: known not to learn over its prefill at this budget on the procedural world (docs/results.md): the
#: check is kept, and reported as an expected failure until it does
NO_GAIN = pytest.mark.xfail(strict=True, raises=AssertionError, reason="learns no correction over its classical "
                             "prefill yet; see docs/results.md (pcnet_c)")  # fmt: skip


@dataclass(frozen=True)
class Check:
    """A recipe trained ``steps`` steps; ``learned`` must beat the best of ``rivals`` by ``margin``."""

    recipe: str
    steps: int
    learned: str
    rivals: tuple[str, ...]
    metric: str
    margin: float
    overrides: tuple[str, ...] = field(default=())


CHECKS = {
    "f_shape": Check("amodal_mask", 1000, "f_shape", ("raw", "convex"), "miou_full", 0.005),
    "f_comp": Check("composition", 800, "f_comp", ("poisson",), "psnr/all", 0.5,
                    ("--model.init_args.lambda_mask_switch_step", "400")),
    "f_content (held-out prior)": Check("content_completion", 2000, "f_content", ("held-out blend",), "psnr/all", 0.1,
                                        ("--model.init_args.critic.init_args.image_size", "32")),
    # at the recipe's 64 px (32 px masks are too small to order; convex, at its best, then wins), eq. 3
    # alone (one view, no context passes): the check is on learning, and it evaluates fast
    "pcnet_m": Check("pcnet_m", 1500, "pcnet_m", ("convex",), "pair_accuracy", 0.02,
                     ("--data.init_args.image_size", "64", "--data.init_args.crop_size", "64",
                      "--model.init_args.mirror", "false", "--model.init_args.scales", "[1.0]",
                      "--model.init_args.context", "0")),
    "pcnet_c (Telea prior)": Check("pcnet_c", 1200, "pcnet_c", ("telea",), "psnr/all", 0.1),
    "amodal_vae": Check("amodal_vae_stage2", 800, "amodal_vae", ("raw",), "miou_full", 0.005,
                        ("--model.init_args.train_decoder", "true", "--data.init_args.bank_size", "200")),
}  # fmt: skip


def scores(tmp_path, check: Check, steps: int) -> tuple[float, float, dict]:
    """``(learned, best rival, all test metrics)`` after ``steps`` training steps."""
    ctx = BenchContext(seeds=1, runs=tmp_path, log=lambda m: None)
    overrides = [*SMALL, "--trainer.max_steps", str(steps), *check.overrides]
    run = train_and_test(check.recipe, find_recipes() / f"{check.recipe}.yaml", seed=0, ctx=ctx, overrides=overrides)
    test = run.test[""]
    rival = max(test[f"test/{check.metric}/{r}"] for r in check.rivals)
    return test[f"test/{check.metric}/{check.learned}"], rival, test


def removal_scores(tmp_path, steps: int) -> tuple[float, float, dict]:
    """Joint removal (no MEL) against the segmentation mask through its own inpainters, PSNR on the
    whole test set, after pretraining the segmenter and the inpainters and ``steps`` joint steps, at the
    bench recipes' 64 px and stage budgets (at 32 px and shorter stages the gain stays within noise)."""
    ctx = BenchContext(seeds=1, runs=tmp_path, log=lambda m: None)
    small = [*SMALL[4:], "--data.init_args.image_size", "64"]
    init: list[str] = []
    for stage, n in (("removal_segmentation", 400), ("removal_inpainters", 400)):
        run = train_and_test(stage, find_recipes() / f"{stage}.yaml", 0, ctx, overrides=[*small, "--trainer.max_steps",
                             str(n), *init], test=False)  # fmt: skip
        init = ["--model.init_args.init_from", f"[{save_run(run, tmp_path / f'{stage}.ckpt')}]"]
    run = train_and_test("removal_joint", find_recipes() / "removal_joint.yaml", 0, ctx,
                         overrides=[*small, "--trainer.max_steps", str(steps), *init])  # fmt: skip
    test = run.test[""]
    return test["test/psnr/all/joint"], test["test/psnr/all/inpainter, segmentation mask"], test


PARAMS = [pytest.param(name, marks=NO_GAIN if name == "pcnet_c (Telea prior)" else ()) for name in CHECKS]


@pytest.mark.parametrize("name", PARAMS)
def test_training_beats_its_start_or_strongest_rival(tmp_path, name):
    check = CHECKS[name]
    learned, rival, test = scores(tmp_path, check, check.steps)
    assert learned > rival + check.margin, {k: round(v, 3) for k, v in test.items()}


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_check_fails_without_training(tmp_path, name):
    check = CHECKS[name]
    learned, rival, test = scores(tmp_path, check, 0)
    assert not learned > rival + check.margin, {k: round(v, 3) for k, v in test.items()}


def test_joint_removal_beats_the_segmentation_mask(tmp_path):
    learned, rival, test = removal_scores(tmp_path, 320)
    assert learned > rival + 0.1, {k: round(v, 3) for k, v in test.items()}


def test_the_removal_check_fails_without_joint_training(tmp_path):
    learned, rival, test = removal_scores(tmp_path, 0)
    assert not learned > rival + 0.1, {k: round(v, 3) for k, v in test.items()}
