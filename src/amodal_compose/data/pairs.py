"""Training pairs for the AMICO networks, built lazily per item from any scene source.

- :class:`EditedCrops`: instance crops plus ``m_edit`` for f_shape (AMICO section 3.3).
- :class:`CompositionPairs`: eq. 5 pairs for f_comp (AMICO section 3.2): the background with the
  object removed, the object colour-transferred towards a random reference image and cut with a
  randomly dilated mask, and the original image as the target.

- :class:`ContentPairs`: section 3.1 pairs for f_content: an object hidden in part by another
  instance's mask; :class:`RealOcclusions`: the real occlusions of synthetic scenes, whose hidden
  content is known (the evaluation items of f_content and PCNet-C on synthetic data).
- :class:`PartialMaskPairs`, :class:`PartialContentPairs`: PCNet's self-supervised pairs (section 3.1,
  Fig. 3) for PCNet-M and PCNet-C.
- :class:`CopyPastePairs`: object-removal triplets (Shimosato & Ukita III-A): an image with a pasted
  object, the same image without it, and the object's mask.
- :class:`SimulatedOcclusionMasks`, :class:`OccluderCrops`: Amodal-VAE's masks (section 4.1): whole masks
  with a simulated occluder in front, and real instances with the masks that may hide them.

All are :class:`~amodal_compose.data.datasets.InstanceDataset` s: one item per eligible instance, with
draws from ``(seed, epoch, index, purpose)``, fresh every epoch for training items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from ..ops.classic import telea_inpaint
from ..ops.masks import SquareBox, bbox, context_square, crop_square, dilate, scaled_radius, square_box
from ..structures import Keys, Scene
from .augment import SceneAugment
from .datasets import InstanceCrops, InstanceDataset, SceneSource, resize_scene, scene_id
from .index import InstanceStats, scene_image
from .occlusion import (
    COLOR_CHANGES,
    coarse_cutout,
    copy_paste_triplet,
    edit_mask,
    pcnet_case,
    place_eraser,
    random_color_change,
)
from .sampling import ItemDraws

__all__ = [
    "EditedCrops",
    "CompositionPairs",
    "ContentPairs",
    "RealOcclusions",
    "PartialMaskPairs",
    "PartialContentPairs",
    "CopyPastePairs",
    "SimulatedOcclusionMasks",
    "OccluderCrops",
    "occluded_object_crop",
]


class EditedCrops(InstanceCrops):
    """Instance crops plus AMICO's ``m_edit`` (``Keys.EDIT_MASK``, section 3.3): the visible mask
    randomly dilated or eroded, drawn anew every epoch for training items.

    Args:
        scenes: any scene source.
        edit_pixels: largest dilation / erosion radius at 256 px (scaled to the crop size).
        edit: draw ``m_edit`` (default: for training items); when False, ``m_edit`` is the visible
            mask itself (evaluation: the network is given the exact visible mask).
        **kwargs: see :class:`~amodal_compose.data.datasets.InstanceCrops`.

    Example:
        >>> from amodal_compose.data.datasets import SyntheticScenes
        >>> ds = EditedCrops(SyntheticScenes(4, 32), crop_size=32, train=True)
        >>> ds[(0, 0)][Keys.EDIT_MASK].shape
        torch.Size([1, 32, 32])
    """

    def __init__(self, scenes: SceneSource, edit_pixels: int = 12, edit: bool | None = None, **kwargs: Any) -> None:
        self.edit_pixels = int(edit_pixels)
        self.edit = kwargs.get("train", False) if edit is None else bool(edit)
        super().__init__(scenes, **kwargs)

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        item = super().build(scene, k, draws)
        modal = item[Keys.MODAL_MASK]
        if self.edit:
            radius = scaled_radius(self.edit_pixels, modal.shape[-1])
            item[Keys.EDIT_MASK] = edit_mask(modal, radius, draws.generator("edit"))
        else:
            item[Keys.EDIT_MASK] = modal.clone()
        return item


class CompositionPairs(InstanceDataset):
    """AMICO eq. 5 pairs: ``I_bg = Inpaint(I * (1 - m), m)``, ``I_c = ColorTransfer(I, I_ref) *
    Dilate(m, iter)``, ``iter ~ U{min_dilation..max_dilation}`` at 256 px (scaled to the crop).

    An item is one instance (visible part ``m``) and a square crop around it enlarged by a factor
    drawn from ``enlarge_range`` (so the object covers from a small to a large share of the crop, as
    AMICO's area bins need); the dilation, the reference image and the strength are drawn too.

    Args:
        scenes: scene source.
        crop_size: output side.
        enlarge_range: crop enlargement range.
        background: ``"clean"``: the scene re-rendered without the object (synthetic scenes, exact);
            ``"inpaint"``: Telea inpainting of the object's (1 px dilated) mask, as the paper does
            for real data.
        min_dilation, max_dilation: the coarse cut-out dilation at 256 px (paper: 0-25 for
            training; AMICO Table 2 evaluates with 5-10).
        color_change: the colour change (:func:`~amodal_compose.data.occlusion.random_color_change`):
            ``"reinhard"`` (the paper's colour transfer), ``"tone"`` (harder: non-affine, local),
            ``"mixed"`` or ``"none"``. As in eq. 5 it recolours the whole image, towards a random
            reference image of the source, before the object is cut out, so the background ring
            inside the coarse cut carries the same change as the object.
        color_strength: range of the change's strength (0 = none, 1 = full).
        unchanged_share: the share of items whose object needs no change (not in the paper): no colour
            change, so the right layer is the input itself. Eq. 5 always recolours, so a network trained
            on it alone never learns to leave a correct object alone; drawn per item (purpose
            ``"unchanged"``), the other draws are unaffected.
        unchanged_cut: the cut of those items: ``"ring"``, the coarse cut (its ring is the true
            background), or ``"exact"``, the visible mask itself (no cut to fix either).
        exact_share: the share of items, changed or not, cut with the visible mask itself (not in the
            paper; drawn per item, purpose ``"exact"``): users' masks are often exact, and then the
            cut's border is the object's own edge, not a ring of its background.
        min_visible_pixels: instances with fewer visible pixels are not items.
        train, seed, augment, num_workers: see :class:`~amodal_compose.data.datasets.InstanceDataset`.

    Returns (per item) ``Keys`` entries: ``BACKGROUND`` (I_bg), ``OBJECT_IMAGE`` (I_c),
    ``OBJECT_MASK`` (the dilated cut-out mask), ``MODAL_MASK`` (m), ``TARGET`` (I),
    ``AREA_RATIO`` (|m| / crop area), ``BOX``, ``SCENE_ID``.
    """

    def __init__(
        self,
        scenes: SceneSource,
        crop_size: int = 64,
        enlarge_range: tuple[float, float] = (0.7, 2.2),
        background: Literal["clean", "inpaint"] = "clean",
        min_dilation: int = 0,
        max_dilation: int = 25,
        color_change: Literal["reinhard", "tone", "mixed", "none"] = "reinhard",
        color_strength: tuple[float, float] = (1.0, 1.0),
        unchanged_share: float = 0.0,
        unchanged_cut: Literal["ring", "exact"] = "ring",
        exact_share: float = 0.0,
        min_visible_pixels: int = 16,
        train: bool = False,
        seed: int = 0,
        augment: SceneAugment | None = None,
        num_workers: int = 0,
    ) -> None:
        if not 0.0 <= unchanged_share <= 1.0:
            raise ValueError(f"unchanged_share must lie in [0, 1], got {unchanged_share}")
        self.unchanged_share = float(unchanged_share)
        if not 0.0 <= exact_share <= 1.0:
            raise ValueError(f"exact_share must lie in [0, 1], got {exact_share}")
        self.exact_share = float(exact_share)
        if unchanged_cut not in ("ring", "exact"):
            raise ValueError(f"unchanged_cut must be 'ring' or 'exact', got {unchanged_cut!r}")
        self.unchanged_cut = unchanged_cut
        if background not in ("clean", "inpaint"):
            raise ValueError(f"background must be 'clean' or 'inpaint', got {background!r}")
        if not 0 <= min_dilation <= max_dilation:
            raise ValueError(f"need 0 <= min_dilation <= max_dilation, got {min_dilation}, {max_dilation}")
        if not 0.5 <= enlarge_range[0] <= enlarge_range[1]:
            raise ValueError(f"enlarge_range must satisfy 0.5 <= lo <= hi, got {enlarge_range}")
        if color_change not in COLOR_CHANGES:
            raise ValueError(f"color_change must be one of {COLOR_CHANGES}, got {color_change!r}")
        self.color_change = color_change
        self.crop_size = int(crop_size)
        self.enlarge_range = (float(enlarge_range[0]), float(enlarge_range[1]))
        self.background = background
        self.min_dilation, self.max_dilation = int(min_dilation), int(max_dilation)
        self.color_strength = (float(color_strength[0]), float(color_strength[1]))
        super().__init__(scenes, train, seed, augment, min_visible_pixels, num_workers)

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        m = scene.instances[k].modal_mask
        if self.background == "clean":
            image, bg = scene.render(), scene.render(exclude=[k])
        else:
            image = scene.image
            bg = telea_inpaint(image * (1 - dilate(m, 1)), dilate(m, 1))
        lo, hi = self.enlarge_range
        enlarge = lo + (hi - lo) * float(torch.rand(1, generator=draws.generator("enlarge")))
        box = square_box(bbox(m[0]), scene.size, enlarge=enlarge)
        s = self.crop_size
        target, bg_c, m_c = crop_square(image, box, s), crop_square(bg, box, s), crop_square(m, box, s, mode="mask")
        cut = coarse_cutout(m_c, self.max_dilation, 256, draws.generator("dilation"), min_pixels=self.min_dilation)
        # eq. 5: ColorTransfer(I, I_ref) of the whole image, then the coarse cut
        g = draws.generator("colour")
        ref = scene_image(self.scenes, int(torch.randint(len(self.scenes), (1,), generator=g)))
        a, b = self.color_strength
        strength = a + (b - a) * float(torch.rand(1, generator=g))
        unchanged = self.unchanged_share > 0 and float(torch.rand(1, generator=draws.generator("unchanged"))) < (
            self.unchanged_share)  # fmt: skip
        if unchanged:  # nothing to fix: the object as it is (a clean background's ring is the background)
            recoloured = target
            if self.unchanged_cut == "exact":
                cut = m_c
        else:
            recoloured = crop_square(random_color_change(image, ref, self.color_change, g, strength), box, s)
        if self.exact_share > 0 and float(torch.rand(1, generator=draws.generator("exact"))) < self.exact_share:
            cut = m_c
        return {
            Keys.BACKGROUND: bg_c,
            Keys.OBJECT_IMAGE: recoloured * cut,
            Keys.OBJECT_MASK: cut,
            Keys.MODAL_MASK: m_c,
            Keys.TARGET: target,
            Keys.AREA_RATIO: m_c.mean(),
            Keys.BOX: box.as_tensor(),
            Keys.SCENE_ID: scene_id(scene),
        }


def _object_crop(scene: Scene, k: int, full: bool, size: int, enlarge: float) -> dict[str, Any]:
    """The object ``k`` alone (its layer on the full mask, or the image on the visible mask), its
    mask and the scene around it, cropped square around the mask."""
    inst = scene.instances[k]
    if full and (inst.layer is None or inst.amodal_mask is None):
        raise ValueError("object_from='amodal' needs instance layers and amodal masks (synthetic data)")
    m = inst.amodal_mask if full else inst.modal_mask
    obj = (inst.layer if full else scene.image) * m
    box = square_box(bbox(m[0]), scene.size, enlarge=enlarge)
    m_c = crop_square(m, box, size, mode="mask")
    return {
        "object": crop_square(obj, box, size) * m_c,
        "mask": m_c,
        "image": crop_square(scene.image, box, size),
        "box": box,
        "modal": crop_square(inst.modal_mask, box, size, mode="mask") * m_c,
    }


def occluded_object_crop(scene: Scene, k: int, size: int = 64, enlarge: float = 1.2) -> dict[str, Any]:
    """A *real* occlusion of a synthetic scene as a content-completion sample: the full object
    (layer on its amodal mask) as the target, its visible part as ``m_vis`` and the hidden part as
    ``m_inv`` (AMICO Table 1's evaluation: the hidden content is known here)."""
    c = _object_crop(scene, k, True, size, enlarge)
    inv = c["mask"] * (1 - c["modal"])
    return _content_item(scene, c, inv, inv.sum() / c["mask"].sum().clamp_min(1.0))


def _content_item(scene: Scene, c: dict[str, Any], inv: Tensor, ratio: Tensor) -> dict[str, Any]:
    """The batch item of a content sample from an object crop and its hidden part ``inv``."""
    vis = c["mask"] - inv
    return {
        Keys.TARGET: c["object"], Keys.AMODAL_MASK: c["mask"], Keys.MODAL_MASK: vis, Keys.INVISIBLE_MASK: inv,
        Keys.IMAGE: c["object"] * vis + c["image"] * (1 - c["mask"]),
        Keys.OCCLUDED_RATIO: torch.as_tensor(ratio, dtype=torch.float32),
        Keys.BOX: c["box"].as_tensor(), Keys.SCENE_ID: scene_id(scene),
    }  # fmt: skip


class ContentPairs(InstanceDataset):
    """AMICO section 3.1 pairs: an object whose part ``m_inv`` is hidden by another instance's mask,
    scaled and shifted so that ``|m_inv| / |m|`` lies in ``hidden_range`` (paper: [0.1, 0.9]).

    Args:
        scenes: scene source.
        crop_size: output side (multiple of 8 for the generator).
        enlarge: crop box enlargement around the object.
        object_from: ``"amodal"``: the full object (its layer on the amodal mask; synthetic data, so
            training sees whole objects); ``"visible"``: the image on the visible mask (real data, as
            the paper does).
        hidden_range: accepted hidden share.
        min_visible_pixels: smaller objects are not items.
        train, seed, augment, num_workers: see :class:`~amodal_compose.data.datasets.InstanceDataset`.

    Returns (per item): ``TARGET`` (I_o, zero outside m), ``AMODAL_MASK`` (m), ``MODAL_MASK`` (m_vis),
    ``INVISIBLE_MASK`` (m_inv), ``IMAGE`` (the object's visible part on its scene, for the ablation
    that keeps the background), ``OCCLUDED_RATIO`` (|m_inv| / |m|), ``BOX``, ``SCENE_ID``.
    """

    def __init__(
        self,
        scenes: SceneSource,
        crop_size: int = 64,
        enlarge: float = 1.2,
        object_from: Literal["amodal", "visible"] = "amodal",
        hidden_range: tuple[float, float] = (0.1, 0.9),
        min_visible_pixels: int = 16,
        train: bool = False,
        seed: int = 0,
        augment: SceneAugment | None = None,
        num_workers: int = 0,
    ) -> None:
        if object_from not in ("amodal", "visible"):
            raise ValueError(f"object_from must be 'amodal' or 'visible', got {object_from!r}")
        self.crop_size, self.enlarge = int(crop_size), float(enlarge)
        self.full = object_from == "amodal"
        self.hidden_range = (float(hidden_range[0]), float(hidden_range[1]))
        super().__init__(scenes, train, seed, augment, min_visible_pixels, num_workers)

    def eligible(self, stats: InstanceStats) -> bool:
        if self.full and not stats.has_layer:
            raise ValueError("object_from='amodal' needs instance layers and amodal masks (synthetic data)")
        return super().eligible(stats)

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        c = _object_crop(scene, k, self.full, self.crop_size, self.enlarge)
        shape = self.random_modal_mask(draws.generator("eraser"))
        placed = place_eraser(c["mask"], shape, self.hidden_range, draws.generator("place"))
        return _content_item(scene, c, placed.eraser * c["mask"], torch.tensor(placed.ratio))


class RealOcclusions(InstanceDataset):
    """The real occlusions of scenes whose hidden content is known (synthetic data): every instance
    whose hidden share lies in ``hidden_range``, as a content-completion item (AMICO Table 1's
    measure: the target is the full object layer). Evaluation items are fixed; training items
    (``train``) are drawn from the augmented scene each epoch.

    Args:
        scenes: scene source with layers and amodal masks.
        crop_size, enlarge: crop settings (as :class:`ContentPairs`).
        hidden_range: accepted hidden share.
        min_visible_pixels: smaller objects are not items.
        train, seed, augment, num_workers: see :class:`~amodal_compose.data.datasets.InstanceDataset`.

    Returns (per item) the keys of :class:`ContentPairs`.
    """

    def __init__(
        self, scenes: SceneSource, crop_size: int = 64, enlarge: float = 1.2,
        hidden_range: tuple[float, float] = (0.1, 0.9), min_visible_pixels: int = 16, train: bool = False,
        seed: int = 0, augment: SceneAugment | None = None, num_workers: int = 0,
    ) -> None:  # fmt: skip
        self.crop_size, self.enlarge = int(crop_size), float(enlarge)
        self.hidden_range = (float(hidden_range[0]), float(hidden_range[1]))
        super().__init__(scenes, train, seed, augment, min_visible_pixels, num_workers)

    def eligible(self, stats: InstanceStats) -> bool:
        if not stats.has_layer or stats.amodal_pixels is None:
            raise ValueError("RealOcclusions needs instance layers and amodal masks (synthetic data)")
        lo, hi = self.hidden_range
        return super().eligible(stats) and lo <= stats.occluded_ratio <= hi

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        return occluded_object_crop(scene, k, self.crop_size, self.enlarge)


class _PartialPairs(InstanceDataset):
    """PCNet section 3.1's sampling, shared by PCNet-M and PCNet-C pairs: an instance A (its modal mask
    only; PCNet never sees amodal masks) cropped by PCNet's adaptive square (supplementary A: side
    ``max(sqrt(3 w h), 1.1 w, 1.1 h)``, jittered in scale and position for training) and the modal mask
    of another random instance B placed over it, hiding a share of A in ``eraser_range``.

    Args:
        scenes: any scene source (modal masks suffice).
        crop_size: output side (paper: 256).
        eraser_range: hidden share of A the placed B aims for.
        jitter: for training items, ``(scale, shift)``: the crop side is scaled by a factor in
            ``[1 - scale, 1 + scale]`` and its centre shifted by up to ``shift`` of the side.
        erasers: the eraser is the union of ``n`` placed instances, ``n`` drawn uniformly from
            ``1 .. erasers`` (not in the paper, whose eraser is one instance; 1 reproduces it). Each of
            ``n`` aims for ``eraser_range / n`` of A, so the union hides at most ``eraser_range[1]``.
            Ordering with scene context erases A's neighbours together
            (:meth:`~amodal_compose.systems.PCNetMSystem.order`), an eraser of several instances.
        min_visible_pixels: smaller instances are not items.
        train, seed, augment, num_workers: see :class:`~amodal_compose.data.datasets.InstanceDataset`.
    """

    visible_only = True  # PCNet trains on modal masks (and the image) alone

    def __init__(
        self, scenes: SceneSource, crop_size: int = 64, eraser_range: tuple[float, float] = (0.05, 0.7),
        jitter: tuple[float, float] = (0.2, 0.1), erasers: int = 1, min_visible_pixels: int = 16, train: bool = False,
        seed: int = 0, augment: SceneAugment | None = None, num_workers: int = 0,
    ) -> None:  # fmt: skip
        if int(erasers) < 1:
            raise ValueError(f"erasers must be at least 1, got {erasers}")
        self.crop_size = int(crop_size)
        self.eraser_range = (float(eraser_range[0]), float(eraser_range[1]))
        self.jitter = (float(jitter[0]), float(jitter[1]))
        self.erasers = int(erasers)
        super().__init__(scenes, train, seed, augment, min_visible_pixels, num_workers)

    def sample(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        a = scene.instances[k].modal_mask
        scale, shift = 1.0, (0.0, 0.0)
        if self.train:
            u = torch.rand(3, generator=draws.generator("crop")) * 2 - 1
            scale = 1.0 + self.jitter[0] * float(u[0])
            shift = (self.jitter[1] * float(u[1]), self.jitter[1] * float(u[2]))
        box = context_square(bbox(a[0]), scene.size, scale=scale, shift=shift)
        target = crop_square(a, box, self.crop_size, mode="mask")
        if not target.any():  # a jitter that pushed A out of its crop: fall back to the plain square
            box = context_square(bbox(a[0]), scene.size)
            target = crop_square(a, box, self.crop_size, mode="mask")
        n = 1 + int(torch.randint(self.erasers, (1,), generator=draws.generator("erasers")))  # 1 .. erasers
        lo, hi = self.eraser_range
        eraser = torch.zeros_like(target)
        for m in range(n):  # the first instance's draws are the single eraser's (each purpose is hashed
            # on its own), so erasers=1 gives the paper's items unchanged
            shape = self.random_modal_mask(draws.generator("eraser" if m == 0 else f"eraser{m}"))
            placed = place_eraser(target, shape, (lo / n, hi / n),
                                  draws.generator("place" if m == 0 else f"place{m}"))  # fmt: skip
            eraser = torch.maximum(eraser, placed.eraser)
        return {"image": crop_square(scene.image, box, self.crop_size), "target": target, "eraser": eraser,
                "box": box, "category": scene.instances[k].category}  # fmt: skip


class PartialMaskPairs(_PartialPairs):
    r"""PCNet-M pairs (PCNet eq. 1, Fig. 3a). With probability ``gamma`` (case 1) B is in front: the
    network sees ``M_A \ M_B`` and the eraser ``M_B``, and must recover ``M_A``; otherwise (case 2) B
    is behind: it sees ``M_A`` and the eraser ``M_B \ M_A``, and must leave ``M_A`` as it is.

    Args:
        gamma: probability of case 1 (paper: 0.8).
        **kwargs: see :class:`_PartialPairs`.

    Returns (per item): ``MODAL_MASK`` (``M_A``, the target), ``ERASED_MASK`` (the network's input mask),
    ``ERASER_MASK`` (the eraser as shown), ``IMAGE`` (the crop with the eraser's pixels removed,
    ``I \ M_B``), ``CATEGORY``, ``BOX``, ``SCENE_ID``.
    """

    def __init__(self, scenes: SceneSource, gamma: float = 0.8, **kwargs: Any) -> None:
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.gamma = float(gamma)
        super().__init__(scenes, **kwargs)

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        s = self.sample(scene, k, draws)
        case = pcnet_case(s["target"], s["eraser"], self.gamma, draws.generator("case"))
        return {
            Keys.MODAL_MASK: s["target"], Keys.ERASED_MASK: case["input_mask"], Keys.ERASER_MASK: case["eraser"],
            Keys.IMAGE: s["image"] * (1 - case["eraser"]), Keys.CATEGORY: torch.tensor(s["category"]),
            Keys.BOX: s["box"].as_tensor(), Keys.SCENE_ID: scene_id(scene),
        }  # fmt: skip


class PartialContentPairs(_PartialPairs):
    r"""PCNet-C pairs (PCNet eq. 2, Fig. 3b): the pixels of ``M_A ∩ M_B`` are erased from the crop, and
    the network fills them given the rest of A, ``M_A \ M_B``.

    Returns (per item, the keys of :class:`RealOcclusions`): ``IMAGE`` (``I \ M_{A∩B}``), ``MODAL_MASK``
    (``M_A \ M_B``), ``INVISIBLE_MASK`` (``M_A ∩ M_B``, the hole), ``TARGET`` (the crop ``I``),
    ``OCCLUDED_RATIO``, ``BOX``, ``SCENE_ID``.
    """

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        s = self.sample(scene, k, draws)
        hole = s["target"] * s["eraser"]
        return {
            Keys.IMAGE: s["image"] * (1 - hole), Keys.MODAL_MASK: s["target"] - hole, Keys.INVISIBLE_MASK: hole,
            Keys.TARGET: s["image"], Keys.OCCLUDED_RATIO: hole.sum() / s["target"].sum().clamp_min(1.0),
            Keys.BOX: s["box"].as_tensor(), Keys.SCENE_ID: scene_id(scene),
        }  # fmt: skip


class CopyPastePairs(InstanceDataset):
    """Object-removal triplets (Shimosato & Ukita, section III-A): one object of the source, pasted at a
    random position and scale onto the image of another random scene: ``I`` (with the object), ``I_G``
    (without it) and ``M_G`` (its mask), with the per-pixel labels of both images.

    The object is the instance's full layer on its amodal mask when known (synthetic data: a whole
    object), else the image on its visible mask (real data, as the paper extracts annotated regions).

    Args:
        scenes: scene source (its images are the backgrounds too).
        categories: only objects of these category indices are pasted (e.g. ``person``); ``None``: any.
        scale_range: random scale of the pasted object.
        max_shift: random shift, as a share of the side, from the object's own place.
        max_ratio: pastes covering more of the image are redrawn (the paper's bins stop at 40 %).
        size: resize every scene to ``size x size`` first (real data sets mix image sizes); ``None``:
            the scenes must share one size.
        min_visible_pixels: smaller objects are not items.
        train, seed, augment, num_workers: see :class:`~amodal_compose.data.datasets.InstanceDataset`.

    Returns (per item): ``IMAGE`` (I), ``TARGET`` (I_G), ``OBJECT_MASK`` (M_G), ``SEGMENTATION`` and
    ``TARGET_SEGMENTATION`` (labels of I and I_G, the pasted object labelled with its category),
    ``AREA_RATIO`` (``|M_G|`` / image area: the paper's mask-ratio bins), ``CATEGORY``, ``SCENE_ID``.
    """

    def __init__(
        self, scenes: SceneSource, categories: Sequence[int] | None = None,
        scale_range: tuple[float, float] = (0.8, 2.8), max_shift: float = 0.3, max_ratio: float = 0.4,
        size: int | None = None, min_visible_pixels: int = 24, train: bool = False,
        seed: int = 0, augment: SceneAugment | None = None, num_workers: int = 0,
    ) -> None:  # fmt: skip
        self.categories = None if categories is None else {int(c) for c in categories}
        self.scale_range, self.max_shift, self.max_ratio = tuple(scale_range), float(max_shift), float(max_ratio)
        self.size = None if size is None else int(size)
        super().__init__(scenes, train, seed, augment, min_visible_pixels, num_workers)

    def eligible(self, stats: InstanceStats) -> bool:
        return super().eligible(stats) and (self.categories is None or stats.category in self.categories)

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        if self.size is not None:
            scene = resize_scene(scene, self.size)
        inst = scene.instances[k]
        whole = inst.layer is not None and inst.amodal_mask is not None
        obj, mask = (inst.layer, inst.amodal_mask) if whole else (scene.image * inst.modal_mask, inst.modal_mask)
        g = draws.generator("background")
        base = self.scenes[int(torch.randint(len(self.scenes), (1,), generator=g))]
        if self.size is not None:
            base = resize_scene(base, self.size)
        if base.size != scene.size:
            raise ValueError(f"CopyPastePairs needs scenes of one size (or size=), got {base.size} and {scene.size}")
        g = draws.generator("paste")
        for _ in range(10):  # redraw a paste that falls off the image or covers too much of it
            trip = copy_paste_triplet(base.image, obj, mask, g, self.scale_range, self.max_shift)
            ratio = float(trip["object_mask"].mean())
            if 0 < ratio <= self.max_ratio:
                break
        m = trip["object_mask"]
        labels = base.label_map()
        pasted = torch.where(m[0] > 0.5, torch.tensor(inst.category + 1), labels)
        return {
            Keys.IMAGE: trip["image"].clamp(0, 1), Keys.TARGET: base.image, Keys.OBJECT_MASK: m,
            Keys.SEGMENTATION: pasted, Keys.TARGET_SEGMENTATION: labels, Keys.AREA_RATIO: m.mean(),
            Keys.CATEGORY: torch.tensor(inst.category), Keys.SCENE_ID: scene_id(scene),
        }  # fmt: skip


class SimulatedOcclusionMasks(InstanceDataset):
    """Amodal-VAE's simulated pairs (Ling et al. section 4.1, stages 1-2): the full mask of an unoccluded
    instance (its amodal mask where known), and the same mask with another random instance's mask placed
    in front, hiding a share in ``eraser_range``; masks only, no pixels.

    Args:
        scenes: scene source with amodal masks (to tell unoccluded instances).
        crop_size, enlarge: the crop around the full mask's box.
        eraser_range: hidden share of the full mask.
        min_visible_pixels, train, seed, augment, num_workers: see
            :class:`~amodal_compose.data.datasets.InstanceDataset`.

    Returns (per item): ``AMODAL_MASK`` (the full mask ``y``), ``MODAL_MASK`` (the partial mask
    ``y_hat``), ``ERASER_MASK`` (the placed occluder), ``CATEGORY``, ``BOX``, ``SCENE_ID``.
    """

    def __init__(
        self, scenes: SceneSource, crop_size: int = 64, enlarge: float = 1.5,
        eraser_range: tuple[float, float] = (0.1, 0.6), min_visible_pixels: int = 24, train: bool = False,
        seed: int = 0, augment: SceneAugment | None = None, num_workers: int = 0,
    ) -> None:  # fmt: skip
        self.crop_size, self.enlarge = int(crop_size), float(enlarge)
        self.eraser_range = (float(eraser_range[0]), float(eraser_range[1]))
        super().__init__(scenes, train, seed, augment, min_visible_pixels, num_workers)

    def eligible(self, stats: InstanceStats) -> bool:
        return super().eligible(stats) and stats.occluded_ratio == 0.0  # None (no amodal mask) is not eligible

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        full = scene.instances[k].modal_mask
        box = square_box(bbox(full[0]), scene.size, enlarge=self.enlarge)
        y = crop_square(full, box, self.crop_size, mode="mask")
        shape = self.random_modal_mask(draws.generator("eraser"))
        placed = place_eraser(y, shape, self.eraser_range, draws.generator("place"))
        return {
            Keys.AMODAL_MASK: y, Keys.MODAL_MASK: y * (1 - placed.eraser), Keys.ERASER_MASK: placed.eraser,
            Keys.CATEGORY: torch.tensor(scene.instances[k].category), Keys.BOX: box.as_tensor(),
            Keys.SCENE_ID: scene_id(scene),
        }  # fmt: skip


class OccluderCrops(InstanceCrops):
    """Instance crops plus ``ERASER_MASK``: the union of the other instances' visible masks in the crop,
    where the instance may be hidden (Amodal-VAE stage 3 takes the likelihood only where the mask is
    known: the visible object, and the background no other instance covers).

    Args:
        **kwargs: see :class:`~amodal_compose.data.datasets.InstanceCrops`.
    """

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        item = super().build(scene, k, draws)
        others = [i.modal_mask for j, i in enumerate(scene.instances) if j != k]
        cover = torch.stack(others).amax(0) if others else torch.zeros_like(scene.instances[k].modal_mask)
        box = SquareBox(*item[Keys.BOX].tolist(), *scene.size)
        item[Keys.ERASER_MASK] = crop_square(cover, box, self.crop_size, mode="mask") * (1 - item[Keys.MODAL_MASK])
        return item
