"""Slow checks (``make test-slow``; ``make test`` leaves them out): each network trained for about a
minute on the CPU, through its bench recipe at a reduced budget, must beat its weakest baseline on the
held-out test scenes. Not a benchmark (``make bench`` has the figures), a guard against a network that
does not learn at all. (The content recipes start from classical fills, PCNet-C from Telea's
(``prefill: telea``) and f_content from the held-out blend of Telea's and the offsets copy
(``prefill: telea+offsets``, ``holdout_ring``), so for them this guards against a correction that makes
the fill worse than a mean fill, not against a network that learns nothing; their gain over Telea is a
bench figure.)"""

import pytest

from amodal_compose.bench.runner import BenchContext, find_recipes, train_and_test

pytestmark = pytest.mark.slow

#: tiny data: 32 px scenes and crops (a step costs a quarter of the recipe's 64 px one)
SMALL = ["--data.init_args.image_size", "32", "--data.init_args.crop_size", "32",
         "--data.init_args.train_scenes", "400", "--data.init_args.val_scenes", "10",
         "--data.init_args.test_scenes", "80", "--trainer.val_check_interval", "100000"]  # fmt: skip


@pytest.mark.parametrize("task,steps,learned,baselines,metric", [
    ("amodal_mask", 1000, "f_shape", ("raw", "convex"), "miou_full"),
    ("composition", 800, "f_comp", ("cut_and_paste", "poisson"), "psnr/all"),
    ("content_completion", 2000, "f_content", ("telea", "mean_fill"), "psnr/all"),
    ("pcnet_m", 800, "pcnet_m", ("area (larger in front)", "area (smaller in front)", "y-axis"), "pair_accuracy"),
    ("pcnet_c", 1200, "pcnet_c", ("telea", "mean_fill"), "psnr/all"),
    ("amodal_vae_stage2", 800, "amodal_vae", ("raw",), "miou_full"),
])  # fmt: skip
def test_a_minute_of_training_beats_the_weakest_baseline(tmp_path, task, steps, learned, baselines, metric):
    ctx = BenchContext(seeds=1, runs=tmp_path, log=lambda m: None)
    overrides = [*SMALL, "--trainer.max_steps", str(steps)]
    if task == "composition":
        overrides += ["--model.init_args.lambda_mask_switch_step", str(steps // 2)]
    if task == "content_completion":
        overrides += ["--model.init_args.critic.init_args.image_size", "32"]
    if task == "amodal_vae_stage2":  # Table 2's "without full-mask training": stage 2 from scratch
        overrides += ["--model.init_args.train_decoder", "true", "--data.init_args.bank_size", "200"]
    run = train_and_test(task, find_recipes() / f"{task}.yaml", seed=0, ctx=ctx, overrides=overrides)
    test = run.test[""]
    weakest = min(test[f"test/{metric}/{b}"] for b in baselines)
    assert test[f"test/{metric}/{learned}"] > weakest, {k: round(v, 3) for k, v in test.items()}
