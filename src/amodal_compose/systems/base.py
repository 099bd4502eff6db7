"""What every system shares: injected networks that survive ``load_from_checkpoint``, an injected
(or default Adam) optimiser, and the ``log_images`` hook the image-grid callback calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from ..nets.base import build_module, module_spec
from ..ops.convert import as_image, as_mask

__all__ = ["System", "OptimizerFactory"]

#: ``params -> Optimizer``; LightningCLI configs give it as ``class_path: torch.optim.Adam``.
OptimizerFactory = Callable[[Iterable], torch.optim.Optimizer]


class System(pl.LightningModule):
    """Base LightningModule of the package.

    Subclasses call ``self.save_hyperparameters(ignore=[<net names>, "optimizer"])`` and then
    :meth:`attach_net` for each network, which stores the network's ``{"class_path", "init_args"}``
    spec in ``hparams`` so ``load_from_checkpoint(path)`` rebuilds it with no extra arguments.
    """

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

    def as_batch(self, x, kind: str, name: str) -> Tensor:
        """Convert a user input (tensor, numpy, PIL; single or batched) for inference: ``kind``
        ``"image"`` -> float RGB in [0, 1] (uint8 divided by 255), ``"mask"`` -> binary float
        (uint8 {0, 255} accepted; soft masks rejected). Adds the batch axis and moves to the device."""
        t = as_image(x, name) if kind == "image" else as_mask(x, name)
        return (t[None] if t.ndim == 3 else t).to(self.device)

    def log_method_metrics(self, metrics: nn.ModuleDict, main: str, only_all: bool = False) -> None:
        """Log and reset ``{method: BinnedImageMetrics}`` as ``val/<metric>/<bin>/<method>``
        (``only_all``: the ``all`` bin only); ``val/psnr/all/<main>`` goes to the progress bar."""
        for method, metric in metrics.items():
            for key, value in metric.compute().items():
                if key.startswith("count/") or (only_all and not key.endswith("/all")):
                    continue
                self.log(f"val/{key}/{method}", value, prog_bar=key == "psnr/all" and method == main)
            metric.reset()

    def log_images(self, batch: dict) -> dict[str, Tensor]:
        """Named ``(B, C, H, W)`` images in [0, 1] for the validation image grid (inputs,
        predictions, targets), computed in eval mode without gradients by the callback."""
        raise NotImplementedError
