"""What the pipelines take and give: instances to compose, and the results of each task (plain
dataclasses with ``save`` methods; no networks)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from ..io import write_png
from ..ops.masks import SquareBox

__all__ = [
    "ComposeInstance",
    "Hypothesis",
    "InstanceLayer",
    "CompositionResult",
    "DeocclusionResult",
    "ManipulationResult",
]


@dataclass
class ComposeInstance:
    """One instance to compose: an image and a rough visible mask of the object in it.

    Args:
        image: the object's source image, ``(3, h, w)`` tensor, ``(h, w, 3)`` numpy array or PIL image,
            float in [0, 1] or uint8.
        mask: the object's visible mask, same size: binary, or soft (a detector's), binarised at the
            pipeline's ``mask_threshold``.
        position: ``(x, y)`` on the background where the centre of the mask's bounding box goes;
            ``None``: where it is in its image (image and background then share coordinates).
        scale: resize factor of the object (> 0).
        occluded: whether part of the object is hidden (then ``shape`` and ``content`` complete it);
            ``"auto"``: decided from ``shape``'s prediction (see :meth:`Pipeline.compose`).
        category: the object's category index (for a class-conditioned Amodal-VAE; 0 when unknown).
    """

    image: Any
    mask: Any
    position: tuple[float, float] | None = None
    scale: float = 1.0
    occluded: bool | Literal["auto"] = "auto"
    category: int = 0

    @staticmethod
    def of(x: Any) -> ComposeInstance:
        """From a :class:`ComposeInstance`, a dict of its fields, or an ``(image, mask[, position[, scale]])`` tuple."""
        if isinstance(x, ComposeInstance):
            return x
        if isinstance(x, dict):
            return ComposeInstance(**x)
        if isinstance(x, (tuple, list)) and 2 <= len(x) <= 4:
            return ComposeInstance(*x)
        raise TypeError(f"an instance is a ComposeInstance, a dict or an (image, mask) tuple, got {type(x).__name__}")


@dataclass
class Hypothesis:
    """One plausible hidden shape of an occluded object and its completed content.

    Attributes:
        amodal_mask: ``(1, H, W)`` the completed mask (containing the visible mask).
        completed: ``(3, H, W)`` the object on it: visible pixels kept, hidden ones generated.
        score: its agreement with the visible mask (the ranking; see
            :meth:`~amodal_compose.systems.AmodalVAESystem.visible_agreement`).
    """

    amodal_mask: Tensor
    completed: Tensor
    score: float


@dataclass
class InstanceLayer:
    """What the pipeline made of one instance, on the background's frame ``(H, W)``.

    Attributes:
        rgba: ``(4, H, W)``: f_comp's RGB layer ``I_out`` and its alpha (zero outside the crop window).
        completed: ``(3, H, W)``: the object before composition, ``I_o`` (completed by ``content`` where
            occluded), zero outside ``object_mask``.
        object_mask: ``(1, H, W)``: the mask ``I_o`` lives on: the predicted amodal mask when occluded,
            else the rough visible mask.
        visible_mask: ``(1, H, W)``: the placed visible mask (the input after threshold and dilation).
        amodal_mask: ``(1, H, W)`` or ``None``: ``shape``'s amodal prediction, when it ran.
        shape_visible: ``(1, H, W)`` or ``None``: the visible mask the shape step gave (f_shape's
            ``m_vis_hat``; Amodal-VAE keeps the input mask), when it ran: the pixels kept as they are.
        occluded: whether the object was completed.
        box: the square window of the composition crop.
        hypotheses: with ``hypotheses > 1`` in :meth:`Pipeline.compose`, the alternative completions,
            best first (the layer is made of the first).
    """

    rgba: Tensor
    completed: Tensor
    object_mask: Tensor
    visible_mask: Tensor
    amodal_mask: Tensor | None
    occluded: bool
    box: SquareBox
    hypotheses: list[Hypothesis] = field(default_factory=list)
    shape_visible: Tensor | None = None


@dataclass
class CompositionResult:
    """The output of :meth:`Pipeline.compose`.

    Attributes:
        image: ``(3, H, W)`` the final composite.
        layers: one :class:`InstanceLayer` per instance, in the given order.
        stages: ``stages[0]`` is the background, ``stages[j + 1]`` the image after instance ``j``.
    """

    image: Tensor
    layers: list[InstanceLayer] = field(default_factory=list)
    stages: list[Tensor] = field(default_factory=list)

    def save(self, folder: str | Path, layers: bool = True) -> list[Path]:
        """Write ``composite.png``, ``stage_<j>.png`` and, with ``layers``, each instance's
        ``layer_<j>_rgba.png`` (RGBA), ``layer_<j>_completed.png`` and ``layer_<j>_mask.png``."""
        folder = Path(folder)
        paths = [write_png(folder / "composite.png", self.image)]
        paths += [write_png(folder / f"stage_{j}.png", s) for j, s in enumerate(self.stages)]
        if layers:
            for j, layer in enumerate(self.layers):
                rgba = (layer.rgba.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
                paths.append(write_png(folder / f"layer_{j}_rgba.png", rgba))
                paths.append(write_png(folder / f"layer_{j}_completed.png", layer.completed))
                paths.append(write_png(folder / f"layer_{j}_mask.png", layer.object_mask))
                for h, hyp in enumerate(layer.hypotheses):
                    paths.append(write_png(folder / f"layer_{j}_hypothesis_{h}_mask.png", hyp.amodal_mask))
                    paths.append(write_png(folder / f"layer_{j}_hypothesis_{h}_completed.png", hyp.completed))
        return paths


@dataclass
class DeocclusionResult:
    """A de-occluded scene, everything on the image's frame ``(H, W)``.

    Attributes:
        order: ``(N, N)`` int64, ``[i, j] = 1`` when ``i`` occludes ``j`` (may be cyclic).
        modal: ``(N, 1, H, W)`` the visible masks used (after threshold and dilation).
        amodal: ``(N, 1, H, W)`` the completed masks.
        layers: ``(N, 4, H, W)`` each object whole: RGB (visible pixels kept, hidden ones completed) and
            alpha (its amodal mask).
        background: ``(3, H, W)`` the scene without its objects.
        notes: which network did what (``"content": "pcnet_c"``, ``"background": "telea"``, ...).
        hypotheses: with ``hypotheses > 1`` (Amodal-VAE), per instance its alternative completions best
            first (:class:`~amodal_compose.pipeline.Hypothesis`: amodal mask, RGB layer, score);
            ``amodal`` and ``layers`` hold the first.
    """

    order: Tensor
    modal: Tensor
    amodal: Tensor
    layers: Tensor
    background: Tensor
    notes: dict[str, str] = field(default_factory=dict)
    hypotheses: list[list[Any]] = field(default_factory=list)

    def save(self, folder: str | Path) -> list[Path]:
        """``order.json`` (the graph as an edge list and a matrix), ``background.png``, and per instance
        ``amodal_<k>.png`` and ``layer_<k>.png`` (RGBA)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        edges = [[int(i), int(j)] for i, j in torch.nonzero(self.order).tolist()]
        order = folder / "order.json"
        order.write_text(json.dumps({"occludes": edges, "matrix": self.order.tolist(), "notes": self.notes}, indent=1))
        paths = [order, write_png(folder / "background.png", self.background)]
        for k in range(len(self.amodal)):
            paths.append(write_png(folder / f"amodal_{k}.png", self.amodal[k]))
            rgba = (self.layers[k].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
            paths.append(write_png(folder / f"layer_{k}.png", rgba))
        for k, alternatives in enumerate(self.hypotheses):
            for h, hyp in enumerate(alternatives):
                paths.append(write_png(folder / f"amodal_{k}_hypothesis_{h}.png", hyp.amodal_mask))
                paths.append(write_png(folder / f"layer_{k}_hypothesis_{h}.png", hyp.completed))
        return paths


@dataclass
class ManipulationResult:
    """The output of ``manipulate``: the recomposed ``image``, the de-occlusion it started from, the
    edited ``order`` and the ``paint`` order (back to front) of the layers that were painted."""

    image: Tensor
    deocclusion: DeocclusionResult
    order: Tensor
    paint: list[int]
    layers: list[Tensor]
