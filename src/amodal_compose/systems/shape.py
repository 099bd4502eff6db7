"""The f_shape system: AMICO's amodal mask prediction net (section 3.3) trained with eq. 10-11."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..baselines import BASELINES
from ..losses.amico import shape_loss
from ..metrics import MethodMetrics, mask_metrics
from ..nets.amico import AmodalShapeNet
from ..structures import Keys
from .base import OptimizerFactory, System

__all__ = ["ShapeSystem"]


class ShapeSystem(System):
    """Trains :class:`~amodal_compose.nets.AmodalShapeNet` (f_shape).

    Batch keys (from :class:`~amodal_compose.data.datamodules.ShapeDataModule`): ``IMAGE``,
    ``EDIT_MASK`` (input), ``MODAL_MASK`` and ``AMODAL_MASK`` (targets). Validation and test log
    pooled mIoU on the full amodal mask and on its invisible part (``val/miou_full/f_shape``,
    ``test/miou_invisible/f_shape``), and the same for the ``raw`` and ``convex`` baselines computed
    on the same batches from the exact visible mask.

    Args:
        net: the network (LightningCLI: ``class_path`` / ``init_args``); default
            ``AmodalShapeNet()`` (the paper's 256 px widths).
        omega: eq. 11 weight of the inside term (paper: 5).
        lr, betas: Adam settings when no ``optimizer`` is injected (paper A.2: 1e-3, (0.5, 0.9)).
        optimizer: optional ``params -> Optimizer`` factory.
        threshold: probability above which a pixel is in the predicted mask.

    Example:
        >>> from amodal_compose.nets import AmodalShapeNet
        >>> system = ShapeSystem(AmodalShapeNet(widths=(8, 16, 16), bottleneck=(16,)))
        >>> out = system.predict_masks(torch.rand(1, 3, 30, 41), torch.ones(1, 1, 30, 41))
        >>> tuple(out["amodal"].shape)
        (1, 1, 30, 41)
    """

    component = "shape"

    def __init__(
        self,
        net: nn.Module | None = None,
        omega: float = 5.0,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.5, 0.9),
        optimizer: OptimizerFactory | None = None,
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer"])
        self.attach_net("net", net, AmodalShapeNet)
        self.optimizer_factory = optimizer
        self.setup_evaluation(("f_shape", *BASELINES["amodal_mask"]), mask_metrics, "miou_invisible/f_shape")

    def forward(self, image: Tensor, edit_mask: Tensor) -> Tensor:
        """Mask logits ``(B, 2, H, W)``: visible, amodal."""
        return self.net(image, edit_mask)

    def predict_masks(self, image, edit_mask) -> dict[str, Tensor]:
        """Binary ``{"visible", "amodal"}`` masks ``(B, 1, H, W)``; the amodal mask always contains
        the predicted visible one. Runs in eval mode without autograd (the module's mode is restored).

        Args:
            image: ``(3, H, W)`` / ``(B, 3, H, W)`` float in [0, 1] or uint8 0-255 (tensor, numpy,
                PIL); any ``H, W`` (padded to the network's stride and cropped back).
            edit_mask: the rough visible mask, binary (bool, {0, 1} or uint8 {0, 255}); an empty
                mask is allowed (the net then sees no object).

        Raises:
            ValueError: sizes or batch sizes differ, a soft mask, NaN / Inf, float images outside [0, 1].
        """
        with self.inference():
            x, (h, w) = self.user_batch(
                self.size_multiple(self.net), image=(image, "image"), edit_mask=(edit_mask, "mask")
            )
            masks = self.masks_from_logits(self(x["image"], x["edit_mask"]))
            return {k: v[..., :h, :w] for k, v in masks.items()}

    def masks_from_logits(self, logits: Tensor) -> dict[str, Tensor]:
        """Threshold the net's ``(B, 2, H, W)`` logits into ``{"visible", "amodal"}`` masks."""
        prob = torch.sigmoid(logits)
        visible = (prob[:, :1] > self.hparams.threshold).float()
        amodal = torch.maximum((prob[:, 1:] > self.hparams.threshold).float(), visible)
        return {"visible": visible, "amodal": amodal}

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        logits = self(batch[Keys.IMAGE], batch[Keys.EDIT_MASK])
        loss = shape_loss(logits, batch[Keys.MODAL_MASK], batch[Keys.AMODAL_MASK], self.hparams.omega)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def evaluate(self, batch: dict) -> tuple[dict[str, Tensor], Tensor]:
        image, edit, modal, amodal = (batch[k] for k in (Keys.IMAGE, Keys.EDIT_MASK, Keys.MODAL_MASK, Keys.AMODAL_MASK))
        logits = self(image, edit)
        preds = {"f_shape": self.masks_from_logits(logits)["amodal"]}
        for name, fn in BASELINES["amodal_mask"].items():
            preds[name] = fn(modal, image).to(image.device)
        return preds, shape_loss(logits, modal, amodal, self.hparams.omega)

    def score(self, metrics: MethodMetrics, preds: dict[str, Tensor], batch: dict) -> None:
        metrics.update(preds, batch[Keys.AMODAL_MASK], batch[Keys.MODAL_MASK])

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        """``{"visible", "amodal"}`` masks of the batch's crops (written by
        :class:`~amodal_compose.systems.callbacks.PredictionWriter`)."""
        return self.masks_from_logits(self(batch[Keys.IMAGE], batch[Keys.EDIT_MASK]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_optimizer(self.parameters(), self.optimizer_factory, self.hparams.lr, self.hparams.betas)

    def log_images(self, batch: dict) -> dict[str, Tensor]:
        pred = self.masks_from_logits(self(batch[Keys.IMAGE], batch[Keys.EDIT_MASK]))
        return {
            "image": batch[Keys.IMAGE],
            "m_edit": batch[Keys.EDIT_MASK],
            "pred_visible": pred["visible"],
            "pred_amodal": pred["amodal"],
            "amodal": batch[Keys.AMODAL_MASK],
        }
