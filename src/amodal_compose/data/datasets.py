"""Map-style torch Datasets over scenes: whole scenes, or square instance crops.

Both are lazy: the synthetic set renders a scene from its seed in ``__getitem__`` (no files), and
the readers decode masks on access, so a 2-worker DataLoader keeps a 64 px training step fed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..ops.masks import bbox, crop_square, square_box
from ..structures import Keys, Scene
from .synthetic import SyntheticConfig, SyntheticSceneGenerator

__all__ = ["SyntheticScenes", "InstanceCrops", "CachedItems", "SPLIT_OFFSETS", "collate_scenes"]

#: seed offsets that keep train / val / test scenes disjoint for any length below 10 million.
SPLIT_OFFSETS = {"train": 0, "val": 10_000_000, "test": 20_000_000}

SceneSource = Sequence[Scene] | Dataset


class SyntheticScenes(Dataset):
    """``length`` synthetic scenes; scene ``i`` of a split is rendered from seed ``offset + seed + i``.

    Args:
        length: number of scenes.
        image_size: side in pixels (32-512).
        split: ``"train"``, ``"val"`` or ``"test"`` (disjoint seed ranges, see :data:`SPLIT_OFFSETS`).
        seed: base seed added to the split offset.
        transform: optional ``Scene -> Scene`` (e.g. :class:`~amodal_compose.data.augment.SceneAugment`).
        **config: fields of :class:`~amodal_compose.data.synthetic.SyntheticConfig`.

    Example:
        >>> ds = SyntheticScenes(4, image_size=32, split="val")
        >>> ds[0].scene_id == SPLIT_OFFSETS["val"]
        True
    """

    def __init__(
        self,
        length: int = 1000,
        image_size: int = 64,
        split: str = "train",
        seed: int = 0,
        transform: Callable[[Scene], Scene] | None = None,
        **config: Any,
    ) -> None:
        if split not in SPLIT_OFFSETS:
            raise ValueError(f"split must be one of {sorted(SPLIT_OFFSETS)}, got {split!r}")
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        self.length = int(length)
        self.base_seed = SPLIT_OFFSETS[split] + int(seed)
        self.generator = SyntheticSceneGenerator(SyntheticConfig(image_size=image_size, **config))
        self.transform = transform

    @property
    def categories(self) -> tuple[str, ...]:
        return self.generator.categories

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Scene:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} scenes")
        scene = self.generator(self.base_seed + index)
        return self.transform(scene) if self.transform is not None else scene


def collate_scenes(scenes: list[Scene]) -> list[Scene]:
    """DataLoader ``collate_fn`` for whole scenes (they hold different numbers of instances)."""
    return list(scenes)


class InstanceCrops(Dataset):
    """Square crops around single instances, resized to ``crop_size``: the unit most networks train on.

    Item ``i`` takes scene ``i % len(scenes)`` and picks one eligible instance of it with a generator
    seeded by ``(seed, i)``, so an epoch sees every scene and the choice is reproducible. A crop is
    the adaptive square around the visible box (or the amodal box with ``box_from="amodal"``),
    enlarged by ``enlarge`` (PCNet uses 3 for ordering / completion).

    Args:
        scenes: any scene source (``SyntheticScenes``, a reader, a list).
        crop_size: output side.
        enlarge: box enlargement factor.
        select: ``"any"``, ``"occluded"`` (hidden share > 0, needs amodal masks) or ``"unoccluded"``.
        min_visible_pixels: instances with fewer visible pixels are not picked.
        box_from: ``"modal"`` or ``"amodal"`` box.
        length: items per epoch (default: number of scenes).
        seed: base seed of the instance choice.

    Returns (per item) a dict with ``Keys`` entries: ``IMAGE``, ``MODAL_MASK``, ``AMODAL_MASK``,
    ``INVISIBLE_MASK``, ``LAYER`` and ``BACKGROUND`` (zeros where unknown), ``CATEGORY``, ``BOX``,
    ``OCCLUDED_RATIO``, ``AREA_RATIO`` (visible mask area / crop area) and ``SCENE_ID``. Scenes with no
    eligible instance are skipped to the next scene.
    """

    def __init__(
        self,
        scenes: SceneSource,
        crop_size: int = 64,
        enlarge: float = 1.5,
        select: Literal["any", "occluded", "unoccluded"] = "any",
        min_visible_pixels: int = 4,
        box_from: Literal["modal", "amodal"] = "modal",
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        if select not in ("any", "occluded", "unoccluded"):
            raise ValueError(f"select must be 'any', 'occluded' or 'unoccluded', got {select!r}")
        if box_from not in ("modal", "amodal"):
            raise ValueError(f"box_from must be 'modal' or 'amodal', got {box_from!r}")
        if len(scenes) == 0:
            raise ValueError("InstanceCrops: the scene source is empty")
        self.scenes = scenes
        self.crop_size = int(crop_size)
        self.enlarge = float(enlarge)
        self.select = select
        self.min_visible_pixels = int(min_visible_pixels)
        self.box_from = box_from
        self.length = int(length) if length is not None else len(scenes)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.length

    def _eligible(self, scene: Scene) -> list[int]:
        out = []
        for k, inst in enumerate(scene.instances):
            if float(inst.modal_mask.sum()) < self.min_visible_pixels:
                continue
            if self.select != "any":
                if inst.amodal_mask is None:
                    raise ValueError(
                        f"select={self.select!r} needs amodal masks; scene {scene.scene_id} has none"
                    )
                if inst.is_occluded != (self.select == "occluded"):
                    continue
            out.append(k)
        return out

    def __getitem__(self, index: int) -> dict[str, Tensor | Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        what = f"an instance with select={self.select!r}"
        scene, k = pick_instance(self.scenes, index, self._eligible, item_generator(self.seed, index), what)
        return crop_instance(scene, k, self.crop_size, self.enlarge, self.box_from)


def item_generator(seed: int, index: int, stream: int = 0) -> torch.Generator:
    """The generator of item ``index``: reproducible, and independent between ``stream`` numbers
    (so a wrapper's randomness does not repeat the wrapped dataset's choices)."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index) + int(stream))


def pick_instance(
    scenes: SceneSource,
    index: int,
    eligible: Callable[[Scene], list[int]],
    generator: torch.Generator,
    what: str = "an eligible instance",
) -> tuple[Scene, int]:
    """Scene ``index % len(scenes)`` (or the next one holding an eligible instance) and one of its
    eligible instances, drawn with ``generator``.

    Raises:
        RuntimeError: no scene holds an eligible instance.
    """
    n = len(scenes)
    for step in range(n):
        scene = scenes[(index + step) % n]
        cands = eligible(scene)
        if cands:
            return scene, cands[int(torch.randint(len(cands), (1,), generator=generator))]
    raise RuntimeError(f"no scene holds {what}")


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
        Keys.SCENE_ID: scene.scene_id if scene.scene_id is not None else -1,
    }
    return item


class CachedItems(Dataset):
    """Every item of ``dataset`` computed once (in ``num_workers`` processes) and kept in memory.

    Trades sample variety for speed: on a 2-core CPU the rendering of synthetic pairs costs as
    much as a small training step, so benchmarks train for several epochs over a cached set.

    Args:
        dataset: a map-style dataset of dict items with tensor values.
        num_workers: loader processes used to build the cache.
        batch_size: items per worker batch while building.

    Example:
        >>> ds = CachedItems(InstanceCrops(SyntheticScenes(4, image_size=32), crop_size=32), num_workers=0)
        >>> len(ds), tuple(ds[0]["image"].shape)
        (4, (3, 32, 32))
    """

    def __init__(self, dataset: Dataset, num_workers: int = 2, batch_size: int = 64) -> None:
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
        columns: dict[str, list] = {}
        for batch in loader:
            for k, v in batch.items():
                columns.setdefault(k, []).append(v)
        self.data = {k: torch.cat(v) if isinstance(v[0], Tensor) else sum(v, []) for k, v in columns.items()}
        self.length = len(dataset)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        return {k: v[index] for k, v in self.data.items()}
