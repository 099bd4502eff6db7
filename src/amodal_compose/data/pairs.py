"""Training pairs for the AMICO networks, built lazily per item from any scene source.

- :class:`EditedCrops`: instance crops plus ``m_edit`` for f_shape (AMICO section 3.3).
- :class:`CompositionPairs`: eq. 5 pairs for f_comp (AMICO section 3.2): the background with the
  object removed, the object colour-transferred towards a random reference image and cut with a
  randomly dilated mask, and the original image as the target.

Every random choice comes from a generator seeded by ``(seed, index)``, so an item is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..ops.classic import telea_inpaint
from ..ops.masks import bbox, crop_square, dilate, scaled_radius, square_box
from ..structures import Keys, Scene
from .datasets import item_generator, pick_instance
from .occlusion import coarse_cutout, edit_mask, place_eraser, random_color_transfer

__all__ = ["EditedCrops", "CompositionPairs", "ContentPairs", "occluded_object_crop"]


class EditedCrops(Dataset):
    """Adds AMICO's ``m_edit`` (``Keys.EDIT_MASK``) to the items of an instance-crop dataset.

    Args:
        crops: a dataset of crop dicts (:class:`~amodal_compose.data.datasets.InstanceCrops`).
        edit_pixels: largest dilation / erosion radius at 256 px (scaled to the crop size).
        edit: when False, ``m_edit`` is the visible mask itself (validation and benchmarks).
        seed: base seed.
    """

    def __init__(self, crops: Dataset, edit_pixels: int = 12, edit: bool = True, seed: int = 0) -> None:
        self.crops, self.edit_pixels, self.edit, self.seed = crops, int(edit_pixels), bool(edit), int(seed)

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.crops[index])
        modal = item[Keys.MODAL_MASK]
        if self.edit:
            radius = scaled_radius(self.edit_pixels, modal.shape[-1])
            item[Keys.EDIT_MASK] = edit_mask(modal, radius, item_generator(self.seed, index, stream=7))
        else:
            item[Keys.EDIT_MASK] = modal.clone()
        return item


class _ScenePairs(Dataset):
    """Shared machinery of the pair datasets: ``length`` items over a scene source, each drawn with
    its own seeded generator from an instance with at least ``min_visible_pixels`` visible pixels."""

    stream = 0  # generator stream, so pair types never repeat each other's draws

    def __init__(self, scenes: Sequence[Scene] | Dataset, min_visible_pixels: int, length: int | None, seed: int):
        if len(scenes) == 0:
            raise ValueError(f"{type(self).__name__}: the scene source is empty")
        self.scenes = scenes
        self.min_visible_pixels = int(min_visible_pixels)
        self.length = int(length) if length is not None else len(scenes)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.length

    def _eligible(self, scene: Scene) -> list[int]:
        return [k for k, i in enumerate(scene.instances) if float(i.modal_mask.sum()) >= self.min_visible_pixels]

    def _draw(self, index: int) -> tuple[torch.Generator, Scene, int]:
        """The item's generator, and its scene and instance."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        g = item_generator(self.seed, index, stream=self.stream)
        return (g, *self._pick(index, g))

    def _pick(self, index: int, g: torch.Generator) -> tuple[Scene, int]:
        what = f"an instance with >= {self.min_visible_pixels} visible pixels"
        return pick_instance(self.scenes, index, self._eligible, g, what)


class CompositionPairs(_ScenePairs):
    """AMICO eq. 5 pairs: ``I_bg = Inpaint(I * (1 - m), m)``, ``I_c = ColorTransfer(I, I_ref) *
    Dilate(m, iter)``, ``iter ~ U{min_dilation..max_dilation}`` at 256 px (scaled to the crop).

    Item ``i`` takes scene ``i % len(scenes)``, one of its instances (visible part ``m``) and a
    square crop around it enlarged by a factor drawn from ``enlarge_range`` (so the object covers
    from a small to a large share of the crop, as AMICO's area bins need).

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
        min_visible_pixels: instances with fewer visible pixels are not picked.
        length: items per epoch (default: number of scenes).
        seed: base seed.

    Returns (per item) ``Keys`` entries: ``BACKGROUND`` (I_bg), ``OBJECT_IMAGE`` (I_c),
    ``OBJECT_MASK`` (the dilated cut-out mask), ``MODAL_MASK`` (m), ``TARGET`` (I),
    ``AREA_RATIO`` (|m| / crop area), ``BOX``, ``SCENE_ID``.
    """

    def __init__(
        self,
        scenes: Sequence[Scene] | Dataset,
        crop_size: int = 64,
        enlarge_range: tuple[float, float] = (0.7, 2.2),
        background: Literal["clean", "inpaint"] = "clean",
        min_dilation: int = 0,
        max_dilation: int = 25,
        color_strength: tuple[float, float] = (1.0, 1.0),
        min_visible_pixels: int = 16,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        if background not in ("clean", "inpaint"):
            raise ValueError(f"background must be 'clean' or 'inpaint', got {background!r}")
        if not 0 <= min_dilation <= max_dilation:
            raise ValueError(f"need 0 <= min_dilation <= max_dilation, got {min_dilation}, {max_dilation}")
        if not 0.5 <= enlarge_range[0] <= enlarge_range[1]:
            raise ValueError(f"enlarge_range must satisfy 0.5 <= lo <= hi, got {enlarge_range}")
        super().__init__(scenes, min_visible_pixels, length, seed)
        self.crop_size = int(crop_size)
        self.enlarge_range = (float(enlarge_range[0]), float(enlarge_range[1]))
        self.background = background
        self.min_dilation, self.max_dilation = int(min_dilation), int(max_dilation)
        self.color_strength = (float(color_strength[0]), float(color_strength[1]))

    stream = 7

    def __getitem__(self, index: int) -> dict[str, Any]:
        g, scene, k = self._draw(index)
        m = scene.instances[k].modal_mask
        if self.background == "clean":
            image, bg = scene.render(), scene.render(exclude=[k])
        else:
            image = scene.image
            bg = telea_inpaint(image * (1 - dilate(m, 1)), dilate(m, 1))
        lo, hi = self.enlarge_range
        enlarge = lo + (hi - lo) * float(torch.rand(1, generator=g))
        box = square_box(bbox(m[0]), scene.size, enlarge=enlarge)
        s = self.crop_size
        target, bg_c, m_c = crop_square(image, box, s), crop_square(bg, box, s), crop_square(m, box, s, mode="mask")
        cut = coarse_cutout(m_c, self.max_dilation, 256, g, min_pixels=self.min_dilation)
        ref = self.scenes[int(torch.randint(len(self.scenes), (1,), generator=g))].image
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
            Keys.SCENE_ID: scene.scene_id if scene.scene_id is not None else -1,
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
        Keys.BOX: c["box"].as_tensor(), Keys.SCENE_ID: scene.scene_id if scene.scene_id is not None else -1,
    }  # fmt: skip


class ContentPairs(_ScenePairs):
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
        min_visible_pixels: smaller objects are not picked.
        length, seed: items per epoch, base seed.

    Returns (per item): ``TARGET`` (I_o, zero outside m), ``AMODAL_MASK`` (m), ``MODAL_MASK`` (m_vis),
    ``INVISIBLE_MASK`` (m_inv), ``IMAGE`` (the object's visible part on its scene, for the ablation
    that keeps the background), ``OCCLUDED_RATIO`` (|m_inv| / |m|), ``BOX``, ``SCENE_ID``.
    """

    def __init__(
        self,
        scenes: Sequence[Scene] | Dataset,
        crop_size: int = 64,
        enlarge: float = 1.2,
        object_from: Literal["amodal", "visible"] = "amodal",
        hidden_range: tuple[float, float] = (0.1, 0.9),
        min_visible_pixels: int = 16,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        if object_from not in ("amodal", "visible"):
            raise ValueError(f"object_from must be 'amodal' or 'visible', got {object_from!r}")
        super().__init__(scenes, min_visible_pixels, length, seed)
        self.crop_size, self.enlarge = int(crop_size), float(enlarge)
        self.full = object_from == "amodal"
        self.hidden_range = (float(hidden_range[0]), float(hidden_range[1]))

    stream = 11

    def __getitem__(self, index: int) -> dict[str, Any]:
        g, scene, k = self._draw(index)
        c = _object_crop(scene, k, self.full, self.crop_size, self.enlarge)
        other, j = self._pick(int(torch.randint(len(self.scenes), (1,), generator=g)), g)
        placed = place_eraser(c["mask"], other.instances[j].modal_mask, self.hidden_range, g)
        return _content_item(scene, c, placed.eraser * c["mask"], torch.tensor(placed.ratio))
