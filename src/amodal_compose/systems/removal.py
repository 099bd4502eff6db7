"""Object removal with inpainting-driven mask optimisation (Shimosato & Ukita): a segmentation network
trained end to end through an edge inpainter, a segmentation inpainter and an image inpainter, with the
mask expansion loss."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import partial
from typing import Literal

import cv2
import kornia
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..baselines import inpaint_telea
from ..losses.inpainting import (
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    masked_l1,
    style_loss,
)
from ..losses.removal import boundary_potential, mask_expansion_loss
from ..metrics import BinnedImageMetrics, MethodMetrics
from ..nets.inpainting import PatchDiscriminator, ResidualInpainter
from ..nets.removal import SegmentationNet
from ..ops.edges import canny_edges
from ..ops.masks import dilate, erode
from ..structures import Keys
from .base import OptimizerFactory, System

__all__ = ["RemovalSystem", "REMOVAL_BINS", "BASELINES", "select_segment"]

#: the paper's mask-ratio bins (Tables I, V): the share of the image the object covers.
REMOVAL_BINS: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4))
#: the generators (one optimiser: the segmentation net and the three inpainters) and the critics (another).
GENERATORS = ("segmenter", "edge_inpainter", "seg_inpainter", "image_inpainter")
CRITICS = ("edge_critic", "seg_critic", "image_critic")
NETS = GENERATORS + CRITICS
#: the masks the evaluation fills with the inpainters besides the system's own (Tables I and V).
MASK_ROWS = ("gt mask", "gt +2px", "gt +4px", "gt +8px", "gt -2px", "segmentation mask")
#: the baseline rows of the evaluation: the inpainters with each of :data:`MASK_ROWS`, and Telea with the
#: segmentation mask and with the true mask (the classical fill the image inpainter is measured against).
TELEA = "telea, segmentation mask"
TELEA_GT = "telea, gt mask"
BASELINES = (*(f"inpainter, {m}" for m in MASK_ROWS), TELEA_GT, TELEA)
_TELEA_MASKS = {TELEA: "segmentation mask", TELEA_GT: "gt mask"}


def _label_maps(labels: Tensor, k: int, dtype: torch.dtype) -> Tensor:
    """``(B, H, W)`` integer labels as ``(B, k, H, W)`` one-hot channels of ``dtype``."""
    return F.one_hot(labels, k).permute(0, 3, 1, 2).to(dtype)


def select_segment(logits: Tensor, hint: Tensor, ungated: bool = False) -> tuple[Tensor, Tensor]:
    """The segment of a per-pixel labelling that overlaps ``hint`` most (Shimosato & Ukita III-C): the
    segments are the connected regions of the argmax labelling; the object class (not background) whose
    label covers most of ``hint`` is chosen (its probability mass there breaks ties), and its regions
    touching ``hint`` are kept.

    Args:
        logits: ``(B, K, H, W)`` segmentation logits (class 0: background).
        hint: ``(B, 1, H, W)`` ``M_G`` in training, the user's rough mask at inference.

    Returns:
        ``(prob, hard)``: the chosen class's soft probability on the kept regions (differentiable: what
        the mask losses and the straight-through mask use) and the binary mask, each ``(B, 1, H, W)``.
        A sample where no object label touches ``hint`` gets an empty mask. With ``ungated``, the
        first is the chosen class's probability over the whole image (what eq. 9 reads for a mask head).
    """
    probs = torch.softmax(logits, 1)
    labels = probs.argmax(1)  # (B, H, W)
    onehot = _label_maps(labels, logits.shape[1], hint.dtype)  # (B, K, H, W)
    count = (onehot[:, 1:] * hint).flatten(2).sum(-1)  # (B, K - 1): hint pixels labelled with each object class
    mass = (probs[:, 1:] * hint).flatten(2).sum(-1)
    cls = (count + mass / (mass.sum(1, keepdim=True) + 1)).argmax(1) + 1  # the mass term is < 1: ties only
    prob = probs.gather(1, cls.view(-1, 1, 1, 1).expand(-1, 1, *probs.shape[-2:]))
    region = labels[:, None] == cls.view(-1, 1, 1, 1)
    touch = dilate(hint, 1)
    gates = []
    for r, t in zip(region.cpu().numpy()[:, 0], (touch > 0.5).cpu().numpy()[:, 0]):
        _, comp = cv2.connectedComponents(r.astype(np.uint8), connectivity=8)
        keep = np.unique(comp[t & r])
        gates.append(np.isin(comp, keep[keep > 0]))
    gate = torch.from_numpy(np.stack(gates)).to(prob.device, prob.dtype)[:, None]
    return (prob if ungated else prob * gate), gate


class RemovalSystem(System):
    """Trains the removal model of Shimosato & Ukita in one of three stages (section III-B, III-C):

    * ``"segmentation"``: the segmentation network alone (``L_PS``: cross entropy of every pixel's label);
    * ``"inpainters"``: the edge, segmentation and image inpainters on the ground-truth object masks
      ``M_G`` (eq. 1-7), the image inpainter with ground-truth cues (as EdgeConnect trains its image
      stage), each against its own discriminator;
    * ``"joint"``: everything end to end (eq. 10): the segment overlapping ``M_G`` most is the mask the
      inpainters get (forward: its binary mask; backward: through its soft probability, a straight-through
      estimator), the inpainters use each other's outputs, and ``lambda_x * L_X`` (eq. 9) expands it.

    What eq. 9 acts on (``expansion``): the paper's segmentation network outputs the instance mask
    itself, so eq. 9 integrates its probability over the whole image. Here the mask is a segment of a
    per-pixel labelling: with ``"segment"`` (the default) eq. 9 sums the chosen class's probability
    inside the selected segment only (the soft mask the inpainters' gradient also flows through), so it
    can firm up and fill the segment but not pull the mask past it; with ``"image"`` it sums that
    probability everywhere, as the paper writes it, which also rewards the class spreading into
    neighbouring pixels that the segment does not (yet) include. The two were compared on val
    (``docs/methods.md``).

    Each stage starts from the checkpoints in ``init_from`` (the earlier stages), loaded when the fit
    starts; the joint stage keeps a frozen copy of the loaded segmentation network, whose masks are a
    row of its evaluation. Two optimisers, one for the generators (the segmentation network and the
    inpainters) and one for the critics: Lightning's ``max_steps`` counts 1 step per batch in the
    segmentation stage and 2 in the others.

    Losses and weights (section IV-A): hinge GAN, feature matching and (image) Gram-matrix style loss on
    the discriminators' activations, L1 over the masked pixels (eq. 7), cross entropy for the
    segmentation inpainter; ``lambda_EG = 1, lambda_EF = 10, lambda_SG = 0.1, lambda_SC = 1,
    lambda_IG = lambda_IF = 0.1, lambda_IS = 250, lambda_IR = 1``; ``alpha = 0.03``, ``lambda_X = 1000``.

    Evaluation (test rows on the same items, PSNR / SSIM of the filled image against ``I_G`` per
    mask-ratio bin): the inpainter with the ground-truth mask, with it dilated by 2 / 4 / 8 px and eroded
    by 2 px, with the (pretrained) segmentation mask, with this system's own mask (``name``, joint stage),
    and Telea with the segmentation mask (``baselines`` keeps some of them).

    Args:
        segmenter: default ``SegmentationNet(num_classes)``.
        edge_inpainter, seg_inpainter, image_inpainter: default ``ResidualInpainter`` s (EdgeConnect's).
        edge_critic, seg_critic, image_critic: default ``PatchDiscriminator`` s.
        num_classes: segmentation classes (0 = background; synthetic: 8).
        stage: ``"segmentation"``, ``"inpainters"`` or ``"joint"``.
        init_from: checkpoints whose weights are loaded, in order, when the fit starts.
        name: the method name of this system's own mask in evaluation rows.
        baselines: the baseline rows evaluation computes (``None``: all of :data:`BASELINES`); each costs
            an inpainting pass over the evaluation set, so a run that only needs the comparison with the
            segmentation mask can ask for ``["inpainter, segmentation mask"]``.
        lambda_*: the loss weights above; ``lambda_x = 0`` is the paper's "without MEL".
        alpha: eq. 9's shift of the zero level (in units of the image diagonal).
        expansion: ``"segment"`` (gated) or ``"image"`` (ungated): what eq. 9 sums (see above).
        reconstruction: what eq. 7 compares with ``I_G``: the image inpainter's ``"output"`` (EdgeConnect's
            reading) or the ``"composite"`` (the image outside the mask, the output inside: the filled
            image a user gets and evaluation scores). Only the composite depends on the mask itself, so
            in the joint stage its L1 tells the segmentation network directly which pixels masking
            helps (uncovered object pixels) and which it hurts (background the mask took).
        canny_sigma, canny_thresholds: the edge detector (:func:`~amodal_compose.ops.canny_edges`).
        lr, betas: Adam for the generators and the critics when no ``optimizer`` factory is given (paper,
            joint stage: 1e-5).
        optimizer: a ``params -> Optimizer`` factory, used for both.

    Example:
        >>> system = RemovalSystem(stage="inpainters")  # doctest: +SKIP
        >>> out = system.remove(image_with_object, rough_mask)  # {"image", "mask"}  # doctest: +SKIP
    """

    component = "remover"

    def __init__(
        self,
        segmenter: nn.Module | None = None,
        edge_inpainter: nn.Module | None = None,
        seg_inpainter: nn.Module | None = None,
        image_inpainter: nn.Module | None = None,
        edge_critic: nn.Module | None = None,
        seg_critic: nn.Module | None = None,
        image_critic: nn.Module | None = None,
        num_classes: int = 8,
        stage: Literal["segmentation", "inpainters", "joint"] = "joint",
        init_from: Sequence[str] = (),
        name: str = "joint",
        baselines: Sequence[str] | None = None,
        lambda_ps: float = 1.0,
        lambda_eg: float = 1.0,
        lambda_ef: float = 10.0,
        lambda_sg: float = 0.1,
        lambda_sc: float = 1.0,
        lambda_ig: float = 0.1,
        lambda_if: float = 0.1,
        lambda_is: float = 250.0,
        lambda_ir: float = 1.0,
        lambda_x: float = 1000.0,
        alpha: float = 0.03,
        expansion: Literal["segment", "image"] = "segment",
        reconstruction: Literal["output", "composite"] = "output",
        canny_sigma: float = 1.0,
        canny_thresholds: tuple[float, float] = (0.1, 0.2),
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.0, 0.9),
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        super().__init__()
        if stage not in ("segmentation", "inpainters", "joint"):
            raise ValueError(f"stage must be 'segmentation', 'inpainters' or 'joint', got {stage!r}")
        if expansion not in ("segment", "image"):
            raise ValueError(f"expansion must be 'segment' or 'image', got {expansion!r}")
        if reconstruction not in ("output", "composite"):
            raise ValueError(f"reconstruction must be 'output' or 'composite', got {reconstruction!r}")
        self.save_hyperparameters(ignore=[*NETS, "optimizer"])
        self.automatic_optimization = False
        k = int(num_classes)
        defaults = {
            "segmenter": partial(SegmentationNet, k),
            "edge_inpainter": partial(ResidualInpainter, 3, 1, 32, 4, "sigmoid"),
            "seg_inpainter": partial(ResidualInpainter, k + 1, k, 32, 4, "logits"),
            "image_inpainter": partial(ResidualInpainter, 3 + 1 + k + 1, 3, 32, 4, "image"),
            "edge_critic": partial(PatchDiscriminator, 2, (32, 64, 128, 128)),
            "seg_critic": partial(PatchDiscriminator, k, (32, 64, 128, 128)),
            "image_critic": partial(PatchDiscriminator, 3, (32, 64, 128, 128)),
        }
        given = dict(zip(NETS, (segmenter, edge_inpainter, seg_inpainter, image_inpainter, edge_critic, seg_critic,
                                image_critic)))  # fmt: skip
        for net in NETS:
            self.attach_net(net, given[net], defaults[net])
        self.reference_segmenter = copy.deepcopy(self.segmenter).requires_grad_(False) if stage == "joint" else None
        self.optimizer_factory = optimizer
        chosen = BASELINES if baselines is None else tuple(baselines)
        unknown = sorted(set(chosen) - set(BASELINES))
        if unknown or not chosen:
            raise ValueError(f"baselines must be a non-empty subset of {list(BASELINES)}, got {list(chosen)}")
        own = (name,) if stage == "joint" else ()
        methods = (*own, *(b for b in BASELINES if b in chosen))
        self.setup_evaluation(methods, lambda: BinnedImageMetrics(REMOVAL_BINS, ("psnr", "ssim")),
                              f"psnr/all/{methods[0]}")  # fmt: skip

    # ------------------------------------------------------------------ building blocks
    @property
    def stride(self) -> int:
        """Input sides must be multiples of this (the segmentation net's and the inpainters')."""
        return int(np.lcm(self.size_multiple(self.segmenter), self.size_multiple(self.image_inpainter)))

    def edges(self, image: Tensor) -> Tensor:
        """Canny edges of an image's grey levels (EdgeConnect's edge maps), ``(B, 1, H, W)`` in {0, 1}."""
        return canny_edges(image, *self.hparams.canny_thresholds, sigma=self.hparams.canny_sigma)

    def fill(
        self, image: Tensor, mask: Tensor, labels: Tensor | None = None, truth: dict | None = None,
        image_edges: Tensor | None = None,
    ) -> dict:  # fmt: skip
        """Inpaint ``mask`` of ``image`` with the three inpainters (Shimosato & Ukita Fig. 2): the edge and
        segmentation inpainters complete their maps inside the mask, and the image inpainter fills it
        from the masked image and both completed maps.

        Args:
            image: ``(B, 3, H, W)`` the image with the object.
            mask: ``(B, 1, H, W)`` what to remove (binary, or straight-through in the joint stage).
            labels: ``(B, H, W)`` the image's per-pixel labels (training); at inference the segmenter's.
            truth: ``{"edges", "labels"}`` of the clean image: cues the image inpainter takes instead of the
                predicted ones (the inpainters stage).
            image_edges: :meth:`edges` of ``image`` when already computed (one image filled under several
                masks computes them once).

        Returns:
            ``{"edges", "seg_logits", "raw", "image"}``: the completed edge map, the completed labelling's
            logits, the image inpainter's output, and the image with the mask filled from it.
        """
        k = self.hparams.num_classes
        keep = 1 - mask
        gray = kornia.color.rgb_to_grayscale(image)
        edges_in = (self.edges(image) if image_edges is None else image_edges) * keep
        edges = self.edge_inpainter(torch.cat([gray * keep, edges_in, mask], 1))
        if labels is None:
            labels = self.segmenter(image).argmax(1)
        onehot = _label_maps(labels, k, image.dtype) * keep
        seg_logits = self.seg_inpainter(torch.cat([onehot, mask], 1))
        if truth is None:
            edge_cue = edges_in + edges * mask
            seg_cue = onehot + torch.softmax(seg_logits, 1) * mask
        else:
            edge_cue = edges_in + truth["edges"] * mask
            seg_cue = onehot + _label_maps(truth["labels"], k, image.dtype) * mask
        masked = image * keep
        raw = self.image_inpainter(torch.cat([masked, edge_cue, seg_cue, mask], 1))
        return {"edges": edges, "seg_logits": seg_logits, "raw": raw, "image": masked + raw * mask}

    # ------------------------------------------------------------------ training
    def on_fit_start(self) -> None:
        if self.global_step > 0 or not self.hparams.init_from:
            return
        self.load_weights(self.hparams.init_from, skip=("reference_segmenter",))
        if self.reference_segmenter is not None:
            self.reference_segmenter.load_state_dict(self.segmenter.state_dict())

    @staticmethod
    def _critic_loss(critic: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The critic's hinge loss on detached ``fake``, and its features of ``real`` (constants for the
        feature-matching and style terms)."""
        real_scores, real_feats = critic(real)
        return hinge_discriminator_loss(real_scores, critic(fake.detach())[0]), [f.detach() for f in real_feats]

    @staticmethod
    def _generator_terms(critic: nn.Module, real_feats: list[Tensor], fake: Tensor) -> tuple[Tensor, Tensor, list]:
        """After the critic's step: the generator's hinge term, feature matching, and ``fake``'s features."""
        scores, feats = critic(fake)
        return hinge_generator_loss(scores), feature_matching_loss(real_feats, feats), feats

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        opt_g, opt_d = self.optimizers()
        hp = self.hparams
        image, clean, target = batch[Keys.IMAGE], batch[Keys.TARGET], batch[Keys.OBJECT_MASK]
        labels, clean_labels = batch[Keys.SEGMENTATION], batch[Keys.TARGET_SEGMENTATION]
        terms: dict[str, Tensor] = {}
        if hp.stage == "segmentation":
            loss = F.cross_entropy(self.segmenter(image), labels)
            self._step(opt_g, opt_d, loss)
            self.log("train/loss", loss, prog_bar=True, batch_size=len(image))
            return loss.detach()
        gray_clean = kornia.color.rgb_to_grayscale(clean)
        clean_edges = self.edges(clean)
        if hp.stage == "joint":
            logits = self.segmenter(image)
            prob, hard = select_segment(logits, target)
            mask = hard + (prob - prob.detach())  # straight through: the binary mask, the soft gradient
            terms["ps"] = F.cross_entropy(logits, labels)
            spread = prob
            if hp.get("expansion", "segment") == "image":
                spread = select_segment(logits, target, ungated=True)[0]
            terms["x"] = mask_expansion_loss(spread, boundary_potential(target), hp.alpha)
            out = self.fill(image, mask, labels)
        else:
            mask = target
            out = self.fill(image, mask, labels, truth={"edges": clean_edges, "labels": clean_labels})
        k = hp.num_classes
        clean_onehot = _label_maps(clean_labels, k, image.dtype)
        pairs = {  # (critic, real, fake): D_E judges an edge map with the clean image's grey levels (eq. 2)
            "e": (self.edge_critic, torch.cat([clean_edges, gray_clean], 1), torch.cat([out["edges"], gray_clean], 1)),
            "s": (self.seg_critic, clean_onehot, torch.softmax(out["seg_logits"], 1)),
            "i": (self.image_critic, clean, out["raw"]),
        }  # fmt: skip
        critic_losses, real_feats = {}, {}
        for key, (critic, real, fake) in pairs.items():
            critic_losses[key], real_feats[key] = self._critic_loss(critic, real, fake)
        d_loss = sum(critic_losses.values())
        self._step(opt_d, opt_g, d_loss)
        terms["eg"], terms["ef"], _ = self._generator_terms(self.edge_critic, real_feats["e"], pairs["e"][2])
        terms["sg"], _, _ = self._generator_terms(self.seg_critic, real_feats["s"], pairs["s"][2])
        terms["ig"], terms["if"], fake_feats = self._generator_terms(self.image_critic, real_feats["i"], out["raw"])
        terms["sc"] = F.cross_entropy(out["seg_logits"], clean_labels)
        terms["is"] = style_loss(real_feats["i"], fake_feats)
        terms["ir"] = self.reconstruction_loss(out, clean, target)
        loss = (hp.lambda_eg * terms["eg"] + hp.lambda_ef * terms["ef"] + hp.lambda_sg * terms["sg"]
                + hp.lambda_sc * terms["sc"] + hp.lambda_ig * terms["ig"] + hp.lambda_if * terms["if"]
                + hp.lambda_is * terms["is"] + hp.lambda_ir * terms["ir"])  # fmt: skip
        if hp.stage == "joint":
            loss = loss + hp.lambda_ps * terms["ps"] + hp.lambda_x * terms["x"]
        self._step(opt_g, opt_d, loss)  # the segmenter has gradients only in the joint stage
        n = len(image)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/d_loss", d_loss, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=n)
        return loss.detach()

    def reconstruction_loss(self, out: dict, clean: Tensor, target: Tensor) -> Tensor:
        """Eq. 7 on what ``reconstruction`` names: :meth:`fill`'s ``"raw"`` output or its filled
        ``"image"`` (the composite), against the clean image ``I_G``, normalised by ``|m_G|``."""
        composite = self.hparams.get("reconstruction", "output") == "composite"
        return masked_l1(out["image" if composite else "raw"], clean, target)

    def _step(self, opt, other, loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        other.zero_grad(set_to_none=True)  # discard the gradients this pass left on the other networks

    def configure_optimizers(self):
        hp = self.hparams
        params = [[p for name in names for p in getattr(self, name).parameters()] for names in (GENERATORS, CRITICS)]
        return [self.make_optimizer(ps, self.optimizer_factory, hp.lr, hp.betas) for ps in params]

    # ------------------------------------------------------------------ evaluation and inference
    def masks(self, image: Tensor, hint: Tensor) -> dict[str, Tensor]:
        """The evaluation's masks for ``hint`` (``M_G``): ground truth, dilated, eroded, the (pretrained)
        segmentation's, and this system's own (joint stage)."""
        reference = self.reference_segmenter if self.reference_segmenter is not None else self.segmenter
        make = {
            "gt mask": lambda: hint, "gt +2px": lambda: dilate(hint, 2), "gt +4px": lambda: dilate(hint, 4),
            "gt +8px": lambda: dilate(hint, 8), "gt -2px": lambda: erode(hint, 2),
            "segmentation mask": lambda: select_segment(reference(image), hint)[1],
        }  # fmt: skip
        # the masks of the rows this system scores (Telea's rows fill the segmentation and the true mask too)
        telea = {_TELEA_MASKS[name] for name in _TELEA_MASKS if name in self.methods}
        out = {key: make[key]() for key in MASK_ROWS if f"inpainter, {key}" in self.methods or key in telea}
        if self.hparams.stage == "joint":
            out[self.hparams.name] = select_segment(self.segmenter(image), hint)[1]
        return out

    def evaluate(self, batch: dict) -> tuple[dict[str, Tensor], Tensor | None]:
        image = batch[Keys.IMAGE]
        masks = self.masks(image, batch[Keys.OBJECT_MASK])
        labels, edges = self.segmenter(image).argmax(1), self.edges(image)
        preds = {}
        for key, mask in masks.items():
            name = f"inpainter, {key}" if key in MASK_ROWS else key
            if name in self.methods:
                preds[name] = self.fill(image, mask, labels, image_edges=edges)["image"]
        for name, key in _TELEA_MASKS.items():
            if name in self.methods:
                preds[name] = inpaint_telea(image, masks[key]).to(image.device)
        return preds, None

    def score(self, metrics: MethodMetrics, preds: dict[str, Tensor], batch: dict) -> None:
        metrics.update({k: v.clamp(0, 1) for k, v in preds.items()}, batch[Keys.TARGET], batch[Keys.AREA_RATIO])

    def remove(self, image, mask) -> dict[str, Tensor]:
        """Remove the object a rough ``mask`` points at: the segment overlapping the mask most is what is
        removed (``"mask"``), and the inpainters fill it (``"image"``). Eval mode, no autograd, any size.

        Args:
            image: ``(3, H, W)`` / ``(B, 3, H, W)`` float in [0, 1] or uint8 (tensor, numpy, PIL).
            mask: a rough mask of the object (a box-like scribble or a detector's mask), binary.

        Raises:
            ValueError: sizes differ, an empty mask, or a mask that touches no object the segmentation
                finds (each sample is checked).
        """
        with self.inference():
            x, (h, w) = self.user_batch(self.stride, image=(image, "image"), mask=(mask, "mask"))
            empty = (x["mask"].flatten(1).sum(1) == 0).nonzero().flatten().tolist()
            if empty:
                raise ValueError(f"mask {empty[0]} is empty")
            logits = self.segmenter(x["image"])
            _, hard = select_segment(logits, x["mask"])
            none = (hard.flatten(1).sum(1) == 0).nonzero().flatten().tolist()
            if none:
                raise ValueError(f"mask {none[0]} touches no object the segmentation finds")
            out = self.fill(x["image"], hard, logits.argmax(1))
            return {"image": out["image"][..., :h, :w], "mask": hard[..., :h, :w]}

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        _, hard = select_segment(self.segmenter(batch[Keys.IMAGE]), batch[Keys.OBJECT_MASK])
        return {"mask": hard, "image": self.fill(batch[Keys.IMAGE], hard)["image"]}

    def log_images(self, batch: dict) -> dict[str, Tensor]:
        image = batch[Keys.IMAGE]
        masks = self.masks(image, batch[Keys.OBJECT_MASK])
        own = masks.get(self.hparams.name, masks.get("segmentation mask", next(iter(masks.values()))))
        return {"image": image, "gt mask": batch[Keys.OBJECT_MASK], "mask": own,
                "filled": self.fill(image, own)["image"], "target": batch[Keys.TARGET]}  # fmt: skip
