"""``make demo``: every network of the package on the embedded synthetic data, from a clean clone, on
a CPU, within 10 minutes.

1. Data: a preview of synthetic scenes, and a round trip through the COCOA format and reader.
2. The networks: the shipped weights (``weights/``, trained by ``make weights``) when present; else, or
   with ``--retrain`` (``make demo RETRAIN=1``), each network briefly, through the configs users train
   with (``lightning_configs/<network>/``, with a shorter step budget; chained stages start from the
   previous stage's checkpoint); those checkpoints go to ``runs/demo/`` and a second run reuses them.
3. Composition (AMICO Algorithm 1): ``Pipeline.from_checkpoints`` on f_shape, f_content and f_comp
   (saved as ``runs/demo/pipeline``), on held-out scenes whose true composite is known: an object of
   scene A, partly hidden there and cut out coarsely, is composed onto scene B. The ground truth is the
   object whole (its full layer) lit like B (the synthetic scenes' illumination gains are known), in
   front of B; against cut-and-paste and Poisson blending of the same cut. The jobs are written as a
   manifest for ``amodal-compose predict --config lightning_configs/pipeline/predict.yaml``.
4. Scene de-occlusion (PCNet): order, amodal masks, layers and background of held-out scenes, scored
   against the true order and amodal masks (and the heuristics); then a manipulation (the front
   occluder of a hidden object deleted) against the scene truly re-rendered without it.
5. Object removal (inpainting-driven mask optimisation): a pasted object removed from a rough mask,
   against the image without it, and Telea on the same rough mask.
6. Amodal-VAE: an occluded object's sampled amodal masks, each completed, next to the truth.

Every section writes a figure and adds its rows to ``metrics.json`` / ``metrics.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import Tensor

from .baselines import BASELINES
from .data import composition_jobs
from .data.datasets import SyntheticScenes
from .io import write_png
from .lightning_cli import find_configs, run_lightning_cli, training_threads
from .metrics import OrderingAccuracy, mask_metrics, psnr, ssim
from .ops.grid import image_grid
from .ops.masks import bbox, crop_square, dilate, square_box
from .structures import Scene

__all__ = ["run_demo", "DEMO_TRAINING", "SECTIONS"]

#: the demo narrows the synthetic configs' networks to the bench recipes' widths (quarter width): the
#: configs' own widths are for GPUs and make a CPU step 3-4x slower.
_UNET = ["--model.init_args.net.init_args.widths", "[16,32,64,64,64]",
         "--model.init_args.net.init_args.bottleneck", "[64,64]"]
_CONTENT = ["--model.init_args.generator.init_args.coarse_width", "16",
            "--model.init_args.generator.init_args.coarse_repeats", "[1,1,1,1,1]",
            "--model.init_args.generator.init_args.refine_widths", "[16,16,32]",
            "--model.init_args.critic.init_args.widths", "[16,32,64]"]
_REMOVER = ["--model.init_args.segmenter.init_args.widths", "[16,32,64,64]",
            "--model.init_args.segmenter.init_args.bottleneck", "[64]",
            "--model.init_args.edge_inpainter.init_args.width", "16",
            "--model.init_args.edge_inpainter.init_args.blocks", "2",
            "--model.init_args.seg_inpainter.init_args.width", "16",
            "--model.init_args.seg_inpainter.init_args.blocks", "2",
            "--model.init_args.image_inpainter.init_args.width", "24",
            "--model.init_args.image_inpainter.init_args.blocks", "3",
            *[a for c in ("edge", "seg", "image")
              for a in (f"--model.init_args.{c}_critic.init_args.widths", "[16,32,64,64]")]]
_BANK = ["--data.init_args.bank_size", "200"]
#: what the demo trains: component -> its stages, each (config under lightning_configs/, steps, extra
#: arguments); ``{prev}`` in a stage's arguments is the previous stage's checkpoint. The configs' own
#: recipes at the narrowed widths, with budgets that keep ``make demo`` from a clean clone within 10 minutes
#: on 2 CPU cores, and within 5 with the shipped weights (the bench trains each network 5-10x longer).
DEMO_TRAINING: dict[str, list[tuple[str, int, list[str]]]] = {
    "shape": [("shape/synthetic.yaml", 250, _UNET)],
    "content": [("content/synthetic.yaml", 200, _CONTENT)],
    "compositor": [("compose/synthetic.yaml", 220, [*_UNET, "--model.init_args.lambda_mask_switch_step", "110"])],
    "pcnet_m": [("pcnet_m/synthetic.yaml", 200, _UNET)],
    "pcnet_c": [("pcnet_c/synthetic.yaml", 120, [])],
    "remover": [
        ("removal/segmentation.yaml", 250, _REMOVER),
        ("removal/inpainters.yaml", 40, [*_REMOVER, "--model.init_args.init_from", "[{prev}]"]),
        ("removal/joint.yaml", 20, [*_REMOVER, "--model.init_args.init_from", "[{prev}]"]),
    ],
    "amodal_vae": [
        ("amodal_vae/stage1_full.yaml", 100, _BANK),
        ("amodal_vae/stage2_simulated.yaml", 100, ["--model.init_args.init_from", "{prev}", *_BANK]),
        ("amodal_vae/stage3_partial.yaml", 30, ["--model.init_args.init_from", "{prev}", *_BANK]),
    ],
}  # fmt: skip
#: the demo's sections after the data one, and the components each needs.
SECTIONS: dict[str, tuple[str, ...]] = {
    "composition": ("shape", "content", "compositor"),
    "deocclusion": ("pcnet_m", "pcnet_c", "compositor"),
    "removal": ("remover",),
    "amodal_vae": ("amodal_vae", "pcnet_m", "pcnet_c"),
    "real_photos": ("compositor", "pcnet_m", "pcnet_c"),
}
#: shared by every demo run: one validation at the end, no test split needed.
DEMO_DATA = ["--data.init_args.val_scenes", "30", "--data.init_args.test_scenes", "2",
             "--trainer.limit_val_batches", "2"]  # fmt: skip


def train_component(
    name: str, runs: Path, scale: float = 1.0, log: Callable[[str], None] = print, train_scenes: int = 1500
) -> Path:
    """Train one component through its config(s) (or reuse ``runs/<name>.ckpt``); chained stages start
    from the previous stage's checkpoint (``runs/<name>_stage<k>.ckpt``)."""
    ckpt = runs / f"{name}.ckpt"
    if ckpt.is_file():
        log(f"      {name}: reusing {ckpt} (delete it to train again)")
        return ckpt
    stages = DEMO_TRAINING[name]
    prev = ""
    for k, (config, budget, extra) in enumerate(stages):
        out = ckpt if k == len(stages) - 1 else runs / f"{name}_stage{k + 1}.ckpt"
        steps = max(2, int(budget * scale))
        args = ["--config", str(find_configs() / config), *DEMO_DATA, "--data.init_args.train_scenes",
                str(train_scenes), *[a.format(prev=prev) for a in extra],
                "--trainer.logger", "false", "--trainer.default_root_dir", str(runs / name),
                "--trainer.enable_progress_bar", "false", "--trainer.max_steps", str(steps),
                "--trainer.val_check_interval", str(steps),
                "--trainer.check_val_every_n_epoch", "null"]  # steps may exceed one epoch  # fmt: skip
        cli = run_lightning_cli(args, run=False)
        trainer = cli.trainer
        trainer.callbacks[:] = [c for c in trainer.callbacks if not isinstance(c, ModelCheckpoint)]  # one file, below
        t0 = time.perf_counter()
        with training_threads(cli.datamodule.num_workers):
            trainer.fit(cli.model, cli.datamodule)
        runs.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(out)
        what = f"{name} ({config})" if len(stages) > 1 else name
        log(f"      {what}: {steps} steps in {time.perf_counter() - t0:.0f}s -> {out}")
        prev = str(out)
    return ckpt


def _shipped(names: Sequence[str], folder: str | Path | None, log: Callable[[str], None]) -> dict[str, Path]:
    """The checkpoints of ``names`` in the weights set ``folder`` (default: the shipped one) that it has."""
    from .pretrained import shipped_weights

    try:
        found = shipped_weights(folder)
    except FileNotFoundError as err:
        log(f"      {err}: the demo trains its networks briefly instead")
        return {}
    return {name: found / f"{name}.ckpt" for name in names if (found / f"{name}.ckpt").is_file()}


def _region(job: dict) -> Tensor:
    """Where the methods differ: the object's amodal mask and its coarse cut, grown by 4 px."""
    return dilate(torch.maximum(job["amodal"], job["mask"]), 4)


class _Report:
    """The demo's metrics: per section, ``{method: {metric: [values]}}``, averaged at the end."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, dict[str, list[float]]]] = {}

    def add(self, section: str, method: str, metric: str, value: float) -> None:
        self.rows.setdefault(section, {}).setdefault(method, {}).setdefault(metric, []).append(float(value))

    def table(self) -> dict[str, dict[str, dict[str, float]]]:
        return {sec: {m: {k: sum(v) / len(v) for k, v in metrics.items()} for m, metrics in rows.items()}
                for sec, rows in self.rows.items()}  # fmt: skip

    def markdown(self, section: str) -> list[str]:
        rows = self.table()[section]
        metrics = list(dict.fromkeys(k for r in rows.values() for k in r))
        lines = ["| method | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for m, values in rows.items():
            cells = [f"{values[k]:.3f}" if k in values else "" for k in metrics]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        return lines


def _figure(path: Path, columns: dict[str, list[Tensor]], per_row: int, scale: int) -> Path | str:
    """A grid of the figure's columns, or a note when the section had nothing to show."""
    if not columns:
        return "(none: no item qualified)"
    return write_png(path, image_grid({k: torch.stack(v) for k, v in columns.items()}, per_row, scale))


def _panel(x: Tensor, height: int = 192, width: int = 288) -> Tensor:
    """A whole image (or mask) resized into a ``height`` x ``width`` panel, aspect kept, padded black."""
    x = x.expand(3, -1, -1)
    f = min(height / x.shape[-2], width / x.shape[-1])
    size = (max(1, round(x.shape[-2] * f)), max(1, round(x.shape[-1] * f)))
    small = torch.nn.functional.interpolate(x[None], size=size, mode="area")[0].clamp(0, 1)
    return torch.nn.functional.pad(small, (0, width - size[1], 0, height - size[0]))


def _zoom(box, side: int = 96) -> Callable[[Tensor], Tensor]:
    return lambda x: crop_square(x.expand(3, -1, -1), box, side).clamp(0, 1)


def run_demo(
    out: str | Path = "demo_out", runs: str | Path = "runs/demo", scenes: int = 12, size: int = 128,
    scale: float = 1.0, log: Callable[[str], None] = print, sections: Sequence[str] | None = None,
    train_scenes: int = 1500, retrain: bool = False, weights: str | Path | None = None,
) -> dict[str, dict[str, dict[str, float]]]:  # fmt: skip
    """Run the demo (see the module's documentation); returns the metrics ``{section: {method: {metric:
    value}}}``. ``sections`` picks sections (default: all of :data:`SECTIONS`).

    The components come from the shipped weights (``weights``: a weights folder, default the shipped
    set, see :func:`~amodal_compose.pretrained.shipped_weights`); with ``retrain``, or for a component
    the set lacks, they are trained briefly instead: ``scale`` multiplies the training steps and
    ``train_scenes`` sets the training scenes (tests use tiny ones)."""
    from .data.preview import save_preview
    from .data.readers import CocoaAmodal
    from .data.writers import write_cocoa
    from .ops.masks import iou
    from .pipeline import Pipeline

    chosen = list(SECTIONS) if sections is None else list(sections)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown demo sections {unknown}; the sections are {list(SECTIONS)}")
    out, runs = Path(out), Path(runs)
    t0 = time.perf_counter()
    steps = 3 + len(chosen)
    preview = [SyntheticScenes(8, image_size=96, split="val")[i] for i in range(8)]
    shown = save_preview(preview, out / "synthetic_preview.png", cols=2, scale=2)
    log(f"[1/{steps}] preview of 8 synthetic scenes: {shown}")
    path = write_cocoa(preview, out / "cocoa_roundtrip")
    back = CocoaAmodal(path, out / "cocoa_roundtrip")
    orders = all(torch.equal(a.order, b.order) for a, b in zip(preview, back))
    vis = all(bool((iou(x.modal_mask, y.modal_mask) == 1).all()) for a, b in zip(preview, back)
              for x, y in zip(a.instances, b.instances) if x.is_occluded)  # fmt: skip
    log(f"[2/{steps}] COCOA round-trip: {len(back)} scenes written and read back; order matrices equal: {orders}; "
        f"visible RLE masks exact: {vis}")  # fmt: skip

    needed = list(dict.fromkeys(c for sec in chosen for c in SECTIONS[sec]))
    ckpts = {} if retrain else _shipped(needed, weights, log)
    if ckpts:
        log(f"[3/{steps}] shipped weights: {', '.join(ckpts)} from {Path(next(iter(ckpts.values()))).parent}")
    missing = [name for name in needed if name not in ckpts]
    if missing:
        log(f"[3/{steps}] training {', '.join(missing)} briefly through lightning_configs/")
        pl.seed_everything(0, verbose=False)
        ckpts.update({name: train_component(name, runs, scale, log, train_scenes) for name in missing})
    pipe = Pipeline.from_checkpoints(**ckpts)
    pipe.save(runs / "pipeline")
    log(f"      {pipe!r} saved under {runs / 'pipeline'}")

    report = _Report()
    held_out = SyntheticScenes(4 * scenes, image_size=size, split="test")
    held = [held_out[i] for i in range(len(held_out))]
    for n, name in enumerate(chosen):
        t1 = time.perf_counter()
        section = {"composition": _composition, "deocclusion": _deocclusion, "removal": _removal,
                   "amodal_vae": _amodal_vae, "real_photos": _real_photos}[name]  # fmt: skip
        figure, what = section(pipe, held, scenes, out, report)
        log(f"[{4 + n}/{steps}] {what}: figure {figure} ({time.perf_counter() - t1:.0f}s)")
        for line in report.markdown(name) if name in report.rows else []:
            log("      " + line)
    table = report.table()
    (out / "metrics.json").write_text(json.dumps(table, indent=1))
    md = []
    for sec in table:
        md += [f"## {sec}", "", *report.markdown(sec), ""]
    (out / "metrics.md").write_text("\n".join(md))
    log(f"demo done in {time.perf_counter() - t0:.1f}s; outputs under {out}/, checkpoints under {runs}/")
    return table


# ----------------------------------------------------------------------------- sections
def _composition(pipe, held: list[Scene], count: int, out: Path, report: _Report) -> tuple[Path | str, str]:
    from .pipeline import ComposeInstance

    jobs = composition_jobs(held, count)
    figure: dict[str, list[Tensor]] = {}
    for job in jobs:
        result = pipe.compose(job["background"], [ComposeInstance(job["image"], job["mask"])])
        layer = result.layers[0]
        preds = {"pipeline": result.image}
        for name, fn in BASELINES["composition"].items():
            preds[name] = fn(job["background"][None], (job["image"] * job["mask"])[None], job["mask"][None])[0]
        region = _region(job)
        for name, pred in preds.items():
            p, t = pred.clamp(0, 1)[None], job["target"][None]
            report.add("composition", name, "psnr_object", psnr(p, t, region[None]))
            report.add("composition", name, "ssim_object", ssim(p, t, region[None]))
            report.add("composition", name, "psnr_image", psnr(p, t))
        crop = _zoom(square_box(bbox(region[0]), region.shape[-2:], 1.6))
        columns = {
            "background B": crop(job["background"]), "input": crop(job["image"] * (0.35 + 0.65 * job["mask"])),
            "amodal (f_shape)": crop(layer.object_mask), "completed (f_content)": crop(layer.completed),
            "alpha (f_comp)": crop(layer.rgba[3:]), "pipeline": crop(preds["pipeline"]),
            "cut-and-paste": crop(preds["cut_and_paste"]), "poisson": crop(preds["poisson"]),
            "ground truth": crop(job["target"]),
        }  # fmt: skip
        for key, value in columns.items():
            figure.setdefault(key, []).append(value)
    fig = _figure(out / "pipeline_demo.png", figure, 8, 2)
    _write_jobs(jobs[:6], out / "jobs")
    return fig, (f"composition on {len(jobs)} held-out jobs (object of scene A, partly hidden and coarsely cut, "
                 "onto scene B)")  # fmt: skip


def _deocclusion(pipe, held: list[Scene], count: int, out: Path, report: _Report) -> tuple[Path | str, str]:
    """De-occlude held-out scenes (true order and amodal masks known), then delete the front occluder
    of a hidden object and compare with the scene re-rendered without it."""
    from .baselines import inpaint_telea

    order_scores = {m: OrderingAccuracy() for m in ("pcnet_m", *BASELINES["ordering"])}
    mask_scores = {m: mask_metrics() for m in ("pcnet_m", *BASELINES["amodal_mask"])}
    figure: dict[str, list[Tensor]] = {}
    shown = 0
    for scene in held[:count]:
        if len(scene) < 2:
            continue
        modal, truth = scene.modal_masks(), scene.amodal_masks()
        d = pipe.deocclude(scene.image, modal, scene.categories().tolist())
        order_scores["pcnet_m"].update(d.order, scene.order)
        for name, fn in BASELINES["ordering"].items():
            order_scores[name].update(fn(modal, scene.image), scene.order)
        occluded = [k for k, i in enumerate(scene.instances) if i.is_occluded]
        if occluded:
            preds = {"pcnet_m": d.amodal, **{n: fn(modal) for n, fn in BASELINES["amodal_mask"].items()}}
            for name, pred in preds.items():
                mask_scores[name].update(pred[occluded], truth[occluded], modal[occluded])
        # the manipulation: delete the occluder in front of the most hidden object
        target = max(occluded, key=lambda k: scene.instances[k].occluded_ratio or 0, default=None)
        front = [j for j in range(len(scene)) if int(scene.order[j, target])] if target is not None else []
        if not front or shown >= 4:
            continue
        j = front[0]
        edited = pipe.manipulate(scene.image, modal, [{"delete": j}], scene.categories().tolist())
        truth_img = scene.render(exclude=[j])
        naive = inpaint_telea(scene.image[None], modal[j][None])[0]  # remove the occluder by inpainting its pixels
        region = dilate(modal[j], 2)[None]
        for name, pred in {"pipeline (deocclude + delete)": edited.image, "telea on the occluder": naive}.items():
            report.add("deocclusion", name, "psnr_revealed", psnr(pred.clamp(0, 1)[None], truth_img[None], region))
        crop = _zoom(square_box(bbox(torch.maximum(truth[target], modal[j])[0]), scene.size, 1.4))
        columns = {
            "scene": crop(scene.image), "occluder": crop(modal[j]), "amodal (pcnet_m)": crop(d.amodal[target]),
            "true amodal": crop(truth[target]), "layer (pcnet_c)": crop(d.layers[target, :3]),
            "background": crop(d.background), "occluder deleted": crop(edited.image),
            "telea on the occluder": crop(naive), "ground truth": crop(truth_img),
        }  # fmt: skip
        for key, value in columns.items():
            figure.setdefault(key, []).append(value)
        shown += 1
    for name, metric in order_scores.items():
        report.add("deocclusion", name, "pair_accuracy", metric.compute())
    for name, metric in mask_scores.items():
        values = metric.compute()
        report.add("deocclusion", name, "miou_full", values["miou_full"])
        report.add("deocclusion", name, "miou_invisible", values["miou_invisible"])
    fig = _figure(out / "deocclusion_demo.png", figure, 4, 2)
    return fig, f"de-occlusion of {count} held-out scenes, and {shown} occluders deleted"


def _removal(pipe, held: list[Scene], count: int, out: Path, report: _Report) -> tuple[Path | str, str]:
    """Pasted objects removed from a rough mask (the object's box), against the image without them."""
    from .baselines import inpaint_telea
    from .data.pairs import CopyPastePairs
    from .structures import Keys

    side = pipe.input_sizes["remover"]
    pairs = CopyPastePairs(SyntheticScenes(4 * count, image_size=side, split="test"), seed=0)
    figure: dict[str, list[Tensor]] = {}
    done = missed = 0
    for i in range(len(pairs)):
        if done == count:
            break
        item = pairs[i]
        image, truth, mask = item[Keys.IMAGE], item[Keys.TARGET], item[Keys.OBJECT_MASK]
        if not 0.03 <= float(item[Keys.AREA_RATIO]) <= 0.3:
            continue
        x0, y0, x1, y1 = bbox(mask[0]).tolist()
        rough = torch.zeros_like(mask)
        rough[:, max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = 1  # the user's scribble: the object's box
        try:
            removed = pipe.remove(image, rough)
        except ValueError:  # the segmentation found no object under the box (a briefly trained segmenter)
            missed += 1
            continue
        naive = inpaint_telea(image[None], rough[None])[0]
        for name, pred in {"pipeline": removed["image"], "telea on the box": naive}.items():
            report.add("removal", name, "psnr_box", psnr(pred.clamp(0, 1)[None], truth[None], rough[None]))
        report.add("removal", "pipeline", "mask_iou", iou_(removed["mask"], mask))
        if done < 6:
            columns = {"input": image, "rough mask": rough.expand(3, -1, -1),
                       "removed mask": removed["mask"].expand(3, -1, -1), "pipeline": removed["image"],
                       "telea on the box": naive, "ground truth": truth}  # fmt: skip
            for key, value in columns.items():
                figure.setdefault(key, []).append(value.clamp(0, 1))
        done += 1
    fig = _figure(out / "removal_demo.png", figure, 6, 3)
    found = f"; on {missed} more the segmentation found no object under the box" if missed else ""
    return fig, f"object removal on {done} held-out copy-paste images from a box scribble{found}"


def iou_(a: Tensor, b: Tensor) -> float:
    from .ops.masks import iou

    return float(iou(a, b))


def _amodal_vae(pipe, held: list[Scene], count: int, out: Path, report: _Report, n: int = 4) -> tuple[Path | str, str]:
    """Occluded objects: Amodal-VAE's posterior mode and ``n`` sampled masks, each completed, and the truth."""
    figure: dict[str, list[Tensor]] = {}
    shown = 0
    for scene in held[:count]:
        occluded = [k for k, i in enumerate(scene.instances) if 0.15 <= (i.occluded_ratio or 0) <= 0.6]
        if len(scene) < 2 or not occluded:
            continue
        modal, truth = scene.modal_masks(), scene.amodal_masks()
        d = pipe.deocclude(scene.image, modal, scene.categories().tolist(), shape_method="amodal_vae",
                           hypotheses=n, seed=shown)  # fmt: skip
        mode = pipe.deocclude(scene.image, modal, scene.categories().tolist(), shape_method="amodal_vae")
        for k in occluded:
            report.add("amodal_vae", "posterior mode", "iou", iou_(mode.amodal[k], truth[k]))
            report.add("amodal_vae", f"best of {n} by visible agreement", "iou", iou_(d.amodal[k], truth[k]))
            report.add("amodal_vae", f"best of {n} by true IoU (oracle)", "iou",
                       max(iou_(h.amodal_mask, truth[k]) for h in d.hypotheses[k]))  # fmt: skip
            report.add("amodal_vae", "convex", "iou", iou_(BASELINES["amodal_mask"]["convex"](modal[k][None])[0],
                                                          truth[k]))  # fmt: skip
        if shown < 4:
            k = max(occluded, key=lambda k: scene.instances[k].occluded_ratio)
            crop = _zoom(square_box(bbox(truth[k][0]), scene.size, 1.5))
            figure.setdefault("scene", []).append(crop(scene.image))
            figure.setdefault("visible", []).append(crop(modal[k]))
            for h, hyp in enumerate(d.hypotheses[k]):
                figure.setdefault(f"sample {h + 1} mask", []).append(crop(hyp.amodal_mask))
                figure.setdefault(f"sample {h + 1} layer", []).append(crop(hyp.completed))
            figure.setdefault("true amodal", []).append(crop(truth[k]))
            figure.setdefault("true layer", []).append(crop(scene.instances[k].layer))
            shown += 1
    fig = _figure(out / "amodal_vae_demo.png", figure, 4, 2)
    return fig, f"Amodal-VAE: {n} posterior samples per occluded object, each completed by PCNet-C"


def _write_jobs(jobs: list[dict], folder: Path) -> Path:
    """The jobs as files and a JSON-lines manifest (``amodal-compose predict`` with
    ``lightning_configs/pipeline/predict.yaml`` reads it)."""
    lines = []
    for n, job in enumerate(jobs):
        name = f"job{n:02d}"
        write_png(folder / f"{name}_background.png", job["background"])
        write_png(folder / f"{name}_object.png", job["image"])
        write_png(folder / f"{name}_mask.png", job["mask"])
        instance = {"image": f"{name}_object.png", "mask": f"{name}_mask.png"}
        lines.append(json.dumps({"id": name, "background": f"{name}_background.png", "instances": [instance]}))
    manifest = folder / "jobs.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _real_photos(pipe, held: list[Scene], count: int, out: Path, report: _Report) -> tuple[Path | str, str]:
    """The real photographs of the real-photo bench at full resolution: the coffee cup composed onto the
    cat photo (the colour of the cup's photo changed by AMICO eq. 5, cut with a 6 px ring) beside
    cut-and-paste and Poisson blending, and the astronaut photo de-occluded with its object outlines (its
    background beside Telea's), its shuttle model moved. No ground truth exists for either; the section
    measures what must hold: every pixel outside an edit is the photo's."""
    try:
        from .bench.real_photos import fit_scale, load_photos
    except ModuleNotFoundError as err:  # scikit-image not installed
        return "(none)", f"real photos skipped: {err}"
    from .baselines import composite_cut_and_paste, composite_poisson, inpaint_telea
    from .data.occlusion import random_color_change
    from .pipeline import ComposeInstance

    photos = {p.name: p for p in load_photos()}
    cup, cat, astro = photos["coffee"], photos["chelsea"], photos["astronaut"]
    # 1. an object composed onto another photo
    cut = dilate(cup.masks["cup"], 6)
    recoloured = random_color_change(cup.image, photos["rocket"].image, "reinhard", 0, 1.0)
    centre = (cat.image.shape[-1] * 0.3, cat.image.shape[-2] * 0.62)
    composed = pipe.compose(cat.image, [ComposeInstance(recoloured, cut, centre, 0.6 * fit_scale(cut, cat.image),
                                                        occluded=False)])  # fmt: skip
    placed = composed.layers[0]
    edit = placed.rgba[3:] > 0
    kept = (composed.image == cat.image).all(0, keepdim=True)
    pasted = composite_cut_and_paste(cat.image[None], placed.completed[None], placed.object_mask[None])[0]
    poisson = composite_poisson(cat.image[None], placed.completed[None], placed.object_mask[None])[0]
    report.add("real_photos", "compose onto another photo", "share_kept_outside_edit",
               float(kept[~edit].float().mean()))  # fmt: skip
    # 2. a scene de-occluded and an object moved
    names = list(astro.masks)
    masks = torch.cat([astro.masks[n] for n in names])[:, None]
    for k in range(1, len(masks)):  # visible masks do not overlap: a later outline is drawn behind earlier ones
        masks[k] *= 1 - masks[:k].amax(0)
    move = names.index("shuttle_model")
    offset = (-int(astro.image.shape[-1] * 0.12), int(astro.image.shape[-2] * 0.05))
    moved = pipe.manipulate(astro.image, masks, [{"move": move, "offset": offset}])
    d = moved.deocclusion
    telea = inpaint_telea(astro.image[None], dilate(masks.amax(0), 1)[None])[0]  # every object inpainted away
    touched = torch.zeros_like(masks[0], dtype=torch.bool)
    for layer in moved.layers:
        touched |= layer[3:] > 0
    touched |= dilate(masks[move], 1) > 0
    kept = (moved.image == astro.image).all(0, keepdim=True)
    report.add("real_photos", "deocclude + move", "share_kept_outside_edit", float(kept[~touched].float().mean()))
    pairs = ", ".join(f"{names[i]} over {names[j]}" for i, j in (d.order > 0).nonzero().tolist()) or "no overlaps"
    rows = [
        {"cat photo": cat.image, "cup (eq. 5 colour, 6 px ring)": recoloured * cut, "f_comp, full resolution":
         composed.image, "cut-and-paste": pasted, "Poisson": poisson},
        {"astronaut photo": astro.image, "amodal masks": d.amodal.amax(0), "background (PCNet-C)": d.background,
         "background (Telea)": telea, "shuttle model moved": moved.image},
    ]  # fmt: skip
    fig = {f"{top} / {bottom}": [_panel(rows[0][top]), _panel(rows[1][bottom])] for top, bottom in zip(*rows)}
    figure = _figure(out / "real_photos_demo.png", fig, 2, 1)
    return figure, (f"real photos at full resolution: a cup composed onto the cat photo beside cut-and-paste and "
                    f"Poisson; the astronaut photo de-occluded ({pairs}), its background beside Telea's, and its "
                    f"shuttle model moved")
