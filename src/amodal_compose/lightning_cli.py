"""``amodal-compose fit|validate|test|predict --config ...``: LightningCLI over the package's systems.

Any :class:`~amodal_compose.systems.System` is a valid ``model`` and any
:class:`~amodal_compose.data.datamodules.SceneDataModule` a valid ``data``; configs name them with
``class_path`` / ``init_args`` (see ``lightning_configs/``). Optimisers are injected through the
system's ``optimizer`` argument (``class_path: torch.optim.Adam``), so LightningCLI's own
``--optimizer`` group is off: one way to set it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from unittest import mock

from pytorch_lightning.cli import LightningCLI

from .data.datamodules import SceneDataModule
from .systems.base import System

__all__ = ["run_lightning_cli"]


def run_lightning_cli(args: Sequence[str] | None = None, run: bool = True) -> LightningCLI:
    """Run LightningCLI, with the package's base classes in subclass mode, on ``args``
    (e.g. ``["fit", "--config", "lightning_configs/shape/synthetic.yaml"]``).

    With ``run=False`` the subcommand is left out of ``args`` and the classes are only parsed and
    instantiated (``cli.model``, ``cli.datamodule``, ``cli.trainer``), which is how configs are
    checked without data. ``args=None`` reads ``sys.argv``.
    """
    argv = sys.argv if args is None else [sys.argv[0] if sys.argv else "amodal-compose", *args]
    # LightningCLI parses sys.argv itself; handing it the arguments that way keeps one source
    with mock.patch.object(sys, "argv", argv):
        return LightningCLI(
            System,
            SceneDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            run=run,
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
        )
