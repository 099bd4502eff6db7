"""Scene de-occlusion and manipulation on the user's own images (PCNet section 3.2-3.3 and 4.2, chained
with AMICO's compositor): :class:`DeocclusionPipeline`.

``deocclude`` recovers the occlusion order (PCNet-M, dual completion), each instance's amodal mask
(ordering-grounded; by PCNet-M, or by Amodal-VAE with several sampled hypotheses), its hidden
content (PCNet-C inside ``amodal ∩ ancestors``, eq. 5; f_content when PCNet-C is not loaded) and the
background (PCNet-C with every instance as eraser; Telea without it).
``manipulate`` edits the de-occluded scene (delete, move, reorder, insert an instance of another image)
and paints the layers back in the new order: PCNet's recomposition by pasting, with inserted objects
blended in by f_comp (AMICO) when it is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..algorithms.pcnet import union
from ..ops.classic import telea_inpaint
from ..ops.convert import as_image, as_mask
from ..ops.graph import ancestors
from ..ops.masks import dilate
from ..systems import AmodalVAESystem, CompositionSystem, ContentSystem, PCNetCSystem, PCNetMSystem
from .components import Components, check_shape_method
from .compose import place_instance
from .results import ComposeInstance, DeocclusionResult, Hypothesis, ManipulationResult
from .task import TaskPipeline
from .window import Window

__all__ = ["DeocclusionPipeline", "paint_order"]


def paint_order(order: Tensor, keep: Sequence[int]) -> list[int]:
    """Back-to-front order of the instances ``keep`` from an occlusion graph: an instance is painted
    before every instance that occludes it, so at each step one that occludes none of those left goes
    next. A cycle (PCNet allows them) is broken at the instance with the most occluders left.

    Example:
        >>> paint_order(torch.tensor([[0, 1], [0, 0]]), [0, 1])  # 0 occludes 1: paint 1, then 0
        [1, 0]
    """
    left = list(keep)
    out = []
    while left:
        occluders = {i: sum(int(order[j, i]) for j in left if j != i) for i in left}
        free = [i for i in left if not any(int(order[i, j]) for j in left if j != i)]
        pick = free[0] if free else min(left, key=lambda i: (-occluders[i], i))
        out.append(pick)
        left.remove(pick)
    return out


class DeocclusionPipeline(TaskPipeline):
    """De-occlude a scene and edit it (PCNet): order, amodal masks, object layers, background.

    Args:
        pcnet_m: :class:`~amodal_compose.systems.PCNetMSystem`, needed by every call (the order).
        pcnet_c: :class:`~amodal_compose.systems.PCNetCSystem`, for hidden content and the background
            (without it: f_content for content, Telea for the background).
        content: f_content, the content step when ``pcnet_c`` is missing.
        amodal_vae: the other amodal step (``shape_method="amodal_vae"``).
        compositor: f_comp, which :meth:`manipulate` blends inserted objects (and, on request, edited layers) with.
        device, dtype, input_sizes: see :class:`~amodal_compose.pipeline.components.Components`.
        components: instead of the systems, a shared set of loaded components.

    Example:
        >>> pipe = DeocclusionPipeline(pcnet_m=load_system("pcnet_m.ckpt"))  # doctest: +SKIP
        >>> pipe.deocclude(photo, visible_masks).order  # doctest: +SKIP
    """

    uses = ("pcnet_m", "pcnet_c", "content", "amodal_vae", "compositor")

    def __init__(
        self, pcnet_m: PCNetMSystem | None = None, pcnet_c: PCNetCSystem | None = None,
        content: ContentSystem | None = None, amodal_vae: AmodalVAESystem | None = None,
        compositor: CompositionSystem | None = None, *, device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32, input_sizes: dict[str, int] | None = None,
        components: Components | None = None,
    ) -> None:  # fmt: skip
        super().__init__(components, device, dtype, input_sizes, pcnet_m=pcnet_m, pcnet_c=pcnet_c, content=content,
                         amodal_vae=amodal_vae, compositor=compositor)  # fmt: skip

    def _modal(self, masks: Any, size: tuple[int, int], threshold: float, grow: int) -> Tensor:
        items = list(masks) if not isinstance(masks, Tensor) else list(masks if masks.ndim == 4 else masks[:, None])
        out = []
        for k, m in enumerate(items):
            raw = m if isinstance(m, Tensor) else torch.from_numpy(np.array(m))
            t = as_mask(raw, f"mask {k}", threshold=threshold * (255.0 if raw.dtype == torch.uint8 else 1.0))
            if tuple(t.shape[-2:]) != size:
                raise ValueError(f"mask {k}: size {tuple(t.shape[-2:])} differs from the image's {size}")
            if not t.any():
                raise ValueError(f"mask {k} is empty")
            out.append(t.reshape(1, *size))
        if not out:
            raise ValueError("no masks given")
        modal = torch.stack(out)
        return dilate(modal, grow) if grow > 0 else modal

    def deocclude(
        self, image: Any, modal_masks: Any, categories: Sequence[int] | None = None, mask_threshold: float = 0.5,
        mask_dilation: int = 0, grounded: bool = True, shape_method: Literal["pcnet_m", "amodal_vae"] = "pcnet_m",
        hypotheses: int = 1, seed: int = 0,
    ) -> DeocclusionResult:  # fmt: skip
        """De-occlude a scene from its image and its instances' visible masks (PCNet 3.2-3.3).

        Args:
            image: ``(3, H, W)`` tensor, ``(H, W, 3)`` numpy array or PIL image, float in [0, 1] or uint8.
            modal_masks: ``(N, 1, H, W)`` / ``(N, H, W)`` tensor or a sequence of masks of the image's size.
            categories: category indices of the instances (for a PCNet-M trained with categories).
            mask_threshold: soft masks are binarised above this share of their range.
            mask_dilation: grow every mask first; predicted masks (e.g. Mask R-CNN's) leave margins
                between neighbouring objects that break ordering (no contact) and completion (the
                margin is neither object nor occluder): a pixel or two closes them.
            grounded: ordering-grounded amodal completion (eq. 4: the eraser is the union of all
                ancestors); ``False``: every neighbour is an eraser.
            shape_method: ``"pcnet_m"`` (PCNet eq. 4) or ``"amodal_vae"``: Amodal-VAE completes each
                visible mask and the hidden part is kept where the erasers above cover it (PCNet-M still
                orders the scene).
            hypotheses: with ``"amodal_vae"``, posterior samples per instance, ranked by agreement with
                the visible mask outside the erasers; each is completed (content) and listed in
                :attr:`DeocclusionResult.hypotheses`. 1: the posterior mode.
            seed: of the posterior samples.

        An object cut by the image border is completed inside its crop, which is zero-padded beyond the
        border: the amodal mask stays within the image, so the part outside it is not recovered (and the
        border itself is no occluder PCNet-M knows of).

        Raises:
            MissingComponentError: without ``pcnet_m`` (or ``amodal_vae`` when asked for).
            ValueError: an empty mask, masks of another size than the image, an unknown shape method,
                or ``hypotheses > 1`` with PCNet-M (which is deterministic).
        """
        check_shape_method(shape_method, ("pcnet_m", "amodal_vae"), hypotheses, "PCNet-M")
        pcnet_m = self.require("pcnet_m", "deocclude")
        img = as_image(image, "image", single=True)
        size = tuple(img.shape[-2:])
        modal = self._modal(modal_masks, size, mask_threshold, mask_dilation)
        n = len(modal)
        cats = torch.as_tensor(categories if categories is not None else [0] * n, dtype=torch.long)
        order = pcnet_m.order(img, modal, cats)
        if shape_method == "pcnet_m":
            amodal = pcnet_m.amodal(img, modal, order if grounded else None, cats)
            alternatives, scores = [amodal], torch.ones(n, 1)
        else:
            alternatives, scores = self._vae_amodal(modal, cats, order, grounded, hypotheses, seed)
        layers, notes = self._complete_content(img, modal, alternatives[0], order)
        notes["amodal"] = shape_method
        found = []
        if hypotheses > 1:
            rgb = [layers] + [self._complete_content(img, modal, a, order)[0] for a in alternatives[1:]]
            found = [[Hypothesis(alternatives[h][k], rgb[h][k, :3], float(scores[k, h])) for h in range(hypotheses)]
                     for k in range(n)]  # fmt: skip
        background, notes["background"] = self._complete_background(img, modal)
        return DeocclusionResult(order, modal, alternatives[0], layers, background, notes, found)

    def _vae_amodal(
        self, modal: Tensor, cats: Tensor, order: Tensor, grounded: bool, samples: int, seed: int
    ) -> tuple[list[Tensor], Tensor]:
        """Amodal-VAE's completions of every instance, each joined with its visible mask where its
        erasers (ancestors when ``grounded``, else every other instance) cover it: ``samples``
        alternatives ``(N, 1, H, W)`` best first (or the posterior mode), and their ``(N, samples)``
        scores (visible agreement outside the erasers)."""
        vae = self.require("amodal_vae", "deocclude(shape_method='amodal_vae')")
        n = len(modal)
        erasers = torch.zeros_like(modal)
        for i in range(n):
            above = ancestors(order, i) if grounded else [j for j in range(n) if j != i]
            if above:
                erasers[i] = modal[above].amax(0) * (1 - modal[i])
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        many = samples if samples > 1 else 0
        out = self._run(lambda m, e: vae.complete(m, cats.to(m.device), many, gen, occluders=e), modal, erasers)
        masks = out["samples"] if many else out["mode"][:, None]
        scores = out["scores"] if many else torch.ones(n, 1)
        grounded_masks = torch.maximum(masks * erasers[:, None], modal[:, None])
        return [grounded_masks[:, h] for h in range(grounded_masks.shape[1])], scores

    def _complete_content(self, img: Tensor, modal: Tensor, amodal: Tensor, order: Tensor):
        """PCNet eq. 5: the hidden part ``M_E = amodal ∩ ancestors`` of each instance filled."""
        n = len(modal)
        hidden = torch.zeros_like(modal)
        for i in range(n):
            anc = ancestors(order, i)
            if anc:
                hidden[i] = amodal[i] * modal[anc].amax(0) * (1 - modal[i])
        layers = torch.cat([img[None] * modal, amodal], 1)
        todo = [i for i in range(n) if hidden[i].any()]
        if not todo:
            return layers, {"content": "none needed"}
        name = "pcnet_c" if "pcnet_c" in self.components else ("content" if "content" in self.components else None)
        if name is None:
            self.require("pcnet_c", "deocclude (an instance has a hidden part to fill)")
        system = self.components[name]
        s = self.input_sizes[name]
        wins = [Window.context(amodal[i], s) for i in todo]
        vis = torch.stack([w.net(modal[i], "mask") for i, w in zip(todo, wins)])
        hole = torch.stack([w.net(hidden[i], "mask") for i, w in zip(todo, wins)]) * (1 - vis)
        crops = torch.stack([w.net(img) for w in wins])
        if name == "pcnet_c":
            out = self._run(system.complete, crops * (1 - hole), vis, hole)["completed"]
        else:  # f_content sees the object alone (zero outside it)
            out = self._run(system.complete, crops * vis, vis, hole)["completed"]
        for n_, (i, w) in enumerate(zip(todo, wins)):
            # visible pixels exact; the fill upsampled into the hidden part only, matched to the visible rim
            layers[i, :3] = w.fill(img * modal[i], hidden[i], out[n_], known=modal[i])
        return layers, {"content": name}

    def _complete_background(self, img: Tensor, modal: Tensor) -> tuple[Tensor, str]:
        hole = dilate(modal.amax(0), 1)  # every instance, and a pixel of its rim
        if "pcnet_c" not in self.components:
            return telea_inpaint(img, hole), "telea"
        win = Window.whole(tuple(img.shape[-2:]), self.input_sizes["pcnet_c"])
        small = win.net(hole, "mask")
        out = self._run(self.components["pcnet_c"].complete, (win.net(img) * (1 - small))[None],
                        torch.zeros_like(small)[None], small[None])["completed"][0]  # fmt: skip
        return win.fill(img, hole, out), "pcnet_c"

    def manipulate(
        self, image: Any, modal_masks: Any, edits: Sequence[dict[str, Any]], categories: Sequence[int] | None = None,
        harmonize: bool | Literal["inserted", "edited", "none"] = "inserted", mask_threshold: float = 0.5,
        mask_dilation: int = 0,
    ) -> ManipulationResult:  # fmt: skip
        """De-occlude a scene, edit it and paint it back.

        Edits, applied in order (``k`` indexes the input masks):

        * ``{"delete": k}``: remove instance ``k``;
        * ``{"move": k, "offset": (dx, dy)}``: shift it by whole pixels;
        * ``{"front": i, "of": j}``: put ``i`` in front of ``j`` (the edge between them reversed);
        * ``{"insert": instance}``: add an object of another image on top, a
          :class:`~amodal_compose.pipeline.ComposeInstance` (or its fields / tuple), placed as in ``compose``.

        The layers are painted back to front over the completed background, following the edited order
        (:func:`paint_order`). Each is alpha-pasted (PCNet's recomposition), except those ``harmonize``
        names, which go through f_comp against what is painted below them (AMICO's blending) when the
        compositor is loaded: ``"inserted"`` (default) the objects of other images, whose colours may not
        match the photo; ``"edited"`` (or ``True``) also every moved or reordered layer; ``"none"`` (or
        ``False``) none. A moved layer keeps the photo's colours by default, since f_comp also changes the
        colour of objects that need no change (``docs/findings.md``). Each layer reaches no further than
        the object can be (its visible pixels and those of its occluders: a hidden part is hidden by
        something). Only the edit is painted: every pixel that shows the same instance, unmoved, or the
        same background before and after the edits keeps the input's value exactly.

        Raises:
            ValueError: an unknown edit, an index out of range or an unknown ``harmonize``.
        """
        if isinstance(harmonize, bool):
            harmonize = "edited" if harmonize else "none"
        if harmonize not in ("inserted", "edited", "none"):
            raise ValueError(f"harmonize must be 'inserted', 'edited', 'none' or a bool, got {harmonize!r}")
        d = self.deocclude(image, modal_masks, categories, mask_threshold, mask_dilation)
        img = as_image(image, "image", single=True)
        n = len(d.modal)
        order = d.order.clone()
        # where each object can be: its visible pixels and its occluders' (eq. 4's grounded eraser)
        reach = [torch.maximum(d.modal[k], union(d.modal, ancestors(d.order, k), d.modal[k])) for k in range(n)]
        layers = [torch.cat([d.layers[k, :3], d.layers[k, 3:] * reach[k]]) for k in range(n)]
        keep, edited, moved = list(range(n)), set(), set()
        extra: list[Tensor] = []
        for e in edits:
            if "delete" in e:
                k = self._index(e["delete"], n, "delete")
                if k in keep:
                    keep.remove(k)
            elif "move" in e:
                k = self._index(e["move"], n, "move")
                dx, dy = (int(round(v)) for v in e.get("offset", (0, 0)))
                layers[k] = _shift(layers[k], dx, dy)
                edited.add(k)
                moved.add(k)
            elif "front" in e:
                i, j = self._index(e["front"], n, "front"), self._index(e.get("of"), n, "of")
                order[i, j], order[j, i] = 1, 0
                edited.add(i)
            elif "insert" in e:
                inst = ComposeInstance.of(e["insert"])
                item = place_instance(len(extra), inst, tuple(d.background.shape[-2:]), mask_threshold, mask_dilation)
                extra.append(torch.cat([item.image * item.mask, item.mask]))
            else:
                raise ValueError(f"unknown edit {e!r}; edits are delete, move, front / of, insert")
        paint = paint_order(order, keep)
        canvas = d.background.clone()
        painted = []
        owner = torch.full(img.shape[-2:], -1, dtype=torch.long)  # who shows at each pixel after the edits
        for k, rgba in [(k, layers[k]) for k in paint] + [(n + m, x) for m, x in enumerate(extra)]:
            blend = harmonize != "none" and (k >= n or (harmonize == "edited" and k in edited))
            canvas = self._paint(canvas, rgba, blend)
            painted.append(rgba)
            owner[rgba[3] > 0.5] = k
        before = torch.full_like(owner, -1)
        for k in range(n):
            before[d.modal[k, 0] > 0] = k
        fresh = torch.tensor(sorted(moved) + list(range(n, n + len(extra))), dtype=torch.long)
        changed = (owner != before) | torch.isin(owner, fresh) | torch.isin(before, fresh)
        canvas = torch.where(changed, canvas, img)
        return ManipulationResult(canvas, d, order, paint, painted)

    @staticmethod
    def _index(k: Any, n: int, what: str) -> int:
        if not isinstance(k, int) or not 0 <= k < n:
            raise ValueError(f"edit {what!r}: instance index {k!r} out of range for {n} instances")
        return k

    def _paint(self, canvas: Tensor, rgba: Tensor, through_compositor: bool) -> Tensor:
        alpha = rgba[3:]
        if not alpha.any():
            return canvas
        if not (through_compositor and "compositor" in self.components):
            return alpha * rgba[:3] + (1 - alpha) * canvas
        win = Window.around(alpha, self.input_sizes["compositor"], self.enlarge["compositor"])
        obj = rgba[:3] * alpha
        obj_net = win.net_cut(rgba[:3], alpha)
        out = self._run(self.components["compositor"].compose, win.net(canvas)[None], obj_net[None])
        layer = self._layer(win, out, 0, obj_net, guide=win.full(obj), obj=win.full(obj))
        return win.blend(canvas, layer)


def _shift(x: Tensor, dx: int, dy: int) -> Tensor:
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    ys, xs = slice(max(dy, 0), min(h + dy, h)), slice(max(dx, 0), min(w + dx, w))
    yd, xd = slice(max(-dy, 0), min(h - dy, h)), slice(max(-dx, 0), min(w - dx, w))
    out[..., ys, xs] = x[..., yd, xd]
    return out
