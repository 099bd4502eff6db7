"""The ``amodal-compose`` command.

Sub-commands:
    ``data preview``   write a PNG grid of synthetic scenes with modal / amodal outlines;
    ``data stats``     print what the generator makes (objects, categories, occlusion ratios);
    ``data check``     check a config's real data files before a long run (one line per problem);
    ``demo``           the end-to-end job: data checks, brief training, the pipeline on held-out scenes;
    ``bench``          seeded benchmark rows into ``reports/bench.{json,md}``; ``bench report`` publishes
                       them to ``docs/results.{json,md}``;
    ``compose``        compose instances onto a background with trained checkpoints (AMICO Algorithm 1);
    ``deocclude``      recover a scene's occlusion order, amodal masks, object layers and background (PCNet);
    ``convert-amodal`` turn a COCO modal data set into pseudo-amodal COCOA annotations with PCNet-M;
    ``remove``         remove the object a rough mask points at (inpainting-driven mask optimisation);
    ``fit`` / ``validate`` / ``test`` / ``predict``  LightningCLI, e.g.
                       ``amodal-compose fit --config lightning_configs/shape/synthetic.yaml``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__all__ = ["main", "LIGHTNING_SUBCOMMANDS"]

#: sub-commands handed to LightningCLI (see :mod:`amodal_compose.lightning_cli`).
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")

#: the synthetic worlds (``amodal_compose.data.synthetic.TEXTURE_MODES``; not imported here, so that the
#: parser starts without torch)
TEXTURES = ("procedural", "photo", "mixed")


def _cmd_preview(args: argparse.Namespace) -> int:
    from .data.datasets import SyntheticScenes
    from .data.preview import save_preview

    scenes = SyntheticScenes(args.num, image_size=args.size, split=args.split, seed=args.seed, texture=args.texture)
    path = save_preview(
        [scenes[i] for i in range(len(scenes))],
        Path(args.out) / "synthetic_preview.png",
        cols=args.cols,
        scale=max(1, 192 // args.size),
    )
    print(
        f"wrote {path}  ({args.num} scenes, {args.size} px; tiles: image | modal outlines + depth | "
        "background with amodal outlines, hidden parts shaded)"
    )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .data.check import check_config

    report = check_config(args.config, all_images=args.all, sample=args.sample)
    for line in report.lines:
        print(line)
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    print("ok" if report.ok else f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    import numpy as np

    from .data.datasets import SyntheticScenes

    ds = SyntheticScenes(args.num, image_size=args.size, split=args.split, seed=args.seed, texture=args.texture)
    n_obj, cats, ratios = Counter(), Counter(), []
    t0 = time.perf_counter()
    for s in ds:
        n_obj[len(s)] += 1
        for inst in s.instances:
            cats[ds.categories[inst.category]] += 1
            ratios.append(inst.occluded_ratio)
    dt = time.perf_counter() - t0
    r = np.array(ratios)
    edges = [0.0, 1e-9, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    hist = np.histogram(r, bins=edges)[0]
    print(f"{args.num} scenes at {args.size} px in {dt:.2f}s ({args.num / dt:.0f} scenes/s, one process)")
    print("objects per scene:", dict(sorted(n_obj.items())))
    print("categories:", dict(sorted(cats.items())))
    labels = ["0 (none)", "(0,0.1)", "[0.1,0.3)", "[0.3,0.5)", "[0.5,0.7)", "[0.7,0.9)", "[0.9,1]"]
    print("occluded ratio:", ", ".join(f"{lab}: {h}" for lab, h in zip(labels, hist)))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    sections = [x.strip() for x in args.sections.split(",") if x.strip()] if args.sections else None
    run_demo(args.out, args.runs, scenes=args.scenes, scale=args.train_scale, sections=sections,
             train_scenes=args.train_scenes, retrain=args.retrain, weights=args.weights)  # fmt: skip
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    if args.action == "report":
        from .bench.runner import publish

        print(f"wrote {publish(args.out, args.docs)} and its JSON from {Path(args.out) / 'bench.json'}")
        return 0
    overrides = tuple(a for path in args.config for a in ("--config", path))
    if args.texture:
        overrides += ("--data.init_args.texture", args.texture)
    rows = run_bench(args.task, args.out, seeds=args.seeds, recipes=args.recipes, runs=args.runs, overrides=overrides,
                     resume=args.resume)  # fmt: skip
    for r in rows:
        if not r["metric"].startswith("curve/"):
            spread = f" ± {r['std']}" if r["seeds"] > 1 and r["std"] is not None else ""
            print(f"{r['task']:<18} {r['method']:<24} {r['metric']:<28} {r['value']}{spread}")
    print(f"wrote {Path(args.out) / 'bench.json'} and {Path(args.out) / 'bench.md'}")
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from .pretrained import check_weights, make_weights

    chosen = [x.strip() for x in args.components.split(",") if x.strip()] or None
    configs = [a for path in args.config for a in ("--config", path)]
    if args.check_only:
        records = check_weights(args.out, chosen, configs, items=args.items)
    else:
        records = make_weights(args.out, chosen, args.runs, configs, items=args.items or 64, seed=args.seed)
    failed = [name for name in chosen or records if not records[name]["check"]["beats"]]
    print(f"wrote {Path(args.out) / 'README.md'} (the model card) and the weights beside it")
    if failed:
        print(f"error: {', '.join(failed)} did not beat their baselines (see the card)", file=sys.stderr)
        return 1
    return 0


def _split_spec(text: str) -> list[str]:
    """``text`` split at ``:``, except the colon of a Windows drive (``C:\\x.png``, ``D:/x.png``)."""
    raw, parts = text.split(":"), []
    i = 0
    while i < len(raw):
        piece = raw[i]
        if len(piece) == 1 and piece.isalpha() and i + 1 < len(raw) and raw[i + 1][:1] in ("\\", "/"):
            piece, i = f"{piece}:{raw[i + 1]}", i + 1
        parts.append(piece)
        i += 1
    return parts


def _device(name: str) -> str:
    """``"auto"``: the first CUDA device when one is present, else the CPU; any other name as given."""
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _instance_spec(text: str) -> dict:
    """``IMG[:MASK][:x,y[,scale]]`` -> ``{"image", "mask", "position", "scale"}`` (``mask`` ``None``: the
    image is an RGBA cut-out whose alpha is the mask). Windows drive letters (``C:\\cut.png``) are kept."""
    parts = _split_spec(text)
    spec: dict = {"image": parts[0], "mask": None, "position": None, "scale": 1.0}
    if len(parts) > 1 and parts[-1] and all(c in "0123456789.,-+eE " for c in parts[-1]) and "," in parts[-1]:
        try:
            numbers = [float(v) for v in parts[-1].split(",")]
        except ValueError as err:
            raise ValueError(f"--instance {text!r}: the placement must be numbers x,y[,scale]") from err
        if len(numbers) not in (2, 3):
            raise ValueError(f"--instance {text!r}: the placement is x,y or x,y,scale")
        spec["position"], spec["scale"] = (numbers[0], numbers[1]), numbers[2] if len(numbers) == 3 else 1.0
        parts = parts[:-1]
    if len(parts) > 2 or not parts[0]:
        raise ValueError(f"--instance {text!r}: expected IMAGE, IMAGE:MASK or either with :x,y[,scale]")
    spec["image"], spec["mask"] = parts[0], (parts[1] or None) if len(parts) == 2 else None
    return spec


def _instance(spec: dict, threshold: float, occluded) -> object:
    """A :class:`~amodal_compose.pipeline.ComposeInstance` from a parsed ``--instance``: image and mask
    files, or an RGBA cut-out whose alpha is the mask."""
    from .io import read_cutout
    from .pipeline import ComposeInstance

    try:
        image, mask = read_cutout(spec["image"], spec["mask"], threshold)
    except ValueError as err:
        raise ValueError(f"--instance {err}") from err
    return ComposeInstance(image, mask, spec["position"], spec["scale"], occluded)


def _cmd_compose(args: argparse.Namespace) -> int:
    from .io import read_image, write_png
    from .pipeline import Pipeline

    specs = [_instance_spec(t) for t in args.instance]
    occluded = {"auto": "auto", "yes": True, "no": False}[args.occluded]
    background = read_image(args.background)
    instances = [_instance(s, args.mask_threshold, occluded) for s in specs]
    pipe = Pipeline.from_dir(args.checkpoints, device=_device(args.device))
    result = pipe.compose(background, instances, mask_dilation=args.mask_dilation, progress=len(instances) > 4,
                          shape_method=args.shape_method, hypotheses=args.hypotheses, seed=args.seed)  # fmt: skip
    write_png(args.out, result.image)
    print(f"wrote {args.out} ({len(instances)} instances, "
          f"{sum(layer.occluded for layer in result.layers)} completed as occluded)")  # fmt: skip
    if args.save_layers:
        paths = result.save(args.save_layers)
        print(f"wrote {len(paths)} stage and layer images under {args.save_layers}")
    return 0


def _categories(text: str | None, count: int) -> list[int] | None:
    """``--categories 3,1,1``: one category index per instance."""
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError as err:
        raise ValueError(f"--categories {text!r}: comma-separated integers, one per instance") from err
    if len(values) != count or min(values) < 0:
        raise ValueError(f"--categories {text!r}: {len(values)} values for {count} instances (each >= 0)")
    return values


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _folder_images(folder: str) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"--images {root}: no such folder")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"--images {root}: no images in the folder")
    return files


def _masks_of(masks: str, image: Path) -> Path:
    """Folder mode: the masks of ``image`` under ``masks``: a COCO JSON covering every image, or per
    image ``<stem>/`` (mask images), ``<stem>.npz`` or ``<stem>.json`` (COCO results of that image)."""
    src = Path(masks)
    if src.is_file():
        return src
    for candidate in (src / image.stem, src / f"{image.stem}.npz", src / f"{image.stem}.json"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"--masks {src}: nothing for {image.name} (expected {image.stem}/, {image.stem}.npz "
                            f"or {image.stem}.json)")  # fmt: skip


def _each_image(files: list[Path], out_of, work, desc: str) -> int:
    """Folder mode: ``work(image, output)`` for each image whose output does not exist yet (a rerun
    goes on where the last stopped); a failing image is reported in one line and the rest go on.
    Exit code 2 when any failed."""
    failed = skipped = 0
    for path in _progress_items(files, desc):
        out = out_of(path)
        if out.exists():
            skipped += 1
            continue
        try:
            work(path, out)
        except (ValueError, OSError, KeyError) as err:
            failed += 1
            print(f"amodal-compose: error: {path.name}: {str(err).splitlines()[0]}", file=sys.stderr)
    done = len(files) - failed - skipped
    print(f"{done} images done, {skipped} already done before, {failed} failed")
    return 2 if failed else 0


def _deocclude_one(pipe, args: argparse.Namespace, image_path: Path, masks: str, out: Path, quiet: bool) -> None:
    import shutil

    from .io import read_image, read_instance_masks

    image = read_image(image_path)
    found = read_instance_masks(masks, image_path, tuple(image.shape[-2:]), score_threshold=args.score_threshold,
                                image_id=args.image_id, category_map=args.category_map)  # fmt: skip
    categories = _categories(args.categories, len(found.masks)) or found.categories
    result = pipe.deocclude(image, found.masks, categories, mask_threshold=args.mask_threshold,
                            mask_dilation=args.mask_dilation, grounded=not args.non_grounded,
                            shape_method=args.shape_method, hypotheses=args.hypotheses, seed=args.seed)  # fmt: skip
    if quiet:  # folder mode: a new OUT/<stem>/, renamed into place when complete
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        paths = result.save(tmp)
        os.replace(tmp, out)
    else:  # the user's folder, which may hold other files: written into
        paths = result.save(out)
        cats = "categories " + ",".join(map(str, categories)) if categories is not None else "no categories"
        print(f"read {found.source} ({cats})")
        print(f"wrote {len(paths)} files under {out}: {len(found.masks)} objects, {int(result.order.sum())} "
              f"occlusion edges (order.json), amodal masks, RGBA layers and the background ({result.notes})")


def _cmd_deocclude(args: argparse.Namespace) -> int:
    from .pipeline import Pipeline

    if (args.image is None) == (args.images is None):
        raise ValueError("give --image (one scene) or --images (a folder of scenes)")
    files = _folder_images(args.images) if args.images else None
    pipe = Pipeline.from_dir(args.checkpoints, device=_device(args.device))
    if files is None:
        _deocclude_one(pipe, args, Path(args.image), args.masks, Path(args.out), quiet=False)
        return 0
    return _each_image(files, lambda p: Path(args.out) / p.stem,
                       lambda p, out: _deocclude_one(pipe, args, p, str(_masks_of(args.masks, p)), out, True),
                       "de-occluding")  # fmt: skip


def _cmd_convert(args: argparse.Namespace) -> int:
    from .data.readers import CocoInstances
    from .data.writers import write_cocoa
    from .pipeline import load_system
    from .structures import Scene
    from .systems import PCNetMSystem

    reader = CocoInstances(args.annotations, args.images)
    pcnet = load_system(args.checkpoint, PCNetMSystem, "--checkpoint", _device(args.device))
    scenes, names = [], []
    for k in _progress_range(len(reader), "converting"):
        scene = reader[k]
        if len(scene) == 0:
            continue
        modal, cats = scene.modal_masks(), scene.categories()
        with pcnet.inference():
            order = pcnet.order(scene.image, modal, cats, dilation=args.neighbour_dilation)
            amodal = pcnet.amodal(scene.image, modal, order, cats)
        instances = [
            type(inst)(modal_mask=inst.modal_mask, category=inst.category, amodal_mask=amodal[j], meta=inst.meta)
            for j, inst in enumerate(scene.instances)
        ]
        scenes.append(Scene(scene.image, instances, order=order, scene_id=scene.scene_id, meta=scene.meta))
        names.append(scene.meta["file_name"])
    out = Path(args.out)
    path = write_cocoa(scenes, out.parent, out.name, file_names=names, categories=reader.categories)
    print(f"wrote {path}: {len(scenes)} images, {sum(len(s) for s in scenes)} instances with amodal masks and "
          f"{sum(int(s.order.sum()) for s in scenes)} occlusion edges (COCOA regions format)")  # fmt: skip
    return 0


def _remove_one(pipe, args: argparse.Namespace, image_path: Path, mask_path: Path, out: Path,
                save_mask: Path | None) -> dict:  # fmt: skip
    from .io import read_image, read_mask, write_png

    image = read_image(image_path)
    mask = read_mask(mask_path, threshold=255 * args.mask_threshold)
    result = pipe.remove(image, mask)
    if save_mask is not None:
        write_png(save_mask, result["mask"])
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.png")
    write_png(tmp, result["image"])
    os.replace(tmp, out)
    return {"removed": int(result["mask"].sum()), "rough": int(mask.sum())}


def _cmd_remove(args: argparse.Namespace) -> int:
    from .pipeline import Pipeline

    if (args.image is None) == (args.images is None):
        raise ValueError("give --image (one image) or --images (a folder of images)")
    pipe = Pipeline.from_dir(args.checkpoints, device=_device(args.device)) if args.image else None
    if args.image:
        out = Path(args.out)
        save = None if args.save_mask is None else Path(args.save_mask or out.with_name(f"{out.stem}_mask.png"))
        n = _remove_one(pipe, args, Path(args.image), Path(args.mask), Path(args.out), save)
        print(f"wrote {args.out}; removed {n['removed']} pixels (the rough mask had {n['rough']})")
        return 0
    files, masks = _folder_images(args.images), Path(args.mask)
    if not masks.is_dir():
        raise FileNotFoundError(f"--mask {masks}: with --images, a folder of masks named like the images")
    pipe = Pipeline.from_dir(args.checkpoints, device=_device(args.device))

    def mask_of(p: Path) -> Path:
        found = [m for m in (masks / f"{p.stem}{s}" for s in _IMAGE_SUFFIXES) if m.is_file()]
        if not found:
            raise FileNotFoundError(f"no mask {p.stem}.png in {masks}")
        return found[0]

    out = Path(args.out)
    return _each_image(
        files, lambda p: out / f"{p.stem}.png",
        lambda p, o: _remove_one(pipe, args, p, mask_of(p), o,
                                 None if args.save_mask is None else out / f"{p.stem}_mask.png"),
        "removing",
    )  # fmt: skip


def _hypothesis_args(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    parser.add_argument("--shape-method", choices=[default, "amodal_vae"], default=default,
                        help=f"what completes the masks: {what} or amodal_vae (Amodal-VAE)")  # fmt: skip
    parser.add_argument("--hypotheses", type=int, default=1, metavar="N",
                        help="with amodal_vae: N sampled hidden shapes per object, each completed and written "
                        "(ranked by agreement with the visible mask); 1: the posterior mode")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled hypotheses")


def _progress_range(n: int, desc: str):
    return _progress_items(range(n), desc)


def _progress_items(items, desc: str):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, disable=len(items) <= 4)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="amodal-compose", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from ._version import __version__

    p.add_argument("--version", action="version", version=f"amodal-compose {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="look at the synthetic data set, or check a prepared real one")
    dsub = data.add_subparsers(dest="data_command", required=True)
    for name, fn, helptext in (
        ("preview", _cmd_preview, "write a PNG grid of scenes"),
        ("stats", _cmd_stats, "print generator statistics"),
    ):
        q = dsub.add_parser(name, help=helptext)
        q.add_argument("--num", type=int, default=8 if name == "preview" else 500, help="number of scenes")
        q.add_argument("--size", type=int, default=96, help="image side in pixels (32-512)")
        q.add_argument("--split", default="val", choices=["train", "val", "test"])
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--texture", default="procedural", choices=TEXTURES,
                       help="the synthetic world's textures (photo: the split's own photos, docs/data.md)")
        if name == "preview":
            q.add_argument("--out", default="previews", help="output folder")
            q.add_argument("--cols", type=int, default=2)
        q.set_defaults(func=fn)
    chk = dsub.add_parser("check", help="check a config's data files before training: annotations parse, "
                          "images exist and decode, masks lie inside them, counts per split; one line per problem")
    chk.add_argument("--config", required=True, help="a LightningCLI config (its data section is checked)")
    chk.add_argument("--all", action="store_true", help="decode every image (default: a sample per split)")
    chk.add_argument("--sample", type=int, default=20, help="images decoded per split without --all")
    chk.set_defaults(func=_cmd_check)

    demo = sub.add_parser("demo", help="run the end-to-end demo (the shipped weights, or every network trained "
                          "briefly with --retrain), each network on held-out scenes")  # fmt: skip
    demo.add_argument("--out", default="demo_out", help="figures, metrics and a job manifest")
    demo.add_argument("--retrain", action="store_true", help="train every network briefly instead of loading the "
                      "shipped weights")  # fmt: skip
    demo.add_argument("--weights", default=None, help="a weights folder to load (default: the shipped set, weights/)")
    demo.add_argument("--runs", default="runs/demo", help="checkpoints (reused when present)")
    demo.add_argument("--scenes", type=int, default=12, help="held-out compositions")
    demo.add_argument("--train-scale", type=float, default=1.0, help="multiplies every training step budget")
    demo.add_argument("--train-scenes", type=int, default=1500, help="synthetic training scenes of each network")
    demo.add_argument("--sections", default="", help="comma-separated sections (default: all): "
                      "composition, deocclusion, removal, amodal_vae")  # fmt: skip
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="run: write reports/bench.{json,md}; report: publish them to docs/results.md")
    bench.add_argument("action", nargs="?", choices=("run", "report"), default="run",
                       help="run (default) the tasks, or report: merge <out>/bench.json into <docs>/results.{json,md}, "
                            "the committed home of every result")  # fmt: skip
    bench.add_argument("--docs", default="docs", help="where `report` writes results.{json,md}")
    bench.add_argument("--task", default="all", help="a task, an alias (shape, compose, content) or a comma list")
    bench.add_argument("--seeds", type=int, default=1, help="training seeds per learned task (mean and spread)")
    bench.add_argument("--recipes", default=None, help="folder of the recipes (default: lightning_configs/bench)")
    bench.add_argument("--out", default="reports")
    bench.add_argument("--runs", default="runs/bench", help="the learned runs' folder (each finished training, "
                       "chained stages' checkpoints)")  # fmt: skip
    bench.add_argument("--resume", action="store_true", help="reuse the trainings an earlier run finished in --runs "
                       "with the same recipe, arguments and code (an interrupted bench goes on where it stopped)")
    bench.add_argument("--config", action="append", default=[], help="a LightningCLI config applied over every "
                       "recipe (repeatable), e.g. lightning_configs/debug/tiny_data.yaml for a smoke run")  # fmt: skip
    bench.add_argument("--texture", choices=TEXTURES, default=None,
                       help="the synthetic world of every learned run (default: each recipe's, the photo world); "
                       "the report keeps each world's tables apart")  # fmt: skip
    bench.set_defaults(func=_cmd_bench)

    weights = sub.add_parser("weights", help="train the shipped weights (lightning_configs/weights/plan.yaml), check "
                             "each against its baseline on test items, write them with a model card")  # fmt: skip
    weights.add_argument("--out", default="weights", help="the weights folder (what Pipeline.from_pretrained loads)")
    weights.add_argument("--components", default="", help="comma-separated components (default: every one)")
    weights.add_argument("--runs", default="runs/weights", help="the chained stages' checkpoints")
    weights.add_argument("--items", type=int, default=None, help="test items of each component's check (default: "
                         "64, or the card's with --check-only)")  # fmt: skip
    weights.add_argument("--check-only", action="store_true", help="train nothing: check the set's files again "
                         "and rewrite its card")  # fmt: skip
    weights.add_argument("--seed", type=int, default=0, help="the training seed")
    weights.add_argument("--config", action="append", default=[], help="a LightningCLI config applied over every "
                         "stage (repeatable), e.g. lightning_configs/debug/tiny_data.yaml for a smoke run")  # fmt: skip
    weights.set_defaults(func=_cmd_weights)

    comp = sub.add_parser(
        "compose",
        help="compose instances onto a background with trained checkpoints",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Compose object instances onto a background (AMICO Algorithm 1): occluded instances are completed\n"
            "(shape, then content), every instance is blended in with the compositor's RGBA layer, in the\n"
            "given order. Images are any size, PNG or JPEG; masks are black / white images of the same size\n"
            "as their instance image (grey levels are split at --mask-threshold); an RGBA PNG cut-out needs no\n"
            "mask. The networks run on crops at their training size; the result is applied at the images'\n"
            "resolution, and every background pixel outside the instances' layers is kept exactly."
        ),
        epilog=(
            "example:\n  amodal-compose compose --background street.png --instance car.png:car_mask.png:120,200,0.8 "
            "\\\n      --instance dog.png:dog_mask.png --checkpoints runs/demo/pipeline --out composite.png"
        ),
    )
    comp.add_argument("--background", required=True, help="the background image")
    comp.add_argument(
        "--instance", action="append", required=True, metavar="IMG[:MASK][:x,y[,scale]]",
        help="an object image and its rough visible mask, or an RGBA cut-out alone (its alpha is the mask); "
        "optionally where the centre of the mask's box goes on the background (x, y in pixels) and a scale "
        "(default: the same place, scale 1). Repeat for more instances; they are composed in the given order.",
    )  # fmt: skip
    comp.add_argument(
        "--checkpoints", required=True, metavar="DIR",
        help="a folder written by Pipeline.save (pipeline.json) or holding shape.ckpt / content.ckpt / "
        "compositor.ckpt; the compositor is needed, shape and content for occluded instances",
    )  # fmt: skip
    comp.add_argument("--out", required=True, help="the output PNG")
    comp.add_argument("--save-layers", metavar="DIR", help="also write each stage and each instance's RGBA layer")
    comp.add_argument(
        "--occluded", choices=["auto", "yes", "no"], default="auto",
        help="complete the instances' hidden parts: 'auto' decides per instance from the shape net's prediction",
    )  # fmt: skip
    comp.add_argument(
        "--mask-dilation", type=int, default=0, metavar="PX",
        help="grow each mask by PX pixels first (for detector masks that stop short of the object's rim)",
    )  # fmt: skip
    comp.add_argument("--mask-threshold", type=float, default=0.5, metavar="T",
                      help="soft masks (grey levels, an alpha channel) count as the object above this share of "
                      "their range (default 0.5)")  # fmt: skip
    comp.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda:1, ...")
    _hypothesis_args(comp, "shape", "shape (f_shape, AMICO)")
    comp.set_defaults(func=_cmd_compose)

    deocc = sub.add_parser(
        "deocclude", help="recover a scene's occlusion order, amodal masks, object layers and background",
        description="De-occlude a scene (PCNet): the occlusion order of its objects (a directed graph, cycles "
        "allowed unless the checkpoint breaks them), each object's amodal mask and completed RGBA layer, and the "
        "background without them.",
    )  # fmt: skip
    deocc.add_argument("--image", help="the scene image")
    deocc.add_argument("--images", metavar="DIR", help="instead of --image: every image of a folder; --masks is "
                       "then a COCO instances JSON covering them, or a folder with <stem>/, <stem>.npz or "
                       "<stem>.json per image; each scene goes to OUT/<stem>/, finished ones are skipped")
    deocc.add_argument("--masks", required=True, help="the objects' visible masks: a folder of mask images (one "
                       "per object, sorted by name), an .npz (masks (N, H, W), optional categories, scores), a COCO "
                       "instances JSON holding the image (matched by file name), or a detector's COCO results "
                       "JSON (a list of {image_id, category_id, segmentation, score}; RLE or polygons)")  # fmt: skip
    deocc.add_argument("--score-threshold", type=float, default=0.5, metavar="S",
                       help="COCO results: keep detections scoring at least S (default 0.5)")
    deocc.add_argument("--image-id", type=int, default=None, help="COCO results or instances file: the image "
                       "to read (a results file of one image is used whole)")  # fmt: skip
    deocc.add_argument("--category-map", metavar="JSON", default=None,
                       help="a COCO JSON whose 'categories' list maps a result's category_id to the index the "
                       "network was trained with (its rank among the sorted ids; use the training annotations)")
    deocc.add_argument("--categories", default=None, metavar="I,J,...",
                       help="category indices of the objects, one per mask (overrides what the masks carry)")
    deocc.add_argument("--mask-threshold", type=float, default=0.5, metavar="T",
                       help="soft masks count as the object above this share of their range (default 0.5)")
    deocc.add_argument("--checkpoints", required=True, metavar="DIR",
                       help="a pipeline folder with pcnet_m (and pcnet_c for content and background)")  # fmt: skip
    deocc.add_argument("--out", required=True, help="output folder (order.json, amodal_<k>.png, layer_<k>.png, "
                       "background.png)")  # fmt: skip
    deocc.add_argument("--mask-dilation", type=int, default=0, metavar="PX",
                       help="grow every mask first (predicted masks leave margins between touching objects)")
    deocc.add_argument("--non-grounded", action="store_true", help="complete with all neighbours as erasers")
    deocc.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda:1, ...")
    _hypothesis_args(deocc, "pcnet_m", "pcnet_m (PCNet eq. 4)")
    deocc.set_defaults(func=_cmd_deocclude)

    conv = sub.add_parser(
        "convert-amodal", help="turn COCO modal annotations into pseudo-amodal COCOA annotations with PCNet-M",
        description="Label conversion (PCNet 4.1): every image of a COCO instances file is de-occluded with a "
        "trained PCNet-M (order by dual completion, ordering-grounded amodal completion) and written in the COCOA "
        "regions format (amodal polygons, visible RLE masks, depth_constraint order, category names), which the "
        "package's COCOA reader reads back.",
    )  # fmt: skip
    conv.add_argument("--annotations", required=True, help="COCO instances JSON (modal masks)")
    conv.add_argument("--images", required=True, help="the folder its file_name entries are relative to")
    conv.add_argument("--checkpoint", required=True, help="a PCNet-M checkpoint")
    conv.add_argument("--out", required=True, help="the COCOA JSON to write")
    conv.add_argument("--neighbour-dilation", type=int, default=None, metavar="PX",
                      help="objects are neighbours when their masks touch after growing by PX (default: PCNet-M's)")
    conv.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda:1, ...")
    conv.set_defaults(func=_cmd_convert)

    rem = sub.add_parser(
        "remove", help="remove the object a rough mask points at",
        description="Object removal (Shimosato & Ukita): the segmentation network selects the object the rough "
        "mask overlaps most and draws the mask the inpainter needs (slightly beyond the object, where a tight "
        "mask would leave a halo); the edge, segmentation and image inpainters fill it.",
    )  # fmt: skip
    rem.add_argument("--image", help="the image")
    rem.add_argument("--images", metavar="DIR", help="instead of --image: every image of a folder; --mask is then "
                     "a folder of masks named like the images, --out a folder (OUT/<stem>.png; finished ones are "
                     "skipped; --save-mask writes OUT/<stem>_mask.png)")
    rem.add_argument("--mask", required=True, help="a rough mask of the object (a scribble, a box, a detector's mask)")
    rem.add_argument("--checkpoints", required=True, metavar="DIR", help="a pipeline folder with remover.ckpt")
    rem.add_argument("--out", required=True, help="the output PNG (a folder with --images)")
    rem.add_argument("--save-mask", metavar="PNG", nargs="?", const="", help="also write the mask that was removed "
                     "(without a value: next to the output as <stem>_mask.png, the only form with --images)")
    rem.add_argument("--mask-threshold", type=float, default=0.5, metavar="T",
                     help="a soft mask counts as the object above this share of its range (default 0.5)")
    rem.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda:1, ...")
    rem.set_defaults(func=_cmd_remove)

    for name in LIGHTNING_SUBCOMMANDS:  # handled by LightningCLI in main()
        sub.add_parser(name, help=f"LightningCLI {name} (see `amodal-compose {name} --help`)", add_help=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``amodal-compose`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from .lightning_cli import run_lightning_cli

        run_lightning_cli(argv)
        return 0
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, KeyError) as err:  # bad input: one line, exit code 2
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"amodal-compose: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
