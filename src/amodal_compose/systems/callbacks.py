"""Callbacks shared by every system."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter, ModelCheckpoint, WeightAveraging
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only
from torch.optim.swa_utils import get_ema_multi_avg_fn

from ..data.sampling import split_key
from ..io import write_png
from ..ops.grid import image_grid

__all__ = ["ImageGridCallback", "BestCheckpoint", "ChannelsLast", "EMAWeights", "PredictionWriter"]


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
        self._batch: dict | list | None = None
        self.last_path: Path | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        # a dict of tensors (most systems) or a list of scenes (PCNet-M validates whole scenes)
        if batch_idx == 0 and dataloader_idx == 0 and isinstance(batch, dict):
            self._batch = {
                k: (v[: self.max_samples].detach() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()
            }
        elif batch_idx == 0 and dataloader_idx == 0 and isinstance(batch, list):  # whole scenes (PCNet-M)
            self._batch = batch[: self.max_samples]

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._batch is None or trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        batch, self._batch = self._batch, None
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            images = pl_module.log_images(_to_device(batch, pl_module.device) if isinstance(batch, dict) else batch)
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
            self.last_path = write_png(folder / f"{self.key}_epoch{epoch:03d}_step{step:07d}.png", grid)


class BestCheckpoint(ModelCheckpoint):
    """Lightning's :class:`~pytorch_lightning.callbacks.ModelCheckpoint` that keeps the best checkpoint by
    the system's own validation metric (``val/<main_metric>``: PSNR, mIoU or pair accuracy, all higher
    is better), found when the fit starts, so one overlay config serves every system; ``last.ckpt`` too
    with ``save_last``. A system without a main metric keeps the last checkpoint only.

    Example:
        >>> trainer = pl.Trainer(callbacks=[BestCheckpoint(save_last=True)])  # doctest: +SKIP
    """

    def __init__(self, dirpath: str | None = None, filename: str | None = "best-{step}", save_last: bool = True,
                 save_top_k: int = 1, **kwargs) -> None:  # fmt: skip
        if kwargs.get("monitor") is not None:
            raise ValueError("BestCheckpoint finds its monitor from the system; use ModelCheckpoint to name one")
        kwargs.update(monitor=None, mode="max")
        super().__init__(dirpath=dirpath, filename=filename or "best-{step}", save_last=save_last,
                         save_top_k=save_top_k, **kwargs)  # fmt: skip

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        main = getattr(pl_module, "main_metric", "")
        if main and self.monitor is None:
            self.monitor = f"val/{main}"
        super().setup(trainer, pl_module, stage)


class ChannelsLast(pl.Callback):
    """Run the system in the channels-last memory format (NHWC): its 4-D weights are converted when
    the trainer sets up, and every 4-D floating-point tensor of a batch (a dict) before each step.

    The convolutions then take oneDNN's NHWC kernels on the CPU (and the tensor-core layout on a GPU
    with mixed precision). Values are unchanged up to float rounding; only strides differ, so
    checkpoints load either way. On a CPU it speeds up plain convolutions trained on one thread
    (timings in ``docs/findings.md``); partial convolutions (PCNet-C) gain nothing.

    Example:
        >>> trainer = pl.Trainer(max_steps=1000, callbacks=[ChannelsLast()])  # doctest: +SKIP
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.to(memory_format=torch.channels_last)

    @staticmethod
    def convert(batch) -> None:
        """Re-stride a dict batch's 4-D floating-point tensors in place (other batches are left as they are)."""
        if isinstance(batch, dict):
            for key, value in batch.items():
                if isinstance(value, torch.Tensor) and value.ndim == 4 and value.is_floating_point():
                    batch[key] = value.contiguous(memory_format=torch.channels_last)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.convert(batch)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self.convert(batch)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self.convert(batch)


class EMAWeights(WeightAveraging):
    """Keep an exponential moving average (EMA) of the system's weights and buffers,
    ``avg <- decay * avg + (1 - decay) * current``, updated once per training batch from
    ``start_step`` (in ``trainer.global_step``'s count) on.

    Validation runs on the averaged weights, a checkpoint saved during fit holds them as its
    ``state_dict`` (the raw ones under ``current_model_state``, so a resumed fit goes on from
    those), and when fit ends they are copied into the system, so what the bench scores, what
    ``trainer.test`` sees and what a pipeline loads is the average. A thin layer over Lightning's
    :class:`~pytorch_lightning.callbacks.WeightAveraging` with torch's foreach EMA update.

    Why: an adversarial generator trained briefly at a constant rate ends wherever the last
    critic steps left it; the average is steadier (the val evidence is in ``docs/findings.md``).
    The papers do not use one; it changes no loss or network.

    Args:
        decay: weight of the old average at each update, in [0, 1); ``1 / (1 - decay)`` is about
            the number of batches it remembers.
        start_step: the first optimiser step (``trainer.global_step``) that updates the average;
            before it the average follows the weights.

    Example:
        >>> trainer = pl.Trainer(max_steps=2500, callbacks=[EMAWeights(decay=0.99)])  # doctest: +SKIP
    """

    def __init__(self, decay: float = 0.99, start_step: int = 0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if start_step < 0:
            raise ValueError(f"start_step must be >= 0, got {start_step}")
        super().__init__(use_buffers=True, multi_avg_fn=get_ema_multi_avg_fn(decay))
        self.decay, self.start_step = float(decay), int(start_step)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        # before start_step the average is reset to the weights (Lightning's first update copies)
        if step_idx is not None and step_idx < self.start_step and self._average_model is not None:
            self._average_model.n_averaged.zero_()
            return True
        return step_idx is not None


class PredictionWriter(BasePredictionWriter):
    """Writes what a system's ``predict_step`` returns: one PNG per item and output, as
    ``<output_dir>/<output>/<index>.png`` with ``index`` the item's index in the predicted split
    (zero-padded to 6 digits), so ``amodal-compose predict`` leaves, e.g.,
    ``predictions/amodal/000042.png``. Under DDP each rank writes its own items; names never clash.

    Args:
        output_dir: folder of the outputs.

    Example:
        >>> trainer = pl.Trainer(callbacks=[PredictionWriter("runs/shape/predictions")])  # doctest: +SKIP
        >>> trainer.predict(system, datamodule, return_predictions=False)  # doctest: +SKIP
    """

    def __init__(self, output_dir: str | Path = "predictions") -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.written = 0

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if not isinstance(prediction, dict):
            raise TypeError(f"PredictionWriter expects predict_step to return a dict, got {type(prediction).__name__}")
        if batch_indices is None:
            raise ValueError("PredictionWriter needs the items' indices (Lightning tracks them in predict)")
        indices = [split_key(i)[1] for i in batch_indices]
        for name, images in prediction.items():
            for index, image in zip(indices, images):
                write_png(self.output_dir / name / f"{index:06d}.png", image.detach().float().cpu().clamp(0, 1))
                self.written += 1
