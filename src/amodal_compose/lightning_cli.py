"""``amodal-compose fit|validate|test|predict --config ...``: LightningCLI over the package's systems.

Any LightningModule (the package's :class:`~amodal_compose.systems.System` s, the pipeline's
:class:`~amodal_compose.pipeline.predict.PipelinePredictor`) is a valid ``model`` and any
LightningDataModule a valid ``data``; configs name them with
``class_path`` / ``init_args`` (see ``lightning_configs/``). Optimisers are injected through the
system's ``optimizer`` argument (``class_path: torch.optim.Adam``), so LightningCLI's own
``--optimizer`` group is off: one way to set it.

A config may hold a ``bench:`` section (the bench recipes in ``lightning_configs/bench/``): settings
that only ``make bench`` reads (test variants); ``fit`` and the other subcommands ignore it, so a
bench recipe trains as is with ``amodal-compose fit --config lightning_configs/bench/<task>.yaml``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LightningCLI

__all__ = ["run_lightning_cli", "PackageCLI", "find_configs", "training_threads"]


def find_configs(sub: str = "") -> Path:
    """The folder ``lightning_configs/<sub>``: under the working directory, else in the source
    checkout this package runs from.

    Raises:
        FileNotFoundError: in neither place.
    """
    checkout = Path(__file__).resolve().parents[2]
    candidates = [Path.cwd() / "lightning_configs" / sub, checkout / "lightning_configs" / sub]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(f"lightning_configs/{sub} not found (looked in {[str(c) for c in candidates]})")


@contextmanager
def training_threads(num_workers: int) -> Iterator[None]:
    """Give training the cores the loader's workers leave (at least one thread); restore afterwards.

    On a 2-core machine with 2 workers, 2 training threads make a step 1.7x slower than 1 (the
    processes fight over the cores); on a many-core machine this changes nothing.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) - int(num_workers))))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class PackageCLI(LightningCLI):
    """LightningCLI plus the ``bench`` section of the bench recipes."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--bench", type=dict[str, Any] | None, default=None,
            help="settings read by `make bench` only (e.g. test variants); ignored here",
        )  # fmt: skip


def resolve_config_paths(args: Sequence[str]) -> list[str]:
    """``--config`` values that name no file but a file under ``lightning_configs/`` (``common/cluster.yaml``,
    ``pcnet_m/cocoa.yaml``) become that file's path; everything else is kept as given."""
    out = list(args)
    for i, arg in enumerate(out):
        value, prefix = None, ""
        if arg == "--config" and i + 1 < len(out):
            continue
        if i > 0 and out[i - 1] == "--config":
            value = arg
        elif arg.startswith("--config="):
            value, prefix = arg.split("=", 1)[1], "--config="
        if value and not Path(value).exists():
            try:
                candidate = find_configs() / value
            except FileNotFoundError:
                continue
            if candidate.is_file():
                out[i] = prefix + str(candidate)
    return out


def run_lightning_cli(args: Sequence[str] | None = None, run: bool = True) -> PackageCLI:
    """Run LightningCLI, with the package's base classes in subclass mode, on ``args``
    (e.g. ``["fit", "--config", "lightning_configs/shape/synthetic.yaml"]``; a config may also be named
    relative to ``lightning_configs/``: ``--config shape/synthetic.yaml --config common/cluster.yaml``).

    With ``run=False`` the subcommand is left out of ``args`` and the classes are only parsed and
    instantiated (``cli.model``, ``cli.datamodule``, ``cli.trainer``), which is how configs are
    checked without data. ``args=None`` reads ``sys.argv``.
    """
    argv = sys.argv if args is None else [sys.argv[0] if sys.argv else "amodal-compose", *args]
    argv = [argv[0], *resolve_config_paths(argv[1:])]
    # LightningCLI parses sys.argv itself; handing it the arguments that way keeps one source
    with mock.patch.object(sys, "argv", argv):
        return PackageCLI(
            pl.LightningModule,
            pl.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            run=run,
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
        )
