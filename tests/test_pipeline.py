"""The pipeline: components from checkpoints (checked as untrusted input), AMICO Algorithm 1 on user
inputs, batching, saving, batch inference with Trainer.predict on two processes, and the command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from amodal_compose import ComposeInstance, Pipeline
from amodal_compose.cli import main
from amodal_compose.data.datamodules import CompositionDataModule, ContentDataModule, ShapeDataModule
from amodal_compose.data.datasets import SyntheticScenes
from amodal_compose.io import read_image, read_mask, read_rgba, write_png
from amodal_compose.nets import AmodalShapeNet, CompositionNet, ContentGenerator, Critic
from amodal_compose.pipeline import CheckpointError, MissingComponentError
from amodal_compose.pipeline.compose import place_instance
from amodal_compose.pipeline.predict import read_jobs
from amodal_compose.systems import CompositionSystem, ContentSystem, ShapeSystem

TINY = dict(widths=(8, 16, 16), bottleneck=(16,))
DM = dict(image_size=32, crop_size=32, train_scenes=6, val_scenes=2, test_scenes=2, batch_size=4, num_workers=0)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """Three tiny systems fitted for two steps through their DataModules and saved as checkpoints."""
    folder = tmp_path_factory.mktemp("ckpts")
    made = {
        "shape": (ShapeSystem(AmodalShapeNet(**TINY)), ShapeDataModule(**DM)),
        "content": (ContentSystem(ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,)), Critic(3, (8, 16), 32)),
                    ContentDataModule(**DM)),
        "compositor": (CompositionSystem(CompositionNet(**TINY, color_head="affine")), CompositionDataModule(**DM)),
    }  # fmt: skip
    paths = {}
    for name, (system, dm) in made.items():
        pl.seed_everything(0, verbose=False)
        trainer = pl.Trainer(max_steps=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             default_root_dir=folder)  # fmt: skip
        trainer.fit(system, dm)
        paths[name] = folder / f"{name}.ckpt"
        trainer.save_checkpoint(paths[name])
    return paths


def _scene_job(n=2, size=64):
    scenes = SyntheticScenes(6, size, "test")
    bg = scenes[0].image
    instances = []
    for k in range(1, len(scenes)):
        s = scenes[k]
        for inst in s.instances:
            if inst.modal_mask.sum() > 30 and len(instances) < n:
                instances.append(ComposeInstance(s.image, inst.modal_mask, occluded=inst.is_occluded))
    return bg, instances


def test_any_subset_of_components_and_a_missing_one_is_named(ckpts):
    pipe = Pipeline.from_checkpoints(compositor=ckpts["compositor"])
    assert "compositor" in pipe and "shape" not in pipe
    assert pipe.input_sizes["compositor"] == 32  # the training crop, recorded in the checkpoint
    bg, instances = _scene_job()
    plain = [ComposeInstance(i.image, i.mask, occluded=False) for i in instances]
    assert pipe.compose(bg, plain).image.shape == bg.shape
    with pytest.raises(MissingComponentError, match=r"'shape' component .*shape=<checkpoint>"):
        pipe.compose(bg, [ComposeInstance(instances[0].image, instances[0].mask, occluded="auto")])
    with pytest.raises(TypeError, match="unknown pipeline components"):
        Pipeline.from_checkpoints(shap=ckpts["shape"])
    for system in pipe.components.values():
        assert not system.training and not any(p.requires_grad for p in system.parameters())


def test_checkpoints_are_untrusted_input(ckpts, tmp_path):
    good = ckpts["shape"]
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="shape: .*truncated or corrupt"):
        Pipeline.from_checkpoints(shape=truncated)
    with pytest.raises(CheckpointError, match="holds a CompositionSystem, expected a ShapeSystem"):
        Pipeline.from_checkpoints(shape=ckpts["compositor"])
    with pytest.raises(FileNotFoundError, match="shape: checkpoint not found"):
        Pipeline.from_checkpoints(shape=tmp_path / "nope.ckpt")

    def altered(change, name):
        ckpt = torch.load(good, weights_only=True)
        change(ckpt)
        path = tmp_path / name
        torch.save(ckpt, path)
        return path

    old = altered(lambda c: c["amodal_compose"].update(version="0.0.3"), "old.ckpt")
    with pytest.raises(CheckpointError, match="written by amodal_compose 0.0.3; this is"):
        Pipeline.from_checkpoints(shape=old)
    foreign = altered(lambda c: c["hyper_parameters"]["net"].update(class_path="evil.module.Net"), "foreign.ckpt")
    with pytest.raises(CheckpointError, match="names 'evil.module.Net'.*trusted=True"):
        Pipeline.from_checkpoints(shape=foreign)
    bare = altered(lambda c: c.pop("amodal_compose"), "bare.ckpt")
    with pytest.raises(CheckpointError, match="not written by amodal_compose"):
        Pipeline.from_checkpoints(shape=bare)
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {}, "payload": Path("/etc")}, pickled)  # an object, not weights
    with pytest.raises(CheckpointError, match="holds more than weights"):
        Pipeline.from_checkpoints(shape=pickled)


def test_compose_runs_algorithm_1_and_keeps_every_stage(ckpts):
    pipe = Pipeline.from_checkpoints(**ckpts)
    with torch.no_grad():  # a confident f_shape: two training steps leave its masks at chance, maybe empty
        pipe.components["shape"].net.unet.head[-1].bias.fill_(5.0)
    bg, instances = _scene_job(2)
    instances = [ComposeInstance(instances[0].image, instances[0].mask, occluded=True),
                 ComposeInstance(instances[1].image, instances[1].mask, occluded=False)]  # fmt: skip
    result = pipe.compose(bg, instances)
    assert len(result.stages) == 3 and torch.equal(result.stages[0], bg)
    assert torch.equal(result.stages[-1], result.image)
    first, second = result.layers
    assert first.occluded and not second.occluded
    assert first.amodal_mask is not None and bool((first.object_mask >= first.amodal_mask).all())
    assert torch.equal(first.completed * (1 - first.object_mask), torch.zeros_like(first.completed))
    # the visible pixels of an occluded object are kept at full resolution
    vis = first.shape_visible  # f_shape's visible mask (AMICO Algorithm 1: I ⊙ m_vis_hat)
    assert vis is not None and vis.sum() > 0
    placed = place_instance(0, instances[0], bg.shape[-2:], 0.5, 0).image
    torch.testing.assert_close(first.completed * vis, placed * vis)
    torch.testing.assert_close(second.completed, instances[1].image * second.object_mask)
    # pixels outside every composition window are the background's, exactly
    outside = torch.ones_like(bg[:1])
    for layer in result.layers:
        b = layer.box
        outside[:, max(b.y0, 0) : b.y0 + b.side, max(b.x0, 0) : b.x0 + b.side] = 0
    assert outside.sum() > 0 and torch.equal(result.image * outside, bg * outside)
    again = pipe.compose(bg, instances)
    assert torch.equal(again.image, result.image)  # deterministic


def test_batched_and_one_at_a_time_give_the_same_composite(ckpts):
    pipe = Pipeline.from_checkpoints(**ckpts)
    bg, instances = _scene_job(3)
    batched, single = pipe.compose(bg, instances), pipe.compose(bg, instances, batch=False)
    torch.testing.assert_close(batched.image, single.image, atol=1e-4, rtol=0)
    for a, b in zip(batched.stages, single.stages):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_user_inputs_any_size_placement_and_soft_masks(ckpts):
    pipe = Pipeline.from_checkpoints(**ckpts)
    bg = (np.random.default_rng(0).random((97, 131, 3)) * 255).astype(np.uint8)  # HWC uint8, odd size
    obj = np.zeros((40, 50, 3), np.uint8)
    obj[10:30, 15:35] = (200, 60, 30)
    soft = np.zeros((40, 50), np.float32)
    soft[10:30, 15:35] = 0.8
    soft[30:32, 15:35] = 0.3  # below the 0.5 threshold: not part of the object
    inst = ComposeInstance(Image.fromarray(obj), soft, position=(100, 40), scale=1.5, occluded=False)
    result = pipe.compose(bg, [inst])
    assert result.image.shape == (3, 97, 131)
    mask = result.layers[0].visible_mask[0]
    ys, xs = torch.nonzero(mask, as_tuple=True)
    assert abs(float(xs.float().mean()) - 100) <= 1 and abs(float(ys.float().mean()) - 40) <= 1
    # 20 x 20 scaled by 1.5 (a row or column may go either way at a tie of the bilinear resize); the 0.3
    # rows are left out (they would add 3 rows)
    assert 29 * 30 <= int(mask.sum()) <= 30 * 30
    grown = pipe.compose(bg, [inst], mask_dilation=2).layers[0].visible_mask
    assert grown.sum() > mask.sum()


def test_bad_inputs_give_clear_errors(ckpts):
    pipe = Pipeline.from_checkpoints(**ckpts)
    bg, (good, *_) = _scene_job(1)
    img, m = good.image, good.mask
    nan = img.clone()
    nan[0, 0, 0] = float("nan")
    cases = [
        (ComposeInstance(img, torch.zeros_like(m)), "instance 0: the mask is empty"),
        (ComposeInstance(img, m[..., :20]), r"instance 0: image .* and mask .* differ"),
        (ComposeInstance(nan, m), "instance 0 image: contains 1 NaN"),
        (ComposeInstance(img, m, position=(-500, -500)), "no part of its mask lands on the 64x64 background"),
        (ComposeInstance(img, m, scale=0), "scale must be > 0"),
    ]
    for inst, message in cases:
        with pytest.raises(ValueError, match=message):
            pipe.compose(bg, [inst])
    with pytest.raises(TypeError, match="an instance is"):
        pipe.compose(bg, ["not an instance"])


def _tiny_vae():
    from amodal_compose.nets.vae import AmodalVAE
    from amodal_compose.systems import AmodalVAESystem

    torch.manual_seed(0)
    vae = AmodalVAESystem(AmodalVAE(size=16, latent=4, widths=(8, 8), num_classes=8, embed=2), stage=2,
                          train_decoder=True)  # fmt: skip
    with torch.no_grad():  # untrained, but with an output that depends on the code: samples differ
        for p in vae.net.decoder.parameters():
            p.mul_(3)
    return vae


def test_compose_with_amodal_vae_hypotheses(ckpts, tmp_path):
    """shape_method="amodal_vae": N posterior masks, each completed by content, ranked; the composite
    uses the best; the same seed gives the same hypotheses; a pipeline round trip keeps the VAE."""
    pipe = Pipeline.from_checkpoints(**ckpts)
    pipe = Pipeline(amodal_vae=_tiny_vae(), **pipe.components)
    bg, instances = _scene_job(2)
    insts = [ComposeInstance(i.image, i.mask, occluded=True, category=2) for i in instances]
    result = pipe.compose(bg, insts, shape_method="amodal_vae", hypotheses=3, seed=5)
    for layer, inst in zip(result.layers, insts):
        assert len(layer.hypotheses) == 3
        scores = [h.score for h in layer.hypotheses]
        assert scores == sorted(scores, reverse=True)
        best = layer.hypotheses[0]
        assert torch.equal(layer.object_mask, best.amodal_mask) and torch.equal(layer.completed, best.completed)
        visible = layer.visible_mask
        for h in layer.hypotheses:
            assert torch.all(h.amodal_mask >= visible)  # each contains the visible mask ...
            torch.testing.assert_close(h.completed * visible, inst.image * visible)  # ... with its pixels kept
            assert torch.equal(h.completed * (1 - h.amodal_mask), torch.zeros_like(h.completed))
    assert len({tuple(h.amodal_mask.flatten().tolist()) for h in result.layers[0].hypotheses}) > 1
    again = pipe.compose(bg, insts, shape_method="amodal_vae", hypotheses=3, seed=5)
    assert torch.equal(again.image, result.image)
    mode = pipe.compose(bg, insts, shape_method="amodal_vae")  # one hypothesis: the posterior mode
    assert mode.layers[0].hypotheses == [] and mode.layers[0].amodal_mask is not None
    paths = result.save(tmp_path / "out")
    assert tmp_path / "out" / "layer_0_hypothesis_2_completed.png" in paths
    with pytest.raises(ValueError, match="needs shape_method='amodal_vae'"):
        pipe.compose(bg, insts, hypotheses=2)
    with pytest.raises(ValueError, match="shape_method must be"):
        pipe.compose(bg, insts, shape_method="vae")
    with pytest.raises(MissingComponentError, match="amodal_vae"):
        Pipeline.from_checkpoints(**ckpts).compose(bg, insts, shape_method="amodal_vae")
    pipe.save(tmp_path / "pipe")
    assert "amodal_vae" in Pipeline.from_dir(tmp_path / "pipe")


def test_save_and_from_dir_give_the_same_pipeline(ckpts, tmp_path):
    pipe = Pipeline.from_checkpoints(**ckpts)
    manifest = pipe.save(tmp_path / "pipe")
    assert json.loads(manifest.read_text())["components"].keys() == ckpts.keys()
    again = Pipeline.from_dir(tmp_path / "pipe")
    bg, instances = _scene_job(2)
    torch.testing.assert_close(again.compose(bg, instances).image, pipe.compose(bg, instances).image)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "compositor.ckpt").write_bytes(ckpts["compositor"].read_bytes())
    assert set(Pipeline.from_dir(plain).components) == {"compositor"}  # a folder of <component>.ckpt files
    with pytest.raises(FileNotFoundError, match="holds neither pipeline.json"):
        Pipeline.from_dir(tmp_path)


def _write_jobs(folder: Path, count: int, scene_tasks: bool = False) -> Path:
    """A manifest of ``count`` compose jobs, and with ``scene_tasks`` a deocclude and a remove job each."""
    bg, instances = _scene_job(2)
    write_png(folder / "bg.png", bg)
    lines = []
    for k, inst in enumerate(instances):
        write_png(folder / f"obj{k}.png", inst.image)
        write_png(folder / f"mask{k}.png", inst.mask)
    for j in range(count):
        k = j % len(instances)
        inst = {"image": f"obj{k}.png", "mask": f"mask{k}.png", "scale": 1.0 + 0.1 * j}
        lines.append(json.dumps({"id": f"job{j}", "background": "bg.png", "instances": [inst]}))
        if scene_tasks:
            scene_job = {"id": f"scene{j}", "task": "deocclude", "image": "bg.png", "masks": "scene_masks"}
            lines.append(json.dumps(scene_job))
            lines.append(json.dumps({"id": f"clean{j}", "task": "remove", "image": "bg.png", "mask": "mask0.png"}))
    if scene_tasks:
        scene = SyntheticScenes(6, 64, "test")[0]
        for k, inst in enumerate(scene.instances):
            write_png(folder / "scene_masks" / f"{k}.png", inst.modal_mask)
    (folder / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "jobs.jsonl"


def test_job_manifest_errors_name_the_line(tmp_path):
    bad = tmp_path / "jobs.jsonl"
    bad.write_text('{"id": "a", "background": "b.png", "instances": [{"image": "i.png", "mask": "m.png"}]}\n'
                   '{"id": "a b", "background": "b.png", "instances": [{"image": "i.png"}]}\n')  # fmt: skip
    with pytest.raises(ValueError, match=r"jobs.jsonl:2: id 'a b'"):
        read_jobs(bad)
    for line, message in (('{"id": "..", "background": "b.png", "instances": [{"image": "i.png"}]}', "id '..'"),
                          ('{"id": ".x", "task": "remove", "image": "i.png", "mask": "m.png"}', "id '.x'"),
                          ('{"id": "a", "task": "paint", "image": "i.png"}', "task 'paint'"),
                          ('{"id": "a", "task": "deocclude", "image": "i.png"}', "needs \\['image', 'masks'\\]"),
                          ('{"id": "a", "task": "remove", "image": "i", "mask": "m", "x": 1}', "unknown fields")):
        bad.write_text(line + "\n")
        with pytest.raises(ValueError, match=message):
            read_jobs(bad)
    from amodal_compose.pipeline.predict import JobWriter

    with pytest.raises(ValueError, match="'..'"):  # nothing is written outside the output folder
        JobWriter(tmp_path / "out").path({"id": "..", "task": "deocclude"})


PREDICT = """
import json, sys, torch, pytorch_lightning as pl
from amodal_compose.pipeline.predict import JobsDataModule, JobWriter, PipelinePredictor
torch.set_num_threads(1)
out, devices = sys.argv[1], int(sys.argv[2])
ckpts = json.loads(sys.argv[3])
writer = JobWriter(out, save_layers=True)
trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
                     enable_progress_bar=False, callbacks=[writer])
trainer.predict(PipelinePredictor(ckpts), JobsDataModule(sys.argv[4]), return_predictions=False)
with open(f"{out}/written_rank{trainer.global_rank}.json", "w") as f:   # one file per rank
    json.dump(writer.written, f)
"""


def _scene_checkpoints(folder: Path) -> dict[str, Path]:
    """Tiny PCNet-M, PCNet-C and remover checkpoints (the remover's segmentation finds one object
    everywhere, so every rough mask selects a segment)."""
    from test_pcnet import tiny_c, tiny_m
    from test_removal import tiny

    remover = tiny("joint")
    with torch.no_grad():
        remover.segmenter.unet.head[-1].bias[1] = 10.0
    Pipeline(pcnet_m=tiny_m(), pcnet_c=tiny_c(), remover=remover).save(folder)
    return {name: folder / f"{name}.ckpt" for name in ("pcnet_m", "pcnet_c", "remover")}


def test_trainer_predict_writes_every_job_once_on_two_processes(ckpts, tmp_path):
    manifest = _write_jobs(tmp_path, 3, scene_tasks=True)
    script = tmp_path / "predict.py"
    script.write_text(PREDICT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    paths = json.dumps({k: str(v) for k, v in {**ckpts, **_scene_checkpoints(tmp_path / "scene_ckpts")}.items()})

    def run(out, devices):
        res = subprocess.run([sys.executable, str(script), str(out), str(devices), paths, str(manifest)], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert res.returncode == 0, res.stderr[-3000:]
        return [j for r in range(devices) for j in json.loads((out / f"written_rank{r}.json").read_text())]

    two, one = tmp_path / "two", tmp_path / "one"
    written = run(two, 2)
    ids = [f"{kind}{j}" for j in range(3) for kind in ("job", "scene", "clean")]
    assert sorted(written) == sorted(ids)  # every job of every task, each exactly once
    run(one, 1)
    for j in range(3):
        for name in (f"job{j}.png", f"clean{j}.png", f"clean{j}_mask.png", f"scene{j}/background.png",
                     f"scene{j}/layer_0.png"):  # fmt: skip
            a, b = np.asarray(Image.open(two / name)), np.asarray(Image.open(one / name))
            assert np.array_equal(a, b), name  # the same as one process
        assert (two / f"job{j}" / "layer_0_rgba.png").is_file()
        assert json.loads((two / f"scene{j}" / "order.json").read_text())["matrix"]
    assert not [p for p in two.iterdir() if ".tmp" in p.name]  # every output renamed into place
    assert run(two, 2) == []  # started again: everything is done, nothing runs twice


def test_compose_command(ckpts, tmp_path, capsys):
    folder = tmp_path / "pipe"
    Pipeline.from_checkpoints(**ckpts).save(folder)
    _write_jobs(tmp_path, 1)
    out = tmp_path / "out.png"
    args = ["compose", "--background", str(tmp_path / "bg.png"), "--instance",
            f"{tmp_path / 'obj0.png'}:{tmp_path / 'mask0.png'}", "--instance",
            f"{tmp_path / 'obj1.png'}:{tmp_path / 'mask1.png'}:30,30,0.8", "--checkpoints", str(folder),
            "--out", str(out), "--save-layers", str(tmp_path / "layers")]  # fmt: skip
    assert main(args) == 0
    assert out.is_file() and (tmp_path / "layers" / "layer_1_rgba.png").is_file()
    assert "wrote" in capsys.readouterr().out
    # the written layer keeps its alpha: read back, it is the layer's alpha to 8 bits
    result = Pipeline.from_dir(folder).compose(read_image(tmp_path / "bg.png"), [
        ComposeInstance(read_image(tmp_path / "obj0.png"), read_mask(tmp_path / "mask0.png"), occluded="auto")])
    result.save(tmp_path / "again")
    rgb, alpha = read_rgba(tmp_path / "again" / "layer_0_rgba.png")
    assert alpha is not None and (alpha - result.layers[0].rgba[3:]).abs().max() <= 0.5 / 255 + 1e-6
    assert (rgb - result.layers[0].rgba[:3]).abs().max() <= 0.5 / 255 + 1e-6

    # an RGBA cut-out needs no mask: its alpha is the mask
    obj, mask = read_image(tmp_path / "obj0.png"), read_mask(tmp_path / "mask0.png")
    write_png(tmp_path / "cutout.png", torch.cat([obj * mask, mask]))
    cut = list(args[:args.index("--instance")]) + ["--instance", str(tmp_path / "cutout.png"), "--checkpoints",
                                                   str(folder), "--out", str(tmp_path / "cut.png")]  # fmt: skip
    assert main(cut) == 0 and (tmp_path / "cut.png").is_file()
    capsys.readouterr()
    cut[cut.index("--instance") + 1] = str(tmp_path / "obj0.png")  # RGB, no mask: one clear line
    assert main(cut) == 2 and "no alpha channel" in capsys.readouterr().err
    bad = list(args)
    bad[bad.index("--instance") + 1] = "a.png:b.png:c.png:d.png"
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("amodal-compose: error: --instance") and "\n" not in err
    missing = list(args)
    missing[missing.index("--background") + 1] = str(tmp_path / "nope.png")
    assert main(missing) == 2 and "image not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compose", "--help"])
    assert "IMG[:MASK][:x,y[,scale]]" in capsys.readouterr().out


def test_pipeline_speed_task_measures_both_ways(tmp_path):
    from amodal_compose.bench import run_bench

    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "pipeline_speed.yaml").write_text(
        "image_size: 64\ninstances: [1, 2]\nrepeats: 1\n"
        "components: {shape: shape/synthetic.yaml, content: content/synthetic.yaml,\n"
        "             compositor: compose/synthetic.yaml}\n"
    )
    rows = run_bench("pipeline_speed", tmp_path / "out", recipes=recipes)
    by = {(r["method"], r["metric"]): r["value"] for r in rows}
    assert by[("batched", "latency_s/2_instances")] > 0 and by[("one_at_a_time", "latency_s/2_instances")] > 0
    assert ("batched", "speedup/2_instances") in by


def test_task_pipelines_share_the_loaded_components(ckpts):
    from amodal_compose.pipeline import CompositionPipeline, DeocclusionPipeline, RemovalPipeline

    pipe = Pipeline.from_checkpoints(**ckpts)
    assert pipe.composition.parts is pipe and pipe.composition.components["compositor"] is pipe.components["compositor"]
    own = CompositionPipeline(compositor=pipe.components["compositor"])  # the typed constructor
    bg, instances = _scene_job()
    plain = [ComposeInstance(i.image, i.mask, occluded=False) for i in instances]
    assert torch.equal(own.compose(bg, plain).image, pipe.compose(bg, plain).image)
    with pytest.raises(TypeError, match="not both"):
        CompositionPipeline(compositor=pipe.components["compositor"], components=pipe)
    with pytest.raises(MissingComponentError, match="'remover' component"):
        pipe.remove(bg, instances[0].mask)
    with pytest.raises(MissingComponentError, match="'pcnet_m' component"):
        DeocclusionPipeline(components=pipe).deocclude(bg, [instances[0].mask])
    assert RemovalPipeline.uses == ("remover",) and "compositor" in CompositionPipeline.uses


def test_pipeline_modules_import_no_circle():
    """The pipeline package's modules import each other in one direction only (function-level imports
    included)."""
    import ast

    folder = Path(__file__).parents[1] / "src" / "amodal_compose" / "pipeline"
    graph = {}
    for path in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                deps.add(node.module.split(".")[0])
        graph[path.stem] = deps & {p.stem for p in folder.glob("*.py")}

    def reaches(start, goal, seen=()):
        return any(d == goal or (d not in seen and reaches(d, goal, (*seen, d))) for d in graph[start])

    assert not [m for m in graph if reaches(m, m)], graph


def test_load_system_in_a_fresh_process_imports_the_system_it_names(ckpts):
    code = ("import sys; from amodal_compose.checkpoints import load_system; "
            "print(type(load_system(sys.argv[1])).__name__)")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code, str(ckpts["compositor"])], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 0 and res.stdout.strip() == "CompositionSystem", res.stderr[-2000:]
