"""Experiment loggers: Weights & Biases that goes online when it can.

:class:`WandbLogger` is Lightning's W&B logger with its mode decided from the environment, so one config
serves a laptop without a key and a cluster with one: online when a W&B key is present (``WANDB_API_KEY``
or a ``wandb login`` entry in ``~/.netrc``) and ``WANDB_MODE`` is not ``offline``; offline (files under
``save_dir/wandb``, uploaded later with ``wandb sync``) otherwise. Project and entity come from
``WANDB_PROJECT`` / ``WANDB_ENTITY`` unless given.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger

__all__ = ["WandbLogger", "wandb_mode"]

OFFLINE_MODES = ("offline", "dryrun")


def _netrc_key(path: Path | None = None) -> bool:
    path = path or Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return netrc.netrc(str(path)).authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_mode(env: Mapping[str, str] | None = None, netrc_file: Path | None = None) -> tuple[bool, str]:
    """``(offline, reason)`` for a W&B run in ``env`` (default: ``os.environ``).

    Example:
        >>> wandb_mode({"WANDB_MODE": "offline", "WANDB_API_KEY": "x"})
        (True, 'WANDB_MODE=offline')
    """
    env = os.environ if env is None else env
    mode = env.get("WANDB_MODE", "").strip().lower()
    if mode in OFFLINE_MODES:
        return True, f"WANDB_MODE={mode}"
    if env.get("WANDB_API_KEY") or _netrc_key(netrc_file):
        return False, "a W&B key is set"
    return True, "no W&B key (set WANDB_API_KEY or run `wandb login` to go online)"


class WandbLogger(_LightningWandbLogger):
    """Lightning's :class:`~pytorch_lightning.loggers.WandbLogger`, online or offline by
    :func:`wandb_mode` unless ``offline`` is given; ``project`` / ``entity`` default to ``WANDB_PROJECT``
    (else ``"amodal_compose"``) / ``WANDB_ENTITY``.

    Example:
        >>> logger = WandbLogger(save_dir="runs")  # doctest: +SKIP
        >>> logger.offline_reason  # doctest: +SKIP
        'no W&B key (set WANDB_API_KEY or run `wandb login` to go online)'
    """

    def __init__(self, project: str | None = None, entity: str | None = None, offline: bool | None = None,
                 save_dir: str = "runs", **kwargs) -> None:  # fmt: skip
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise ModuleNotFoundError(
                "W&B logging needs the wandb package: pip install 'amodal_compose[wandb]' (or leave out the W&B "
                "overlay, common/wandb.yaml or common/cluster.yaml, to log CSV files)"
            )
        if offline is None:
            offline, self.offline_reason = wandb_mode()
        else:
            self.offline_reason = "offline given" if offline else "online given"
        project = project or os.environ.get("WANDB_PROJECT") or "amodal_compose"
        entity = entity or os.environ.get("WANDB_ENTITY") or None
        super().__init__(project=project, entity=entity, offline=bool(offline), save_dir=save_dir, **kwargs)
