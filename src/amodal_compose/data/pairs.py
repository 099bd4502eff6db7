"""Training pairs for the AMICO networks, built lazily per item from any scene source.

- :class:`EditedCrops`: instance crops plus ``m_edit`` for f_shape (AMICO section 3.3).
- :class:`CompositionPairs`: eq. 5 pairs for f_comp (AMICO section 3.2): the background with the
  object removed, the object colour-transferred towards a random reference image and cut with a
  randomly dilated mask, and the original image as the target.

- :class:`ContentPairs`: section 3.1 pairs for f_content: an object hidden in part by another
  instance's mask; :class:`RealOcclusions`: the real occlusions of synthetic scenes, whose hidden
  content is known (the evaluation items of f_content on synthetic data).

All are :class:`~amodal_compose.data.datasets.InstanceDataset` s: one item per eligible instance, with
draws from ``(seed, epoch, index, purpose)``, fresh every epoch for training items.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from ..ops.classic import telea_inpaint
from ..ops.masks import bbox, crop_square, dilate, scaled_radius, square_box
from ..structures import Keys, Scene
from .augment import SceneAugment
from .datasets import InstanceCrops, InstanceDataset, SceneSource, scene_id
from .index import InstanceStats, scene_image
from .occlusion import coarse_cutout, edit_mask, place_eraser, random_color_transfer
from .sampling import ItemDraws

__all__ = ["EditedCrops", "CompositionPairs", "ContentPairs", "RealOcclusions", "occluded_object_crop"]


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
        color_strength: range of the colour-transfer strength (0 = none, 1 = full Reinhard).
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
        color_strength: tuple[float, float] = (1.0, 1.0),
        min_visible_pixels: int = 16,
        train: bool = False,
        seed: int = 0,
        augment: SceneAugment | None = None,
        num_workers: int = 0,
    ) -> None:
        if background not in ("clean", "inpaint"):
            raise ValueError(f"background must be 'clean' or 'inpaint', got {background!r}")
        if not 0 <= min_dilation <= max_dilation:
            raise ValueError(f"need 0 <= min_dilation <= max_dilation, got {min_dilation}, {max_dilation}")
        if not 0.5 <= enlarge_range[0] <= enlarge_range[1]:
            raise ValueError(f"enlarge_range must satisfy 0.5 <= lo <= hi, got {enlarge_range}")
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
        g = draws.generator("colour")
        ref = scene_image(self.scenes, int(torch.randint(len(self.scenes), (1,), generator=g)))
        a, b = self.color_strength
        strength = a + (b - a) * float(torch.rand(1, generator=g))
        recoloured = random_color_transfer(target, ref[None], g, mask=cut, strength=strength).clamp(0, 1)
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
        other, j = self.random_instance(draws.generator("eraser"))
        placed = place_eraser(c["mask"], other.instances[j].modal_mask, self.hidden_range, draws.generator("place"))
        return _content_item(scene, c, placed.eraser * c["mask"], torch.tensor(placed.ratio))


class RealOcclusions(InstanceDataset):
    """The real occlusions of scenes whose hidden content is known (synthetic data): every instance
    whose hidden share lies in ``hidden_range``, as a content-completion item (AMICO Table 1's
    measure: the target is the full object layer). No random draws: the items are fixed.

    Args:
        scenes: scene source with layers and amodal masks.
        crop_size, enlarge: crop settings (as :class:`ContentPairs`).
        hidden_range: accepted hidden share.
        min_visible_pixels: smaller objects are not items.
        num_workers: indexing processes.

    Returns (per item) the keys of :class:`ContentPairs`.
    """

    def __init__(
        self, scenes: SceneSource, crop_size: int = 64, enlarge: float = 1.2,
        hidden_range: tuple[float, float] = (0.1, 0.9), min_visible_pixels: int = 16, num_workers: int = 0,
    ) -> None:  # fmt: skip
        self.crop_size, self.enlarge = int(crop_size), float(enlarge)
        self.hidden_range = (float(hidden_range[0]), float(hidden_range[1]))
        super().__init__(scenes, min_visible_pixels=min_visible_pixels, num_workers=num_workers)

    def eligible(self, stats: InstanceStats) -> bool:
        if not stats.has_layer or stats.amodal_pixels is None:
            raise ValueError("RealOcclusions needs instance layers and amodal masks (synthetic data)")
        lo, hi = self.hidden_range
        return super().eligible(stats) and lo <= stats.occluded_ratio <= hi

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        return occluded_object_crop(scene, k, self.crop_size, self.enlarge)
