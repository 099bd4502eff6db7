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

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ..metrics import MethodMetrics
from ..nets.base import build_module, module_spec
from ..ops.convert import as_image, as_mask, check_same_batch, check_same_size, pad_to_multiple

__all__ = ["System", "OptimizerFactory", "STAGES"]

#: ``params -> Optimizer``; LightningCLI configs give it as ``class_path: torch.optim.Adam``.
OptimizerFactory = Callable[[Iterable], torch.optim.Optimizer]

#: the evaluation stages, each with its own metric state.
STAGES = ("val", "test")


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
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.train(was_training)

    def user_batch(self, multiple: int = 1, **inputs: tuple[Any, str]) -> tuple[dict[str, Tensor], tuple[int, int]]:
        """Convert named user inputs for a network.

        Args:
            multiple: the network's stride; inputs are zero-padded (bottom, right) to multiples of it.
            **inputs: ``name=(value, kind)``: ``kind`` ``"image"`` (float RGB in [0, 1], uint8 divided
                by 255) or ``"mask"`` (binary; uint8 {0, 255} accepted); tensors, numpy arrays or PIL
                images, single ``(C, H, W)`` or batched ``(B, C, H, W)``.

        Returns:
            The padded ``(B, C, H', W')`` tensors on the module's device, and the original ``(H, W)``
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
        return {k: pad_to_multiple(v, multiple).to(self.device) for k, v in out.items()}, size

    @staticmethod
    def size_multiple(net: nn.Module) -> int:
        """The stride a network's input sides must be multiples of (1 when it declares none)."""
        return int(getattr(net, "size_multiple", 1))

    # ------------------------------------------------------------------ logging
    def log_images(self, batch: dict) -> dict[str, Tensor]:
        """Named ``(B, C, H, W)`` images in [0, 1] for the validation image grid (inputs,
        predictions, targets), computed in eval mode without gradients by the callback."""
        raise NotImplementedError
