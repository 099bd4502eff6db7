"""The issues' quality targets, judged on the published rows.

A targets file (``docs/targets.yaml``) lists each target once: the row it is judged on (task, world,
method, metric), a threshold (``at_least``) or a rival row (``above``), and the cause where it is not
met. :func:`judge` reads the values from the rows ``make results`` publishes, so whether a target is
met is never written by hand, and :func:`targets_markdown` is the table at the top of
``docs/results.md``.

Example:
    >>> rows = [{"task": "t", "world": "photo", "method": "net", "metric": "psnr", "value": 21.0, "split": "test"},
    ...         {"task": "t", "world": "photo", "method": "telea", "metric": "psnr", "value": 20.0, "split": "test"}]
    >>> target = {"target": "beat Telea", "task": "t", "world": "photo", "method": "net", "metric": "psnr",
    ...           "above": {"method": "telea"}}
    >>> judge(target, rows)["met"]
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["read_targets", "judge", "targets_markdown"]

_KEYS = {"target", "task", "method", "metric"}


def read_targets(path: str | Path) -> list[dict[str, Any]]:
    """The targets of a YAML file (a list of mappings; see the module docstring).

    Raises:
        ValueError: a target without its keys, or with neither or both of ``at_least`` and ``above``.
    """
    targets = yaml.safe_load(Path(path).read_text()) or []
    if not isinstance(targets, list):
        raise ValueError(f"{path}: a list of targets expected, got {type(targets).__name__}")
    for i, t in enumerate(targets):
        missing = sorted(_KEYS - set(t or {}))
        if missing:
            raise ValueError(f"{path}: target {i + 1} lacks {missing}")
        if ("at_least" in t) == ("above" in t):
            raise ValueError(f"{path}: target {i + 1} ({t['target']!r}) needs one of at_least or above")
    return targets


def _value(rows: list[dict], task: str, world: str | None, method: str, metric: str) -> float | None:
    """The held-out row's value (the test split, or the real photos), never a val or train row."""
    for r in rows:
        same_world = world is None or r.get("world") == world
        held_out = r.get("split") not in ("val", "train")
        if same_world and held_out and (r["task"], r["method"], r["metric"]) == (task, method, metric):
            return r["value"]
    return None


def judge(target: dict[str, Any], rows: list[dict]) -> dict[str, Any]:
    """``target`` judged on ``rows``: its ``value``, the ``bar`` it must pass (and what the bar is), and
    ``met`` (``None`` while its rows are not there)."""
    world = target.get("world")
    value = _value(rows, target["task"], world, target["method"], target["metric"])
    threshold = "at_least" in target
    if threshold:
        bar, against = float(target["at_least"]), f"at least {target['at_least']}"
    else:
        rival = target["above"]
        bar = _value(rows, target["task"], world, rival["method"], rival.get("metric", target["metric"]))
        against = f"above {rival['method']}"
    met = None if value is None or bar is None else (value >= bar if threshold else value > bar)
    return {"value": value, "bar": bar, "against": against, "met": met}


def _number(v: float | None) -> str:
    return "not scored" if v is None else f"{v:.4f}"


def targets_markdown(targets: list[dict[str, Any]], rows: list[dict]) -> str:
    """The targets as a markdown table: each target, the row it is judged on, its value, the bar, whether it
    is met and, where not, its cause."""
    out = ["## Targets", "",
           "Each target of the issues, judged on the held-out row it names (test split or real photos; seed mean).",
           "",
           "| target | judged on | value | bar | met | cause where not |", "|---|---|---|---|---|---|"]  # fmt: skip
    for t in targets:
        j = judge(t, rows)
        world = f", {t['world']} world" if t.get("world") else ""
        row = f"`{t['task']}`{world}: {t['method']}, {t['metric']}"
        met = {True: "yes", False: "no", None: "not yet scored"}[j["met"]]
        cause = " ".join(str(t.get("cause", "")).split()) if j["met"] is False else ""
        bar = f"{j['against']} ({_number(j['bar'])})" if "above" in t else j["against"]
        out.append(f"| {t['target']} | {row} | {_number(j['value'])} | {bar} | {met} | {cause} |")
    return "\n".join(out) + "\n"
