"""Batch composition over many jobs with ``Trainer.predict``: any ``devices`` / ``num_nodes`` /
strategy (DDP across GPUs is the multi-GPU path), each job written exactly once.

* :class:`ComposeJobsDataModule` reads a JSON-lines manifest, one job per line::

      {"id": "street_001", "background": "bg/street.png",
       "instances": [{"image": "cars/c7.png", "mask": "cars/c7_mask.png", "position": [120, 200],
                      "scale": 0.8, "occluded": "auto"}]}

  Paths are relative to the manifest's folder (or ``root``); ``position``, ``scale``, ``occluded`` and
  ``category`` are optional (see :class:`~amodal_compose.pipeline.ComposeInstance`); ids name the output files, so
  they are unique and made of letters, digits, ``.``, ``_`` and ``-``.
* :class:`PipelinePredictor` wraps a :class:`~amodal_compose.pipeline.Pipeline` built from checkpoints.
* :class:`ComposeWriter` writes ``<output_dir>/<id>.png`` (and, with ``save_layers``, the layers and
  stages under ``<output_dir>/<id>/``), each through a temporary file renamed into place, so a file
  that exists is complete; jobs whose output exists are skipped when the run is started again.

Each rank takes every ``world_size``-th job and nothing more (no padding), so no job is composed
twice; ``amodal-compose predict --config lightning_configs/pipeline/predict.yaml`` is the entry.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch.distributed as dist
from pytorch_lightning.callbacks import BasePredictionWriter
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..io import read_image, read_mask, write_png
from .core import ComposeInstance, CompositionResult, Pipeline

__all__ = [
    "ComposeJobs",
    "ComposeJobsDataModule",
    "UnpaddedSampler",
    "PipelinePredictor",
    "ComposeWriter",
    "read_jobs",
]

_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def read_jobs(manifest: str | Path) -> list[dict[str, Any]]:
    """The jobs of a JSON-lines manifest (see the module's documentation), checked line by line.

    Raises:
        FileNotFoundError: no manifest.
        ValueError: a malformed line, naming the file and the line number.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"job manifest not found: {manifest}")
    jobs, seen = [], set()
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        try:
            job = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not JSON ({err})") from err
        if not isinstance(job, dict) or not {"id", "background", "instances"} <= set(job):
            raise ValueError(f"{where}: a job needs 'id', 'background' and 'instances'")
        if not isinstance(job["id"], str) or not _ID.match(job["id"]):
            raise ValueError(f"{where}: id {job['id']!r} must be letters, digits, '.', '_' or '-' (it names a file)")
        if job["id"] in seen:
            raise ValueError(f"{where}: id {job['id']!r} appears twice")
        if not isinstance(job["instances"], list) or not job["instances"]:
            raise ValueError(f"{where}: 'instances' must be a non-empty list")
        for k, inst in enumerate(job["instances"]):
            if not isinstance(inst, dict) or not {"image", "mask"} <= set(inst):
                raise ValueError(f"{where}: instance {k} needs 'image' and 'mask'")
            extra = set(inst) - {"image", "mask", "position", "scale", "occluded", "category"}
            if extra:
                raise ValueError(f"{where}: instance {k} has unknown fields {sorted(extra)}")
        seen.add(job["id"])
        jobs.append(job)
    return jobs


class ComposeJobs(Dataset):
    """The jobs of a manifest, loaded on access: ``{"id", "background", "instances"}`` with tensors
    and :class:`~amodal_compose.pipeline.ComposeInstance` objects.

    Args:
        jobs: from :func:`read_jobs`.
        root: folder the paths are relative to.
    """

    def __init__(self, jobs: list[dict[str, Any]], root: str | Path) -> None:
        self.jobs, self.root = jobs, Path(root)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        job = self.jobs[index]
        instances = [
            ComposeInstance(
                read_image(self.root / inst["image"]), read_mask(self.root / inst["mask"], threshold=127),
                tuple(inst["position"]) if inst.get("position") is not None else None,
                float(inst.get("scale", 1.0)), inst.get("occluded", "auto"), int(inst.get("category", 0)),
            )  # fmt: skip
            for inst in job["instances"]
        ]
        return {"id": job["id"], "background": read_image(self.root / job["background"]), "instances": instances}


class UnpaddedSampler(DistributedSampler):
    """Rank ``r`` of ``n`` takes jobs ``r, r + n, r + 2n, ...`` and no padding: unlike training,
    prediction needs no equal share, and a padded job would be composed (and written) twice. A
    :class:`~torch.utils.data.DistributedSampler`, so Lightning keeps it."""

    def __init__(self, dataset: Dataset) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        world = dist.get_world_size() if distributed else 1
        rank = dist.get_rank() if distributed else 0
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=False)
        self.indices = list(range(rank, len(dataset), world))
        self.num_samples = len(self.indices)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return self.num_samples


def _jobs(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


class ComposeJobsDataModule(pl.LightningDataModule):
    """The jobs of a JSON-lines manifest for ``Trainer.predict``.

    Jobs whose output a :class:`ComposeWriter` of the trainer already wrote are left out (a run that
    stopped goes on where it was).

    Args:
        manifest: the JSON-lines file.
        root: folder the job paths are relative to (default: the manifest's folder).
        num_workers: loader processes that read the images.
    """

    def __init__(self, manifest: str, root: str | None = None, num_workers: int = 0) -> None:
        super().__init__()
        self.manifest, self.num_workers = Path(manifest), int(num_workers)
        self.root = Path(root) if root is not None else self.manifest.parent
        self.jobs: list[dict[str, Any]] = []
        self.skipped: list[str] = []

    def setup(self, stage: str | None = None) -> None:
        jobs = read_jobs(self.manifest)
        callbacks = self.trainer.callbacks if self.trainer is not None else []
        writers = [c for c in callbacks if isinstance(c, ComposeWriter)]
        done = set().union(*(w.done([j["id"] for j in jobs]) for w in writers)) if writers else set()
        self.skipped = [j["id"] for j in jobs if j["id"] in done]
        self.jobs = [j for j in jobs if j["id"] not in done]

    def predict_dataloader(self) -> DataLoader:
        ds = ComposeJobs(self.jobs, self.root)
        return DataLoader(ds, batch_size=1, sampler=UnpaddedSampler(ds), num_workers=self.num_workers,
                          collate_fn=_jobs)  # fmt: skip


class PipelinePredictor(pl.LightningModule):
    """``Trainer.predict`` over composition jobs: each job through :meth:`Pipeline.compose`.

    Args:
        checkpoints: checkpoint paths by component name (``{"shape": ..., "content": ...,
            "compositor": ...}``; any subset the jobs need).
        trusted: see :meth:`~amodal_compose.pipeline.Pipeline.from_checkpoints`.
        mask_threshold, mask_dilation, occlusion_threshold, shape_method, hypotheses, seed: see
            :meth:`Pipeline.compose`.

    Example:
        >>> model = PipelinePredictor({"compositor": "compose.ckpt"})  # doctest: +SKIP
        >>> trainer = pl.Trainer(devices=2, callbacks=[ComposeWriter("out")])  # doctest: +SKIP
        >>> trainer.predict(model, ComposeJobsDataModule("jobs.jsonl"), return_predictions=False)  # doctest: +SKIP
    """

    def __init__(
        self, checkpoints: dict[str, str], trusted: bool = False, mask_threshold: float = 0.5, mask_dilation: int = 0,
        occlusion_threshold: float = 0.05, shape_method: str = "shape", hypotheses: int = 1, seed: int = 0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.pipeline = Pipeline.from_checkpoints(trusted=trusted, **checkpoints)
        self.systems = nn.ModuleDict(self.pipeline.components)  # so Lightning moves them to the device

    def on_predict_start(self) -> None:
        self.pipeline.device = self.device

    def predict_step(self, batch: list[dict[str, Any]], batch_idx: int) -> list[tuple[str, CompositionResult]]:
        hp = self.hparams
        args = dict(mask_threshold=hp.mask_threshold, mask_dilation=hp.mask_dilation, progress=False,
                    occlusion_threshold=hp.occlusion_threshold, shape_method=hp.shape_method,
                    hypotheses=hp.hypotheses, seed=hp.seed)  # fmt: skip
        return [(job["id"], self.pipeline.compose(job["background"], job["instances"], **args)) for job in batch]


class ComposeWriter(BasePredictionWriter):
    """Writes each composed job once: ``<output_dir>/<id>.png``, and with ``save_layers`` the stages
    and layers under ``<output_dir>/<id>/`` (see :meth:`CompositionResult.save`).

    Args:
        output_dir: folder of the outputs.
        save_layers: also write the stages and each instance's RGBA layer.

    Attributes:
        written: the ids this process wrote.
    """

    def __init__(self, output_dir: str | Path = "runs/predict", save_layers: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output_dir, self.save_layers = Path(output_dir), bool(save_layers)
        self.written: list[str] = []

    def path(self, job_id: str) -> Path:
        return self.output_dir / f"{job_id}.png"

    def done(self, ids: list[str]) -> set[str]:
        """The ids whose output exists (a complete file: outputs are renamed into place)."""
        return {i for i in ids if self.path(i).is_file()}

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        for job_id, result in prediction:
            if self.save_layers:
                result.save(self.output_dir / job_id)
            final = self.path(job_id)
            tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.png")
            write_png(tmp, result.image)
            os.replace(tmp, final)
            self.written.append(job_id)
