"""Self-Supervised Scene De-occlusion (Zhan et al., CVPR 2020): PCNet-M and PCNet-C, trained on modal
masks only, and the inference that de-occludes a scene with them:

* ordering recovery by dual completion (eq. 3): for every neighbouring pair, each instance is completed
  with the other as eraser; the one that grows more is behind. All pairs of a scene go through PCNet-M
  as one batch. The result is a directed graph, cycles allowed (``cycles="break"``, not in the paper:
  each broken where its evidence is weakest);
* ordering-grounded amodal completion (eq. 4): an instance completed in one step with the union of all
  its ancestors (found by a search that ends on cycles) as eraser; the non-grounded variant uses all
  neighbours;
* amodal-constrained content completion (eq. 5) with PCNet-C, the eraser being the amodal mask
  intersected with the ancestors; the background completed with all instances as eraser.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn

from ..algorithms.pcnet import (
    Completion,
    amodal_completion,
    check_context,
    check_cycles,
    check_scales,
    check_ties,
    dual_completion,
    orient,
    recover_order,
)
from ..baselines import (
    BASELINES,
    amodal_convex,
    amodal_convex_refined,
    complete_object_baselines,
    inpaint_telea,
    order_by_area,
)
from ..losses.inpainting import (
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    style_loss,
    total_variation,
)
from ..losses.pcnet import hole_valid_l1, partial_completion_loss
from ..metrics import BinnedImageMetrics, MethodMetrics, MetricSet, OrderingAccuracy, mask_metrics
from ..nets.inpainting import PartialUNet, PatchDiscriminator
from ..nets.pcnet import PartialMaskNet
from ..ops.masks import bbox, context_square, crop_square, dilate, paste_square
from ..structures import Keys, Scene
from .base import STAGES, OptimizerFactory, System

__all__ = ["PCNetMSystem", "PCNetCSystem", "ORDERING_METHODS", "AMODAL_METHODS", "BATCH_PIXELS"]

#: PCNet-M's pixels per forward when ``max_batch`` is not set, by device type (crops per forward: this over
#: the crop's area, at least 1): on the CPU the ``deocclusion_speed`` bench found 16 crops of 64 px and
#: one crop of 256 px the faster; on a GPU, whole scenes of 256 px crops in one forward.
BATCH_PIXELS = {"cpu": 16 * 64 * 64, "cuda": 256 * 256 * 256}

#: the orderings PCNet-M's evaluation scores on the same scenes (PCNet Table 1).
#: ``pcnet_m`` is the system's own order (its options); the ``eq. 3`` rows add its options one at a time
#: to the paper's (one view, no context, cycles kept).
ORDERING_METHODS = ("pcnet_m (eq. 3)", "pcnet_m (eq. 3 + views)", "pcnet_m (eq. 3 + views, context)", "pcnet_m",
                    "pcnet_m (soft ties)", "area (larger in front)", "area (smaller in front)", "y-axis",
                    "convex")  # fmt: skip
#: the amodal masks it scores on the same occluded instances (PCNet Table 2): the system's own (with its
#: views, grounded in its order), and the paper's (one view, grounded in eq. 3's order).
AMODAL_METHODS = ("pcnet_m (grounded)", "pcnet_m (non-grounded)", "pcnet_m (grounded, paper)",
                  "pcnet_m (non-grounded, paper)", "raw", "convex", "convex_r")


def _resized(image: Tensor, size: int) -> Tensor:
    return torch.nn.functional.interpolate(image[None], size=(size, size), mode="nearest")[0]


def _colour_masks(masks: Tensor, order: Tensor) -> Tensor:
    """``(N, 1, H, W)`` masks as one ``(3, H, W)`` picture, each instance in its own colour, painted back to
    front by ``order`` (the instance with the most occluders first)."""
    out = torch.zeros(3, *masks.shape[-2:])
    palette = torch.tensor([[0.9, 0.3, 0.3], [0.3, 0.8, 0.3], [0.3, 0.4, 0.9], [0.9, 0.8, 0.2], [0.8, 0.3, 0.9],
                            [0.2, 0.8, 0.8], [0.9, 0.6, 0.3], [0.6, 0.6, 0.6]])  # fmt: skip
    behind = order.sum(0) if order.numel() else torch.zeros(len(masks))  # how many instances occlude each
    for k in torch.argsort(behind, descending=True, stable=True).tolist():
        m = masks[k, 0].cpu() > 0.5
        out[:, m] = palette[k % len(palette)].view(3, 1)
    return out


class PCNetMSystem(System):
    """Trains PCNet-M (:class:`~amodal_compose.nets.pcnet.PartialMaskNet`) and de-occludes scenes with it.

    Training (PCNet eq. 1): binary cross entropy of the target's modal mask from its erased mask and the
    eraser, weighted ``inside_weight`` inside the eraser, on
    :class:`~amodal_compose.data.pairs.PartialMaskPairs` (case 1 / case 2). Validation and test take
    whole scenes (:class:`~amodal_compose.data.datamodules.PCNetMDataModule`): the order recovered by
    dual completion (eq. 3, and ``pcnet_m (soft ties)``, both with ``mirror`` when set; see :meth:`order`) is scored by
    pairwise accuracy against ``area`` (both directions), ``y-axis`` and ``convex``
    (``val/pair_accuracy/pcnet_m`` ...), and the amodal masks of the occluded instances by
    pooled full / invisible mIoU, grounded and non-grounded, against ``raw``, ``convex`` and ``convex_r``.

    Inference crops each target with PCNet's adaptive square, at ``input_size`` (the training crop),
    pastes the prediction back, and takes at most ``max_batch`` crops per forward.

    Args:
        net: the network; default ``PartialMaskNet()``.
        use_category: multiply the erased mask by ``category + 1`` (PCNet: its category id; with
            ``False``, 1, as PCNet does for COCOA, which has no categories).
        inside_weight: eq. 1's weight inside the eraser (PCNet: 5).
        input_size: the side crops are resized to (the training crop size).
        threshold: probability above which a pixel belongs to the completed mask.
        neighbour_dilation: masks count as neighbours when they touch after growing by this many pixels
            (PCNet: when they touch); the evaluation's ordering heuristics take the same pairs.
        ties: how :meth:`order` treats pairs whose increments are equal: ``"none"`` (eq. 3: no edge) or
            ``"soft"`` (decided by the soft increments; not in the paper). The grounded amodal rows of the
            evaluation use this order.
        mirror: test-time augmentation over the scene and its mirror image (not in the paper; twice the
            forwards): :meth:`order` compares each pair's increments summed over the two views, and
            :meth:`complete_masks` (so :meth:`amodal`, eq. 4) thresholds the views' averaged
            probabilities. Every PCNet-M evaluation row follows it.
        scales: test-time augmentation of the ordering over the size of PCNet's square (not in the paper;
            one pass per scale, and per mirror view): :meth:`order` compares each pair's increments
            summed over the crops whose side is the square's times each scale (the training crops are
            jittered by 0.8-1.2). ``(1.0,)``, the default, is the paper's single crop. The amodal
            completion keeps the single scale (averaging scales did not change it on val).
        context: ordering passes with scene context (not in the paper; ``0``, the default, is eq. 3 alone).
            The first pass completes ``i`` with ``j`` and all of ``i``'s neighbours as eraser, each later
            pass with ``j`` and the neighbours the previous pass put in front of ``i``; a pass's increment
            of ``i`` is its growth into ``j``'s visible mask. An instance also hidden by a third object is
            then completed with every occluder erased, not judged on a silhouette the pair does not explain
            (see :meth:`order`). A completion an earlier pass ran is not run again and the passes stop
            once the order holds, so later passes cost a fraction of the first.
        cycles: ``"keep"`` (PCNet: the order graph may be cyclic) or ``"break"`` (not in the paper): each
            cycle of :meth:`order` is broken where its evidence is weakest
            (:func:`~amodal_compose.ops.graph.break_cycles`, each edge weighted by the difference of the
            two increments that decided it). A true occlusion order with cycles needs interlocking shapes,
            which the synthetic scenes never have; every cycle predicted there holds a wrong edge. The
            evaluation rows and the grounded amodal completion use the order the option gives.
        max_batch: crops per forward; ``None`` (the default): the faster for the device the system runs on
            and the crop size (:data:`BATCH_PIXELS`, measured by the ``deocclusion_speed`` bench).
        lr, betas, lr_milestones: Adam settings (the paper: SGD 1e-3 with step decays; give ``optimizer``
            and ``lr_milestones`` for it) and the steps at which the rate drops tenfold.
        optimizer: optional ``params -> Optimizer`` factory.

    Example:
        >>> from amodal_compose.nets import PartialMaskNet
        >>> pcnet = PCNetMSystem(PartialMaskNet(widths=(8, 16, 16), bottleneck=(16,)), input_size=32)
        >>> modal = torch.zeros(2, 1, 40, 40); modal[0, :, 5:20, 5:25] = 1; modal[1, :, 15:30, 20:35] = 1
        >>> pcnet.order(torch.rand(3, 40, 40), modal).shape
        torch.Size([2, 2])
    """

    component = "pcnet_m"

    def __init__(
        self,
        net: nn.Module | None = None,
        use_category: bool = True,
        inside_weight: float = 5.0,
        input_size: int = 64,
        threshold: float = 0.5,
        neighbour_dilation: int = 1,
        max_batch: int | None = None,
        ties: Literal["none", "soft"] = "none",
        mirror: bool = False,
        scales: Sequence[float] = (1.0,),
        context: int = 0,
        cycles: Literal["keep", "break"] = "keep",
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        lr_milestones: Sequence[int] = (),
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        super().__init__()
        check_ties(ties)
        check_scales(scales)
        check_context(context)
        check_cycles(cycles)
        self.save_hyperparameters(ignore=["net", "optimizer"])
        self.attach_net("net", net, PartialMaskNet)
        self.optimizer_factory = optimizer
        self.methods = ("pcnet_m",)
        self.main_metric = "pair_accuracy/pcnet_m"
        self.scores = nn.ModuleDict({
            stage: MetricSet({
                "ordering": MethodMetrics(ORDERING_METHODS, OrderingAccuracy, name="pair_accuracy"),
                "amodal": MethodMetrics(AMODAL_METHODS, mask_metrics),
            })
            for stage in STAGES
        })  # fmt: skip

    # ------------------------------------------------------------------ the network
    def forward(self, erased: Tensor, eraser: Tensor, image: Tensor | None = None, category: Tensor | None = None):
        """Mask logits ``(B, 1, H, W)``; ``erased`` is the plain mask, scaled by the category here."""
        if self.hparams.use_category and category is not None:
            erased = erased * (category.to(erased.dtype).view(-1, 1, 1, 1) + 1)
        return self.net(erased, eraser, image)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        logits = self(batch[Keys.ERASED_MASK], batch[Keys.ERASER_MASK], batch[Keys.IMAGE], batch[Keys.CATEGORY])
        target, eraser = batch[Keys.MODAL_MASK], batch[Keys.ERASER_MASK]
        loss = partial_completion_loss(logits, target, eraser, self.hparams.inside_weight)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def configure_optimizers(self):
        opt = self.make_optimizer(self.parameters(), self.optimizer_factory, self.hparams.lr, self.hparams.betas)
        if not self.hparams.lr_milestones:
            return opt
        decay = torch.optim.lr_scheduler.MultiStepLR(opt, list(self.hparams.lr_milestones), gamma=0.1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": decay, "interval": "step"}}

    def max_batch_on(self, device: torch.device | str) -> int:
        """Crops per forward on ``device``: the system's ``max_batch``, else :data:`BATCH_PIXELS` of the
        device type over the crop's area (at least 1)."""
        chosen = self.hparams.get("max_batch")
        if chosen is not None:
            return int(chosen)
        budget = BATCH_PIXELS.get(torch.device(device).type, BATCH_PIXELS["cuda"])
        return max(1, budget // int(self.hparams.input_size) ** 2)

    def _inference_options(
        self, ties: str | None = None, mirror: bool | None = None, scales: Sequence[float] | None = None,
        context: int | None = None, cycles: str | None = None,
    ) -> tuple[str, bool, tuple[float, ...], int, bool]:  # fmt: skip
        """A call's ``ties``, ``mirror``, ``scales``, ``context`` and whether to break cycles, the system's
        where not given (a checkpoint saved before these options existed: eq. 3, one view, one crop, no
        context pass, cycles kept)."""
        ties = check_ties(ties or self.hparams.get("ties", "none"))
        mirror = bool(self.hparams.get("mirror", False)) if mirror is None else mirror
        scales = check_scales(self.hparams.get("scales", (1.0,)) if scales is None else scales)
        context = check_context(self.hparams.get("context", 0) if context is None else context)
        return ties, mirror, scales, context, check_cycles(cycles or self.hparams.get("cycles", "keep")) == "break"

    # ------------------------------------------------------------------ partial completion of many targets
    def complete_masks(
        self, image: Tensor, targets: Tensor, erasers: Tensor, categories: Tensor | None = None, batch: bool = True,
        soft: bool = False, mirror: bool | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:  # fmt: skip
        """``P(M_target; M_eraser, I \\ M_eraser)`` for ``P`` target / eraser pairs of one image, each on
        PCNet's adaptive square around its target, pasted back into the image frame.

        Args:
            image: ``(3, H, W)``.
            targets, erasers: ``(P, 1, H, W)`` binary masks in the image frame.
            categories: ``(P,)`` category indices of the targets (with ``use_category``).
            batch: all crops through the network in batches of ``max_batch``; ``False``: one target at a time.
            soft: also return the network's probabilities, pasted back the same way.
            mirror: average the probabilities over the scene and its mirror image before the threshold;
                default: the system's ``mirror``.

        Returns:
            ``(P, 1, H, W)`` binary predicted masks of the targets, on ``targets``' device (the crops,
            the network and the pasting run on the system's device: on a GPU, no per-pair CPU work); with
            ``soft``, ``(masks, probabilities)``.
        """
        mirror = self._inference_options(mirror=mirror)[1]
        with self.inference():
            hard, probs = self._complete_masks(image, targets, erasers, categories, batch, soft, mirror)
        return (hard, probs) if soft else hard

    def _complete_masks(
        self, image, targets, erasers, categories, batch, soft=False, mirror=False, scale=1.0
    ) -> tuple[Tensor, Tensor | None]:  # fmt: skip
        if mirror:  # test-time augmentation: both views' pasted probabilities, averaged, then thresholded
            views = [self._complete_masks(*(t.flip(-1) if flip else t for t in (image, targets, erasers)), categories,
                                          batch, soft=True, scale=scale)[1] for flip in (False, True)]  # fmt: skip
            probs = (views[0] + views[1].flip(-1)) / 2
            return (probs > self.hparams.threshold).to(targets.dtype), (probs if soft else None)
        size, s = tuple(image.shape[-2:]), int(self.hparams.input_size)
        home, kind = targets.device, targets.dtype
        image, targets, erasers = (t.to(self.device, torch.float32) for t in (image, targets, erasers))
        out = torch.zeros_like(targets)
        if len(targets) == 0:
            return out.to(home, kind), (out.to(home) if soft else None)
        boxes = [context_square(box, size, scale=scale) for box in bbox(targets[:, 0]).tolist()]
        groups: dict[tuple[int, int, int], list[int]] = {}  # targets sharing a square (one instance, many erasers)
        for k, b in enumerate(boxes):
            groups.setdefault((b.x0, b.y0, b.side), []).append(k)
        pairs = torch.cat([targets, erasers], 1)  # one crop for the target and its eraser
        use_image = getattr(self.net, "use_image", True)  # an RGB patch only for a network that reads it
        masks, image_c = pairs.new_zeros(len(pairs), 2, s, s), pairs.new_zeros(len(pairs), 3 if use_image else 0, s, s)
        for members in groups.values():  # each square cropped once: the same crops, far fewer calls
            masks[members] = crop_square(pairs[members], boxes[members[0]], s, mode="mask")
            if use_image:
                image_c[members] = crop_square(image, boxes[members[0]], s)
        target_c, eraser_c = masks[:, :1], masks[:, 1:]
        image_c = image_c * (1 - eraser_c)
        cats = categories if categories is not None else torch.zeros(len(targets), dtype=torch.long)
        cats = cats.to(self.device)
        step = self.max_batch_on(self.device) if batch else 1
        preds = []
        for i in range(0, len(targets), step):
            sl = slice(i, i + step)
            logits = self(target_c[sl].to(dtype=self.dtype), eraser_c[sl].to(dtype=self.dtype),
                          image_c[sl].to(dtype=self.dtype), cats[sl])  # fmt: skip
            preds.append(torch.sigmoid(logits.float()))
        prob = torch.cat(preds)
        pred = (prob > self.hparams.threshold).float()
        probs = torch.zeros_like(out) if soft else None
        for members in groups.values():
            out[members] = paste_square(pred[members], boxes[members[0]], mode="mask")
            if soft:
                probs[members] = paste_square(prob[members], boxes[members[0]], mode="image")
        return out.to(home, kind), (probs.to(home) if soft else None)

    def order(
        self, image: Tensor, modal: Tensor, categories: Tensor | None = None, dilation: int | None = None,
        batch: bool = True, ties: Literal["none", "soft"] | None = None, mirror: bool | None = None,
        scales: Sequence[float] | None = None, context: int | None = None,
        cycles: Literal["keep", "break"] | None = None,
    ) -> Tensor:  # fmt: skip
        """Occlusion order by dual completion (PCNet eq. 3): for each neighbouring pair ``(i, j)``, the
        increments ``|P(M_i; M_j) \\ M_i|`` and ``|P(M_j; M_i) \\ M_j|``; the one that grows less is in
        front. Pairs whose increments are equal (in practice both zero: eq. 3's ``O = 0``) get no edge,
        or with ``ties="soft"`` (not in the paper) are decided by the soft increments, the sums of the
        network's probability outside each target. Eq. 3 leaves every tied pair unordered; ``"soft"``
        gives a complete order (a recomposition needs one), not a better one: on our val scenes the soft
        increments ordered ties at chance, although the accuracy metric, which counts an unordered pair
        as wrong, rises by about half the ties.

        With ``context`` passes (not in the paper), ``i``'s eraser is ``j`` together with its other
        neighbours (first pass: all of them; later passes: those the previous pass put in front of ``i``)
        and ``i``'s increment is what it grows into ``j``. Eq. 3 on its own judges ``i`` by a silhouette
        that a third occluder may have cut; with every occluder erased the completion can restore that cut
        and still say whether ``j`` hides ``i``. The ``ordering`` bench reports eq. 3 with and without
        these passes (``docs/results.md``).

        Args:
            image: ``(3, H, W)``.
            modal: ``(N, 1, H, W)`` the instances' visible masks.
            categories: ``(N,)``.
            dilation: neighbour test (default: ``neighbour_dilation``).
            batch: every pair through the network in one batch (or a few); ``False``: one pair per forward.
            ties: ``"none"`` (eq. 3) or ``"soft"``; default: the system's ``ties``.
            mirror: sum the increments of the scene and of its mirror image; default: the system's ``mirror``.
            scales: sum the increments over crops of these scales; default: the system's ``scales``.
            context: passes with scene context (see above); default: the system's ``context``.
            cycles: ``"keep"`` or ``"break"`` (see the class); default: the system's ``cycles``.

        Returns:
            ``(N, N)`` int64, ``[i, j] = 1`` when ``i`` occludes ``j``; may be cyclic unless ``cycles="break"``.
        """
        ties, mirror, scales, context, acyclic = self._inference_options(ties, mirror, scales, context, cycles)
        return recover_order(self._completion(), image, modal, categories, self._dilation(dilation), batch, ties,
                             mirror, scales, context, "break" if acyclic else "keep")  # fmt: skip

    def amodal(
        self, image: Tensor, modal: Tensor, order: Tensor | None = None, categories: Tensor | None = None,
        dilation: int | None = None, mirror: bool | None = None,
    ) -> Tensor:  # fmt: skip
        """Amodal completion in one step per instance (PCNet eq. 4,
        :func:`~amodal_compose.algorithms.pcnet.amodal_completion`): with ``order``, the eraser is the
        union of all the instance's ancestors' modal masks (ordering-grounded); without, of all its
        neighbours' (non-grounded). Instances with no eraser keep their modal mask.

        ``mirror``: average the two views' probabilities (default: the system's ``mirror``).

        Returns:
            ``(N, 1, H, W)`` amodal masks, each containing its modal mask.
        """
        complete = lambda im, t, e, c, **_: (self.complete_masks(im, t, e, c, mirror=mirror), None)  # noqa: E731
        return amodal_completion(complete, image, modal, order, categories, self._dilation(dilation))

    def _dilation(self, dilation: int | None) -> int:
        return int(self.hparams.neighbour_dilation if dilation is None else dilation)

    def _completion(self) -> Completion:
        """PCNet-M's partial completion as the algorithms' callable (eval mode, no autograd, one view)."""

        def complete(image, targets, erasers, categories, batch=True, soft=False, scale=1.0):
            with self.inference():
                return self._complete_masks(image, targets, erasers, categories, batch, soft, scale=scale)

        return complete

    # ------------------------------------------------------------------ scene-level evaluation
    def evaluate(self, batch: list[Scene]) -> tuple[dict[str, list], None]:
        """Per scene: every ordering method's order and every amodal method's masks (see the class)."""
        orders, masks = [], []
        ties, mirror, scales, context, acyclic = self._inference_options()
        # the paper's ordering, then the system's options added one at a time: (mirror, scales, context, acyclic)
        steps = {
            "pcnet_m (eq. 3)": (False, (1.0,), 0, False),
            "pcnet_m (eq. 3 + views)": (mirror, scales, 0, False),
            "pcnet_m (eq. 3 + views, context)": (mirror, scales, context, False),
        }
        for scene in batch:
            if len(scene) < 2 or scene.order is None:
                continue
            modal, cats = scene.modal_masks(), scene.categories()
            done: dict[tuple, tuple] = {}
            pairs_of = partial(self._dual_completion_once, done, scene.image, modal, cats)
            pairs, hard, soft = pairs_of(mirror, scales, context)
            near = self.hparams.neighbour_dilation  # the heuristics order the same neighbour pairs
            order = orient(len(modal), pairs, hard, soft if ties == "soft" else None, acyclic)
            by = {
                "pcnet_m": orient(len(modal), pairs, hard, None, acyclic),
                "pcnet_m (soft ties)": orient(len(modal), pairs, hard, soft, acyclic),
                **{name: orient(len(modal), *pairs_of(*opts[:3])[:2], None, opts[3]) for name, opts in steps.items()},
                "area (larger in front)": order_by_area(modal, larger_in_front=True, dilation=near),
                "area (smaller in front)": order_by_area(modal, dilation=near),
                "y-axis": BASELINES["ordering"]["y-axis"](modal, dilation=near),
                "convex": BASELINES["ordering"]["convex"](modal, dilation=near),
            }  # fmt: skip
            orders.append((by, scene.order))
            gt = scene.amodal_masks()
            if gt is None:
                continue
            occluded = ((gt - modal).flatten(1).sum(1) > 0).nonzero().flatten().tolist()
            if not occluded:
                continue
            amodal = {
                "pcnet_m (grounded)": self.amodal(scene.image, modal, order, cats),
                "pcnet_m (non-grounded)": self.amodal(scene.image, modal, None, cats),
                "pcnet_m (grounded, paper)": self.amodal(scene.image, modal, by["pcnet_m (eq. 3)"], cats, mirror=False),
                "pcnet_m (non-grounded, paper)": self.amodal(scene.image, modal, None, cats, mirror=False),
                "raw": modal, "convex": amodal_convex(modal), "convex_r": amodal_convex_refined(modal, order),
            }  # fmt: skip
            masks.append(({k: v[occluded] for k, v in amodal.items()}, gt[occluded], modal[occluded]))
        return {"orders": orders, "masks": masks}, None

    def _dual_completion_once(self, done: dict, image, modal, cats, mirror: bool, scales, context: int) -> tuple:
        """:func:`dual_completion` of one scene with these options, run once per ``done`` cache."""
        key = (mirror, tuple(scales), context)
        if key not in done:
            done[key] = dual_completion(self._completion(), image, modal, cats, self._dilation(None), True, True,
                                        mirror, scales, context)  # fmt: skip
        return done[key]

    def score(self, metrics: MetricSet, preds: dict[str, list], batch: list[Scene]) -> None:
        for by, gt in preds["orders"]:
            metrics["ordering"].update(by, gt)
        for by, gt, modal in preds["masks"]:
            metrics["amodal"].update(by, gt, modal)

    def predict_step(self, batch: list[Scene], batch_idx: int, dataloader_idx: int = 0) -> list[dict[str, Tensor]]:
        """Per scene: ``{"order", "amodal"}`` (ordering-grounded)."""
        out = []
        for scene in batch:
            modal, cats = scene.modal_masks(), scene.categories()
            order = self.order(scene.image, modal, cats)
            out.append({"order": order, "amodal": self.amodal(scene.image, modal, order, cats)})
        return out

    def log_images(self, batch: list[Scene], size: int = 128) -> dict[str, Tensor]:
        """Per scene (resized to ``size``): the image, its instances' visible masks, the ordering-grounded
        amodal masks and the true ones (each instance in its own colour; the front instance drawn last)."""
        columns: dict[str, list[Tensor]] = {"image": [], "visible": [], "amodal (grounded)": [], "amodal (truth)": []}
        for scene in batch:
            modal, cats = scene.modal_masks(), scene.categories()
            order = self.order(scene.image, modal, cats) if len(modal) > 1 else torch.zeros(len(modal), len(modal))
            truth = scene.amodal_masks()
            maps = {"visible": modal, "amodal (grounded)": self.amodal(scene.image, modal, order, cats),
                    "amodal (truth)": truth if truth is not None else modal}  # fmt: skip
            columns["image"].append(_resized(scene.image.float(), size))
            for name, masks in maps.items():
                columns[name].append(_resized(_colour_masks(masks.float(), order), size))
        return {k: torch.stack(v) for k, v in columns.items()}


class PCNetCSystem(System):
    """Trains PCNet-C (PCNet eq. 2; supplementary A): a partial-convolution U-Net
    (:class:`~amodal_compose.nets.inpainting.PartialUNet`) that fills the erased part of an instance
    given the image with the part erased, the instance's remaining modal mask and the eraser, against a
    5-layer spectral-norm discriminator (:class:`~amodal_compose.nets.inpainting.PatchDiscriminator`).

    Losses (Liu et al. 2018, plus PCNet's adversarial term): ``lambda_valid`` L1 on the known pixels,
    ``lambda_hole`` L1 in the hole, ``lambda_tv`` total variation around the hole, ``lambda_perceptual``
    and ``lambda_style`` on the discriminator's features (feature matching and Gram matrices: no
    pretrained VGG is downloaded), ``lambda_adv`` hinge GAN. Manual optimisation: G and D alternate.

    Validation and test (:class:`~amodal_compose.data.datamodules.PCNetCDataModule`) score L1 / PSNR /
    SSIM in the hole for ``pcnet_c``, ``telea``, ``offsets``, ``mean_fill`` and ``held-out blend``, on
    the real occlusions of synthetic scenes: the items f_content is scored on.

    Args:
        generator, discriminator: the networks (defaults: ``PartialUNet(5)``, ``PatchDiscriminator(3)``).
        lambda_valid, lambda_hole, lambda_tv, lambda_perceptual, lambda_style: Liu et al.'s weights
            (1, 6, 0.1, 0.05, 120).
        lambda_adv: weight of the adversarial term (0.1, as EdgeConnect's image inpainter).
        lr, betas: Adam for both networks when no factories are given (PCNet: 1e-4).
        generator_optimizer, discriminator_optimizer: optional factories.
        cosine_tail: ``(start, final_factor)``: both rates held for the first ``start`` share of the run,
            then decayed along a half cosine to ``final_factor`` times their value (not in the paper;
            a short run ends less noisy). ``None``: constant.
        prefill: ``"none"`` (the paper: the hole is invalid to the partial convolutions) or ``"telea"``
            (not in the paper): the hole is pre-filled by Telea from the instance's visible pixels (the
            ``telea`` baseline's fill; from all known pixels when nothing is visible, as when the
            background is completed), every pixel is valid (the hole is still an input channel) and
            the network's output, mapped to [-1, 1], is a correction added to the pre-filled image.
            ``docs/findings.md`` gives the measured reason (CPU budgets).
    """

    component = "pcnet_c"

    def __init__(
        self,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        lambda_valid: float = 1.0,
        lambda_hole: float = 6.0,
        lambda_tv: float = 0.1,
        lambda_perceptual: float = 0.05,
        lambda_style: float = 120.0,
        lambda_adv: float = 0.1,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        generator_optimizer: OptimizerFactory | None = None,
        discriminator_optimizer: OptimizerFactory | None = None,
        prefill: Literal["none", "telea"] = "none",
        cosine_tail: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        if prefill not in ("none", "telea"):
            raise ValueError(f"prefill must be 'none' or 'telea', got {prefill!r}")
        nets = ["generator", "discriminator", "generator_optimizer", "discriminator_optimizer"]
        self.save_hyperparameters(ignore=nets)
        self.automatic_optimization = False
        self.attach_net("generator", generator, PartialUNet)
        self.attach_net("discriminator", discriminator, PatchDiscriminator)
        self.factories = (generator_optimizer, discriminator_optimizer)
        self.setup_evaluation(
            ("pcnet_c", *BASELINES["inpainting"]),
            lambda: BinnedImageMetrics(bins=(), metrics=("l1", "psnr", "ssim")),
            "psnr/all/pcnet_c",
        )

    def forward(self, image: Tensor, visible: Tensor, hole: Tensor) -> dict[str, Tensor]:
        """``{"raw", "completed"}``: the network's output, and the input with the hole filled from it."""
        known = image * (1 - hole)
        if self.hparams.prefill == "none":
            raw = self.generator(torch.cat([known, visible, hole], 1), 1 - hole)
        else:  # Telea's fill from the instance's visible pixels (from every known pixel for a background,
            # where nothing is visible), corrected by the network
            has = visible.flatten(1).amax(1).view(-1, 1, 1, 1) > 0
            source = torch.where(has, visible, 1 - hole)
            prefilled = known + inpaint_telea(image * source, 1 - source).to(image) * hole
            x = torch.cat([prefilled, visible, hole], 1)
            raw = (prefilled + 2 * self.generator(x, torch.ones_like(hole)) - 1).clamp(0, 1)
        return {"raw": raw, "completed": known + raw * hole}

    def complete(self, image, visible, hole) -> dict[str, Tensor]:
        """Fill ``hole`` of an instance (PCNet eq. 5): ``{"completed"}`` ``(B, 3, H, W)``, the known pixels
        kept. Eval mode, no autograd, any size (padded to the network's stride), inputs as
        :meth:`~amodal_compose.systems.base.System.user_batch` takes them.

        Args:
            image: ``(3, H, W)`` / ``(B, 3, H, W)``; pixels in ``hole`` are ignored.
            visible: the instance's remaining visible mask (zeros to complete a background).
            hole: the region to fill.
        """
        with self.inference():
            x, (h, w) = self.user_batch(
                self.size_multiple(self.generator), image=(image, "image"), visible=(visible, "mask"),
                hole=(hole, "mask"),
            )  # fmt: skip
            return {"completed": self(x["image"], x["visible"], x["hole"])["completed"][..., :h, :w]}

    @staticmethod
    def truth(batch: dict) -> Tensor:
        """The crop with its hole's true content: what the losses and the discriminator compare against.
        An erasure pair's target is that crop already; a real occlusion's target is the object alone,
        so the scene around it comes from the input."""
        hole = batch[Keys.INVISIBLE_MASK]
        return batch[Keys.IMAGE] * (1 - hole) + batch[Keys.TARGET] * hole

    def generator_losses(self, batch: dict, out: dict[str, Tensor], fake: tuple) -> dict[str, Tensor]:
        hp = self.hparams
        target, hole = self.truth(batch), batch[Keys.INVISIBLE_MASK]
        scores, fake_feats = fake
        _, real_feats = self.discriminator(target)
        valid, inside = hole_valid_l1(out["raw"], target, hole)
        terms = {
            "valid": valid, "hole": inside, "tv": total_variation(out["completed"], dilate(hole, 1)),
            "perceptual": feature_matching_loss(real_feats, fake_feats), "style": style_loss(real_feats, fake_feats),
            "adv": hinge_generator_loss(scores),
        }  # fmt: skip
        terms["loss"] = (hp.lambda_valid * valid + hp.lambda_hole * inside + hp.lambda_tv * terms["tv"]
                         + hp.lambda_perceptual * terms["perceptual"] + hp.lambda_style * terms["style"]
                         + hp.lambda_adv * terms["adv"])  # fmt: skip
        return terms

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        opt_g, opt_d = self.optimizers()
        out = self(batch[Keys.IMAGE], batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK])
        real_scores, _ = self.discriminator(self.truth(batch))
        fake_scores, _ = self.discriminator(out["completed"].detach())
        d_loss = hinge_discriminator_loss(real_scores, fake_scores)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        terms = self.generator_losses(batch, out, self.discriminator(out["completed"]))
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(terms["loss"])
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        self.step_schedulers()  # manual optimisation steps them too: once per batch
        n = len(out["raw"])
        self.log("train/g_loss", terms["loss"], prog_bar=True, batch_size=n)
        self.log("train/d_loss", d_loss, prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"}, batch_size=n)
        return terms["loss"].detach()

    def evaluate(self, batch: dict) -> tuple[dict[str, Tensor], Tensor]:
        t, v, i = batch[Keys.TARGET], batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK]
        out = self(batch[Keys.IMAGE], v, i)
        _, hole_l1 = hole_valid_l1(out["raw"], t, i)
        preds = {"pcnet_c": out["completed"], **complete_object_baselines(t * v, v, i)}
        # each method is scored on its fill of the hole alone: outside it every prediction is the target
        # (PCNet-C keeps the scene around the object, the baselines see the object alone; SSIM's windows
        # straddle the hole's edge and would otherwise score that difference)
        return {k: t * (1 - i) + p * i for k, p in preds.items()}, hole_l1

    def score(self, metrics: MethodMetrics, preds: dict[str, Tensor], batch: dict) -> None:
        t, i = batch[Keys.TARGET], batch[Keys.INVISIBLE_MASK]
        ratio = batch.get(Keys.OCCLUDED_RATIO, torch.full((len(t),), 0.5, device=t.device))
        metrics.update({k: p.clamp(0, 1) for k, p in preds.items()}, t, ratio, region=i)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        return {"completed": self(batch[Keys.IMAGE], batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK])["completed"]}

    def configure_optimizers(self):
        hp = self.hparams
        g = self.make_optimizer(self.generator.parameters(), self.factories[0], hp.lr, hp.betas)
        d = self.make_optimizer(self.discriminator.parameters(), self.factories[1], hp.lr, hp.betas)
        return self.with_cosine_tail([g, d], lambda steps: steps // 2)  # max_steps: both optimisers' steps

    def log_images(self, batch: dict) -> dict[str, Tensor]:
        out = self(batch[Keys.IMAGE], batch[Keys.MODAL_MASK], batch[Keys.INVISIBLE_MASK])
        return {"input": batch[Keys.IMAGE], "hole": batch[Keys.INVISIBLE_MASK], "completed": out["completed"],
                "target": batch[Keys.TARGET]}  # fmt: skip
