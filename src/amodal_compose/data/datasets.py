"""Map-style datasets: whole synthetic scenes, and per-instance items over any scene source.

:class:`InstanceDataset` is the base of every training-item dataset of the package (instance crops,
``m_edit`` crops, composition and content pairs, and those of later networks):

* an item is an (image, instance) pair: the dataset lists every eligible instance of every scene
  (:class:`~amodal_compose.data.index.InstanceIndex`), so an epoch visits each once;
* ``dataset[(epoch, index)]`` builds the item with draws that depend on ``(seed, epoch, index,
  purpose)`` (:class:`~amodal_compose.data.sampling.ItemDraws`): training items (``train=True``) are
  new every epoch, evaluation items are fixed (epoch 0); ``dataset[index]`` is epoch 0;
* training items may be augmented (:class:`~amodal_compose.data.augment.SceneAugment`), seeded by
  the same draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from ..ops.masks import bbox, crop_square, square_box
from ..structures import Instance, Keys, Scene
from .augment import SceneAugment
from .index import CachedScenes, InstanceIndex, InstanceStats
from .sampling import ItemDraws, split_key
from .synthetic import SyntheticConfig, SyntheticSceneGenerator

__all__ = [
    "SyntheticScenes",
    "InstanceDataset",
    "InstanceCrops",
    "crop_instance",
    "scene_id",
    "collate_scenes",
    "SceneItems",
    "resize_scene",
    "SceneSource",
]

SceneSource = Sequence[Scene] | Dataset
SPLITS = ("train", "val", "test")


class SyntheticScenes(Dataset):
    """``length`` synthetic scenes of a split; scene ``i`` is rendered from a seed hashed from
    ``(split, seed, i)``, so splits and seeds never share a scene.

    Args:
        length: number of scenes.
        image_size: side in pixels (32-512).
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: data seed (another seed, another set of scenes).
        **config: fields of :class:`~amodal_compose.data.synthetic.SyntheticConfig`; with
            ``texture="photo"`` or ``"mixed"`` the split's own photos texture the scenes
            (``photo_split`` defaults to ``split``).

    Example:
        >>> ds = SyntheticScenes(4, image_size=32, split="val")
        >>> ds[0].scene_id == ds.scene_seed(0)
        True
    """

    def __init__(self, length: int = 1000, image_size: int = 64, split: str = "train", seed: int = 0, **config: Any):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        self.length, self.split, self.seed = int(length), split, int(seed)
        config.setdefault("photo_split", split)
        self.generator = SyntheticSceneGenerator(SyntheticConfig(image_size=image_size, **config))

    @property
    def categories(self) -> tuple[str, ...]:
        return self.generator.categories

    @property
    def cache_key(self) -> tuple:
        """Identifies the scenes (for :func:`~amodal_compose.data.index.cached_scenes`)."""
        return ("synthetic", repr(self.generator.config), self.split, self.seed, self.length)

    def scene_seed(self, index: int) -> int:
        """The generator seed of scene ``index``."""
        return ItemDraws(self.seed, 0, index, stream=f"scenes/{self.split}").seed("scene")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Scene:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} scenes")
        return self.generator(self.scene_seed(index))


def resize_scene(scene: Scene, size: int) -> Scene:
    """The scene resized to ``size x size`` (squashed: aspect ratios change), its masks, layers and
    background with it; unchanged when it already is that size."""
    if scene.size == (size, size):
        return scene
    from ..ops.masks import resize_mask

    def img(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else torch.nn.functional.interpolate(
            x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0].clamp(0, 1)  # fmt: skip

    instances = []
    for inst in scene.instances:
        modal = resize_mask(inst.modal_mask, size)
        amodal = None if inst.amodal_mask is None else torch.maximum(resize_mask(inst.amodal_mask, size), modal)
        layer = None if inst.layer is None else img(inst.layer) * (amodal if amodal is not None else modal)
        instances.append(Instance.trusted(**{**vars(inst), "modal_mask": modal, "amodal_mask": amodal, "layer": layer}))
    return Scene.trusted(image=img(scene.image), instances=instances, background=img(scene.background),
                         order=scene.order, scene_id=scene.scene_id, meta={**scene.meta, "resized": size})  # fmt: skip


def collate_scenes(scenes: list[Scene]) -> list[Scene]:
    """DataLoader ``collate_fn`` for whole scenes (they hold different numbers of instances)."""
    return list(scenes)


class SceneItems(Dataset):
    """Whole scenes as evaluation items, for systems that evaluate a scene at a time (ordering
    recovery, de-occlusion); a loader batches them as lists (``collate_fn``)."""

    collate_fn = staticmethod(collate_scenes)

    def __init__(self, scenes: SceneSource) -> None:
        self.scenes = scenes

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> Scene:
        return self.scenes[index]


class InstanceDataset(Dataset):
    """Base of the per-instance datasets: one item per eligible ``(scene, instance)`` of a source.

    Subclasses set their own attributes, call ``super().__init__`` (which builds the index with
    their :meth:`eligible`), and implement :meth:`build`.

    Args:
        scenes: any scene source (``SyntheticScenes``, a :class:`~amodal_compose.data.index.CachedScenes`,
            a reader, a list of scenes).
        train: training items (new draws every epoch, augmented) or evaluation items (fixed).
        seed: seed of the draws.
        augment: scene augmentation applied to training items (``None``: none).
        min_visible_pixels: instances with fewer visible pixels are not items.
        num_workers: processes that read the scenes while indexing.
    """

    #: :meth:`build` reads only the image and the visible masks of an augmented scene, so augmentation
    #: moves only those (:meth:`~amodal_compose.structures.Scene.visible_only`; the same draws, less work).
    visible_only: bool = False

    def __init__(
        self, scenes: SceneSource, train: bool = False, seed: int = 0, augment: SceneAugment | None = None,
        min_visible_pixels: int = 4, num_workers: int = 0,
    ) -> None:  # fmt: skip
        if len(scenes) == 0:
            raise ValueError(f"{type(self).__name__}: the scene source is empty")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.scenes, self.train, self.seed, self.augment = scenes, bool(train), int(seed), augment
        self.min_visible_pixels = int(min_visible_pixels)
        self.index = InstanceIndex(scenes, self.eligible, num_workers)

    def eligible(self, stats: InstanceStats) -> bool:
        """Whether an instance is an item (subclasses add their conditions)."""
        return stats.visible_pixels >= self.min_visible_pixels

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        """The item of instance ``k`` of ``scene``, drawing from ``draws``."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.index)

    def draws(self, key: Any) -> tuple[ItemDraws, int]:
        """The draws and the index of an item key (``index`` or ``(epoch, index)``)."""
        epoch, index = split_key(key)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if not self.train:
            epoch = 0  # evaluation items are fixed
        return ItemDraws(self.seed, epoch, index, "train" if self.train else "eval"), index

    def __getitem__(self, key: Any) -> dict[str, Any]:
        draws, index = self.draws(key)
        i, source_k = self.index[index]
        scene, k = self.scenes[i], source_k
        if self.train and self.augment is not None:
            scene, k = self._augmented(scene, k, draws)
        item = self.build(scene, k, draws)
        item[Keys.INSTANCE] = torch.tensor(source_k, dtype=torch.int64)
        return item

    def _augmented(self, scene: Scene, k: int, draws: ItemDraws) -> tuple[Scene, int]:
        """The augmented scene and the instance's new position in it; the scene unchanged when the
        augmentation moved the instance out of view or made it ineligible (a rare shift or scale)."""
        out = self.augment(scene.visible_only() if self.visible_only else scene, seed=draws.seed("augment"))
        for j, inst in enumerate(out.instances):
            if inst.meta.get("source_index") == k:
                return (out, j) if self.eligible(InstanceStats.of(inst)) else (scene, k)
        return scene, k

    def random_modal_mask(self, generator: torch.Generator) -> torch.Tensor:
        """Another item's visible mask ``(1, H, W)``, drawn with ``generator`` (e.g. an eraser's shape);
        from scenes in a :class:`~amodal_compose.data.index.CachedScenes`, without rebuilding the scene."""
        i, k = self.index[int(torch.randint(len(self.index), (1,), generator=generator))]
        if isinstance(self.scenes, CachedScenes):
            return self.scenes.modal_mask(i, k)
        return self.scenes[i].instances[k].modal_mask


class InstanceCrops(InstanceDataset):
    """Square crops around single instances, resized to ``crop_size``: the unit most networks train on.

    A crop is the adaptive square around the visible box (or the amodal box with
    ``box_from="amodal"``), enlarged by ``enlarge`` (PCNet uses 3 for ordering / completion).

    Args:
        scenes: any scene source.
        crop_size: output side.
        enlarge: box enlargement factor.
        select: ``"any"``, ``"occluded"`` (hidden share > 0, needs amodal masks) or ``"unoccluded"``.
        min_visible_pixels: instances with fewer visible pixels are not items.
        box_from: ``"modal"`` or ``"amodal"`` box.
        train, seed, augment, num_workers: see :class:`InstanceDataset`.

    Returns (per item) a dict with ``Keys`` entries: ``IMAGE``, ``MODAL_MASK``, ``AMODAL_MASK``,
    ``INVISIBLE_MASK``, ``LAYER`` and ``BACKGROUND`` (zeros where unknown), ``CATEGORY``, ``BOX``,
    ``OCCLUDED_RATIO``, ``AREA_RATIO`` (visible mask area / crop area) and ``SCENE_ID``.

    Example:
        >>> crops = InstanceCrops(SyntheticScenes(8, 32), crop_size=32, select="occluded")
        >>> crops[0][Keys.OCCLUDED_RATIO] > 0
        tensor(True)
    """

    def __init__(
        self,
        scenes: SceneSource,
        crop_size: int = 64,
        enlarge: float = 1.5,
        select: Literal["any", "occluded", "unoccluded"] = "any",
        min_visible_pixels: int = 4,
        box_from: Literal["modal", "amodal"] = "modal",
        train: bool = False,
        seed: int = 0,
        augment: SceneAugment | None = None,
        num_workers: int = 0,
    ) -> None:
        if select not in ("any", "occluded", "unoccluded"):
            raise ValueError(f"select must be 'any', 'occluded' or 'unoccluded', got {select!r}")
        if box_from not in ("modal", "amodal"):
            raise ValueError(f"box_from must be 'modal' or 'amodal', got {box_from!r}")
        self.crop_size, self.enlarge, self.select, self.box_from = int(crop_size), float(enlarge), select, box_from
        super().__init__(scenes, train, seed, augment, min_visible_pixels, num_workers)

    def eligible(self, stats: InstanceStats) -> bool:
        if not super().eligible(stats):
            return False
        if self.select == "any":
            return True
        if stats.amodal_pixels is None:
            raise ValueError(f"select={self.select!r} needs amodal masks, which this source lacks")
        return (stats.occluded_ratio > 0) == (self.select == "occluded")

    def build(self, scene: Scene, k: int, draws: ItemDraws) -> dict[str, Any]:
        return crop_instance(scene, k, self.crop_size, self.enlarge, self.box_from)


def crop_instance(
    scene: Scene, k: int, crop_size: int, enlarge: float = 1.5, box_from: str = "modal"
) -> dict:
    """Crop instance ``k`` of ``scene`` into a batch item (see :class:`InstanceCrops` for the keys)."""
    inst = scene.instances[k]
    ref = inst.amodal_mask if (box_from == "amodal" and inst.amodal_mask is not None) else inst.modal_mask
    box = square_box(bbox(ref[0]), scene.size, enlarge=enlarge)
    zeros3 = torch.zeros(3, *scene.size)
    modal = crop_square(inst.modal_mask, box, crop_size, mode="mask")
    known = inst.amodal_mask is not None
    amodal = crop_square(inst.amodal_mask, box, crop_size, mode="mask") if known else modal.clone()
    # keep visible inside amodal after resampling
    amodal = torch.maximum(amodal, modal)
    item = {
        Keys.IMAGE: crop_square(scene.image, box, crop_size),
        Keys.MODAL_MASK: modal,
        Keys.AMODAL_MASK: amodal,
        Keys.INVISIBLE_MASK: amodal * (1 - modal),
        Keys.LAYER: crop_square(inst.layer if inst.layer is not None else zeros3, box, crop_size),
        Keys.BACKGROUND: crop_square(
            scene.background if scene.background is not None else zeros3, box, crop_size
        ),
        Keys.CATEGORY: torch.tensor(inst.category, dtype=torch.int64),
        Keys.BOX: box.as_tensor(),
        Keys.OCCLUDED_RATIO: torch.tensor(inst.occluded_ratio or 0.0),
        Keys.AREA_RATIO: torch.tensor(float(modal.mean())),
        Keys.SCENE_ID: scene_id(scene),
    }
    return item


def scene_id(scene: Scene) -> int:
    """The scene's id as a batchable integer (-1 when unknown)."""
    return int(scene.scene_id) if isinstance(scene.scene_id, int) else -1
