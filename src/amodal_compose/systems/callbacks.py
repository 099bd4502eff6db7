"""Callbacks shared by every system."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from ..ops.grid import image_grid

__all__ = ["ImageGridCallback"]


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


class ImageGridCallback(pl.Callback):
    """Each validation epoch, log a grid of ``pl_module.log_images(batch)`` on the first validation
    batch: one row per sample, one column per named image (inputs, predictions, targets).

    The grid goes to every :class:`~pytorch_lightning.loggers.WandbLogger` as ``key`` (W&B writes it
    under its run folder, offline too) and, with ``save_png``, to
    ``<log_dir>/images/<key>_epoch<E>_step<S>.png`` (``log_dir`` of the first logger, else the
    trainer's ``default_root_dir``).

    Args:
        max_samples: rows of the grid.
        every_n_epochs: log every n-th validation epoch.
        key: the W&B key and file prefix.
        save_png: also write the PNG file.
        scale: nearest-neighbour upsampling of small images.
    """

    def __init__(
        self, max_samples: int = 8, every_n_epochs: int = 1, key: str = "val_images", save_png: bool = True,
        scale: int = 2,
    ) -> None:  # fmt: skip
        self.max_samples, self.every_n_epochs, self.key = int(max_samples), max(int(every_n_epochs), 1), key
        self.save_png, self.scale = bool(save_png), int(scale)
        self._batch: dict | None = None
        self.last_path: Path | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and dataloader_idx == 0 and isinstance(batch, dict):
            self._batch = {
                k: (v[: self.max_samples].detach() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()
            }

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._batch is None or trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        batch, self._batch = self._batch, None
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            images = pl_module.log_images(_to_device(batch, pl_module.device))
        pl_module.train(was_training)
        self._emit(trainer, image_grid(images, self.max_samples, self.scale), list(images))

    @rank_zero_only
    def _emit(self, trainer: pl.Trainer, grid: np.ndarray, columns: list[str]) -> None:
        step, epoch = trainer.global_step, trainer.current_epoch
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=self.key, images=[grid], step=step, caption=[" | ".join(columns)])
        if self.save_png:
            root = trainer.loggers[0].log_dir if trainer.loggers and trainer.loggers[0].log_dir else None
            folder = Path(root or trainer.default_root_dir) / "images"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self.key}_epoch{epoch:03d}_step{step:07d}.png"
            if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
                raise OSError(f"could not write {path}")
            self.last_path = path
