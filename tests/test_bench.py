"""The bench: recipes trained through the users' classes, test scored once per seed on items that do
not depend on the seed, variants, aggregation and the report."""

import json
import statistics
from pathlib import Path

import pytest
import torch

from amodal_compose.bench import ALIASES, TASKS, resolve_tasks, run_bench
from amodal_compose.bench.content_completion import PriorTask
from amodal_compose.bench.runner import (
    BenchContext,
    find_recipes,
    make_row,
    markdown,
    train_and_test,
    write_report,
)
from amodal_compose.metrics import MethodMetrics, mask_metrics
from amodal_compose.systems.pcnet import ORDERING_METHODS

CONFIGS = Path(__file__).resolve().parents[1] / "lightning_configs"
TINY = ["--config", str(CONFIGS / "debug" / "tiny.yaml"), "--trainer.max_steps", "4",
        "--trainer.val_check_interval", "2"]  # fmt: skip
TINY_CONTENT = ["--config", str(CONFIGS / "debug" / "tiny_content.yaml"), "--trainer.max_steps", "4",
                "--trainer.val_check_interval", "2"]  # fmt: skip
TINY_DATA = ("--config", str(CONFIGS / "debug" / "tiny_data.yaml"))
ROW_KEYS = {"task", "method", "metric", "value", "std", "values", "seeds", "split", "steps", "image_size", "recipe"}


def test_every_task_has_a_recipe_and_the_aliases_resolve():
    recipes = find_recipes()
    for task in TASKS.values():
        assert (recipes / task.recipe).is_file(), task.recipe
    assert resolve_tasks("shape,compose") == ["amodal_mask", "composition"]
    assert set(ALIASES.values()) <= set(TASKS)
    with pytest.raises(ValueError, match="unknown bench task"):
        resolve_tasks("shapes")


def test_make_row_aggregates_seeds():
    row = make_row("t", "m", "psnr", [20.0, 22.0, 24.0])
    assert row["value"] == 22.0 and row["std"] == pytest.approx(statistics.stdev([20, 22, 24]), abs=1e-4)
    assert row["seeds"] == 3 and row["values"] == [20.0, 22.0, 24.0]
    single = make_row("t", "m", "psnr", [20.0])
    assert single["std"] == 0.0
    assert make_row("t", "m", "psnr", [float("nan")])["value"] is None
    md = markdown([row, single])
    assert "22.0000 ± 2.0000" in md and "| m | psnr | 20.0000 |" in md
    assert md.count('<a id="t"></a>') == 1  # one anchor per task, for links to results.md#t


def test_resume_reuses_a_finished_training_only_under_its_fingerprint(tmp_path):
    """``bench --resume``: a second request for the same recipe, seed and arguments loads the stored
    weights (no training) and scores them afresh; another seed or argument trains."""
    logs: list[str] = []
    ctx = BenchContext(runs=tmp_path, log=logs.append, resume=True)
    recipe = find_recipes() / "amodal_mask.yaml"
    first = train_and_test("amodal_mask", recipe, 0, ctx, overrides=TINY)
    assert not [m for m in logs if "reusing" in m] and list((tmp_path / "amodal_mask" / "seed0").glob("trained-*.pt"))
    again = train_and_test("amodal_mask", recipe, 0, ctx, overrides=TINY)
    assert len([m for m in logs if "reusing" in m]) == 1
    assert (again.steps, again.train_seconds, again.curve) == (first.steps, first.train_seconds, first.curve)
    for a, b in zip(first.system.state_dict().values(), again.system.state_dict().values()):
        assert torch.equal(a, b)
    assert again.test == first.test  # the same weights, scored again
    logs.clear()
    train_and_test("amodal_mask", recipe, 0, ctx, overrides=[*TINY, "--trainer.max_steps", "3"])
    train_and_test("amodal_mask", recipe, 0, BenchContext(runs=tmp_path, log=logs.append), overrides=TINY)
    assert not [m for m in logs if "reusing" in m]  # another argument, or no --resume: trained


def test_learned_task_scores_test_once_per_seed_on_the_same_items(tmp_path):
    """Two seeds of the shape recipe at a tiny budget: the baselines are scored on the same test items
    for both seeds (no spread), the trained network differs between seeds, and the reported rows are
    exactly the system's own evaluation of the test split."""
    ctx = BenchContext(seeds=2, runs=tmp_path, overrides=tuple(TINY), log=lambda m: None)
    recipe = find_recipes() / "amodal_mask.yaml"
    runs = [train_and_test("amodal_mask", recipe, seed, ctx, overrides=TINY) for seed in (0, 1)]
    assert all(r.steps == 4 for r in runs)
    w0, w1 = (next(r.system.net.parameters()).detach() for r in runs)
    assert not torch.equal(w0, w1)  # the seed reaches the initial weights and the training draws
    rows = TASKS["amodal_mask"].rows(runs)
    assert all(set(r) - {"test_seed"} == ROW_KEYS for r in rows)
    assert {r["test_seed"] for r in rows if r["split"] == "test"} == {1}  # the test draw is named
    by = {(r["method"], r["metric"]): r for r in rows}
    for base in ("raw", "convex"):
        assert by[(base, "miou_full")]["std"] == 0.0  # same items for every seed
        assert by[(base, "miou_full")]["steps"] == 0
    assert by[("samples", "count/all")]["value"] == len(runs[0].datamodule.test_dataset)
    assert {r["split"] for r in rows if r["metric"].startswith("curve/")} == {"val"}
    assert {r["steps"] for r in rows if r["metric"].startswith("curve/")} == {2, 4}
    # the test rows are the system's evaluation of the test items, recomputed here by hand
    run = runs[1]
    batch = torch.utils.data.default_collate(list(run.datamodule.test_dataset))
    run.system.eval()
    with torch.no_grad():
        preds, _ = run.system.evaluate(batch)
    scores = MethodMetrics(run.system.methods, mask_metrics)
    run.system.score(scores, preds, batch)
    expected = scores.compute()["miou_invisible/f_shape"]
    assert by[("f_shape", "miou_invisible")]["values"][1] == pytest.approx(float(expected), abs=1e-4)


def test_variants_rescore_the_same_weights_on_changed_test_items(tmp_path):
    rows = run_bench("compose", tmp_path / "reports", seeds=1, runs=tmp_path / "runs", overrides=tuple(TINY))
    by = {(r["method"], r["metric"]): r["value"] for r in rows}
    plain, none = by[("cut_and_paste", "psnr/all")], by[("cut_and_paste", "psnr/all [no colour shift]")]
    # without a colour change, the coarse cut's ring is the true background: cut-and-paste is nearly exact
    assert none > plain + 10
    from amodal_compose.bench.composition import OURS

    # the paper's compositor and ours with its additions, each a named row; the baselines once
    assert ("f_comp (paper)", "psnr/all [no colour shift]") in by and (OURS, "psnr/all") in by
    assert [r["method"] for r in rows if r["metric"] == "psnr/all"] == ["f_comp (paper)", OURS, "cut_and_paste",
                                                                         "poisson"]  # fmt: skip
    report = json.loads((tmp_path / "reports" / "bench.json").read_text())
    assert {r["task"] for r in report} == {"composition"}
    clock = {r["metric"]: r["value"] for r in report if r["method"] == "task"}
    assert clock["seconds"] > 0 and clock["cpu_seconds"] > 0  # training used this process's CPU
    assert clock["steal_share"] is None or 0 <= clock["steal_share"] <= 1


def test_content_task_runs_and_a_rerun_with_the_same_seed_repeats_it(tmp_path):
    kwargs = dict(seeds=1, runs=tmp_path / "runs", overrides=TINY_DATA)
    first = run_bench("content", tmp_path / "a", **kwargs)
    torch.rand(100)  # the global RNG moved on, as by an earlier task
    second = run_bench("content", tmp_path / "b", **kwargs)
    methods = {r["method"] for r in first}
    assert {"f_content (paper)", "f_content (held-out prior)", "held-out blend", "telea", "mean_fill"} <= methods
    gain = {r["metric"]: r for r in first if r["method"] == "gain of f_content (held-out prior) over held-out blend"}
    by = {(r["method"], r["metric"]): r["value"] for r in first}
    assert gain["psnr/all"]["value"] == pytest.approx(
        by[("f_content (held-out prior)", "psnr/all")] - by[("held-out blend", "psnr/all")], abs=1e-3)

    def scores(rows):
        # not the time rows (train_seconds, and the task's seconds / cpu_seconds / steal_share)
        return [(r["method"], r["metric"], r["value"]) for r in rows
                if r["method"] != "task" and "seconds" not in r["metric"]]  # fmt: skip

    assert scores(first) == scores(second)
    pcnet_c = {r["method"] for r in run_bench("pcnetc", tmp_path / "c", **kwargs)}
    assert {"pcnet_c (paper)", "pcnet_c (Telea prior)", "gain of pcnet_c (Telea prior) over telea"} <= pcnet_c
    real = run_bench("pcnetc_real", tmp_path / "d", **kwargs)  # no paper's row: its one recipe scores Telea
    row = "pcnet_c (Telea prior, trained on the world's occlusions)"
    assert {row, "telea", "mean_fill", f"gain of {row} over telea"} <= {r["method"] for r in real}
    assert "pcnet_c (paper)" not in {r["method"] for r in real}
    with pytest.raises(ValueError, match="paper=True"):  # a change to the paper's recipe needs its row
        PriorTask("x", "pcnet_c", "pcnet_c", "Telea prior", "telea", changes=(("novalid", "l1"),), paper=False)


def test_report_replaces_only_the_rerun_tasks(tmp_path):
    out = tmp_path / "reports"
    write_report([make_row("other", "m", "psnr", [1.0])], out)
    kwargs = dict(runs=tmp_path / "runs", overrides=TINY_DATA)
    run_bench("ordering", out, **kwargs)
    rows = json.loads((out / "bench.json").read_text())
    assert {r["task"] for r in rows} == {"other", "ordering"}
    acc = {r["method"]: r["value"] for r in rows if r["task"] == "ordering" and r["metric"] == "pair_accuracy"}
    assert len(acc) == len(ORDERING_METHODS) and "pcnet_m (eq. 3)" in acc
    assert all(0.0 <= v <= 1.0 for v in acc.values())
    run_bench("ordering", out, **kwargs)
    again = json.loads((out / "bench.json").read_text())
    assert [r for r in again if r["task"] == "other"] == [r for r in rows if r["task"] == "other"]
    assert len(again) == len(rows)
    assert {r.get("world") for r in again if r["task"] == "ordering"} == {"photo"}  # the recipes' world
    assert "## ordering (photo world)" in (out / "bench.md").read_text()
    # another world is a table of its own: the photo world's rows stay
    run_bench("ordering", out, **{**kwargs, "overrides": (*TINY_DATA, "--data.init_args.texture", "procedural")})
    both = json.loads((out / "bench.json").read_text())
    assert {r.get("world") for r in both if r["task"] == "ordering"} == {"photo", "procedural"}
    assert len(both) == len(rows) + len([r for r in rows if r["task"] == "ordering"])
    assert "## ordering (procedural world)" in (out / "bench.md").read_text()


def test_data_task_measures_the_generator_and_each_loader(tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    dm = "{train_scenes: 6, val_scenes: 2, test_scenes: 2, image_size: 32, crop_size: 32, batch_size: 4}"
    (recipes / "data.yaml").write_text(
        "scenes: {length: 5, image_size: 32}\n"
        "datamodules:\n"
        f"  shape: {{class_path: amodal_compose.data.datamodules.ShapeDataModule, init_args: {dm}}}\n"
    )
    fixtures = Path(__file__).parent / "fixtures"
    with (recipes / "data.yaml").open("a") as f:  # the real formats at 256 px: the KINS fixture, repeated
        f.write(f"real: {{root: {fixtures}, copies: 3, items: 4, batch_size: 32, step_ms: 100,\n"
                "  sources: {kins: [kins/instances_val_fixture.json, kins/testing/image_2]},\n"
                "  datamodules: {pcnet_m: {class_path: amodal_compose.data.datamodules.PCNetMDataModule,\n"
                "                          init_args: {crop_size: 256}}}}\n")
    rows = run_bench("data", tmp_path / "out", recipes=recipes)
    by = {(r["method"], r["metric"]): r["value"] for r in rows}
    assert by[("synthetic_generator", "scenes_per_s")] > 0 and by[("shape", "train_items_per_s")] > 0
    assert by[("pcnet_m, kins", "cpu_ms_per_item")] > 0 and by[("pcnet_m, kins", "train_items_per_s")] > 0
    assert by[("pcnet_m, kins", "workers_for_100ms_step_at_batch_32")] >= 1
    assert {r["image_size"] for r in rows if r["method"] == "pcnet_m, kins"} == {256}


def test_chained_tasks_train_each_stage_from_the_previous_one(tmp_path):
    """amodal_mask: f_shape and PCNet-M's amodal rows; amodal_vae(_ablations): the Amodal-VAE chain (with
    its Table 2 ablations), on the same instances; object_removal: segmentation -> inpainters -> two joint trainings.
    Tiny budgets."""
    kwargs = dict(seeds=1, runs=tmp_path / "runs", overrides=TINY_DATA)
    rows = run_bench("amodal_mask", tmp_path / "out", **kwargs)
    by = {(r["method"], r["metric"]): r for r in rows}
    for method in ("f_shape", "pcnet_m (grounded)", "pcnet_m (grounded, paper)", "raw", "convex", "convex_r"):
        assert 0.0 <= by[(method, "miou_invisible")]["value"] <= 1.0, method
    # every row on the same pixels: one instance count for the whole table
    count = by[("samples", "count/all")]["value"]
    assert {r["value"] for r in rows if r["metric"] == "count/all"} == {count}
    assert by[("f_shape", "miou_full")]["steps"] > 0 and by[("convex", "miou_full")]["steps"] == 0
    plain = run_bench("vae", tmp_path / "out", **kwargs)
    assert not [r for r in plain if "without" in r["method"]]
    # resumed: the full chain's stored trainings are reused, without a Trainer to give the bank
    vae = run_bench("vae_ablations", tmp_path / "out", resume=True, **kwargs)
    by_vae = {(r["method"], r["metric"]): r for r in vae}
    neighbour = {r["metric"]: r["value"] for r in plain if r["method"] == "nearest_neighbour" and r["split"] == "test"}
    assert neighbour == {m: by_vae[("nearest_neighbour", m)]["value"] for m in neighbour}
    assert neighbour["miou_full"] != by_vae[("raw", "miou_full")]["value"]  # the bank's masks, not the visible one
    for method in ("amodal_vae", "amodal_vae (best of N)", "nearest_neighbour", "amodal_vae (without stage 3)",
                   "amodal_vae (without stage 1)", "amodal_vae (without class conditioning)", "convex"):  # fmt: skip
        assert 0.0 <= by_vae[(method, "miou_invisible")]["value"] <= 1.0, method
    assert "amodal_vae.yaml" in by_vae[("amodal_vae", "miou_full")]["recipe"]
    # the same instances and pixels as amodal_mask's table: its classical rows agree to the digit
    assert {r["value"] for r in vae if r["metric"] == "count/all"} == {count}
    assert by_vae[("convex", "miou_invisible")]["value"] == by[("convex", "miou_invisible")]["value"]
    # the full chain's time is its three stages'; without stage 3 it is the same first two
    assert by_vae[("amodal_vae", "train_seconds")]["value"] > by_vae[("amodal_vae (without stage 3)",
                                                                      "train_seconds")]["value"]  # fmt: skip
    # a chain's rows count the steps of all its stages
    full_steps = by_vae[("amodal_vae", "miou_full")]["steps"]
    assert full_steps == by_vae[("amodal_vae", "train_seconds")]["steps"]
    assert full_steps > by_vae[("amodal_vae (without stage 3)", "miou_full")]["steps"] > 0
    for stage in ("stage1", "stage2"):
        assert (tmp_path / "runs" / "amodal_vae" / "seed0" / "default" / f"{stage}.ckpt").is_file()
    removal = run_bench("object_removal", tmp_path / "out", **kwargs)
    methods = {r["method"] for r in removal}
    assert {"joint", "joint+MEL", "inpainter, gt mask", "telea, segmentation mask"} <= methods
    # the natural baseline: the pretrained segmentation mask through the pretrained inpainters
    natural = "inpainter, segmentation mask (pretrained inpainters)"
    assert {natural, f"gain of joint+MEL over {natural}", f"gain of joint over {natural}"} <= methods
    # the image inpainter with the true mask against Telea on that mask, once (the joint runs score Telea)
    true_mask = "inpainter, gt mask (pretrained inpainters)"
    assert {true_mask, "telea, gt mask", f"gain of {true_mask} over telea, gt mask"} <= methods
    assert len([r for r in removal if r["method"] == "telea, gt mask" and r["metric"] == "psnr/all"]) == 1


def test_deocclusion_speed_times_both_ways(tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "pcnet_m.yaml").write_text((find_recipes() / "pcnet_m.yaml").read_text())
    recipe = "image_size: 64\ninstances: [4]\nrepeats: 1\nnetworks: {bench: pcnet_m.yaml}\nmax_batch: [2, 256]\n"
    (recipes / "deocclusion_speed.yaml").write_text(recipe)
    rows = run_bench("deocclusion_speed", tmp_path / "out", recipes=recipes)
    by = {(r["method"], r["metric"]): r["value"] for r in rows}
    for method in ("2 per forward", "256 per forward", "one pair per call"):
        assert by[(f"bench network, {method}", "order_seconds/4_instances")] > 0
    assert [m for m, _ in by if m.startswith("bench network, default (")]
    assert by[("bench network", "parameters_millions")] > 0
    assert by[("scene", "neighbour_pairs/4_instances")] >= 1


def test_real_photos_task_composes_at_full_resolution_and_shares_the_compositor(tmp_path):
    """``make bench BENCH=real`` at a tiny budget: the compositor trained once for both tasks, every method
    scored on the photos' objects, cut-and-paste exact where nothing needs changing, and a figure."""
    from amodal_compose.bench.real_photos import load_photos

    photos = load_photos()
    assert len(photos) >= 4 and all(m.sum() > 500 for p in photos for m in p.masks.values())
    assert all(p.image.shape[-1] >= 450 and "CC0" in p.licence or "public domain" in p.licence for p in photos)
    rows = run_bench("compose,real", tmp_path / "reports", seeds=1, runs=tmp_path / "runs", overrides=tuple(TINY))
    by = {(r["task"], r["method"], r["metric"]): r["value"] for r in rows}
    methods = {m for (t, m, _) in by if t == "real_photos"}
    assert {"cut_and_paste", "poisson", "f_comp, full-resolution edits",
            "f_comp, network RGBA pasted (AMICO Alg. 1)"} <= methods  # fmt: skip
    assert by[("real_photos", "cut_and_paste", "psnr/object/unchanged")] == 100.0  # exact: the right answer
    assert by[("real_photos", "photos", "objects")] == sum(len(p.masks) for p in photos)
    assert by[("real_photos", "f_comp, full-resolution edits", "seconds_per_compose")] > 0
    assert (tmp_path / "reports" / "figures" / "real_photos.png").is_file()
    trained = [p for p in (tmp_path / "runs").rglob("*") if p.is_dir() and p.name.startswith("seed")]
    assert sorted(p.parent.name for p in trained) == ["composition", "composition_paper"]  # ours served both


def test_publish_merges_a_report_into_the_results_home(tmp_path):
    from amodal_compose.bench.runner import make_row, publish, write_report

    write_report([make_row("a", "m", "x", [1.0]), make_row("b", "m", "x", [2.0])], tmp_path / "r1")
    publish(tmp_path / "r1", tmp_path / "docs")
    write_report([make_row("b", "m", "x", [3.0])], tmp_path / "r2")
    md = publish(tmp_path / "r2", tmp_path / "docs")
    rows = json.loads((tmp_path / "docs" / "results.json").read_text())
    assert [(r["task"], r["value"]) for r in rows] == [("a", 1.0), ("b", 3.0)]  # b's rows replaced, a's kept
    photo = {**make_row("b", "m", "x", [4.0]), "world": "photo"}
    write_report([photo], tmp_path / "r3")
    md = publish(tmp_path / "r3", tmp_path / "docs")
    rows = json.loads((tmp_path / "docs" / "results.json").read_text())
    assert [(r["task"], r.get("world"), r["value"]) for r in rows] == [("a", None, 1.0), ("b", None, 3.0),
                                                                     ("b", "photo", 4.0)]  # fmt: skip
    assert "## b (photo world)" in md.read_text() and "photo textures" in md.read_text()
    assert md.read_text().startswith("# Results") and "make results" in md.read_text()
    with pytest.raises(FileNotFoundError, match="make bench"):
        publish(tmp_path / "none", tmp_path / "docs")


def test_targets_are_judged_on_the_published_rows(tmp_path):
    from amodal_compose.bench.runner import make_row, publish, write_report
    from amodal_compose.bench.targets import judge, read_targets

    val = {**make_row("t", "net", "psnr", [30.0], split="val"), "world": "photo"}  # never judged on val
    rows = [val, *({**make_row("t", m, "psnr", [v]), "world": "photo"} for m, v in (("net", 21.0), ("telea", 22.0)))]
    write_report(rows, tmp_path / "r")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "targets.yaml").write_text(
        "- {target: beat Telea, task: t, world: photo, method: net, metric: psnr, above: {method: telea},"
        " cause: too few steps}\n"
        "- {target: reach 20 dB, task: t, world: photo, method: net, metric: psnr, at_least: 20, cause: none}\n"
        "- {target: a later task, task: u, method: net, metric: psnr, at_least: 1}\n"
    )  # fmt: skip
    targets = read_targets(docs / "targets.yaml")
    assert [judge(t, rows)["met"] for t in targets] == [False, True, None]
    assert judge(targets[0], rows)["bar"] == 22.0
    text = publish(tmp_path / "r", docs).read_text()
    table = text[text.index("## Targets") : text.index('<a id="t">')]  # the targets come before the tables
    assert "| beat Telea |" in table and "| no | too few steps |" in table
    assert "| reach 20 dB |" in table and "| yes |  |" in table  # a met target shows no cause
    assert "| not yet scored |" in table
    for bad, error in (("- {task: t, method: net, metric: psnr, at_least: 1}", "lacks"),
                       ("- {target: x, task: t, method: net, metric: psnr}", "one of at_least or above")):  # fmt: skip
        (tmp_path / "bad.yaml").write_text(bad)
        with pytest.raises(ValueError, match=error):
            read_targets(tmp_path / "bad.yaml")


def test_bench_report_command_publishes_with_the_machine_commit_and_test_seed(tmp_path):
    import subprocess
    import sys

    row = make_row("a", "m (paper)", "psnr", [1.0, 2.0, 3.0])
    row.update(test_seed=2, machine="some CPU, 2 cores", commit="abc1234")
    write_report([row], tmp_path / "reports")
    out = subprocess.run([sys.executable, "-m", "amodal_compose.cli", "bench", "report", "--out",
                          str(tmp_path / "reports"), "--docs", str(tmp_path / "docs")],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "docs" / "results.md").read_text()
    assert "test draw `test_seed` 2; machine some CPU, 2 cores; commit abc1234" in md
    assert "| m (paper) | psnr | 2.0000 ± 1.0000 |" in md
