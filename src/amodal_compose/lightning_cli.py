"""``amodal-compose fit|validate|test|predict --config ...``: LightningCLI over the package's systems.

Any :class:`~amodal_compose.systems.System` is a valid ``model`` and any
:class:`~amodal_compose.data.datamodules.SceneDataModule` a valid ``data``; configs name them with
``class_path`` / ``init_args`` (see ``lightning_configs/``). Optimisers are injected through the
system's ``optimizer`` argument (``class_path: torch.optim.Adam``), so LightningCLI's own
``--optimizer`` group is off: one way to set it.

A config may hold a ``bench:`` section (the bench recipes in ``lightning_configs/bench/``): settings
that only ``make bench`` reads (test variants); ``fit`` and the other subcommands ignore it, so a
bench recipe trains as is with ``amodal-compose fit --config lightning_configs/bench/<task>.yaml``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any
from unittest import mock

from pytorch_lightning.cli import LightningCLI

from .data.datamodules import SceneDataModule
from .systems.base import System

__all__ = ["run_lightning_cli", "PackageCLI"]


class PackageCLI(LightningCLI):
    """LightningCLI plus the ``bench`` section of the bench recipes."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--bench", type=dict[str, Any] | None, default=None,
            help="settings read by `make bench` only (e.g. test variants); ignored here",
        )  # fmt: skip


def run_lightning_cli(args: Sequence[str] | None = None, run: bool = True) -> PackageCLI:
    """Run LightningCLI, with the package's base classes in subclass mode, on ``args``
    (e.g. ``["fit", "--config", "lightning_configs/shape/synthetic.yaml"]``).

    With ``run=False`` the subcommand is left out of ``args`` and the classes are only parsed and
    instantiated (``cli.model``, ``cli.datamodule``, ``cli.trainer``), which is how configs are
    checked without data. ``args=None`` reads ``sys.argv``.
    """
    argv = sys.argv if args is None else [sys.argv[0] if sys.argv else "amodal-compose", *args]
    # LightningCLI parses sys.argv itself; handing it the arguments that way keeps one source
    with mock.patch.object(sys, "argv", argv):
        return PackageCLI(
            System,
            SceneDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            run=run,
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
        )
