"""The f_comp system: AMICO's RGBA compositing net (section 3.2) trained with eq. 6-9."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..baselines import BASELINES
from ..losses.amico import alpha_mask_loss, alpha_sparsity, reconstruction_loss
from ..metrics import AMICO_AREA_BINS, BinnedImageMetrics, MethodMetrics
from ..nets.amico import CompositionNet
from ..ops.blend import alpha_blend
from ..ops.masks import erode, scaled_radius
from ..structures import Keys
from .base import OptimizerFactory, System

__all__ = ["CompositionSystem"]


class CompositionSystem(System):
    """Trains :class:`~amodal_compose.nets.CompositionNet` (f_comp).

    Loss (AMICO eq. 9): ``L_recon + lambda_4 L_mask + lambda_5 L_reg`` with ``lambda_4 =
    lambda_mask`` until ``lambda_mask_switch_step`` and ``lambda_mask_late`` after it (paper: 50 ->
    5 at 150K), and the first term of ``L_mask`` using ``m`` eroded by ``erode_pixels`` (at 256 px,
    scaled to the input) from ``erode_after_step`` on (paper: 3 px after 100K).

    Batch keys (from :class:`~amodal_compose.data.datamodules.CompositionDataModule`):
    ``BACKGROUND``, ``OBJECT_IMAGE`` (inputs), ``TARGET``, ``MODAL_MASK`` (``m``), and for the
    baselines and bins ``OBJECT_MASK`` and ``AREA_RATIO``. Validation and test log PSNR / SSIM per
    AMICO area bin for ``f_comp``, ``cut_and_paste`` and ``poisson`` on the same samples
    (``val/psnr/(0.05,0.2]/f_comp`` ...).

    Args:
        net: the network; default ``CompositionNet()`` (the paper's 256 px widths).
        lambda_mask, lambda_mask_late, lambda_mask_switch_step: ``lambda_4`` and its schedule.
        erode_pixels, erode_after_step: the eroded-mask schedule of eq. 7's first term.
        lambda_reg: ``lambda_5`` (paper: 0.005).
        gamma: eq. 8 weight (paper: 2).
        lr, betas: Adam settings when no ``optimizer`` is injected (paper A.2: 2e-4, (0.5, 0.9)).
        optimizer: optional ``params -> Optimizer`` factory.
        bins: area-ratio bins of the validation metrics.

    Example:
        >>> from amodal_compose.nets import CompositionNet
        >>> system = CompositionSystem(CompositionNet(widths=(8, 16, 16), bottleneck=(16,)))
        >>> out = system.compose(torch.rand(1, 3, 30, 41), torch.rand(1, 3, 30, 41))
        >>> sorted(out)
        ['alpha', 'composite', 'rgb']
    """

    component = "compositor"

    def __init__(
        self,
        net: nn.Module | None = None,
        lambda_mask: float = 50.0,
        lambda_mask_late: float = 5.0,
        lambda_mask_switch_step: int = 150_000,
        erode_pixels: int = 3,
        erode_after_step: int = 100_000,
        lambda_reg: float = 0.005,
        gamma: float = 2.0,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.9),
        optimizer: OptimizerFactory | None = None,
        bins: tuple[tuple[float, float], ...] = AMICO_AREA_BINS,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer"])
        self.attach_net("net", net, CompositionNet)
        self.optimizer_factory = optimizer
        self.setup_evaluation(
            ("f_comp", *BASELINES["composition"]),
            lambda: BinnedImageMetrics(bins=bins, metrics=("psnr", "ssim")),
            "psnr/all/f_comp",
        )

    def forward(self, background: Tensor, object_image: Tensor) -> tuple[Tensor, Tensor]:
        """``(I_out, alpha)``."""
        return self.net(background, object_image)

    def compose(self, background, object_image) -> dict[str, Tensor]:
        """``{"rgb": I_out, "alpha": alpha, "composite": I_hat}`` (AMICO, the equation after eq. 5),
        each ``(B, C, H, W)``, and with the affine colour head ``"transform"`` ``(B, 12, H, W)``, the
        per-pixel colour change a pipeline applies at full resolution; runs in eval mode without autograd
        (the module's mode is restored).

        Args:
            background: ``(3, H, W)`` / ``(B, 3, H, W)`` float in [0, 1] or uint8 0-255 (tensor,
                numpy, PIL); any ``H, W`` (padded to the network's stride and cropped back).
            object_image: the edited object ``I_c`` (zero outside its coarse cut-out), same size.

        Raises:
            ValueError: sizes or batch sizes differ, NaN / Inf, float values outside [0, 1].
        """
        with self.inference():
            x, (h, w) = self.user_batch(
                self.size_multiple(self.net), background=(background, "image"), object_image=(object_image, "image")
            )
            if hasattr(self.net, "layer"):
                rgb, alpha, transform = self.net.layer(x["background"], x["object_image"])
            else:  # a network of the user's with forward's (I_out, alpha) only
                (rgb, alpha), transform = self(x["background"], x["object_image"]), None
            out = {"rgb": rgb, "alpha": alpha, "composite": alpha_blend(rgb, alpha, x["background"])}
            if transform is not None:
                out["transform"] = transform
            return {k: v[..., :h, :w] for k, v in out.items()}

    def _compose(self, background: Tensor, object_image: Tensor) -> dict[str, Tensor]:
        rgb, alpha = self(background, object_image)
        return {"rgb": rgb, "alpha": alpha, "composite": alpha_blend(rgb, alpha, background)}

    def lambda_mask_at(self, step: int) -> float:
        """``lambda_4`` at training step ``step``."""
        hp = self.hparams
        return hp.lambda_mask if step < hp.lambda_mask_switch_step else hp.lambda_mask_late

    def losses(self, batch: dict, step: int, out: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The eq. 6-9 terms and their weighted sum ``loss`` for ``batch`` at training step ``step``
        (``out``: the network's outputs on the batch, when already computed)."""
        hp = self.hparams
        if out is None:
            out = self._compose(batch[Keys.BACKGROUND], batch[Keys.OBJECT_IMAGE])
        m = batch[Keys.MODAL_MASK]
        inside = None
        if step >= hp.erode_after_step:
            inside = erode(m, scaled_radius(hp.erode_pixels, m.shape[-1]))
        terms = {
            "recon": reconstruction_loss(out["composite"], batch[Keys.TARGET]),
            "mask": alpha_mask_loss(out["alpha"], m, inside),
            "reg": alpha_sparsity(out["alpha"], hp.gamma),
        }
        terms["loss"] = terms["recon"] + self.lambda_mask_at(step) * terms["mask"] + hp.lambda_reg * terms["reg"]
        return terms

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        terms = self.losses(batch, self.global_step)
        n = len(batch[Keys.TARGET])
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, batch_size=n)
        self.log("train/lambda_mask", self.lambda_mask_at(self.global_step), batch_size=n)
        return terms["loss"]

    def evaluate(self, batch: dict) -> tuple[dict[str, Tensor], Tensor]:
        bg, obj, target = batch[Keys.BACKGROUND], batch[Keys.OBJECT_IMAGE], batch[Keys.TARGET]
        out = self._compose(bg, obj)
        loss = self.losses(batch, self.global_step, out)["loss"]
        preds = {"f_comp": out["composite"].clamp(0, 1)}
        for name, fn in BASELINES["composition"].items():
            preds[name] = fn(bg, obj, batch[Keys.OBJECT_MASK]).to(target.device)
        return preds, loss

    def score(self, metrics: MethodMetrics, preds: dict[str, Tensor], batch: dict) -> None:
        metrics.update(preds, batch[Keys.TARGET], batch[Keys.AREA_RATIO])

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        """``{"rgb", "alpha", "composite"}`` of the batch's pairs (written by
        :class:`~amodal_compose.systems.callbacks.PredictionWriter`)."""
        return self._compose(batch[Keys.BACKGROUND], batch[Keys.OBJECT_IMAGE])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_optimizer(self.parameters(), self.optimizer_factory, self.hparams.lr, self.hparams.betas)

    def log_images(self, batch: dict) -> dict[str, Tensor]:
        out = self._compose(batch[Keys.BACKGROUND], batch[Keys.OBJECT_IMAGE])
        return {
            "background": batch[Keys.BACKGROUND],
            "object": batch[Keys.OBJECT_IMAGE],
            "rgb": out["rgb"],
            "alpha": out["alpha"],
            "composite": out["composite"],
            "target": batch[Keys.TARGET],
        }
