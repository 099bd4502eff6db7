"""The bench's shared runner: recipes, training through the users' own classes, test-once scoring,
seeds, and the report.

A learned task is a recipe, ``lightning_configs/bench/<task>.yaml``: a LightningCLI config (system,
network widths, optimiser, DataModule, step budget) that ``amodal-compose fit`` also trains as is,
plus an optional ``bench:`` section (test variants). For each seed the runner

1. builds the system, DataModule and trainer from the recipe (``seed_everything`` and the
   DataModule's training ``seed`` set to the seed; the val / test items do not depend on it);
2. fits, validating every ``val_check_interval`` steps: the learning curve comes from the ``val``
   split, and nothing is selected on ``test``;
3. scores the final weights once on the ``test`` split with ``trainer.test`` (the system's own
   evaluation, baselines included, on the same items), and once per test variant.

Rows hold the mean over seeds, the sample standard deviation (``ddof=1``; 0 for one seed) and each
seed's value. Baselines are recomputed for every seed on the same items, so their spread is 0.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml

from ..lightning_cli import find_configs, run_lightning_cli, training_threads
from ..metrics import BinnedImageMetrics
from .targets import read_targets, targets_markdown

__all__ = [
    "BenchContext",
    "Task",
    "LearnedTask",
    "TrainedRun",
    "find_recipes",
    "read_recipe",
    "instantiate",
    "make_row",
    "aggregate",
    "write_report",
    "publish",
    "save_run",
]


def find_recipes(path: str | Path | None = None) -> Path:
    """The folder of the bench recipes: ``path``, else ``lightning_configs/bench`` (see
    :func:`~amodal_compose.lightning_cli.find_configs`)."""
    if path is not None:
        if not Path(path).is_dir():
            raise FileNotFoundError(f"bench recipes not found: {path}")
        return Path(path)
    return find_configs("bench")


def read_recipe(path: Path) -> dict[str, Any]:
    """A recipe file as a dict."""
    if not path.is_file():
        raise FileNotFoundError(f"bench recipe not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a YAML mapping")
    return data


def instantiate(spec: dict[str, Any]) -> Any:
    """An object from a ``{"class_path", "init_args"}`` spec (the configs' format)."""
    import importlib

    module, name = str(spec["class_path"]).rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**dict(spec.get("init_args") or {}))


@dataclass
class BenchContext:
    """What a task run needs: ``seeds`` learned runs, the recipe folder, a run folder, a printer,
    extra LightningCLI arguments applied to every learned run (``overrides``: e.g. the tests' tiny
    budget), the folder of the figures (``None``: none), and whether to reuse finished trainings
    (``resume``; see :func:`train_and_test`)."""

    seeds: int = 1
    recipes: Path = field(default_factory=find_recipes)
    runs: Path = Path("runs/bench")
    log: Callable[[str], None] = lambda msg: print(msg, flush=True)
    overrides: tuple[str, ...] = ()
    figures: Path | None = None
    resume: bool = False
    cache: dict = field(default_factory=dict, repr=False)
    worlds: set = field(default_factory=set, repr=False)  # the textures of the current task's runs

    def trained(
        self, recipe: Path, seed: int, variants: dict | None = None, extra: Sequence[str] = (), test: bool = True,
    ) -> TrainedRun:  # fmt: skip
        """:func:`train_and_test` of ``recipe`` with ``seed`` (and ``extra`` arguments), once per bench run
        (tasks share recipes). ``test=False``: a chain's intermediate stage that no row reports, trained but
        not scored (a later request with ``test=True`` scores the cached run then)."""
        key = (str(recipe), seed, self.overrides, tuple(extra))
        if key not in self.cache:
            self.cache[key] = train_and_test(recipe.stem, recipe, seed, self, variants, (*self.overrides, *extra), test)
        run = self.cache[key]
        self.worlds.add(str(run.datamodule.hparams.get("texture", "procedural")))
        if test and not run.test:
            run.test.update(score_run(run, variants))
        return run


def _steal_jiffies() -> tuple[int, int] | None:
    """(stolen, total) CPU time of the machine so far from ``/proc/stat`` (Linux), else ``None``."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user / nice]
    return (fields[7], sum(fields[:8])) if len(fields) >= 8 else None


class Stopwatch:
    """Wall time, this process's CPU time (its threads and its finished children: loader workers) and
    the share of the machine's CPU time its host stole meanwhile (a shared virtual machine: the wall time
    of the same work grows with it; ``None`` where ``/proc/stat`` does not say).

    Example:
        >>> clock = Stopwatch()
        >>> seconds, cpu_seconds, steal_share = clock.read()
    """

    def __init__(self) -> None:
        self.t0, self.cpu0, self.steal0 = time.perf_counter(), self._cpu(), _steal_jiffies()

    @staticmethod
    def _cpu() -> float:
        try:
            import resource  # Unix
        except ImportError:  # pragma: no cover - Windows: this process only
            return time.process_time()
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def read(self) -> tuple[float, float, float | None]:
        """``(seconds, cpu_seconds, steal_share)`` since the stopwatch was made."""
        now = _steal_jiffies()
        steal = None
        if now is not None and self.steal0 is not None and now[1] > self.steal0[1]:
            steal = (now[0] - self.steal0[0]) / (now[1] - self.steal0[1])
        return time.perf_counter() - self.t0, self._cpu() - self.cpu0, steal


def machine_name() -> str:
    """The machine a bench run ran on, in words: CPU model and cores, and the GPU when CUDA is present."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    name = f"{cpu}, {cores} cores"
    if torch.cuda.is_available():
        name += f", {torch.cuda.get_device_name(0)}"
    return name


def commit_name(folder: str | Path = ".") -> str:
    """The checked-out commit (short hash, ``+changes`` when the tree differs from it), or ``unknown``."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def speed_device(spec: str | None) -> tuple[torch.device, str]:
    """The device a speed task runs on and the tag its rows' methods carry: ``"auto"`` (the default) is
    the first CUDA device when one is present, else the CPU; CPU rows carry no tag, CUDA rows the
    device's name (``"batched [NVIDIA H100 80GB HBM3]"``), so figures from different machines never mix."""
    spec = str(spec or "auto")
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"speed task device {spec!r}: no CUDA device is present")
    return device, "" if device.type == "cpu" else f" [{torch.cuda.get_device_name(device)}]"


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a wall-clock timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_row(
    task: str, method: str, metric: str, values: Sequence[float | None], split: str = "test", steps: int = 0,
    image_size: int = 64,
) -> dict[str, Any]:  # fmt: skip
    """One report row: ``value`` is the mean of ``values`` (one per seed), ``std`` their sample
    standard deviation (0 for a single value); NaN / None become ``None``."""
    clean = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    known = [v for v in clean if v is not None]
    mean = statistics.fmean(known) if known else None
    std = statistics.stdev(known) if len(known) > 1 else (0.0 if known else None)
    r4 = lambda v: None if v is None else round(v, 4)  # noqa: E731
    return {
        "task": task, "method": method, "metric": metric, "value": r4(mean), "std": r4(std),
        "values": [r4(v) for v in clean], "seeds": len(clean), "split": split, "steps": int(steps),
        "image_size": int(image_size),
    }  # fmt: skip


def aggregate(task: str, per_seed: Sequence[dict[tuple, float]], split: str, steps: int, image_size: int) -> list[dict]:
    """Rows from per-seed ``{(method, metric): value}`` dicts (same keys in each)."""
    keys = list(dict.fromkeys(k for d in per_seed for k in d))
    return [make_row(task, m, metric, [d.get((m, metric)) for d in per_seed], split, steps, image_size)
            for m, metric in keys]  # fmt: skip


class Task:
    """A bench task: ``run(context) -> rows``.

    Args:
        name: the task name (rows' ``task``).
        recipe: its file in the recipe folder.
        aliases: short names accepted by ``make bench BENCH=...``.
    """

    def __init__(self, name: str, recipe: str, aliases: Sequence[str] = ()) -> None:
        self.name, self.recipe, self.aliases = name, recipe, tuple(aliases)

    def run(self, ctx: BenchContext) -> list[dict]:
        raise NotImplementedError


@dataclass
class TrainedRun:
    """One seed of a learned task."""

    seed: int
    system: pl.LightningModule
    datamodule: pl.LightningDataModule
    train_seconds: float
    steps: int
    test: dict[str, dict[str, float]]  # variant -> logged test metrics
    curve: list[tuple[int, dict[str, float]]]
    accelerator: Any = "auto"  # the training trainer's, reused to score
    run_dir: Path | None = None


class _Curve(pl.Callback):
    """Records the main validation metrics after every validation and prints progress."""

    def __init__(self, name: str, printer: Callable[[str], None]) -> None:
        # not "log": Lightning sets callback.log to the module's log method
        self.name, self.printer, self.points, self.t0 = name, printer, [], time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        main = getattr(pl_module, "main_metric", "")
        keys = {f"val/{main}", "val/loss"}
        values = {k: float(v) for k, v in trainer.callback_metrics.items() if k in keys}
        self.points.append((trainer.global_step, values))
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(values.items()))
        self.printer(f"[bench] {self.name}: step {trainer.global_step}/{trainer.max_steps} {shown} "
                 f"({time.perf_counter() - self.t0:.0f}s)")  # fmt: skip


def _test_metrics(trainer: pl.Trainer, system: pl.LightningModule, dm: pl.LightningDataModule) -> dict[str, float]:
    results = trainer.test(system, datamodule=dm, verbose=False)
    return {k: float(v) for k, v in results[0].items() if k.startswith("test/")}


def _variant(dm: pl.LightningDataModule, overrides: dict[str, Any]) -> pl.LightningDataModule:
    """The same DataModule with some init arguments changed (a test variant)."""
    args = {k: v for k, v in dm.hparams.items() if not k.startswith("_")}  # LightningCLI adds _class_path
    return type(dm)(**{**args, **overrides})


def train_and_test(
    task: str, recipe: Path, seed: int, ctx: BenchContext, variants: dict[str, dict[str, Any]] | None = None,
    overrides: Sequence[str] = (), test: bool = True,
) -> TrainedRun:  # fmt: skip
    """Fit ``recipe`` with ``seed`` and score the final weights on ``test`` (and each variant; ``test=False``:
    not scored)."""
    run_dir = ctx.runs / task / f"seed{seed}"
    args = ["--config", str(recipe), "--seed_everything", str(seed), "--data.init_args.seed", str(seed),
            "--trainer.default_root_dir", str(run_dir), *overrides]  # fmt: skip
    cli = run_lightning_cli(args, run=False)
    store = run_dir / f"trained-{run_fingerprint(recipe, args)[:16]}.pt"
    if ctx.resume and store.is_file():
        done = torch.load(store, map_location="cpu", weights_only=True)
        cli.model.load_state_dict(done["state_dict"])
        ctx.log(f"[bench] {task} seed {seed}: reusing {store} ({done['steps']} steps)")
        curve = [(int(step), dict(values)) for step, values in done["curve"]]
        run = TrainedRun(seed, cli.model, cli.datamodule, float(done["seconds"]), int(done["steps"]), {}, curve,
                         cli.trainer.accelerator, run_dir)  # fmt: skip
    else:
        curve = _Curve(f"{task} seed {seed}", ctx.log)
        cli.trainer.callbacks.append(curve)
        with training_threads(getattr(cli.datamodule, "num_workers", 0)):
            t0 = time.perf_counter()
            cli.trainer.fit(cli.model, cli.datamodule)
            seconds = time.perf_counter() - t0
        run = TrainedRun(seed, cli.model, cli.datamodule, seconds, cli.trainer.global_step, {}, curve.points,
                         cli.trainer.accelerator, run_dir)  # fmt: skip
        store.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in cli.model.state_dict().items()}
        torch.save({"state_dict": state, "seconds": seconds, "steps": run.steps, "curve": run.curve}, store)
    if test:
        run.test.update(score_run(run, variants))
    return run


def run_fingerprint(recipe: Path, args: Sequence[str]) -> str:
    """What a finished training depends on, hashed: the recipe's text, the LightningCLI arguments, the
    files they name (configs, a chained stage's starting checkpoint) and the package's source code. A run
    is reused (``bench --resume``) only under the same fingerprint, so a changed recipe, seed, override,
    starting point or line of code trains afresh."""
    digest = hashlib.sha256()
    digest.update(Path(recipe).read_bytes())
    digest.update(json.dumps([str(a) for a in args]).encode())
    for arg in args:
        if Path(str(arg)).is_file():
            digest.update(Path(str(arg)).read_bytes())
    package = Path(__file__).resolve().parents[1]
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def score_run(run: TrainedRun, variants: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, float]]:
    """A trained run's final weights scored once on ``test`` (key ``""``) and on each test variant."""
    tester = pl.Trainer(
        accelerator=run.accelerator, devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=run.run_dir,
    )  # fmt: skip
    out = {"": _test_metrics(tester, run.system, run.datamodule)}
    for name, changes in (variants or {}).items():
        out[name] = _test_metrics(tester, run.system, _variant(run.datamodule, changes))
    return out


def save_run(run: TrainedRun, path: Path) -> Path:
    """The run's trained system as a checkpoint file (what a chained stage's ``init_from`` reads)."""
    hp = run.datamodule.hparams
    crop = {k: hp[k] for k in ("crop_size", "enlarge") if k in hp}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(run.system.portable_checkpoint(crop), path)
    return path


def _split_key(key: str) -> tuple[str, str]:
    """``"test/psnr/(0.05,0.2]/f_comp"`` -> ``("f_comp", "psnr/(0.05,0.2]")``."""
    stage, rest = key.split("/", 1)
    if "/" not in rest:
        return "", rest
    metric, method = rest.rsplit("/", 1)
    return method, metric


@dataclass(frozen=True)
class Recipe:
    """One recipe of a learned task: its file, which of its system's test metrics the task reports
    (metric-name prefixes; empty: all), and how its rows are named.

    Args:
        file: the recipe, in the recipe folder.
        metrics: metric-name prefixes to report (empty: all).
        methods: methods to report (empty: all).
        label: appended to every reported method (an ablation: ``"amodal_vae (without stage 3)"``).
        rename: ``(method, row name)`` pairs: a row named for what it measures, e.g.
            ``("f_content", "f_content (paper)")``.
        drop: methods not reported (a second recipe's baselines, scored on the same items as the first's).
    """

    file: str
    metrics: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    label: str = ""
    rename: tuple[tuple[str, str], ...] = ()
    drop: tuple[str, ...] = ()

    def keeps(self, metric: str) -> bool:
        return not self.metrics or metric.startswith(self.metrics)

    def method_name(self, method: str) -> str | None:
        """The row name of ``method`` (``None``: not reported)."""
        if (self.methods and method not in self.methods) or method in self.drop:
            return None
        method = dict(self.rename).get(method, method)
        return f"{method} ({self.label})" if self.label else method


class LearnedTask(Task):
    """A task that trains its recipes' systems for each seed and reports each system's test scores
    (its own and its baselines', on the same items), the val learning curves and the training times.

    Args:
        name, aliases: see :class:`Task`.
        recipes: one recipe file, or several (:class:`Recipe` s, to keep part of a system's metrics):
            e.g. the amodal-mask task reports f_shape's rows and PCNet-M's amodal rows. A recipe shared
            by two tasks is trained once per seed in a bench run.
    """

    def __init__(self, name: str, recipes: str | Sequence[str | Recipe], aliases: Sequence[str] = ()) -> None:
        items = [recipes] if isinstance(recipes, str) else list(recipes)
        self.recipes = [r if isinstance(r, Recipe) else Recipe(r) for r in items]
        super().__init__(name, self.recipes[0].file, aliases)

    @property
    def recipe_files(self) -> list[str]:
        return [r.file for r in self.recipes]

    def run(self, ctx: BenchContext) -> list[dict]:
        rows = []
        for recipe in self.recipes:
            path = ctx.recipes / recipe.file
            variants = (read_recipe(path).get("bench") or {}).get("variants") or {}
            runs = [ctx.trained(path, seed, variants) for seed in range(ctx.seeds)]
            if ctx.figures is not None:
                name = self.name if len(self.recipes) == 1 else f"{self.name}_{Path(recipe.file).stem}"
                for fig in write_figures(name, runs[0], ctx.figures):
                    ctx.log(f"[bench] {self.name}: figure {fig}")
            rows += self.rows(runs, recipe)
        return order_rows(rows)

    def image_size(self, run: TrainedRun) -> int:
        hp = run.datamodule.hparams
        return int(hp.get("crop_size", hp.get("image_size", 64)))

    def rows(
        self, runs: Sequence[TrainedRun], recipe: Recipe | None = None, train_seconds: Sequence[float] | None = None,
    ) -> list[dict]:  # fmt: skip
        """Report rows of ``runs`` (one per seed): test metrics, ``train_seconds`` (the runs' own, or
        ``train_seconds`` per seed: a chain of stages) and the val curve."""
        recipe = recipe or self.recipes[0]
        size, steps = self.image_size(runs[0]), runs[0].steps
        own = runs[0].system.methods[0]
        learned = recipe.method_name(own) or own
        per_seed = []
        for i, run in enumerate(runs):
            values: dict[tuple, float] = {}
            for variant, metrics in run.test.items():
                suffix = f" [{variant}]" if variant else ""
                for key, value in metrics.items():
                    method, metric = _split_key(key)
                    name = recipe.method_name(method) if method else None
                    if name and metric != "loss" and (recipe.keeps(metric) or metric.startswith("count/")):
                        values[(name, metric + suffix)] = value
            values[(learned, "train_seconds")] = run.train_seconds if train_seconds is None else train_seconds[i]
            per_seed.append(values)
        rows = aggregate(self.name, per_seed, "test", steps, size)
        for row in rows:  # baselines take no training steps
            if not row["method"].startswith((own, learned)):
                row["steps"] = 0
            if row["metric"] == "train_seconds":
                row["split"] = "train"
        # the val learning curve: one row per metric and validation step, over the seeds
        by_step: dict[int, list[dict[str, float]]] = defaultdict(list)
        for run in runs:
            for step, values in run.curve:
                by_step[step].append(values)
        for step, points in sorted(by_step.items()):
            for key in sorted({k for p in points for k in p}):
                _, metric = _split_key(key)
                rows.append(make_row(self.name, learned, f"curve/{metric}", [p.get(key) for p in points], "val", step,
                                     size))  # fmt: skip
        test_seed = runs[0].datamodule.hparams.get("test_seed")
        for row in rows:
            row["recipe"] = recipe.file
            if row["split"] == "test" and test_seed is not None:
                row["test_seed"] = int(test_seed)
        return rows


def gain_rows(rows: list[dict], learned: str, prior: str, metrics: tuple[str, ...] = ("psnr", "ssim")) -> list[dict]:
    """The learned method's gain over the method it starts from, seed by seed, as rows of their own
    (``"gain of <learned> over <prior>"``), for the test metrics both have (``metrics``: name prefixes).

    Raises:
        KeyError: ``learned`` or ``prior`` has no test row.
    """
    pick = lambda m: {(r["metric"]): r for r in rows if r["method"] == m and r["split"] == "test"}  # noqa: E731
    mine, start = pick(learned), pick(prior)
    if not mine or not start:
        raise KeyError(f"no test rows of {learned if not mine else prior!r} to take a gain from")
    out = []
    for metric, row in mine.items():
        base = start.get(metric)
        if base is None or not metric.startswith(metrics) or len(base["values"]) not in (1, len(row["values"])):
            continue
        starts = base["values"] * len(row["values"]) if len(base["values"]) == 1 else base["values"]
        diffs = [None if a is None or b is None else a - b for a, b in zip(row["values"], starts)]
        gain = make_row(row["task"], f"gain of {learned} over {prior}", metric, diffs, "test", row["steps"],
                        row["image_size"])  # fmt: skip
        out.append({**{k: v for k, v in row.items() if k not in gain}, **gain})
    return out


def order_rows(rows: list[dict]) -> list[dict]:
    """A task's rows in table order: the learned methods (the paper's first, as the recipes list them),
    then their gains, then the baselines, then the val curves; otherwise as given."""

    def rank(row: dict) -> int:
        if row["metric"].startswith("curve/"):
            return 3
        if row["method"].startswith("gain of "):
            return 1
        return 2 if row["steps"] == 0 and row["metric"] != "train_seconds" else 0

    return sorted(rows, key=rank)


def write_figures(task: str, run: TrainedRun, folder: Path, per_bin: int = 4, scan: int = 600) -> list[Path]:
    """PNG grids of test items (rows) by column: inputs, the network's output, each baseline's, the
    target (:meth:`~amodal_compose.systems.base.System.figure`); one grid per area bin for systems that
    score by bin (``hparams.bins``), from the first ``scan`` test items."""
    from ..io import write_png
    from ..ops.grid import image_grid
    from ..structures import Keys

    ds = run.datamodule.dataset("test")
    if len(ds) == 0 or not isinstance(ds[0], dict):  # scene-level systems (de-occlusion) draw no item grid
        return []
    bins = [tuple(b) for b in run.system.hparams.get("bins", ())]
    groups: dict[str, list[int]] = {BinnedImageMetrics.bin_name(b): [] for b in bins} or {"all": []}
    for i in range(min(len(ds), scan)):
        if all(len(v) >= per_bin for v in groups.values()):
            break
        if bins:
            ratio = float(ds[i][Keys.AREA_RATIO])
            name = next((BinnedImageMetrics.bin_name(b) for b in bins if b[0] < ratio <= b[1]), None)
        else:
            name = "all"
        if name is not None and len(groups[name]) < per_bin:
            groups[name].append(i)
    paths = []
    run.system.eval()
    for name, items in groups.items():
        if not items:
            continue
        batch = torch.utils.data.default_collate([ds[i] for i in items])
        batch = {k: v.to(run.system.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        try:
            with torch.no_grad():
                columns = run.system.figure(batch)
        except NotImplementedError:
            return paths
        suffix = "" if name == "all" else "_" + name.replace("(", "").replace("]", "").replace(",", "-")
        paths.append(write_png(folder / f"{task}{suffix}.png", image_grid(columns, per_bin, scale=3)))
    return paths


# ----------------------------------------------------------------------------- report
def table_key(row: dict) -> tuple[str, str]:
    """A row's table: its task and the synthetic world its networks were trained and scored in (``""``
    for a task that trains nothing)."""
    return row["task"], row.get("world") or ""


def write_report(rows: list[dict], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``bench.json`` and ``bench.md``; rows of a task re-run in the same world replace the old ones."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out_dir / "bench.json", out_dir / "bench.md"
    old = json.loads(jpath.read_text()) if jpath.is_file() else []
    tables = {table_key(r) for r in rows}
    merged = [r for r in old if table_key(r) not in tables] + rows
    jpath.write_text(json.dumps(merged, indent=1))
    mpath.write_text(markdown(merged))
    return jpath, mpath


#: the targets file beside ``results.md`` (:mod:`~amodal_compose.bench.targets`).
TARGETS = "targets.yaml"


def publish(report_dir: str | Path = "reports", docs_dir: str | Path = "docs") -> Path:
    """Results' one home: the rows of ``<report_dir>/bench.json`` merged into ``<docs_dir>/results.json``
    (a task's rows replace its old ones of the same world) and ``<docs_dir>/results.md`` generated from it,
    both committed; the targets of ``<docs_dir>/targets.yaml`` are judged on the rows at its top.

    Raises:
        FileNotFoundError: no bench report to publish.
    """
    source = Path(report_dir) / "bench.json"
    if not source.is_file():
        raise FileNotFoundError(f"no bench report at {source}: run `make bench` first")
    rows = json.loads(source.read_text())
    docs = Path(docs_dir)
    docs.mkdir(parents=True, exist_ok=True)
    target = docs / "results.json"
    old = json.loads(target.read_text()) if target.is_file() else []
    tables = {table_key(r) for r in rows}
    merged = [r for r in old if table_key(r) not in tables] + rows
    target.write_text(json.dumps(merged, indent=1) + "\n")
    text = markdown(merged).replace("# Bench report", "# Results", 1)
    note = "Generated by `make results` from `docs/results.json` (the bench's rows); do not edit by hand."
    text = text.replace("\n\n", f"\n\n{note}\n\n", 1)
    if (docs / TARGETS).is_file():  # the issues' targets, judged on these rows, before the tables
        first = text.index('<a id="')
        text = text[:first] + targets_markdown(read_targets(docs / TARGETS), merged) + "\n" + text[first:]
    (docs / "results.md").write_text(text)
    return docs / "results.md"


#: what each synthetic world's textures are, as the report says it.
WORLD_LABELS = {
    "procedural": "procedural textures (stripes, gradients, checkers, blobs)",
    "photo": "photo textures (windows of real photos; train, val and test photos disjoint)",
    "mixed": "mixed textures (each object and background procedural or photo)",
}


def _fmt(row: dict) -> str:
    if row["value"] is None:
        return "n/a"
    if row.get("seeds", 1) > 1:
        return f"{row['value']:.4f} ± {row['std']:.4f}"
    return f"{row['value']:.4f}"


def markdown(rows: list[dict]) -> str:
    """The report as markdown: per task, a table of results (mean ± std over seeds) and, for learned
    tasks, the val learning curve (steps as columns)."""
    out = ["# Bench report", "", "Values are means over `seeds` training seeds ± their sample standard "
           "deviation; `test` rows are scored once, after training; curves are on `val`.", ""]  # fmt: skip
    anchored = set()
    for task, world in dict.fromkeys(table_key(r) for r in rows):
        trs = [r for r in rows if table_key(r) == (task, world)]
        if task not in anchored:  # links to a task (``results.md#<task>``) land on its first table
            out += [f'<a id="{task}"></a>', ""]
            anchored.add(task)
        out += [f"## {task} ({world} world)" if world in WORLD_LABELS else f"## {task}", ""]
        facts = [WORLD_LABELS[world]] if world in WORLD_LABELS else []
        seeds = sorted({r["test_seed"] for r in trs if r.get("test_seed") is not None})
        if seeds:
            facts.append(f"test draw `test_seed` {', '.join(map(str, seeds))}")
        elif any(r["split"] == "test" and r.get("recipe") for r in trs):  # rows from before test_seed existed
            facts.append("the earlier test draw (the scenes of `data_seed`), looked at while the recipe was chosen")
        for key, label in (("machine", "machine"), ("commit", "commit")):
            values = sorted({str(r[key]) for r in trs if r.get(key)})
            if values:
                facts.append(f"{label} {', '.join(values)}")
        if facts:
            out += ["Run: " + "; ".join(facts) + ".", ""]
        out += [ "| method | metric | value | split | steps | seeds | image_size | recipe |",
                "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in trs:
            if not r["metric"].startswith("curve/"):
                out.append(f"| {r['method']} | {r['metric']} | {_fmt(r)} | {r['split']} | {r['steps']} | "
                           f"{r.get('seeds', 1)} | {r['image_size']} | {r.get('recipe', '')} |")  # fmt: skip
        curves = [r for r in trs if r["metric"].startswith("curve/")]
        if curves:
            steps = sorted({r["steps"] for r in curves})
            out += ["", "| val curve | " + " | ".join(str(s) for s in steps) + " |",
                    "|---|" + "---|" * len(steps)]  # fmt: skip
            for method, metric in dict.fromkeys((r["method"], r["metric"]) for r in curves):
                cells = {r["steps"]: _fmt(r) for r in curves if (r["method"], r["metric"]) == (method, metric)}
                out.append(f"| {metric} ({method}) | " + " | ".join(cells.get(s, "") for s in steps) + " |")
        out.append("")
    return "\n".join(out)
