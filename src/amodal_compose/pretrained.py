"""Shipped weights: one trained checkpoint per pipeline component, in float16, under ``weights/``.

``make weights`` (:func:`make_weights`) trains each component through the recipes that
``lightning_configs/weights/plan.yaml`` lists (each stage a bench recipe with an overlay from
``lightning_configs/weights/``; chained stages start from the previous stage's weights), scores the
float16 file and its baseline once on the first test items of the recipe's own data (the check the plan
names, e.g. f_comp against cut-and-paste), and writes the set: ``<component>.ckpt``, ``pipeline.json`` (what
:meth:`~amodal_compose.pipeline.Pipeline.from_dir` reads), ``card.json`` (the records) and
``README.md`` (the model card generated from them). :func:`shipped_weights` finds the set that
:meth:`~amodal_compose.pipeline.Pipeline.from_pretrained` loads.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml

from .lightning_cli import find_configs
from .systems.base import COMPONENTS

__all__ = [
    "WEIGHTS_ENV",
    "SIZE_LIMIT",
    "WeightsCheck",
    "ComponentRecipe",
    "read_plan",
    "shipped_weights",
    "check_component",
    "recipe_datamodule",
    "make_weights",
    "check_weights",
    "write_card",
]

#: environment variable naming the folder :func:`shipped_weights` returns.
WEIGHTS_ENV = "AMODAL_COMPOSE_WEIGHTS"
#: the shipped set's size limit in bytes (every ``.ckpt`` together).
SIZE_LIMIT = 20 * 2**20
MANIFEST, CARD = "pipeline.json", "card.json"


@dataclass(frozen=True)
class WeightsCheck:
    """What a shipped component must beat: ``test/<metric>/<model>`` above ``test/<metric>/<baseline>``
    (every checked metric is higher-is-better: PSNR, mIoU, pair accuracy)."""

    metric: str
    model: str
    baseline: str

    def key(self, method: str) -> str:
        return f"test/{self.metric}/{method}"


@dataclass(frozen=True)
class ComponentRecipe:
    """A component's training plan: ``stages``, each a tuple of configs (relative to
    ``lightning_configs/``) trained in turn; a later stage starts from the previous one's checkpoint,
    passed as ``init_from`` formatted with ``{prev}``."""

    name: str
    stages: tuple[tuple[str, ...], ...]
    check: WeightsCheck
    init_from: str = "{prev}"

    def arguments(self, stage: int, prev: str | Path | None = None) -> list[str]:
        """LightningCLI arguments of ``stage`` (its configs, and ``init_from`` after the first)."""
        args = [a for config in self.stages[stage] for a in ("--config", config)]
        if stage > 0:
            args += ["--model.init_args.init_from", self.init_from.format(prev=prev)]
        return args

    def overlays(self) -> str:
        """The recipe in a line: each stage's last config (its overlay), in training order."""
        return " -> ".join(stage[-1] for stage in self.stages)


def read_plan(path: str | Path | None = None) -> dict[str, ComponentRecipe]:
    """The components and recipes of a plan file (default: ``lightning_configs/weights/plan.yaml``).

    Raises:
        FileNotFoundError: no such plan, or a config it names is missing.
        ValueError: an unknown component, a component without stages or check, or a malformed entry.
    """
    path = Path(path) if path else find_configs("weights") / "plan.yaml"
    plan = yaml.safe_load(path.read_text()) or {}
    if not isinstance(plan, dict):
        raise ValueError(f"{path}: a plan maps component names to recipes")
    recipes, root = {}, find_configs()
    for name, spec in plan.items():
        if name not in COMPONENTS:
            raise ValueError(f"{path}: unknown component {name!r}; the components are {sorted(COMPONENTS)}")
        try:
            stages = tuple(tuple(str(c) for c in stage) for stage in spec["stages"])
            check = WeightsCheck(**spec["check"])
        except (KeyError, TypeError) as err:
            raise ValueError(f"{path}: {name} needs 'stages' (lists of configs) and 'check' "
                             f"(metric, model, baseline): {err}") from err  # fmt: skip
        if not stages or not all(stages):
            raise ValueError(f"{path}: {name} has an empty stage list")
        for config in (c for stage in stages for c in stage):
            if not (root / config).is_file():
                raise FileNotFoundError(f"{path}: {name} names {config}, which is not under {root}")
        recipes[name] = ComponentRecipe(name, stages, check, str(spec.get("init_from", "{prev}")))
    return recipes


def shipped_weights(folder: str | Path | None = None) -> Path:
    """The folder of a weights set: ``folder`` if given, else ``$AMODAL_COMPOSE_WEIGHTS``, else the
    ``weights/`` folder of the source checkout this package runs from.

    Raises:
        FileNotFoundError: the folder holds no ``pipeline.json`` (``make weights`` writes one).
    """
    if folder is None:
        folder = os.environ.get(WEIGHTS_ENV) or Path(__file__).resolve().parents[2] / "weights"
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(
            f"no weights set in {folder} (no {MANIFEST}); train one with `make weights`, set {WEIGHTS_ENV}, or "
            "pass the folder"
        )
    return folder


def recipe_datamodule(recipe: ComponentRecipe, seed: int = 0, configs: Sequence[str] = ()) -> pl.LightningDataModule:
    """The DataModule of ``recipe``'s last stage (its configs, then ``configs``), built without training:
    what a shipped component is checked on."""
    from .lightning_cli import run_lightning_cli

    args = [*(a for c in recipe.stages[-1] for a in ("--config", c)),
            "--data.init_args.seed", str(seed), *configs]
    return run_lightning_cli(args, run=False).datamodule


def check_component(
    system: pl.LightningModule, datamodule: pl.LightningDataModule, check: WeightsCheck, items: int = 64,
) -> dict[str, Any]:  # fmt: skip
    """Score ``system`` and its baseline on the first ``items`` test items of ``datamodule`` (whole
    batches): ``{"model", "baseline", "beats", "items", "test_seed", "metric"}``.

    Raises:
        KeyError: the system logs no such metric (the message lists what it logs).
    """
    batch = int(datamodule.hparams.get("batch_size", 1) or 1)
    tester = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_test_batches=max(1, math.ceil(items / batch)),
    )  # fmt: skip
    logged = {k: float(v) for k, v in tester.test(system, datamodule=datamodule, verbose=False)[0].items()}
    missing = [check.key(m) for m in (check.model, check.baseline) if check.key(m) not in logged]
    if missing:
        raise KeyError(f"{type(system).__name__} logs none of {missing}; it logs {sorted(logged)}")
    model, baseline = logged[check.key(check.model)], logged[check.key(check.baseline)]
    scored = min(tester.limit_test_batches * batch, len(datamodule.test_dataloader().dataset))
    return {"metric": check.metric, "model": model, "baseline": baseline, "beats": model > baseline,
            "items": int(scored), "test_seed": datamodule.hparams.get("test_seed")}  # fmt: skip


def make_weights(
    out: str | Path = "weights", components: Sequence[str] | None = None, runs: str | Path = "runs/weights",
    configs: Sequence[str] = (), items: int = 64, seed: int = 0, plan: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Train, check and write the weights of ``components`` (default: every one in the plan) into ``out``;
    the components already there and not retrained are kept. Returns the card's records by component.

    Args:
        out: the weights folder.
        components: which components to train.
        runs: where the chained stages' checkpoints go.
        configs: extra LightningCLI arguments applied over every stage (e.g. ``--config
            debug/tiny_data.yaml`` for a smoke run).
        items: test items of each check.
        seed: the training seed.
        plan: the plan file (default: ``lightning_configs/weights/plan.yaml``).
        log: progress printer.

    Raises:
        ValueError: a component not in the plan.
    """
    from .bench.runner import BenchContext, machine_name, save_run, train_and_test
    from .checkpoints import load_system
    from .pipeline import Components

    recipes = read_plan(plan)
    chosen = list(recipes) if components is None else list(components)
    unknown = sorted(set(chosen) - set(recipes))
    if unknown:
        raise ValueError(f"components {unknown} are not in the plan; it has {list(recipes)}")
    out, runs = Path(out), Path(runs)
    ctx = BenchContext(runs=runs, log=log)
    records = _read_card(out)
    for n, name in enumerate(chosen, 1):
        recipe, prev, seconds, steps = recipes[name], None, 0.0, []
        log(f"[weights {n}/{len(chosen)}] {name}: {recipe.overlays()}")
        for k in range(len(recipe.stages)):
            args = [*recipe.arguments(k, prev)[2:], *configs]  # the first config is the run's recipe
            run = train_and_test(name, find_configs() / recipe.stages[k][0], seed, ctx, overrides=args, test=False)
            seconds, steps = seconds + run.train_seconds, [*steps, run.steps]
            prev = save_run(run, runs / name / f"stage{k + 1}.ckpt")
        out.mkdir(parents=True, exist_ok=True)
        Components(**{name: run.system}).save_component(name, out / f"{name}.ckpt", torch.float16)
        log(f"      {name}: {'+'.join(map(str, steps))} steps in {seconds:.0f}s -> {out / f'{name}.ckpt'}")
        shipped = load_system(out / f"{name}.ckpt", COMPONENTS[name], name)  # checked: the float16 file
        records[name] = {
            "system": type(run.system).__name__, "recipe": recipe.overlays(),
            "stages": [list(stage) for stage in recipe.stages],
            "steps": steps, "train_seconds": round(seconds, 1), "machine": machine_name(), "seed": seed,
            "world": str(run.datamodule.hparams.get("texture", "procedural")),
            "check": _checked(name, shipped, run.datamodule, recipe, items, log),
            "bytes": (out / f"{name}.ckpt").stat().st_size,
        }  # fmt: skip
        _write_set(out, records)
    total = sum(r["bytes"] for r in records.values())
    if total > SIZE_LIMIT:
        log(f"warning: the weights set is {total / 2**20:.1f} MiB, over the {SIZE_LIMIT / 2**20:.0f} MiB limit")
    return records


def check_weights(
    folder: str | Path = "weights", components: Sequence[str] | None = None, configs: Sequence[str] = (),
    items: int | None = None, plan: str | Path | None = None, log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Check a written set again without training: each component's file (default: every one the card
    lists) against its baseline on its recipe's test items (``items``: the card's; the recipes of ``plan``,
    default ``lightning_configs/weights/plan.yaml``), the card rewritten with the results. Returns the
    card's records.

    Raises:
        FileNotFoundError: no card in ``folder``.
        ValueError: a component the card does not list.
    """
    from .checkpoints import load_system

    folder = Path(folder)
    records, recipes = _read_card(folder), read_plan(plan)
    if not records:
        raise FileNotFoundError(f"no {CARD} in {folder}; `make weights` writes one")
    chosen = list(records) if components is None else list(components)
    unknown = sorted(set(chosen) - set(records))
    if unknown:
        raise ValueError(f"components {unknown} are not in {folder / CARD}; it lists {list(records)}")
    for name in chosen:
        record, recipe = records[name], recipes[name]
        system = load_system(folder / f"{name}.ckpt", COMPONENTS[name], name)
        datamodule = recipe_datamodule(recipe, record["seed"], configs)
        record["check"] = _checked(name, system, datamodule, recipe, int(items or record["check"]["items"]), log)
    _write_set(folder, records)
    return records


def _checked(
    name: str, system: pl.LightningModule, datamodule: pl.LightningDataModule, recipe: ComponentRecipe, items: int,
    log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """:func:`check_component` as the card records it, with a line saying how it went."""
    t0 = time.perf_counter()
    result = check_component(system, datamodule, recipe.check, items)
    check = recipe.check
    log(f"      {name}: {check.model} {'beats' if result['beats'] else 'DOES NOT beat'} {check.baseline} on "
        f"{result['items']} test items ({check.metric} {result['model']:.4f} against {result['baseline']:.4f})")
    return {**result, "baseline_name": check.baseline, "model_name": check.model,
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def _read_card(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / CARD
    return json.loads(path.read_text())["components"] if path.is_file() else {}


def _write_set(folder: Path, records: dict[str, dict[str, Any]]) -> None:
    """The manifest (every component file present) and the card of ``folder``."""
    from ._version import __version__

    entries = {name: {"file": f"{name}.ckpt", "system": r["system"]} for name, r in records.items()
               if (folder / f"{name}.ckpt").is_file()}  # fmt: skip
    (folder / MANIFEST).write_text(json.dumps({"amodal_compose": __version__, "components": entries}, indent=1))
    (folder / CARD).write_text(json.dumps({"amodal_compose": __version__, "components": records}, indent=1))
    write_card(folder, records)


def write_card(folder: str | Path, records: dict[str, dict[str, Any]]) -> Path:
    """``README.md`` of a weights set, generated from its records: what each component is, how it was
    trained and what its check measured."""
    lines = [
        "# Shipped weights",
        "",
        "Generated by `make weights` (`amodal_compose.pretrained`) from `card.json`; do not edit by hand.",
        "Load them with `Pipeline.from_pretrained()` (this folder) or `Pipeline.from_pretrained(\"<folder>\")`.",
        "",
        "- **Data**: the synthetic scenes of `amodal_compose.data` in the world each recipe names (`photo`: object "
        "and background textures cut from the training photos of `docs/data.md`; validation and test use other "
        "photos). No real annotated data set was used.",
        "- **Recipes**: `lightning_configs/weights/plan.yaml`; each stage is a bench recipe with an overlay from "
        "`lightning_configs/weights/`.",
        "- **Storage**: float16 weights; the pipeline casts them to its own dtype when loading.",
        "- **Check**: each component and its baseline scored once on the first test items of its recipe's data "
        "(the test split's own photos and scenes, never seen in training or validation).",
        "- **Licence**: MIT, as the code. The training photos' licences and attributions are in `docs/data.md`.",
        "",
        "| component | system | recipe | steps | training | world | check (test items) | model | baseline | size |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in records.items():
        c = r["check"]
        lines.append(
            f"| {name} | {r['system']} | {r['recipe']} | {'+'.join(map(str, r['steps']))} | "
            f"{r['train_seconds'] / 60:.1f} min ({r.get('machine', '?')}) | {r['world']} | "
            f"{c['metric']}: {c['model_name']} against {c['baseline_name']} "
            f"({c['items']}, test_seed {c['test_seed']}) | "
            f"{c['model']:.4f} | {c['baseline']:.4f} | {r['bytes'] / 2**20:.2f} MiB |"
        )  # fmt: skip
    lines += ["", f"Total: {sum(r['bytes'] for r in records.values()) / 2**20:.2f} MiB "
              f"(limit {SIZE_LIMIT / 2**20:.0f} MiB).", ""]  # fmt: skip
    path = Path(folder) / "README.md"
    path.write_text("\n".join(lines))
    return path
