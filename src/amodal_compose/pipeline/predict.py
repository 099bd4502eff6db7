"""Batch inference over many jobs with ``Trainer.predict``: any ``devices`` / ``num_nodes`` / strategy
(DDP across GPUs is the multi-GPU path), each job written exactly once.

* :class:`JobsDataModule` reads a JSON-lines manifest, one job per line, of three kinds (``task``;
  ``"compose"`` when absent)::

      {"id": "street_001", "background": "bg/street.png",
       "instances": [{"image": "cars/c7.png", "mask": "cars/c7_mask.png", "position": [120, 200],
                      "scale": 0.8, "occluded": "auto"}]}
      {"id": "kitchen_4", "task": "deocclude", "image": "kitchen.jpg", "masks": "kitchen_masks/",
       "categories": [3, 1], "options": {"mask_dilation": 1}}
      {"id": "beach_9", "task": "remove", "image": "beach.jpg", "mask": "beach_box.png"}

  Paths are relative to the manifest's folder (or ``root``). A compose instance's ``position``,
  ``scale``, ``occluded`` and ``category`` are optional (see
  :class:`~amodal_compose.pipeline.ComposeInstance`); a compose instance without ``mask`` is an RGBA
  cut-out whose alpha is the mask. A deocclude job's ``masks`` is anything
  :func:`~amodal_compose.io.read_instance_masks` reads (a folder, an .npz, a COCO instances or results
  JSON; ``score_threshold`` and ``image_id`` are optional keys). ``options`` are keyword arguments of the
  job's pipeline method (``mask_dilation``, ``grounded``, ...). Ids name the output files: unique, made
  of letters, digits, ``.``, ``_`` and ``-``, and not starting with ``.``.
* :class:`PipelinePredictor` wraps a :class:`~amodal_compose.pipeline.Pipeline` built from checkpoints.
* :class:`JobWriter` writes a compose job as ``<output_dir>/<id>.png`` (with ``save_layers`` its layers
  and stages under ``<output_dir>/<id>/``), a deocclude job as the folder ``<output_dir>/<id>/``
  (:meth:`~amodal_compose.pipeline.DeocclusionResult.save`), a remove job as ``<output_dir>/<id>.png``
  and ``<id>_mask.png``; each through a temporary file or folder renamed into place, so an output that
  exists is complete, and jobs whose output exists are skipped when the run is started again.

Each rank takes every ``world_size``-th job and nothing more (no padding), so no job runs twice;
``amodal-compose predict --config lightning_configs/pipeline/predict.yaml`` is the entry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..io import read_cutout, read_image, read_instance_masks, read_mask, write_png
from .core import ComposeInstance, Pipeline

__all__ = [
    "Jobs",
    "JobsDataModule",
    "PipelinePredictor",
    "JobWriter",
    "read_jobs",
    "TASKS",
    "ComposeJobsDataModule",
    "ComposeWriter",
]

_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")

#: the job kinds, each with the keys it needs and the optional keys it takes.
TASKS: dict[str, tuple[set[str], set[str]]] = {
    "compose": ({"background", "instances"}, {"options"}),
    "deocclude": ({"image", "masks"}, {"categories", "score_threshold", "image_id", "options"}),
    "remove": ({"image", "mask"}, {"options"}),
}


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
        if not isinstance(job, dict) or "id" not in job:
            raise ValueError(f"{where}: a job is a JSON object with an 'id'")
        task = job.setdefault("task", "compose")
        if task not in TASKS:
            raise ValueError(f"{where}: task {task!r} is not one of {sorted(TASKS)}")
        needed, optional = TASKS[task]
        if not needed <= set(job):
            raise ValueError(f"{where}: a {task} job needs {sorted(needed)}")
        unknown = set(job) - needed - optional - {"id", "task"}
        if unknown:
            raise ValueError(f"{where}: a {task} job has unknown fields {sorted(unknown)}")
        if not isinstance(job["id"], str) or not _ID.match(job["id"]):
            raise ValueError(f"{where}: id {job['id']!r} must be letters, digits, '.', '_' or '-', not starting "
                             "with '.' (it names a file)")  # fmt: skip
        if job["id"] in seen:
            raise ValueError(f"{where}: id {job['id']!r} appears twice")
        if not isinstance(job.get("options", {}), dict):
            raise ValueError(f"{where}: 'options' must be an object of keyword arguments")
        if task != "compose":
            seen.add(job["id"])
            jobs.append(job)
            continue
        if not isinstance(job["instances"], list) or not job["instances"]:
            raise ValueError(f"{where}: 'instances' must be a non-empty list")
        for k, inst in enumerate(job["instances"]):
            if not isinstance(inst, dict) or "image" not in inst:
                raise ValueError(f"{where}: instance {k} needs 'image' (and 'mask', unless it is an RGBA cut-out)")
            extra = set(inst) - {"image", "mask", "position", "scale", "occluded", "category"}
            if extra:
                raise ValueError(f"{where}: instance {k} has unknown fields {sorted(extra)}")
        seen.add(job["id"])
        jobs.append(job)
    return jobs


class Jobs(Dataset):
    """The jobs of a manifest, loaded on access: the job's fields with images as tensors (``compose``:
    ``background`` and :class:`~amodal_compose.pipeline.ComposeInstance` objects; ``deocclude``:
    ``image``, ``masks``, ``categories``; ``remove``: ``image``, ``mask``).

    Args:
        jobs: from :func:`read_jobs`.
        root: folder the paths are relative to.
        mask_threshold: soft mask files count as the object above this share of their range.
    """

    def __init__(self, jobs: list[dict[str, Any]], root: str | Path, mask_threshold: float = 0.5) -> None:
        self.jobs, self.root, self.threshold = jobs, Path(root), float(mask_threshold)

    def __len__(self) -> int:
        return len(self.jobs)

    def _instance(self, inst: dict[str, Any]) -> ComposeInstance:
        mask_path = self.root / inst["mask"] if inst.get("mask") is not None else None
        image, mask = read_cutout(self.root / inst["image"], mask_path, self.threshold)
        position = tuple(inst["position"]) if inst.get("position") is not None else None
        return ComposeInstance(image, mask, position, float(inst.get("scale", 1.0)), inst.get("occluded", "auto"),
                               int(inst.get("category", 0)))  # fmt: skip

    def __getitem__(self, index: int) -> dict[str, Any]:
        job = dict(self.jobs[index])
        if job["task"] == "compose":
            job["background"] = read_image(self.root / job["background"])
            job["instances"] = [self._instance(inst) for inst in job["instances"]]
        elif job["task"] == "deocclude":
            path = self.root / job["image"]
            job["image"] = read_image(path)
            found = read_instance_masks(self.root / job["masks"], path, tuple(job["image"].shape[-2:]),
                                        score_threshold=float(job.get("score_threshold", 0.5)),
                                        image_id=job.get("image_id"))  # fmt: skip
            job["masks"], job["categories"] = found.masks, job.get("categories", found.categories)
        else:
            job["image"] = read_image(self.root / job["image"])
            job["mask"] = read_mask(self.root / job["mask"], threshold=255 * self.threshold)
        return job


def _jobs(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


class JobsDataModule(pl.LightningDataModule):
    """The jobs of a JSON-lines manifest for ``Trainer.predict``.

    Jobs whose output a :class:`JobWriter` of the trainer already wrote are left out (a run that
    stopped goes on where it was).

    Args:
        manifest: the JSON-lines file.
        root: folder the job paths are relative to (default: the manifest's folder).
        num_workers: loader processes that read the images.
        mask_threshold: soft mask files count as the object above this share of their range.
    """

    def __init__(
        self, manifest: str, root: str | None = None, num_workers: int = 0, mask_threshold: float = 0.5
    ) -> None:
        super().__init__()
        self.manifest, self.num_workers = Path(manifest), int(num_workers)
        self.root = Path(root) if root is not None else self.manifest.parent
        self.mask_threshold = float(mask_threshold)
        self.jobs: list[dict[str, Any]] = []
        self.skipped: list[str] = []

    def setup(self, stage: str | None = None) -> None:
        jobs = read_jobs(self.manifest)
        callbacks = self.trainer.callbacks if self.trainer is not None else []
        writers = [c for c in callbacks if isinstance(c, JobWriter)]
        done = set().union(*(w.done(jobs) for w in writers)) if writers else set()
        self.skipped = [j["id"] for j in jobs if j["id"] in done]
        self.jobs = [j for j in jobs if j["id"] not in done]

    def predict_dataloader(self) -> DataLoader:
        # in order; under DDP Lightning wraps the sampler so that each rank takes its own jobs and none is
        # repeated (no padding in prediction), so every job is written once
        ds = Jobs(self.jobs, self.root, self.mask_threshold)
        return DataLoader(ds, batch_size=1, shuffle=False, num_workers=self.num_workers, collate_fn=_jobs)


class PipelinePredictor(pl.LightningModule):
    """``Trainer.predict`` over jobs: each through the pipeline method of its task
    (:meth:`Pipeline.compose`, :meth:`Pipeline.deocclude`, :meth:`Pipeline.remove`), with the job's
    ``options`` over this predictor's compose settings.

    Args:
        checkpoints: checkpoint paths by component name (``{"shape": ..., "content": ...,
            "compositor": ..., "pcnet_m": ..., "remover": ...}``; any subset the jobs need).
        trusted: see :meth:`~amodal_compose.pipeline.Pipeline.from_checkpoints`.
        mask_threshold, mask_dilation, occlusion_threshold, shape_method, hypotheses, seed: compose
            jobs' settings (see :meth:`Pipeline.compose`).

    Example:
        >>> model = PipelinePredictor({"compositor": "compose.ckpt"})  # doctest: +SKIP
        >>> trainer = pl.Trainer(devices=2, callbacks=[JobWriter("out")])  # doctest: +SKIP
        >>> trainer.predict(model, JobsDataModule("jobs.jsonl"), return_predictions=False)  # doctest: +SKIP
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

    def run_job(self, job: dict[str, Any]) -> Any:
        """One loaded job (:class:`Jobs`) through the pipeline: a ``CompositionResult``, a
        ``DeocclusionResult`` or removal's ``{"image", "mask"}``."""
        hp, options = self.hparams, dict(job.get("options") or {})
        if job["task"] == "compose":
            args = dict(mask_threshold=hp.mask_threshold, mask_dilation=hp.mask_dilation, progress=False,
                        occlusion_threshold=hp.occlusion_threshold, shape_method=hp.shape_method,
                        hypotheses=hp.hypotheses, seed=hp.seed)  # fmt: skip
            return self.pipeline.compose(job["background"], job["instances"], **{**args, **options})
        if job["task"] == "deocclude":
            return self.pipeline.deocclude(job["image"], job["masks"], job["categories"], **options)
        return self.pipeline.remove(job["image"], job["mask"], **options)

    def predict_step(self, batch: list[dict[str, Any]], batch_idx: int) -> list[tuple[dict[str, Any], Any]]:
        return [({"id": job["id"], "task": job["task"]}, self.run_job(job)) for job in batch]


class JobWriter(BasePredictionWriter):
    """Writes each job once (see the module's documentation for the files of each task).

    Args:
        output_dir: folder of the outputs.
        save_layers: compose jobs: also write the stages and each instance's RGBA layer.

    Attributes:
        written: the ids this process wrote.
    """

    def __init__(self, output_dir: str | Path = "runs/predict", save_layers: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output_dir, self.save_layers = Path(output_dir), bool(save_layers)
        self.written: list[str] = []

    def path(self, job: dict[str, Any] | str) -> Path:
        """The output whose existence marks the job done: ``<id>.png``, or the folder ``<id>/`` of a
        deocclude job. Refuses an id that would leave the output folder."""
        job_id, task = (job, "compose") if isinstance(job, str) else (job["id"], job.get("task", "compose"))
        if not _ID.match(str(job_id)):
            raise ValueError(f"job id {job_id!r} must be letters, digits, '.', '_' or '-', not starting with '.'")
        out = self.output_dir / (job_id if task == "deocclude" else f"{job_id}.png")
        if out.resolve().parent != self.output_dir.resolve():
            raise ValueError(f"job id {job_id!r} would be written outside {self.output_dir}")
        return out

    def done(self, jobs: list[dict[str, Any] | str]) -> set[str]:
        """The ids whose output exists (complete: outputs are renamed into place)."""
        return {(j if isinstance(j, str) else j["id"]) for j in jobs if self.path(j).exists()}

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        for job, result in prediction:
            final, tag = self.path(job), f".{job['id']}.{os.getpid()}.tmp"
            if job["task"] == "deocclude":
                tmp = self.output_dir / tag
                shutil.rmtree(tmp, ignore_errors=True)
                result.save(tmp)
                os.replace(tmp, final)
            elif job["task"] == "remove":
                write_png(final.with_name(f"{job['id']}_mask.png"), result["mask"])
                _write_into_place(final, result["image"], tag)
            else:
                if self.save_layers:
                    result.save(self.output_dir / job["id"])
                _write_into_place(final, result.image, tag)
            self.written.append(job["id"])


def _write_into_place(final: Path, image, tag: str) -> None:
    tmp = final.with_name(f"{tag}.png")
    write_png(tmp, image)
    os.replace(tmp, final)


#: the names of the compose-only release, for configs written against them.
ComposeJobsDataModule = JobsDataModule
ComposeWriter = JobWriter
