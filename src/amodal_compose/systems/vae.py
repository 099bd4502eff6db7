"""Amodal-VAE (Ling et al., Variational Amodal Object Completion, NeurIPS 2020): variational amodal mask
completion, trained in three stages, with posterior sampling."""

from __future__ import annotations

from typing import Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn

from ..baselines import BASELINES, amodal_nearest_neighbour
from ..metrics import MethodMetrics, mask_metrics
from ..nets.vae import AmodalVAE, kl_normal
from ..ops.masks import frame_masks, iou, unframe_masks
from ..structures import Keys
from .base import OptimizerFactory, System

__all__ = ["AmodalVAESystem"]


def _bce(prob_or_logits: Tensor, target: Tensor, logits: bool, weight: Tensor | None = None) -> Tensor:
    """Bernoulli negative log-likelihood summed over the pixels (the ELBO's term), averaged over the batch."""
    if logits:
        nll = F.binary_cross_entropy_with_logits(prob_or_logits, target, weight=weight, reduction="none")
    else:
        nll = F.binary_cross_entropy(prob_or_logits.clamp(1e-5, 1 - 1e-5), target, weight=weight, reduction="none")
    return nll.flatten(1).sum(1).mean()


class AmodalVAESystem(System):
    """Trains Amodal-VAE (:class:`~amodal_compose.nets.vae.AmodalVAE`) in one of its three stages
    (Ling et al. section 4.1) and completes partial masks with it.

    1. ``stage=1``: the ELBO of eq. 1 on full masks (full-mask encoder ``q_w2`` and decoder ``p_w1``).
    2. ``stage=2``: simulated partial -> full pairs: the adapted ELBO of eq. 2 with the partial-mask
       encoder ``q_w3``, plus the latent-code distance of eq. 3 (``q_w3`` of the full mask), plus the
       spatial transformer's fit of the completed mask in the partial mask's frame; the decoder is frozen.
    3. ``stage=3``: real partial masks only: eq. 5, the likelihood of the transformed completion on the
       pixels that are known (the visible mask, and the background no other instance covers); the
       decoder is frozen.

    Stages 2 and 3 start from the previous stage's checkpoint (``init_from``, loaded when the fit starts;
    entering stage 2, ``q_w3`` starts as a copy of ``q_w2``). ``train_decoder=True`` in stage 2 is Table 2's
    "without full-mask training" (stage 2 from scratch, decoder trained); ``embed=0`` in the network is
    "without class conditioning"; evaluating a stage-2 model is "without stage 3".

    Evaluation (the occluded instance crops f_shape is scored on): pooled full / invisible mIoU of the
    posterior mode (``amodal_vae``), of the best of ``samples`` posterior samples by IoU with the visible
    mask (Table 4), of the nearest neighbour in a bank of simulated partial masks (cosine similarity,
    section 5.1; bank from the DataModule's ``neighbour_bank``), ``raw`` and ``convex``.

    Args:
        net: the networks (default ``AmodalVAE()``).
        stage: 1, 2 or 3.
        init_from: the previous stage's checkpoint.
        kl_weight: lambda of eq. 1, 2 and 5.
        latent_weight: weight of eq. 3's latent-code distance.
        train_decoder: train the decoder (default: in stage 1 only).
        samples: posterior samples of the best-of-N row.
        threshold: probability above which a pixel is in a completed mask (``t`` of section 4.1).
        lr, betas: Adam settings when no ``optimizer`` is given.
        optimizer: optional ``params -> Optimizer`` factory.
    """

    component = "amodal_vae"

    def __init__(
        self,
        net: nn.Module | None = None,
        stage: Literal[1, 2, 3] = 2,
        init_from: str | None = None,
        kl_weight: float = 1.0,
        latent_weight: float = 1.0,
        train_decoder: bool | None = None,
        samples: int = 20,
        threshold: float = 0.5,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        super().__init__()
        if stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, got {stage}")
        self.save_hyperparameters(ignore=["net", "optimizer"])
        self.attach_net("net", net, AmodalVAE)
        self.optimizer_factory = optimizer
        self.train_decoder = stage == 1 if train_decoder is None else bool(train_decoder)
        if not self.train_decoder:
            self.net.decoder.requires_grad_(False)
        methods = ("amodal_vae", "amodal_vae (best of N)", "nearest_neighbour", *BASELINES["amodal_mask"])
        self.setup_evaluation(methods, mask_metrics, "miou_invisible/amodal_vae")
        self.bank: dict | None = None
        self._stage_3_start: float | None = None  # the stage-2 weights' val score (see _watch_stage_3)
        self._stage_3_warned = False

    # ------------------------------------------------------------------ framing
    def frames(self, partial: Tensor) -> dict:
        """The partial masks' tight crops and their output frames (``context`` times larger)."""
        s, c = self.net.size, self.net.context
        tight, tight_boxes = frame_masks(partial, s, 1.0)
        _, out_boxes = frame_masks(partial, s, c)
        return {"tight": tight, "tight_boxes": tight_boxes, "out_boxes": out_boxes}

    def decode(self, z: Tensor, tight_partial: Tensor) -> tuple[Tensor, Tensor]:
        """Decoder logits ``(B, 1, S, S)`` and their spatially transformed probabilities in the output frame."""
        logits = self.net.decoder(z)
        warped, _ = self.net.transformer(torch.sigmoid(logits), tight_partial)
        return logits, warped

    # ------------------------------------------------------------------ training
    def on_fit_start(self) -> None:
        if self.global_step > 0:
            return
        if not self.hparams.init_from:
            if not self.train_decoder:
                raise ValueError(
                    f"stage {self.hparams.stage} trains against a frozen decoder: give init_from (the previous "
                    "stage's checkpoint), or train_decoder=True (Table 2's 'without full-mask training')"
                )
            return
        (ckpt,) = self.load_weights([self.hparams.init_from])
        if self.hparams.stage == 2 and ckpt.get("hyper_parameters", {}).get("stage") == 1:
            # entering stage 2: the partial-mask encoder q_w3 starts as a copy of q_w2
            self.net.partial_encoder.load_state_dict(self.net.full_encoder.state_dict())

    def losses(self, batch: dict) -> dict[str, Tensor]:
        """The stage's loss terms and their weighted sum ``loss``."""
        hp, net = self.hparams, self.net
        cat = batch[Keys.CATEGORY]
        if hp.stage == 1:
            full, _ = frame_masks(batch[Keys.AMODAL_MASK], net.size, 1.0)
            mu, logvar = net.full_encoder(full, cat)
            logits = net.decoder(net.reparameterize(mu, logvar))
            terms = {"recon": _bce(logits, full, True), "kl": kl_normal(mu, logvar).mean()}
            terms["loss"] = terms["recon"] + hp.kl_weight * terms["kl"]
            return terms
        partial = batch[Keys.MODAL_MASK]
        f = self.frames(partial)
        mu, logvar = net.partial_encoder(f["tight"], cat)
        z = net.reparameterize(mu, logvar)
        logits, warped = self.decode(z, f["tight"])
        terms = {"kl": kl_normal(mu, logvar).mean()}
        if hp.stage == 2:
            full = batch[Keys.AMODAL_MASK]
            full_tight, _ = frame_masks(full, net.size, 1.0)
            full_out, _ = frame_masks(full, net.size, net.context, around=partial)
            mu_f, logvar_f = net.partial_encoder(full_tight, cat)  # eq. 3: the same encoder on the full mask
            z_f = net.reparameterize(mu_f, logvar_f)
            terms["recon"] = _bce(logits, full_tight, True)
            terms["latent"] = 0.5 * (z - z_f).pow(2).sum(1).mean()
            terms["place"] = _bce(warped, full_out, False)
            terms["loss"] = terms["recon"] + hp.kl_weight * terms["kl"] + hp.latent_weight * terms["latent"] + \
                terms["place"]  # fmt: skip
        else:  # stage 3, eq. 5: only the known pixels
            vis_out, _ = frame_masks(partial, net.size, net.context, around=partial)
            cover, _ = frame_masks(batch[Keys.ERASER_MASK], net.size, net.context, around=partial)
            known = 1 - cover * (1 - vis_out)
            terms["recon"] = _bce(warped, vis_out, False, weight=known)
            terms["loss"] = terms["recon"] + hp.kl_weight * terms["kl"]
        return terms

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        terms = self.losses(batch)
        n = len(batch[Keys.CATEGORY])
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, batch_size=n)
        return terms["loss"]

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return self.make_optimizer(params, self.optimizer_factory, self.hparams.lr, self.hparams.betas)

    # ------------------------------------------------------------------ completion
    def _decoded(self, partial: Tensor, category: Tensor, samples: int = 0, generator=None) -> Tensor:
        """``(B, N, 1, H, W)`` decoded binary masks in the input frame (not yet joined with the partial
        mask): the posterior mode (``samples=0``, N = 1) or ``samples`` posterior samples."""
        f = self.frames(partial)
        encoder = self.net.full_encoder if self.hparams.stage == 1 else self.net.partial_encoder
        mu, logvar = encoder(f["tight"], category)
        codes = [mu] if samples == 0 else [self.net.reparameterize(mu, logvar, generator) for _ in range(samples)]
        outs = []
        for z in codes:
            _, warped = self.decode(z, f["tight"])
            outs.append(unframe_masks((warped > self.hparams.threshold).to(partial.dtype), f["out_boxes"]))
        return torch.stack(outs, 1)

    @staticmethod
    def visible_agreement(decoded: Tensor, partial: Tensor, occluders: Tensor | None = None) -> Tensor:
        """``(B, N)`` IoU of each decoded mask with the visible mask over the pixels whose visibility is
        known (Ling et al. Table 4, "best visible IoU"): everywhere but where ``occluders`` (what may hide
        the object) cover it; the whole frame when they are not known.

        Shape:
            decoded ``(B, N, 1, H, W)``, partial and occluders ``(B, 1, H, W)`` -> ``(B, N)``.
        """
        vis = partial[:, None].expand_as(decoded)
        if occluders is None:
            return iou(decoded, vis)
        known = (1 - occluders * (1 - partial))[:, None]
        return iou(decoded * known, vis * known)

    def _ranked(self, partial: Tensor, category: Tensor, samples: int, generator=None, occluders=None):
        """``samples`` posterior completions (each joined with the partial mask), best visible
        agreement first, and their scores."""
        many = self._decoded(partial, category, samples, generator)
        scores = self.visible_agreement(many, partial, occluders)
        order = scores.argsort(dim=1, descending=True, stable=True)
        many = torch.maximum(many, partial[:, None])
        return torch.stack([many[b, order[b]] for b in range(len(partial))]), scores.gather(1, order)

    def complete(
        self, partial, category=None, samples: int = 0, generator: torch.Generator | None = None, occluders=None,
    ) -> dict:  # fmt: skip
        """Amodal masks of partial (visible) masks (Ling et al. section 4): the posterior mode, and with
        ``samples > 0`` that many posterior samples ranked by agreement with the visible mask (Table 4):
        several plausible hidden shapes to choose from. Eval mode, no autograd, any frame size (the
        masks are tightly cropped inside).

        Args:
            partial: ``(1, H, W)`` / ``(B, 1, H, W)`` binary visible masks (bool, {0, 1}, uint8 {0, 255}).
            category: ``(B,)`` category indices (default 0).
            samples: posterior samples to draw (0: the mode only).
            generator: for reproducible samples.
            occluders: optional masks of what may hide each object (the other instances): the ranking
                then ignores the pixels they cover.

        Returns:
            ``{"mode": (B, 1, H, W)}`` and, with samples, ``"samples": (B, N, 1, H, W)`` best first and
            ``"scores": (B, N)`` their visible agreement (:meth:`visible_agreement`). Every mask contains
            its visible mask.

        Example:
            >>> vae = AmodalVAESystem(AmodalVAE(size=16, latent=4, widths=(8, 8)), train_decoder=True)
            >>> out = vae.complete(torch.ones(1, 20, 12), samples=3, generator=torch.Generator().manual_seed(0))
            >>> out["samples"].shape, out["scores"].shape
            (torch.Size([1, 3, 1, 20, 12]), torch.Size([1, 3]))
        """
        with self.inference():
            given = {"partial": (partial, "mask")}
            if occluders is not None:
                given["occluders"] = (occluders, "mask")
            x, _ = self.user_batch(1, **given)
            m = x["partial"]
            cat = torch.zeros(len(m), dtype=torch.long) if category is None else torch.as_tensor(category).long()
            cat = cat.reshape(-1).to(m.device)
            if len(cat) != len(m):
                raise ValueError(f"complete: {len(cat)} categories for {len(m)} masks")
            out = {"mode": torch.maximum(self._decoded(m, cat)[:, 0], m)}
            if samples > 0:
                out["samples"], out["scores"] = self._ranked(m, cat, samples, generator, x.get("occluders"))
            return out

    # ------------------------------------------------------------------ evaluation
    def use_neighbour_bank(self, datamodule: pl.LightningDataModule) -> None:
        """Take the nearest-neighbour baseline's bank from ``datamodule`` (its ``neighbour_bank``), framed
        like the model's crops. Under a Trainer the bank comes from the trainer's DataModule; call this to
        evaluate outside one (e.g. weights loaded from a file)."""
        raw = datamodule.neighbour_bank()
        s, c = self.net.size, self.net.context
        parts, fulls = [], []
        for i in range(0, len(raw[Keys.MODAL_MASK]), 2048):  # framed in chunks: the bank may be large
            modal, full = (raw[k][i : i + 2048].float() for k in (Keys.MODAL_MASK, Keys.AMODAL_MASK))
            parts.append(frame_masks(modal, s, 1.0)[0])
            fulls.append(frame_masks(full, s, c, around=modal)[0])
        self.bank = {"partial": torch.cat(parts).to(self.device), "full": torch.cat(fulls).to(self.device)}

    def _bank(self) -> dict:
        if self.bank is None and self._trainer is not None:
            dm = getattr(self.trainer, "datamodule", None)
            if dm is not None and hasattr(dm, "neighbour_bank"):
                self.use_neighbour_bank(dm)
        if self.bank is None:
            raise RuntimeError(
                "the nearest-neighbour row needs its bank: evaluate under a Trainer with an AmodalVAEDataModule, "
                "or call use_neighbour_bank(datamodule) first"
            )
        return self.bank

    def evaluate(self, batch: dict) -> tuple[dict[str, Tensor], None]:
        modal, cat = batch[Keys.MODAL_MASK], batch[Keys.CATEGORY]
        preds = {"amodal_vae": torch.maximum(self._decoded(modal, cat)[:, 0], modal)}
        gen = torch.Generator(device=modal.device).manual_seed(0)
        ranked, _ = self._ranked(modal, cat, self.hparams.samples, gen, batch.get(Keys.ERASER_MASK))
        preds["amodal_vae (best of N)"] = ranked[:, 0]
        bank = self._bank()
        preds["nearest_neighbour"] = amodal_nearest_neighbour(
            modal, bank["partial"], bank["full"], self.net.size, self.net.context
        )
        for name, fn in BASELINES["amodal_mask"].items():
            preds[name] = fn(modal).to(modal.device)
        return preds, None

    def score(self, metrics: MethodMetrics, preds: dict[str, Tensor], batch: dict) -> None:
        metrics.update(preds, batch[Keys.AMODAL_MASK], batch[Keys.MODAL_MASK])

    def on_validation_epoch_end(self) -> None:
        if self.hparams.stage == 3:
            self._watch_stage_3(float(self.scores["val"].compute()[self.main_metric]))
        super().on_validation_epoch_end()

    def _watch_stage_3(self, value: float, margin: float = 0.005) -> None:
        """Warn once when stage 3 has lowered the validation metric below where it started.

        Eq. 5 scores the decoded mask on the visible pixels only, and the decoder can draw the visible
        part alone; on the synthetic val split every stage-3 budget tried lowered invisible mIoU. The
        start is the sanity check's score of the stage-2 weights when it covers the whole val split
        (``trainer.num_sanity_val_steps: -1``, as the stage-3 configs set); otherwise nothing is compared.
        """
        trainer = self.trainer
        if trainer.sanity_checking:
            whole = sum(trainer.num_sanity_val_batches) >= sum(trainer.num_val_batches)
            self._stage_3_start = value if whole else None
            return
        start = self._stage_3_start
        if start is not None and value < start - margin and not self._stage_3_warned:
            self._stage_3_warned = True
            rank_zero_warn(
                f"stage 3 (eq. 5) has lowered val {self.main_metric} from {start:.4f} (its stage-2 start) to "
                f"{value:.4f} at step {self.global_step}: keep the stage-2 checkpoint, or stop stage 3 earlier",
                category=UserWarning,
            )

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        modal = batch[Keys.MODAL_MASK]
        return {"amodal": torch.maximum(self._decoded(modal, batch[Keys.CATEGORY])[:, 0], modal)}

    def log_images(self, batch: dict) -> dict[str, Tensor]:
        modal, cat = batch[Keys.MODAL_MASK], batch[Keys.CATEGORY]
        return {"visible": modal, "amodal_vae": torch.maximum(self._decoded(modal, cat)[:, 0], modal),
                "amodal": batch.get(Keys.AMODAL_MASK, modal)}  # fmt: skip
