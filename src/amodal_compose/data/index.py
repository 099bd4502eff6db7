"""Instance-level indexing of scene sources, and an in-memory cache of rendered synthetic scenes.

A training item is an (image, instance) pair: :class:`InstanceIndex` lists every eligible instance
of every scene of a source, so that an epoch visits each of them once (a COCOA file with 48 regions
in 5 images gives 48 items, not 5). Building the index needs each instance's visible area and
occlusion state; sources that can tell these without decoding images (the readers, the cache) offer
``instance_stats(i)``, others are read scene by scene, in ``num_workers`` processes.

:class:`CachedScenes` renders every scene of a (synthetic) source once and keeps it compactly in
memory (uint8 images and layers, bool masks: about 100 KB for a 64 px scene of four objects), so that
the per-item work of an epoch is cropping and simulating, not rendering. Caches are shared within a
process by the source's ``cache_key`` (the bench's seeds, a DataModule set up twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..structures import Instance, Scene

__all__ = ["InstanceStats", "InstanceIndex", "CachedScenes", "cached_scenes", "scene_stats", "scene_image"]


@dataclass(frozen=True)
class InstanceStats:
    """What eligibility rules need to know about an instance, without its pixels.

    Attributes:
        visible_pixels: area of the visible (modal) mask.
        amodal_pixels: area of the amodal mask, ``None`` when the source has none.
        category: category index.
        has_layer: whether the full RGB layer is known (synthetic data).
    """

    visible_pixels: int
    amodal_pixels: int | None = None
    category: int = 0
    has_layer: bool = False

    @property
    def occluded_ratio(self) -> float | None:
        """Hidden share of the amodal area (``None`` without an amodal mask)."""
        if self.amodal_pixels is None:
            return None
        return 0.0 if self.amodal_pixels == 0 else 1.0 - self.visible_pixels / self.amodal_pixels

    @staticmethod
    def of(inst: Instance) -> InstanceStats:
        vis = int(inst.modal_mask.sum())
        amodal = None if inst.amodal_mask is None else int(inst.amodal_mask.sum())
        return InstanceStats(vis, amodal, inst.category, inst.layer is not None)


def scene_stats(source: Sequence[Scene] | Dataset, index: int) -> list[InstanceStats]:
    """The :class:`InstanceStats` of scene ``index``: from ``source.instance_stats`` when it has one
    (no image decoding), else from the scene itself."""
    fast = getattr(source, "instance_stats", None)
    if fast is not None:
        return list(fast(index))
    return [InstanceStats.of(inst) for inst in source[index].instances]


def scene_image(source: Sequence[Scene] | Dataset, index: int) -> torch.Tensor:
    """Scene ``index``'s image: from ``source.image`` when it has one, else from the scene."""
    fast = getattr(source, "image", None)
    return fast(index) if callable(fast) else source[index].image


class _StatsOf(Dataset):
    def __init__(self, source) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> list[tuple]:
        return [(s.visible_pixels, s.amodal_pixels, s.category, s.has_layer) for s in scene_stats(self.source, i)]


def _identity(x: Any) -> Any:
    return x


def _parallel(dataset: Dataset, num_workers: int) -> list:
    """``[dataset[i] for i in range(len(dataset))]``, in ``num_workers`` processes when > 0."""
    if num_workers <= 0 or len(dataset) < 64:
        return [dataset[i] for i in range(len(dataset))]
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers, collate_fn=_identity)
    return list(loader)


class InstanceIndex:
    """Every eligible ``(scene, instance)`` pair of a scene source, in source order.

    Args:
        source: scenes (``SyntheticScenes``, :class:`CachedScenes`, a reader, a list).
        keep: eligibility rule on :class:`InstanceStats`.
        num_workers: processes that read the scenes while indexing (sources without
            ``instance_stats``).

    Raises:
        ValueError: the source holds no eligible instance.

    Example:
        >>> from amodal_compose.data.datasets import SyntheticScenes
        >>> idx = InstanceIndex(SyntheticScenes(4, 32), keep=lambda s: s.visible_pixels >= 4)
        >>> scene, k = idx[0]
    """

    def __init__(
        self, source: Sequence[Scene] | Dataset, keep: Callable[[InstanceStats], bool], num_workers: int = 0
    ) -> None:
        stats = getattr(source, "all_stats", None)
        if stats is None:
            rows = _parallel(_StatsOf(source), num_workers)
            stats = [[InstanceStats(*r) for r in scene] for scene in rows]
        self.stats: list[list[InstanceStats]] = stats
        pairs = [(i, k) for i, scene in enumerate(stats) for k, s in enumerate(scene) if keep(s)]
        if not pairs:
            total = sum(len(s) for s in stats)
            raise ValueError(f"no eligible instance among the {total} instances of {len(stats)} scenes")
        self.pairs = np.asarray(pairs, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[int, int]:
        scene, k = self.pairs[i]
        return int(scene), int(k)

    def instance_stats(self, i: int) -> InstanceStats:
        scene, k = self[i]
        return self.stats[scene][k]


# ----------------------------------------------------------------------------- scene cache
def _u8(x: torch.Tensor | None) -> np.ndarray | None:
    return None if x is None else (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def _pack(scene: Scene) -> dict[str, Any]:
    return {
        "image": _u8(scene.image),
        "background": _u8(scene.background),
        "order": None if scene.order is None else scene.order.numpy(),
        "scene_id": scene.scene_id,
        "meta": scene.meta,
        "instances": [
            {
                "modal": inst.modal_mask[0].numpy() > 0.5,
                "amodal": None if inst.amodal_mask is None else inst.amodal_mask[0].numpy() > 0.5,
                "layer": _u8(inst.layer),
                "category": inst.category,
                "depth": inst.depth,
                "meta": inst.meta,
            }
            for inst in scene.instances
        ],
    }


def _float(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(a).float().div_(255.0)


def _mask(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(a).float()[None]


def _unpack(p: dict[str, Any]) -> Scene:
    # the arrays were made from valid scenes: rebuild without re-checking them
    instances = [
        Instance.trusted(
            modal_mask=_mask(i["modal"]), category=i["category"], amodal_mask=_mask(i["amodal"]),
            layer=_float(i["layer"]), depth=i["depth"], meta=dict(i["meta"]),
        )  # fmt: skip
        for i in p["instances"]
    ]
    order = None if p["order"] is None else torch.from_numpy(p["order"].copy())
    return Scene.trusted(
        image=_float(p["image"]), instances=instances, background=_float(p["background"]), order=order,
        scene_id=p["scene_id"], meta=dict(p["meta"]),
    )  # fmt: skip


class _Packed(Dataset):
    def __init__(self, source) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return _pack(self.source[i])


class CachedScenes(Dataset):
    """Every scene of ``source`` rendered once and held in memory (uint8 images, backgrounds and
    layers, bool masks); ``cached[i]`` rebuilds the :class:`~amodal_compose.structures.Scene`.

    Images are quantised to 8 bits, as real photographs are; re-painting a cached scene from its
    background and layers still gives its image exactly.

    Args:
        source: scenes to render (e.g. ``SyntheticScenes``).
        num_workers: rendering processes.

    Example:
        >>> from amodal_compose.data.datasets import SyntheticScenes
        >>> cache = CachedScenes(SyntheticScenes(4, 32))
        >>> len(cache), cache[0].image.shape
        (4, torch.Size([3, 32, 32]))
    """

    def __init__(self, source: Sequence[Scene] | Dataset, num_workers: int = 0) -> None:
        t0 = time.perf_counter()
        self.packed: list[dict[str, Any]] = _parallel(_Packed(source), num_workers)
        self.seconds = time.perf_counter() - t0
        self.all_stats = [
            [
                InstanceStats(
                    int(i["modal"].sum()),
                    None if i["amodal"] is None else int(i["amodal"].sum()),
                    i["category"],
                    i["layer"] is not None,
                )
                for i in p["instances"]
            ]
            for p in self.packed
        ]
        self.categories = getattr(source, "categories", None)

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, index: int) -> Scene:
        if not 0 <= index < len(self.packed):
            raise IndexError(f"index {index} out of range for {len(self.packed)} scenes")
        return _unpack(self.packed[index])

    def instance_stats(self, index: int) -> list[InstanceStats]:
        return self.all_stats[index]

    def image(self, index: int) -> torch.Tensor:
        """Scene ``index``'s image alone, ``(3, H, W)`` (cheaper than ``cache[index].image``)."""
        return _float(self.packed[index]["image"])

    def modal_mask(self, index: int, k: int) -> torch.Tensor:
        """Instance ``k``'s visible mask in scene ``index`` alone, ``(1, H, W)`` (cheaper than
        ``cache[index].instances[k].modal_mask``)."""
        return _mask(self.packed[index]["instances"][k]["modal"])


_CACHES: dict[Any, CachedScenes] = {}


def cached_scenes(source: Sequence[Scene] | Dataset, num_workers: int = 0) -> CachedScenes:
    """A :class:`CachedScenes` of ``source``, shared within the process by ``source.cache_key`` (a
    source without one is cached anew). The most recent 4 caches are kept."""
    key = getattr(source, "cache_key", None)
    if key is not None and key in _CACHES:
        return _CACHES[key]
    cache = CachedScenes(source, num_workers)
    if key is not None:
        while len(_CACHES) >= 4:
            _CACHES.pop(next(iter(_CACHES)))
        _CACHES[key] = cache
    return cache
