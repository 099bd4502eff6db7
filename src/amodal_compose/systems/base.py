"""What every system shares: injected networks that survive ``load_from_checkpoint``, an injected
(or default Adam) optimiser, one evaluation path for validation, test and the bench, and the
safe handling of user input in the inference APIs.

Evaluation: a system implements :meth:`System.evaluate` (the predictions of its network and of its
baselines on a batch) and :meth:`System.score` (how they are scored); ``validation_step`` and
``test_step`` both call them, and ``make bench`` scores through ``trainer.test``, so validation
curves, test rows and the bench can never disagree. Metrics are logged as
``<stage>/<metric>/<method>`` (``val/miou_invisible/f_shape``, ``test/psnr/(0.05,0.2]/poisson``).

Inference: the user-facing methods (``predict_masks``, ``compose``, ``complete``) run through
:meth:`System.inference` (eval mode and ``torch.inference_mode``, the module's mode restored) and
:meth:`System.user_batch` (the data contract, NaN / Inf rejected, one batch size and one spatial
size, any size zero-padded to the network's stride and cropped back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ..checkpoints import CHECKPOINT_KEY, checkpoint_entry, read_checkpoint, register_system
from ..metrics import MethodMetrics
from ..nets.base import build_module, module_spec
from ..ops.convert import as_image, as_mask, check_same_batch, check_same_size, pad_to_multiple

__all__ = ["System", "OptimizerFactory", "STAGES", "COMPONENTS"]

#: ``params -> Optimizer``; LightningCLI configs give it as ``class_path: torch.optim.Adam``.
OptimizerFactory = Callable[[Iterable], torch.optim.Optimizer]

#: the evaluation stages, each with its own metric state.
STAGES = ("val", "test")

#: pipeline component name -> system class; a system joins by declaring ``component = "<name>"``.
COMPONENTS: dict[str, type[System]] = {}

class System(pl.LightningModule):
    """Base LightningModule of the package.

    Subclasses call ``self.save_hyperparameters(ignore=[<net names>, "optimizer"])``, then
    :meth:`attach_net` for each network (which stores the network's ``{"class_path", "init_args"}``
    spec in ``hparams`` so ``load_from_checkpoint(path)`` rebuilds it with no extra arguments), and
    :meth:`setup_evaluation`; they implement :meth:`evaluate`, :meth:`score`, ``predict_step`` and
    :meth:`log_images`.

    Attributes:
        main_metric: ``<metric>/<method>`` shown in the progress bar and followed by bench curves.
    """

    main_metric: str = ""
    #: the name under which :class:`~amodal_compose.pipeline.Pipeline` takes this system (``None``: not a component)
    component: str | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        register_system(cls)
        name = cls.__dict__.get("component")
        if name is not None:
            if name in COMPONENTS and COMPONENTS[name] is not cls:
                raise ValueError(f"pipeline component {name!r} is already {COMPONENTS[name].__name__}")
            COMPONENTS[name] = cls

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record the package version, the system class and, when trained with a DataModule, the input
        crop (``crop_size``, ``enlarge``), so a pipeline can check and use the checkpoint."""
        crop = {}
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is not None:
            hp = dm.hparams
            crop = {k: hp[k] for k in ("crop_size", "enlarge", "enlarge_range") if k in hp}
        checkpoint[CHECKPOINT_KEY] = checkpoint_entry(type(self), crop)

    def portable_checkpoint(self, crop: dict | None = None) -> dict[str, Any]:
        """This system as a checkpoint dict that ``load_from_checkpoint`` and the pipeline load (float32
        CPU weights, integer buffers kept as they are, hyper-parameters, the ``amodal_compose`` entry with
        ``crop`` as its input crop)."""
        meta = dict(getattr(self, "checkpoint_meta", None) or {})
        kept = meta.get("crop") if crop is None else crop
        meta.update(checkpoint_entry(type(self), kept or {}))
        return {
            "state_dict": {k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu()
                           for k, v in self.state_dict().items()},  # fmt: skip
            "hyper_parameters": dict(self.hparams), "hparams_name": "kwargs",
            "pytorch-lightning_version": pl.__version__, CHECKPOINT_KEY: meta,
        }  # fmt: skip

    def load_weights(self, paths: Sequence[str | Path], skip: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Load, in order, the weights of ``paths`` that this system has (same name and shape; names
        starting with one of ``skip`` left out): how a training stage starts from the earlier
        stages' checkpoints (``init_from``). Returns the checkpoints read.

        Raises:
            FileNotFoundError, CheckpointError: see :func:`read_checkpoint`.
            ValueError: a checkpoint with none of this system's weights.
        """
        own, read = self.state_dict(), []
        for path in paths:
            ckpt = read_checkpoint(path, "init_from")
            hits = {k: v for k, v in ckpt["state_dict"].items()
                    if k in own and own[k].shape == v.shape and not k.startswith(tuple(skip))}  # fmt: skip
            if not hits:
                raise ValueError(f"init_from {path}: no weights of this system's networks in it")
            self.load_state_dict(hits, strict=False)
            read.append(ckpt)
        return read

    # ------------------------------------------------------------------ construction
    def attach_net(self, name: str, net: nn.Module | dict | None, default: type[nn.Module]) -> nn.Module:
        """Build (from an instance, a spec dict or the default class) and register network ``name``."""
        module = build_module(net, default)
        spec = module_spec(module)
        if spec is not None:
            self.hparams[name] = spec
        setattr(self, name, module)
        return module

    def make_optimizer(
        self, params: Iterable, factory: OptimizerFactory | None, lr: float, betas: tuple[float, float]
    ) -> torch.optim.Optimizer:
        """``factory(params)`` when injected, else Adam with the paper's ``lr`` and ``betas``."""
        if factory is not None:
            return factory(params)
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas))

    @staticmethod
    def cosine_tail(optimizer: torch.optim.Optimizer, total: int, start: float, final_factor: float):
        """torch's ``SequentialLR``: the optimiser's rate held for the first ``start`` share of ``total``
        scheduler steps (``ConstantLR``), then a half cosine down to ``final_factor`` times it at the last
        (``CosineAnnealingLR``). For short runs, whose weights a constant rate leaves noisy at the end."""
        if not 0.0 <= start < 1.0 or not 0.0 <= final_factor <= 1.0:
            raise ValueError(f"need 0 <= start < 1 and 0 <= final_factor <= 1, got {start}, {final_factor}")
        if total < 1:
            raise ValueError(f"a cosine tail needs a step budget (trainer.max_steps > 0), got {total}")
        held = int(round(start * total))
        lr = optimizer.param_groups[0]["lr"]
        sched = torch.optim.lr_scheduler
        return sched.SequentialLR(optimizer, [
            sched.ConstantLR(optimizer, factor=1.0, total_iters=held),
            sched.CosineAnnealingLR(optimizer, T_max=max(total - held, 1), eta_min=lr * final_factor),
        ], milestones=[held])  # fmt: skip

    def with_cosine_tail(self, optimizers: list[torch.optim.Optimizer], batches: Callable[[int], int]):
        """``optimizers`` as ``configure_optimizers`` returns them, each with a :meth:`cosine_tail` when the
        ``cosine_tail`` hyperparameter sets one; ``batches`` maps the trainer's ``max_steps`` to the
        scheduler steps of the run (read only then: without a tail no trainer is needed)."""
        tail = self.hparams.get("cosine_tail")
        if not tail or self.trainer.max_steps == 0:  # 0 steps: nothing to schedule
            return optimizers
        start, final = tail
        total = batches(int(self.trainer.max_steps))
        return optimizers, [self.cosine_tail(opt, total, start, final) for opt in optimizers]

    def step_schedulers(self) -> None:
        """Step every learning-rate scheduler once: systems with manual optimisation call it per batch."""
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()

    def setup_evaluation(self, methods: Iterable[str], factory: Callable, main_metric: str) -> None:
        """One :class:`~amodal_compose.metrics.MethodMetrics` per stage over ``methods``."""
        self.methods = tuple(methods)
        self.main_metric = main_metric
        self.scores = nn.ModuleDict({stage: MethodMetrics(self.methods, factory) for stage in STAGES})

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, batch: dict) -> tuple[dict[str, Tensor], Tensor | None]:
        """The predictions of every method (the network's and the baselines') on ``batch``, and the
        training loss on it (``None`` where it has none)."""
        raise NotImplementedError

    def score(self, metrics: MethodMetrics, preds: dict[str, Tensor], batch: dict) -> None:
        """Update ``metrics`` with ``preds`` against ``batch``'s targets."""
        raise NotImplementedError

    def _evaluate_step(self, batch: dict, stage: str) -> None:
        preds, loss = self.evaluate(batch)
        if loss is not None:
            n = len(next(iter(preds.values())))
            self.log(f"{stage}/loss", loss, batch_size=n, sync_dist=True)
        self.score(self.scores[stage], preds, batch)

    def _log_scores(self, stage: str) -> None:
        for key, value in self.scores[stage].compute().items():
            self.log(f"{stage}/{key}", value, prog_bar=key == self.main_metric)
        self.scores[stage].reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate_step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val")

    def on_test_epoch_end(self) -> None:
        self._log_scores("test")

    # ------------------------------------------------------------------ inference on user input
    @contextmanager
    def inference(self) -> Iterator[None]:
        """Eval mode (BatchNorm statistics untouched) and ``torch.inference_mode()`` (no autograd
        graph: outputs go straight to ``.numpy()``); the module's previous mode is restored."""
        training = [m for m in self.modules() if m.training]  # restored as they were, submodule by submodule
        for m in training:  # (``self.eval()`` costs ~2 ms in ``nn.Module.__setattr__`` even when nothing changes)
            m.training = False
        try:
            with torch.inference_mode():
                yield
        finally:
            for m in training:
                m.training = True

    def user_batch(self, multiple: int = 1, **inputs: tuple[Any, str]) -> tuple[dict[str, Tensor], tuple[int, int]]:
        """Convert named user inputs for a network.

        Args:
            multiple: the network's stride; inputs are zero-padded (bottom, right) to multiples of it.
            **inputs: ``name=(value, kind)``: ``kind`` ``"image"`` (float RGB in [0, 1], uint8 divided
                by 255) or ``"mask"`` (binary; uint8 {0, 255} accepted); tensors, numpy arrays or PIL
                images, single ``(C, H, W)`` or batched ``(B, C, H, W)``.

        Returns:
            The padded ``(B, C, H', W')`` tensors on the module's device and in its dtype, and the original ``(H, W)``
            (crop outputs back with ``y[..., :H, :W]``).

        Raises:
            ValueError: a value off the contract (NaN / Inf included), batch sizes or spatial sizes
                that differ (each argument is named with its shape).
        """
        out = {}
        for name, (value, kind) in inputs.items():
            t = as_image(value, name) if kind == "image" else as_mask(value, name)
            out[name] = t[None] if t.ndim == 3 else t
        check_same_batch(**out)
        size = check_same_size(**out)
        return {k: pad_to_multiple(v, multiple).to(self.device, self.dtype) for k, v in out.items()}, size

    @staticmethod
    def size_multiple(net: nn.Module) -> int:
        """The stride a network's input sides must be multiples of (1 when it declares none)."""
        return int(getattr(net, "size_multiple", 1))

    # ------------------------------------------------------------------ logging
    def log_images(self, batch: dict) -> dict[str, Tensor]:
        """Named ``(B, C, H, W)`` images in [0, 1] for the validation image grid (inputs,
        predictions, targets; the target last), computed in eval mode without gradients by the callback."""
        raise NotImplementedError

    def figure(self, batch: dict) -> dict[str, Tensor]:
        """The columns of a comparison figure of ``batch``: :meth:`log_images` with each baseline's
        prediction inserted before the target (the last column). Call in eval mode without gradients."""
        columns = self.log_images(batch)
        preds, _ = self.evaluate(batch)
        *first, last = columns
        out = {k: columns[k] for k in first}
        out.update({m: preds[m].clamp(0, 1) for m in self.methods[1:]})
        out[last] = columns[last]
        return out
