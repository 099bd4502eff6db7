"""AMICO Algorithm 1 (supplementary A.3) on the user's own images: :class:`CompositionPipeline`, with
f_shape or Amodal-VAE (several sampled hidden shapes, each completed) as the shape step, f_content for
the hidden content and f_comp's RGBA layer applied at the background's resolution
(:class:`~amodal_compose.pipeline.window.Window`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..ops.convert import as_image, as_mask
from ..ops.masks import SquareBox, bbox, dilate, place
from ..systems import AmodalVAESystem, CompositionSystem, ContentSystem, ShapeSystem
from .components import Components, check_shape_method
from .results import ComposeInstance, CompositionResult, Hypothesis, InstanceLayer
from .task import TaskPipeline
from .window import Window

__all__ = ["CompositionPipeline", "place_instance"]


@dataclass
class _Item:
    """An instance while it goes through the pipeline, everything on the background frame."""

    image: Tensor  # (3, H, W) the placed source image
    mask: Tensor  # (1, H, W) the placed visible mask
    occluded: bool | str
    category: int = 0
    visible: Tensor | None = None  # shape's visible prediction
    amodal: Tensor | None = None  # shape's amodal prediction (the best hypothesis)
    completed: Tensor | None = None
    object_mask: Tensor | None = None
    alternatives: list[Tensor] = field(default_factory=list)  # amodal hypotheses, best first
    scores: list[float] = field(default_factory=list)
    hypotheses: list[Hypothesis] = field(default_factory=list)


def _overlap(a: SquareBox, b: SquareBox) -> bool:
    return a.x0 < b.x0 + b.side and b.x0 < a.x0 + a.side and a.y0 < b.y0 + b.side and b.y0 < a.y0 + a.side


class CompositionPipeline(TaskPipeline):
    """AMICO Algorithm 1: instances completed where occluded and blended onto a background by f_comp.

    Args:
        compositor: f_comp (:class:`~amodal_compose.systems.CompositionSystem`), needed by every call.
        shape: f_shape (:class:`~amodal_compose.systems.ShapeSystem`), for occluded (or ``"auto"``) instances.
        content: f_content (:class:`~amodal_compose.systems.ContentSystem`), to complete occluded instances.
        amodal_vae: :class:`~amodal_compose.systems.AmodalVAESystem`, the other shape step.
        device, dtype, input_sizes: see :class:`~amodal_compose.pipeline.components.Components`.
        components: instead of the systems, a shared set of loaded components.

    Example:
        >>> pipe = CompositionPipeline(compositor=load_system("compose.ckpt"))  # doctest: +SKIP
        >>> pipe.compose(background, [(object_image, rough_mask)]).image.shape  # doctest: +SKIP
        torch.Size([3, 1080, 1920])
    """

    uses = ("compositor", "shape", "content", "amodal_vae")

    def __init__(
        self, compositor: CompositionSystem | None = None, shape: ShapeSystem | None = None,
        content: ContentSystem | None = None, amodal_vae: AmodalVAESystem | None = None, *,
        device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
        input_sizes: dict[str, int] | None = None, components: Components | None = None,
    ) -> None:  # fmt: skip
        super().__init__(components, device, dtype, input_sizes, compositor=compositor, shape=shape, content=content,
                         amodal_vae=amodal_vae)  # fmt: skip

    def compose(
        self,
        background: Any,
        instances: Sequence[Any],
        mask_threshold: float = 0.5,
        mask_dilation: int = 0,
        occlusion_threshold: float = 0.05,
        batch: bool = True,
        progress: bool | None = None,
        shape_method: Literal["shape", "amodal_vae"] = "shape",
        hypotheses: int = 1,
        seed: int = 0,
    ) -> CompositionResult:
        """Compose ``instances`` onto ``background`` in the given order (AMICO Algorithm 1).

        For each instance: if it is occluded, ``shape`` predicts its visible and amodal masks
        (``m_vis_hat``, ``m_amodal_hat``) from the image and the rough mask, and ``content`` completes
        the object inside ``m_amodal_hat \\ m_vis_hat`` (its visible pixels are kept at full resolution);
        otherwise the object is the image on the rough mask, ``I ⊙ m_vis``. Then ``compositor`` turns
        the object and the current background into an RGBA layer, which is blended in, and the next
        instance sees the updated background.

        Every network runs on a square crop around the object, resized to its input size (the crop it
        was trained on), and its outputs are pasted back exactly; the RGBA layer is blended at the
        background's resolution, so pixels away from the object are left untouched.

        With ``shape_method="amodal_vae"``, Amodal-VAE completes the rough mask instead of f_shape (the
        rough mask is then the visible mask) and, with ``hypotheses=N > 1``, draws N posterior samples
        of the hidden shape, ranked by agreement with the visible mask; ``content`` completes each, every
        layer lists them (:attr:`InstanceLayer.hypotheses`, best first) and the composite uses the best.
        (No source paper feeds several mask hypotheses into content completion: this chains Amodal-VAE's
        posterior sampling, Ling et al. Table 4, with AMICO's content network.)

        Batching: ``shape`` and ``content`` take all instances that need them as one batch; the
        compositor takes, as one batch, each group of instances whose crop windows overlap no window of
        an instance still to come before them (so the result is that of one-at-a-time composition).

        Args:
            background: ``(3, H, W)`` tensor, ``(H, W, 3)`` numpy array or PIL image; float in [0, 1] or
                uint8; any size.
            instances: :class:`ComposeInstance` objects, dicts of their fields or
                ``(image, mask[, position[, scale]])`` tuples.
            mask_threshold: soft masks (a detector's probabilities, 0-1 or 0-255 grey) are binarised
                above this share of their maximum range.
            mask_dilation: grow each mask by this many pixels of the background before anything else.
                Use it with masks from a detector, which often stop a pixel or two inside the object or
                leave a margin to a touching neighbour: a too-tight mask cuts the object's rim off,
                which no later stage restores; a slightly loose one is what the compositor is trained
                to clean up. Leave it at 0 for exact masks.
            occlusion_threshold: with ``occluded="auto"``, an instance counts as occluded when the share of
                ``shape``'s amodal mask outside its visible mask exceeds this (0.05: 5 %).
            batch: run the networks on batches (see above); ``False`` runs one instance at a time.
            progress: show a progress bar (default: with more than 4 instances).
            shape_method: ``"shape"`` (f_shape, AMICO) or ``"amodal_vae"``.
            hypotheses: posterior samples per occluded instance (``"amodal_vae"`` only; 1: the mode).
            seed: of the posterior samples (the same seed gives the same hypotheses).

        Returns:
            :class:`CompositionResult`.

        Raises:
            MissingComponentError: ``compositor`` is missing, or ``shape`` (``amodal_vae``) / ``content``
                for an instance that is (or may be, with ``"auto"``) occluded; the message names the argument.
            ValueError: an empty mask, an image and mask of different sizes, NaN / Inf, a non-positive
                scale, an instance placed wholly off the background (each names the instance), an
                unknown shape method, or ``hypotheses > 1`` with f_shape (which is deterministic).
        """
        check_shape_method(shape_method, ("shape", "amodal_vae"), hypotheses, "f_shape")
        compositor = self.require("compositor", "compose")
        bg = as_image(background, "background", single=True)
        size = tuple(bg.shape[-2:])
        items = [place_instance(j, ComposeInstance.of(x), size, mask_threshold, mask_dilation)
                 for j, x in enumerate(instances)]  # fmt: skip
        bar = _progress(len(items), progress)
        self._complete(items, occlusion_threshold, batch, shape_method, hypotheses, seed)
        current = bg.clone()
        stages = [current.clone()]
        layers: list[InstanceLayer | None] = [None] * len(items)
        windows = [Window.around(it.object_mask, self.input_sizes["compositor"], self.enlarge["compositor"])
                   for it in items]  # fmt: skip
        for group in self._waves([w.box for w in windows], batch):
            bg_crops = torch.stack([windows[j].net(current) for j in group])
            objects = torch.stack([windows[j].net_cut(items[j].completed, items[j].object_mask) for j in group])
            out = self._run(compositor.compose, bg_crops, objects)
            for n, j in enumerate(group):  # a wave's windows do not overlap: blend in the given order
                it, win = items[j], windows[j]
                rgba = self._layer(win, out, n, objects[n], guide=win.full(it.image), obj=win.full(it.completed))
                current = win.blend(current, rgba)
                layers[j] = InstanceLayer(win.paste(rgba, current.new_zeros(4, *size)), it.completed, it.object_mask,
                                          it.mask, it.amodal, bool(it.occluded), win.box, it.hypotheses,
                                          it.visible)  # fmt: skip
            bar.update(len(group))
        bar.close()
        # the image after each instance, in the given order: blending the layers in that order gives the
        # waves' result, since an instance's window only overlaps those of other waves
        image = stages[0]
        for layer in layers:
            a = layer.rgba[3:]
            image = torch.where(a > 0, a * layer.rgba[:3] + (1 - a) * image, image)
            stages.append(image)
        return CompositionResult(image=stages[-1], layers=layers, stages=stages)

    def _batches(self, indices: list[int], batch: bool) -> list[list[int]]:
        return [indices] if batch else [[j] for j in indices]

    def _complete(
        self, items: list[_Item], threshold: float, batch: bool, method: str = "shape", hypotheses: int = 1,
        seed: int = 0,
    ) -> None:  # fmt: skip
        """Algorithm 1, lines 2-7: shape and content for occluded instances, the rough cut for the others."""
        asked = [j for j, it in enumerate(items) if it.occluded in (True, "auto")]
        if asked:
            why = f"instance {asked[0]} (occluded={items[asked[0]].occluded!r})"
            if method == "shape":
                self._shape_fshape(items, asked, batch, why)
            else:
                self._shape_vae(items, asked, batch, why, hypotheses, seed)
            for j in asked:
                it = items[j]
                if it.occluded == "auto":
                    area = float(it.amodal.sum())
                    hidden = float((it.amodal * (1 - it.visible)).sum())
                    it.occluded = area > 0 and hidden / area > threshold
        occluded = [j for j, it in enumerate(items) if it.occluded is True]
        if occluded:
            content = self.require("content", f"instance {occluded[0]} (occluded)")
            s = self.input_sizes["content"]
            # every hypothesis of every occluded instance, completed in batches
            pairs = [(items[j], h) for j in occluded for h in range(len(items[j].alternatives))]
            for group in self._batches(list(range(len(pairs))), batch):
                jobs = [(pairs[g][0], pairs[g][0].alternatives[pairs[g][1]]) for g in group]
                wins = [Window.around(a, s, self.enlarge["content"]) for _, a in jobs]
                vis = torch.stack([w.net(it.visible, "mask") for (it, _), w in zip(jobs, wins)])
                full = torch.stack([w.net(a, "mask") for (_, a), w in zip(jobs, wins)])
                full = torch.maximum(full, vis)
                objects = torch.stack([w.net(it.image) for (it, _), w in zip(jobs, wins)]) * vis
                out = self._run(content.complete, objects, vis, full * (1 - vis))
                for n, ((it, amodal), w) in enumerate(zip(jobs, wins)):
                    hidden = amodal * (1 - it.visible)
                    # visible pixels at full resolution; the hidden part upsampled into its hole only
                    completed = w.fill(it.image * it.visible, hidden, out["completed"][n], known=it.visible)
                    score = it.scores[len(it.hypotheses)]
                    it.hypotheses.append(Hypothesis(torch.maximum(amodal, it.visible), completed, score))
            for j in occluded:
                it = items[j]
                it.completed, it.object_mask = it.hypotheses[0].completed, it.hypotheses[0].amodal_mask
                if len(it.hypotheses) == 1:
                    it.hypotheses = []  # one completion: nothing to choose from
        for it in items:
            if it.occluded is not True:
                it.occluded = False
                it.completed, it.object_mask = it.image * it.mask, it.mask

    def _shape_fshape(self, items: list[_Item], asked: list[int], batch: bool, why: str) -> None:
        """f_shape's visible and amodal masks of the instances ``asked``, on its crops."""
        shape = self.require("shape", why)
        s = self.input_sizes["shape"]
        for group in self._batches(asked, batch):
            wins = [Window.around(items[j].mask, s, self.enlarge["shape"]) for j in group]
            images = torch.stack([w.net(items[j].image) for j, w in zip(group, wins)])
            masks = torch.stack([w.net(items[j].mask, "mask") for j, w in zip(group, wins)])
            out = self._run(shape.predict_masks, images, masks)
            for n, (j, w) in enumerate(zip(group, wins)):
                guide = w.full(items[j].image)  # the masks' edges follow the photo's where it has them
                items[j].visible = w.mask(out["visible"][n], guide, items[j].mask)
                items[j].amodal = w.mask(out["amodal"][n], guide, items[j].mask)
                items[j].alternatives, items[j].scores = [items[j].amodal], [1.0]

    def _shape_vae(self, items: list[_Item], asked: list[int], batch: bool, why: str, n: int, seed: int) -> None:
        """Amodal-VAE's completions of the rough (= visible) masks of ``asked``: the posterior mode, or
        ``n`` ranked posterior samples (the VAE crops the masks tightly itself)."""
        vae = self.require("amodal_vae", why)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        for group in self._batches(asked, batch):
            masks = torch.stack([items[j].mask for j in group])
            cats = torch.tensor([items[j].category for j in group], device=self.device)
            out = self._run(lambda m, c=cats: vae.complete(m, c, n if n > 1 else 0, gen), masks)
            for k, j in enumerate(group):
                it = items[j]
                it.visible = it.mask
                if n > 1:
                    it.alternatives, it.scores = list(out["samples"][k]), [float(v) for v in out["scores"][k]]
                else:
                    it.alternatives, it.scores = [out["mode"][k]], [1.0]
                it.amodal = it.alternatives[0]

    def _waves(self, boxes: list[SquareBox], batch: bool) -> list[list[int]]:
        """Groups of instances that can be composited together: instance ``j`` goes one wave after the
        latest earlier instance whose window overlaps its own."""
        if not batch:
            return [[j] for j in range(len(boxes))]
        level: list[int] = []
        for j, box in enumerate(boxes):
            level.append(1 + max((level[i] for i in range(j) if _overlap(boxes[i], box)), default=-1))
        return [[j for j in range(len(boxes)) if level[j] == k] for k in range(max(level, default=-1) + 1)]


def place_instance(j: int, inst: ComposeInstance, size: tuple[int, int], threshold: float, grow: int) -> _Item:
    """Instance ``j`` checked and placed on a background of ``size``: its image and mask (thresholded at
    ``threshold`` of their range, grown by ``grow`` pixels) at its position and scale."""
    image = as_image(inst.image, f"instance {j} image")
    raw = inst.mask if isinstance(inst.mask, Tensor) else torch.from_numpy(np.array(inst.mask))  # numpy / PIL
    mask = as_mask(raw, f"instance {j} mask", threshold=threshold * (255.0 if raw.dtype == torch.uint8 else 1.0))
    if image.ndim != 3 or mask.ndim != 3:
        shapes = f"{tuple(image.shape)}, {tuple(mask.shape)}"
        raise ValueError(f"instance {j}: expected one image and one mask, got {shapes}")
    if image.shape[-2:] != mask.shape[-2:]:
        sizes = f"image {tuple(image.shape[-2:])} and mask {tuple(mask.shape[-2:])}"
        raise ValueError(f"instance {j}: {sizes} differ in size")
    if not mask.any():
        raise ValueError(f"instance {j}: the mask is empty")
    if not inst.scale > 0:
        raise ValueError(f"instance {j}: scale must be > 0, got {inst.scale}")
    if inst.occluded not in (True, False, "auto"):
        raise ValueError(f"instance {j}: occluded must be True, False or 'auto', got {inst.occluded!r}")
    x0, y0, x1, y1 = bbox(mask[0]).tolist()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    px, py = inst.position if inst.position is not None else (cx, cy)
    corner = (round(px - cx * inst.scale), round(py - cy * inst.scale))
    placed_mask = place(mask, size, corner, inst.scale, mode="mask")
    if grow > 0:
        placed_mask = dilate(placed_mask, grow)
    if not placed_mask.any():
        raise ValueError(
            f"instance {j}: placed at {(px, py)} with scale {inst.scale}, no part of its mask lands on the "
            f"{size[1]}x{size[0]} background"
        )
    placed_image = place(image, size, corner, inst.scale)
    return _Item(placed_image, placed_mask, inst.occluded, int(inst.category))


def _progress(total: int, show: bool | None):
    """A progress bar over ``total`` instances, shown when ``show`` (default: more than 4)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="composing", unit="instance", disable=not (total > 4 if show is None else show))
