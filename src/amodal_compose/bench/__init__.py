"""``make bench``: seeded quality and speed rows on held-out synthetic data, into
``reports/bench.{json,md}``.

One module per task, each registering a :class:`~amodal_compose.bench.runner.Task`; the learned tasks
train their recipe (``lightning_configs/bench/<task>.yaml``) through the same systems and DataModules
users train with (see :mod:`amodal_compose.bench.runner`). A new network adds one module and one recipe.
"""

from __future__ import annotations

from pathlib import Path

from . import (
    amodal_mask,
    amodal_vae,
    composition,
    content_completion,
    data,
    deocclusion_speed,
    object_removal,
    ordering,
    pipeline_speed,
    real_photos,
)
from .runner import BenchContext, Stopwatch, Task, commit_name, find_recipes, machine_name, make_row, write_report

__all__ = ["TASKS", "ALIASES", "run_bench", "resolve_tasks"]

TASKS: dict[str, Task] = {
    t.name: t
    for t in (amodal_mask.TASK, amodal_vae.TASK, amodal_vae.ABLATIONS_TASK, composition.TASK,
              content_completion.CONTENT, content_completion.PCNET_C, content_completion.PCNET_C_REAL,
              ordering.TASK, object_removal.TASK,
              data.TASK, pipeline_speed.TASK, deocclusion_speed.TASK, real_photos.TASK)
}

#: short names accepted by ``make bench BENCH=...``.
ALIASES: dict[str, str] = {alias: t.name for t in TASKS.values() for alias in t.aliases}


def resolve_tasks(task: str) -> list[str]:
    """Task names from ``"all"``, a name, an alias, or a comma-separated list of them."""
    names = list(TASKS) if task == "all" else [ALIASES.get(t.strip(), t.strip()) for t in task.split(",")]
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ValueError(f"unknown bench task {unknown}; choose from {['all', *TASKS, *ALIASES]}")
    return names


def run_bench(
    task: str = "all", out_dir: str | Path = "reports", seeds: int = 1, recipes: str | Path | None = None,
    runs: str | Path = "runs/bench", overrides: tuple[str, ...] = (), resume: bool = False,
) -> list[dict]:  # fmt: skip
    """Run tasks (see :func:`resolve_tasks`) with ``seeds`` training seeds each and write the report
    (each task's rows replace its old ones) and, for learned tasks, PNG figures of test items under
    ``<out_dir>/figures``. Returns the new rows, with ``seconds``, ``cpu_seconds`` and ``steal_share`` rows
    per task (see :class:`~amodal_compose.bench.runner.Stopwatch`).
    ``overrides``: LightningCLI arguments added to every learned run (tests use a tiny budget).
    ``resume``: reuse the trainings an earlier run finished under ``runs`` with the same recipe, arguments
    and code (:func:`~amodal_compose.bench.runner.run_fingerprint`); the test is scored again."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    names = resolve_tasks(task)
    ctx = BenchContext(seeds=seeds, recipes=find_recipes(recipes), runs=Path(runs), overrides=tuple(overrides),
                       figures=Path(out_dir) / "figures", resume=resume)  # fmt: skip
    rows = []
    run_facts = {"machine": machine_name(), "commit": commit_name(Path(__file__).parent)}
    for name in names:
        clock = Stopwatch()
        ctx.worlds.clear()
        new = TASKS[name].run(ctx)
        world = "+".join(sorted(ctx.worlds)) or None  # None: a task that trains nothing
        seconds, cpu_seconds, steal = clock.read()
        size = new[0]["image_size"] if new else 0
        for metric, value in (("seconds", seconds), ("cpu_seconds", cpu_seconds), ("steal_share", steal)):
            new.append(make_row(name, "task", metric, [value], split="-", image_size=size))
        for row in new:
            row.update(run_facts)
            if world:
                row["world"] = world
        shared = "" if steal is None else f", {100 * steal:.0f} % of the machine's CPU time stolen by its host"
        ctx.log(f"[bench] {name}: {len(new)} rows in {seconds:.1f}s ({cpu_seconds:.0f} CPU seconds{shared})")
        rows += new
        write_report(new, out_dir)  # after each task, so a long run keeps what it finished
    return rows
