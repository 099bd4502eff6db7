"""The f_content system: AMICO's content-completion GAN (section 3.1, eq. 1-4), trained with manual
optimisation: one Adam for the generator, one for the critic, updated alternately."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..baselines import BASELINES, complete_object_baselines, holdout_log_weights, inpaint_telea, telea_and_offsets
from ..losses.amico import object_reconstruction_loss
from ..losses.gan import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from ..metrics import BinnedImageMetrics, MethodMetrics
from ..nets.content import ContentGenerator, Critic
from ..structures import Keys
from .base import OptimizerFactory, System

__all__ = ["ContentSystem"]


class ContentSystem(System):
    """Trains :class:`~amodal_compose.nets.content.ContentGenerator` against a WGAN-GP
    :class:`~amodal_compose.nets.content.Critic` (AMICO section 3.1).

    Generator loss (eq. 1): ``lambda_refine * L_refine + lambda_coarse * L_coarse + lambda_adv * L_adv``
    with eq. 2 reconstruction terms (``beta`` on visible pixels) and eq. 3 ``-E[D(I_hat)]``. Critic
    loss (eq. 4): ``E[D(I_hat)] - E[D(I_o)] + sigma * GP``. The critic sees completed objects
    (visible pixels kept, hidden ones generated) against real ones.

    Where the paper disagrees with itself, the default follows the method it cites, and the
    alternative is an option: eq. 4 writes the gradient penalty on the generated samples, while WGAN-GP
    (Gulrajani et al., the paper's [15]) takes it at random interpolates between real and generated
    ones (``gp_at``). The coarse net (a "U-Net" in the text, no skips in Table 6) and the attention's
    source region are options of :class:`~amodal_compose.nets.content.ContentGenerator`.

    Batch keys (from :class:`~amodal_compose.data.datamodules.ContentDataModule`): ``TARGET`` (I_o),
    ``MODAL_MASK`` (m_vis), ``INVISIBLE_MASK`` (m_inv), ``IMAGE`` (with ``keep_background``).
    Validation and test log L1 / PSNR / SSIM on the invisible region for ``f_content``, ``telea``,
    ``offsets``, ``mean_fill`` and ``held-out blend`` (``val/psnr/all/f_content`` ...).

    Args:
        generator, critic: the networks (defaults: the paper's sizes at 256 px).
        lambda_refine, lambda_coarse, lambda_adv: eq. 1 weights (paper: 1.2, 1.2, 1e-3).
        beta: eq. 2 weight of the visible pixels (paper: 5).
        sigma: gradient-penalty weight (paper: 10).
        gp_at: ``"interpolates"`` (WGAN-GP) or ``"fakes"`` (eq. 4 as written).
        warmup_steps: generator-only optimiser steps with the reconstruction terms alone, before the
            critic and the adversarial term start (0: none, as the paper).
        keep_background: the ablation that feeds the object on its scene instead of alone.
        prefill: ``"none"`` (the paper), ``"telea"``: the hole is pre-filled by Telea from the
            visible object pixels (what the ``telea`` baseline does) and the generator, built with
            ``prior="residual"``, learns corrections to that fill, or ``"telea+offsets"``: two
            candidate fills, Telea's and the ``offsets`` baseline's copy along the object's
            self-similar offsets, which a generator built with ``prior="select", candidates=2`` weighs
            per pixel and corrects (both not in the paper).
        holdout_ring: with ``prefill="telea+offsets"`` and a generator built with
            ``prior_weights=True``: the selection starts from each object's blend of the two candidates
            weighed by how well each predicts the visible pixels within this many px of the hidden part
            when they are hidden too (:func:`~amodal_compose.baselines.holdout_log_weights`; not in the
            paper; 0: off, the plain average). The ``held-out blend`` baseline row is that blend alone
            at ring 4 and power 2 (the bench recipe's settings).
        holdout_power: the sharpness of those weights (``mse ** -power``).
        lr, betas: Adam for both networks when no factories are given (paper A.2: 1e-4, (0.5, 0.9)).
        generator_optimizer, critic_optimizer: optional ``params -> Optimizer`` factories.
        cosine_tail: ``(start, final_factor)``: both rates held for the first ``start`` share of the run,
            then decayed along a half cosine to ``final_factor`` times their value (torch's
            ``SequentialLR``; not in the paper, which trains at a constant rate; a short run ends less
            noisy). ``None``: constant.

    Example:
        >>> from amodal_compose.nets import ContentGenerator, Critic
        >>> g = ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,))
        >>> system = ContentSystem(g, Critic(3, (8, 16), 32))
        >>> vis = torch.zeros(1, 1, 30, 41); vis[..., :20] = 1
        >>> out = system.complete(torch.rand(1, 3, 30, 41) * vis, vis, 1 - vis)
        >>> tuple(out["completed"].shape)
        (1, 3, 30, 41)
    """

    component = "content"

    def __init__(
        self,
        generator: nn.Module | None = None,
        critic: nn.Module | None = None,
        lambda_refine: float = 1.2,
        lambda_coarse: float = 1.2,
        lambda_adv: float = 1e-3,
        beta: float = 5.0,
        sigma: float = 10.0,
        gp_at: Literal["interpolates", "fakes"] = "interpolates",
        warmup_steps: int = 0,
        keep_background: bool = False,
        prefill: Literal["none", "telea", "telea+offsets"] = "none",
        holdout_ring: int = 0,
        holdout_power: float = 2.0,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.9),
        generator_optimizer: OptimizerFactory | None = None,
        critic_optimizer: OptimizerFactory | None = None,
        cosine_tail: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["generator", "critic", "generator_optimizer", "critic_optimizer"])
        self.automatic_optimization = False
        self.attach_net("generator", generator, ContentGenerator)
        self.attach_net("critic", critic, Critic)
        wants = {"none": ("none", 0), "telea": ("residual", 1), "telea+offsets": ("select", 2)}
        if prefill not in wants:
            raise ValueError(f"prefill must be one of {sorted(wants)}, got {prefill!r}")
        prior, count = wants[prefill]
        if (getattr(self.generator, "prior", "none"), getattr(self.generator, "candidates", 0)) != (prior, count):
            raise ValueError(f"prefill={prefill!r} needs a generator with prior={prior!r}"
                             + (f" and candidates={count}" if prior == "select" else ""))  # fmt: skip
        if holdout_ring < 0:
            raise ValueError(f"holdout_ring must be >= 0, got {holdout_ring}")
        if holdout_ring and prefill != "telea+offsets":
            raise ValueError(f"holdout_ring weighs the candidates of prefill='telea+offsets', not {prefill!r}")
        if bool(holdout_ring) != bool(getattr(self.generator, "prior_weights", False)):
            raise ValueError("holdout_ring > 0 and a generator built with prior_weights=True go together")
        self.factories = (generator_optimizer, critic_optimizer)
        self.setup_evaluation(
            ("f_content", *BASELINES["inpainting"]),
            lambda: BinnedImageMetrics(bins=(), metrics=("l1", "psnr", "ssim")),
            "psnr/all/f_content",
        )

    def forward(self, object_image: Tensor, visible: Tensor, invisible: Tensor) -> dict[str, Tensor]:
        if self.hparams.prefill == "none":
            return self.generator(object_image, visible, invisible)
        # the baselines' own fills: from the visible object pixels alone (Telea: cv2, on the CPU)
        known, hole = object_image * visible, 1 - visible
        if self.hparams.prefill == "telea":
            return self.generator(object_image, visible, invisible, inpaint_telea(known, hole).to(object_image))
        prior = telea_and_offsets(known, hole).to(object_image)
        ring = self.hparams.get("holdout_ring", 0)  # 0 for checkpoints saved before the option existed
        if not ring:
            return self.generator(object_image, visible, invisible, prior)
        logits = holdout_log_weights(telea_and_offsets, known, hole, invisible, ring, self.hparams.holdout_power)
        return self.generator(object_image, visible, invisible, prior, logits.to(object_image))

    def complete(self, object_image, visible, invisible) -> dict[str, Tensor]:
        """Complete an object's hidden part (AMICO section 3.1): ``{"coarse", "completed"}``, each
        ``(B, 3, H, W)``; ``completed`` keeps the known pixels and fills ``invisible``. Runs in eval
        mode without autograd (the module's mode is restored).

        Args:
            object_image: the object, ``(3, H, W)`` / ``(B, 3, H, W)`` float in [0, 1] or uint8 (tensor,
                numpy, PIL); pixels inside ``invisible`` are ignored. Any ``H, W`` (padded to the
                generator's stride and cropped back).
            visible: ``m_vis``, binary, same size.
            invisible: ``m_inv``, the region to fill, binary, same size.

        Raises:
            ValueError: sizes or batch sizes differ, NaN / Inf, soft masks, float values outside [0, 1].
        """
        with self.inference():
            x, (h, w) = self.user_batch(
                self.size_multiple(self.generator), object_image=(object_image, "image"),
                visible=(visible, "mask"), invisible=(invisible, "mask"),
            )  # fmt: skip
            out = self(x["object_image"], x["visible"], x["invisible"])
            return {k: out[k][..., :h, :w] for k in ("coarse", "completed")}

    def _inputs(self, batch: dict) -> Tensor:
        """The object alone (zero outside its mask), or on its scene with ``keep_background``."""
        return batch[Keys.IMAGE] if self.hparams.keep_background else batch[Keys.TARGET]

    def _real(self, batch: dict) -> Tensor:
        """What the critic sees as real: the whole object, alone or on its scene like the fakes."""
        t = batch[Keys.TARGET]
        if not self.hparams.keep_background:
            return t
        m = batch[Keys.AMODAL_MASK]
        return t * m + batch[Keys.IMAGE] * (1 - m)

    def generator_losses(self, batch: dict, out: dict[str, Tensor], adversarial: bool = True) -> dict[str, Tensor]:
        """The eq. 1-3 terms and their weighted sum ``loss`` (``adversarial=False``: the warm-up, no
        adversarial term)."""
        hp = self.hparams
        t, v, i = batch[Keys.TARGET], batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK]
        terms = {
            "refine": object_reconstruction_loss(out["refine"], t, v, i, hp.beta),
            "coarse": object_reconstruction_loss(out["coarse"], t, v, i, hp.beta),
            "adv": wgan_generator_loss(self.critic(out["completed"])) if adversarial else t.new_zeros(()),
        }
        terms["loss"] = (
            hp.lambda_refine * terms["refine"] + hp.lambda_coarse * terms["coarse"] + hp.lambda_adv * terms["adv"]
        )
        return terms

    def critic_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        fake = fake.detach()
        wgan = wgan_critic_loss(self.critic(real), self.critic(fake))
        eps = torch.zeros(len(real), device=real.device) if self.hparams.gp_at == "fakes" else None
        return wgan + self.hparams.sigma * gradient_penalty(self.critic, real, fake, epsilon=eps)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        opt_g, opt_d = self.optimizers()
        v, i = batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK]
        out = self(self._inputs(batch), v, i)
        adversarial = self.global_step >= self.hparams.warmup_steps
        if adversarial:  # critic step (eq. 4) on the detached completion
            d_loss = self.critic_loss(self._real(batch), out["completed"])
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
            self.log("train/d_loss", d_loss, prog_bar=True, batch_size=len(v))
        # generator step (eq. 1-3); the critic's gradients from this pass are discarded
        terms = self.generator_losses(batch, out, adversarial)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(terms["loss"])
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        self.step_schedulers()  # manual optimisation steps them too: once per batch
        n = len(v)
        self.log("train/g_loss", terms["loss"], prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": val for k, val in terms.items() if k != "loss"}, batch_size=n)
        return terms["loss"].detach()  # reported only: manual optimisation has already stepped

    def evaluate(self, batch: dict) -> tuple[dict[str, Tensor], Tensor]:
        t, v, i = batch[Keys.TARGET], batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK]
        out = self(self._inputs(batch), v, i)
        refine = object_reconstruction_loss(out["refine"], t, v, i, self.hparams.beta)
        return {"f_content": out["completed"], **complete_object_baselines(t * v, v, i)}, refine

    def score(self, metrics: MethodMetrics, preds: dict[str, Tensor], batch: dict) -> None:
        t, i = batch[Keys.TARGET], batch[Keys.INVISIBLE_MASK]
        ratio = batch.get(Keys.OCCLUDED_RATIO, torch.full((len(t),), 0.5, device=t.device))
        metrics.update({k: p.clamp(0, 1) for k, p in preds.items()}, t, ratio, region=i)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        """``{"coarse", "completed"}`` of the batch's objects (written by
        :class:`~amodal_compose.systems.callbacks.PredictionWriter`)."""
        out = self(self._inputs(batch), batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK])
        return {"coarse": out["coarse"], "completed": out["completed"]}

    def configure_optimizers(self):
        hp = self.hparams
        g = self.make_optimizer(self.generator.parameters(), self.factories[0], hp.lr, hp.betas)
        d = self.make_optimizer(self.critic.parameters(), self.factories[1], hp.lr, hp.betas)
        # max_steps counts both optimisers' steps: one per warm-up batch, two per batch after it
        warmup = int(hp.warmup_steps)
        return self.with_cosine_tail([g, d], lambda steps: min(warmup, steps) + max(steps - warmup, 0) // 2)

    def log_images(self, batch: dict) -> dict[str, Tensor]:
        t, v, i = batch[Keys.TARGET], batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK]
        out = self(self._inputs(batch), v, i)
        return {"input": self._inputs(batch) * (1 - i), "m_inv": i, "coarse": out["coarse"],
                "refined": out["completed"], "target": t}  # fmt: skip
