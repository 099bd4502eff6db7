"""The pipeline: trained systems chained for inference on the user's own images.

:class:`Pipeline` holds any subset of the package's systems by component name (``shape``,
``content``, ``compositor``; later networks join by declaring a ``component`` name on their system
class) and runs AMICO Algorithm 1 (supplementary A.3) in :meth:`Pipeline.compose`, with f_shape or
Amodal-VAE (several sampled hidden shapes, each completed) as the shape step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .. import __version__
from ..io import write_png
from ..ops.convert import as_image, as_mask
from ..ops.fullres import upsample_alpha
from ..ops.masks import SquareBox, bbox, context_square, crop_square, dilate, paste_square, place, square_box
from ..systems.base import CHECKPOINT_KEY, COMPONENTS, System
from .checkpoints import load_system
from .scene import SceneMixin, check_shape_method
from .window import Window

__all__ = [
    "Pipeline",
    "ComposeInstance",
    "InstanceLayer",
    "Hypothesis",
    "CompositionResult",
    "MissingComponentError",
    "MANIFEST",
]

#: the file :meth:`Pipeline.save` writes next to the weights.
MANIFEST = "pipeline.json"
#: network input side when a system carries no record of its training crop.
DEFAULT_SIZE = 64
#: crop enlargement around the mask per component when its checkpoint does not say (the training crops).
DEFAULT_ENLARGE = {
    "shape": 1.5, "content": 1.2, "compositor": 1.5, "pcnet_m": 1.0, "pcnet_c": 1.0, "remover": 1.0, "amodal_vae": 1.5,
}  # fmt: skip


class MissingComponentError(KeyError):
    """A call needs a component the pipeline was built without; the message names the argument."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


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


def _removal_window(mask: Tensor, size: int) -> Window:
    """The window object removal runs on: PCNet's adaptive square around the rough mask with 4 times the
    box's area (the object then covers about a fifth of it, as in removal's training images), at least
    the network's side (a small image is seen whole at its own scale, zero-padded, not enlarged), moved
    inside the image where it fits."""
    h, w = mask.shape[-2:]
    box = context_square(bbox(mask[0]), (h, w), area_factor=4.0)
    side = max(box.side, int(size))
    cx, cy = box.x0 + box.side // 2, box.y0 + box.side // 2
    x0 = min(max(cx - side // 2, 0), w - side) if side <= w else (w - side) // 2
    y0 = min(max(cy - side // 2, 0), h - side) if side <= h else (h - side) // 2
    return Window(SquareBox(x0, y0, side, h, w), size)


def _overlap(a: SquareBox, b: SquareBox) -> bool:
    return a.x0 < b.x0 + b.side and b.x0 < a.x0 + a.side and a.y0 < b.y0 + b.side and b.y0 < a.y0 + a.side


class Pipeline(SceneMixin):
    """Trained systems chained for inference: any subset of the components, each in eval mode, frozen,
    on one device and dtype.

    Args:
        device: where the networks run (``"cpu"``, ``"cuda"``, a ``torch.device``).
        dtype: their dtype (e.g. ``torch.bfloat16`` on a GPU); inputs are cast to it, outputs are float32.
        input_sizes: network input side per component; default: the crop the system was trained on
            (recorded in its checkpoint), else 64.
        **components: systems by component name: ``shape=`` a :class:`~amodal_compose.systems.ShapeSystem`,
            ``content=`` a :class:`~amodal_compose.systems.ContentSystem`, ``compositor=`` a
            :class:`~amodal_compose.systems.CompositionSystem`, ``pcnet_m=`` / ``pcnet_c=`` (scene
            de-occlusion), ``remover=`` a :class:`~amodal_compose.systems.RemovalSystem`, and any system
            class declaring a ``component`` name (``None`` values are left out).

    Example:
        >>> pipe = Pipeline.from_checkpoints(shape="shape.ckpt", content="content.ckpt",
        ...                                  compositor="compose.ckpt")  # doctest: +SKIP
        >>> result = pipe.compose(background, [(object_image, rough_mask)])  # doctest: +SKIP
        >>> result.image.shape  # doctest: +SKIP
        torch.Size([3, 256, 256])
    """

    def __init__(
        self, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
        input_sizes: dict[str, int] | None = None, **components: System | None,
    ) -> None:  # fmt: skip
        unknown = sorted(set(components) - set(COMPONENTS))
        if unknown:
            raise TypeError(f"unknown pipeline components {unknown}; the components are {sorted(COMPONENTS)}")
        self.device, self.dtype = torch.device(device), dtype
        self.components: dict[str, System] = {}
        for name, system in components.items():
            if system is None:
                continue
            if not isinstance(system, COMPONENTS[name]):
                raise TypeError(f"{name}: expected a {COMPONENTS[name].__name__}, got {type(system).__name__}")
            system.eval().requires_grad_(False)
            self.components[name] = system.to(device=self.device, dtype=dtype)
        self.input_sizes = {name: int((input_sizes or {}).get(name) or self._recorded(s, "crop_size") or DEFAULT_SIZE)
                            for name, s in self.components.items()}  # fmt: skip
        self.enlarge = {name: float(self._recorded(s, "enlarge") or DEFAULT_ENLARGE.get(name, 1.5))
                        for name, s in self.components.items()}  # fmt: skip

    @staticmethod
    def _recorded(system: System, key: str) -> Any:
        return (getattr(system, "checkpoint_meta", None) or {}).get("crop", {}).get(key)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_checkpoints(
        cls, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, trusted: bool = False,
        input_sizes: dict[str, int] | None = None, **paths: str | Path | None,
    ) -> Pipeline:  # fmt: skip
        """Load each named component with its system's ``load_from_checkpoint`` after checking the file
        (:func:`~amodal_compose.pipeline.checkpoints.load_system`: weights only, the expected system,
        a compatible package version).

        Args:
            device, dtype, input_sizes: see :class:`Pipeline`.
            trusted: allow checkpoints whose hyper-parameters name classes outside the package.
            **paths: checkpoint paths by component name (``shape=``, ``content=``, ``compositor=``).

        Raises:
            TypeError: an unknown component name.
            FileNotFoundError, ~amodal_compose.pipeline.checkpoints.CheckpointError: a missing, truncated,
                foreign or mismatched checkpoint, naming the argument.
        """
        unknown = sorted(set(paths) - set(COMPONENTS))
        if unknown:
            raise TypeError(f"unknown pipeline components {unknown}; the components are {sorted(COMPONENTS)}")
        systems = {name: load_system(p, COMPONENTS[name], name, "cpu", trusted) for name, p in paths.items() if p}
        return cls(device=device, dtype=dtype, input_sizes=input_sizes, **systems)

    def save(self, folder: str | Path) -> Path:
        """Write each component as ``<name>.ckpt`` (weights and hyper-parameters, loadable by
        :meth:`from_checkpoints` too) and a small manifest, ``pipeline.json``. Returns the manifest."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        entries = {}
        for name, system in self.components.items():
            ckpt = system.portable_checkpoint({"crop_size": self.input_sizes[name], "enlarge": self.enlarge[name]})
            torch.save(ckpt, folder / f"{name}.ckpt")
            entries[name] = {"file": f"{name}.ckpt", "system": ckpt[CHECKPOINT_KEY]["system"]}
        manifest = folder / MANIFEST
        manifest.write_text(json.dumps({"amodal_compose": __version__, "components": entries}, indent=1))
        return manifest

    @classmethod
    def from_dir(
        cls, folder: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
        trusted: bool = False,
    ) -> Pipeline:  # fmt: skip
        """The pipeline of a folder: the one :meth:`save` wrote (its ``pipeline.json`` lists the
        files), or a folder of ``<component>.ckpt`` files (``shape.ckpt``, ``content.ckpt``, ...).

        Raises:
            FileNotFoundError: no such folder, or neither a manifest nor a component checkpoint in it.
            ValueError: a manifest that is not this package's.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {folder}")
        manifest = folder / MANIFEST
        if manifest.is_file():
            try:
                entries = json.loads(manifest.read_text())["components"]
                paths = {name: folder / str(e["file"]) for name, e in entries.items()}
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{manifest} is not a pipeline manifest ({err})") from err
        else:
            paths = {name: folder / f"{name}.ckpt" for name in COMPONENTS if (folder / f"{name}.ckpt").is_file()}
            if not paths:
                names = ", ".join(f"{n}.ckpt" for n in sorted(COMPONENTS))
                raise FileNotFoundError(f"{folder} holds neither {MANIFEST} nor any of {names}")
        return cls.from_checkpoints(device=device, dtype=dtype, trusted=trusted, **paths)

    # ------------------------------------------------------------------ access
    def __contains__(self, name: str) -> bool:
        return name in self.components

    def require(self, name: str, why: str) -> System:
        """The component ``name``, or an error saying which call needs it and how to supply it."""
        if name not in self.components:
            raise MissingComponentError(
                f"{why} needs the '{name}' component ({COMPONENTS[name].__name__}); pass {name}=<checkpoint> to "
                f"Pipeline.from_checkpoints (or {name}=<system> to Pipeline)"
            )
        return self.components[name]

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={type(s).__name__}@{self.input_sizes[n]}px" for n, s in self.components.items())
        return f"Pipeline({parts}, device={self.device}, dtype={self.dtype})"

    # ------------------------------------------------------------------ AMICO Algorithm 1
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
        items = [self._prepare(j, ComposeInstance.of(x), size, mask_threshold, mask_dilation)
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
            objects = torch.stack([windows[j].net(items[j].completed) for j in group])
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

    # ------------------------------------------------------------------ object removal
    def remove(self, image: Any, mask: Any, mask_threshold: float = 0.5) -> dict[str, Tensor]:
        """Remove the object a rough mask points at (Shimosato & Ukita): the segmentation network picks
        the segment overlapping ``mask`` most and draws the mask the inpainters need; they fill it.

        Args:
            image: ``(3, H, W)`` tensor, ``(H, W, 3)`` numpy array or PIL image; any size.
            mask: a rough mask of the object, same size: a box-like scribble or a detector's mask (soft
                masks are binarised above ``mask_threshold`` of their range).

        Returns:
            ``{"image": (3, H, W) the image without the object, "mask": (1, H, W) what was removed}``.

        Raises:
            MissingComponentError: without ``remover``.
            ValueError: sizes differ, an empty mask, or a mask touching no object the segmentation finds.
        """
        remover = self.require("remover", "remove")
        img = as_image(image, "image")
        raw = mask if isinstance(mask, Tensor) else torch.from_numpy(np.array(mask))
        m = as_mask(raw, "mask", threshold=mask_threshold * (255.0 if raw.dtype == torch.uint8 else 1.0))
        if img.ndim != 3 or m.ndim != 3:
            raise ValueError(f"expected one image and one mask, got {tuple(img.shape)} and {tuple(m.shape)}")
        if img.shape[-2:] != m.shape[-2:]:
            raise ValueError(f"image {tuple(img.shape[-2:])} and mask {tuple(m.shape[-2:])} differ in size")
        if not m.any():
            raise ValueError("the mask is empty")
        win = _removal_window(m, self.input_sizes["remover"])
        out = self._run(remover.remove, win.net(img)[None], win.net(m, "mask")[None])
        # the removed region: the network's mask upsampled along the photo's edges; the fill inside it only
        soft = upsample_alpha(out["mask"][0], win.full(img))
        removed = win.paste((soft > 0.5).to(img.dtype), torch.zeros_like(m))
        return {"image": win.fill(img, removed, out["image"][0]), "mask": removed}

    # ------------------------------------------------------------------ the steps
    def _prepare(self, j: int, inst: ComposeInstance, size: tuple[int, int], threshold: float, grow: int) -> _Item:
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

    @staticmethod
    def _layer(win: Window, out: dict[str, Tensor], n: int, obj_net: Tensor, guide: Tensor, obj: Tensor) -> Tensor:
        """Sample ``n`` of f_comp's outputs ``out`` as a full-resolution RGBA layer of ``win``
        (:meth:`Window.layer`): the alpha guided by ``guide``, the colour change applied to ``obj``."""
        transform = out["transform"][n] if "transform" in out else None
        return win.layer(out["alpha"][n], guide, obj, transform, out["rgb"][n], obj_net)

    def _run(self, fn, *tensors: Tensor) -> dict[str, Tensor]:
        """``fn`` on ``tensors`` cast to the pipeline's device and dtype; outputs as float32 on the CPU."""
        out = fn(*(t.to(self.device, self.dtype) for t in tensors))
        return {k: v.float().cpu() for k, v in out.items()}

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
            boxes = [square_box(bbox(items[j].mask[0]), items[j].mask.shape[-2:], self.enlarge["shape"])
                     for j in group]  # fmt: skip
            images = torch.stack([crop_square(items[j].image, b, s) for j, b in zip(group, boxes)])
            masks = torch.stack([crop_square(items[j].mask, b, s, mode="mask") for j, b in zip(group, boxes)])
            out = self._run(shape.predict_masks, images, masks)
            for n, (j, b) in enumerate(zip(group, boxes)):
                canvas = torch.zeros_like(items[j].mask)
                items[j].visible = paste_square(out["visible"][n], b, canvas, mode="mask")
                items[j].amodal = paste_square(out["amodal"][n], b, canvas, mode="mask")
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


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, show: bool | None):
    if show is None:
        show = total > 4
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="composing", unit="instance")
