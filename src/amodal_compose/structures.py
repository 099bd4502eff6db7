"""The data model: :class:`Instance`, :class:`Scene`, and the batch keys, defined once.

Every reader (synthetic, COCO, COCOA, KINS) returns :class:`Scene` objects; every DataModule
turns them into batches whose keys are the constants of :class:`Keys`. A system adds
``pred_*`` entries (``Keys.pred(Keys.AMODAL_MASK) == "pred_amodal_mask"``) and invents no
private keys elsewhere.

Conventions:
    * images: float32 RGB in [0, 1], ``(3, H, W)``; masks: float32 {0, 1}, ``(1, H, W)``;
    * ``Scene.order`` is an ``(N, N)`` int64 matrix with ``order[i, j] = 1`` when instance ``i``
      occludes instance ``j`` (a directed edge ``i -> j`` of the occlusion graph); it may be
      cyclic and is ``None`` when unknown;
    * instance lists are in the file's order; for the synthetic set that is back-to-front
      (``depth`` 0 is the farthest object).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from .ops.convert import as_image, as_mask
from .ops.graph import order_from_masks

__all__ = ["Keys", "Instance", "Scene"]


class Keys:
    """Batch dictionary keys. Use these constants, never string literals, in package code.

    Attributes:
        IMAGE: ``(B, 3, H, W)`` the observed image (or instance crop of it).
        MODAL_MASK: ``(B, 1, H, W)`` the visible mask ``m_vis``.
        AMODAL_MASK: ``(B, 1, H, W)`` the full mask ``m_amodal``.
        INVISIBLE_MASK: ``(B, 1, H, W)`` the hidden part ``m_inv = m_amodal \\ m_vis``.
        EDIT_MASK: ``(B, 1, H, W)`` AMICO's ``m_edit``: the visible mask randomly dilated / eroded.
        ERASER_MASK: ``(B, 1, H, W)`` the occluder used to erase part of a target (PCNet, AMICO 3.1).
        ERASED_MASK: ``(B, 1, H, W)`` a target's mask after erasing, as a partial-completion network
            receives it (PCNet-M: ``M_A \\ M_B`` in case 1, ``M_A`` in case 2).
        LAYER: ``(B, 3, H, W)`` the object's full RGB appearance (valid inside the amodal mask).
        BACKGROUND: ``(B, 3, H, W)`` the clean (or inpainted) background.
        OBJECT_IMAGE: ``(B, 3, H, W)`` an edited / cut-out object to compose (AMICO ``I_c``).
        OBJECT_MASK: ``(B, 1, H, W)`` the mask of a pasted / removed object.
        TARGET: ``(B, 3, H, W)`` a ground-truth image (e.g. the real scene a composite should match).
        SEGMENTATION: ``(B, H, W)`` int64 per-pixel labels of ``IMAGE`` (0 = background, ``c + 1`` = an
            object of category ``c``).
        TARGET_SEGMENTATION: ``(B, H, W)`` the same for ``TARGET``.
        CATEGORY: ``(B,)`` int64 category index.
        AREA_RATIO: ``(B,)`` object area / image area, for metrics in area bins.
        OCCLUDED_RATIO: ``(B,)`` hidden share of the amodal mask.
        BOX: ``(B, 3)`` int64 square crop box ``(x0, y0, side)`` in the source image.
        ORDER: ``(N, N)`` occlusion order matrix of a scene.
        SCENE_ID: identifier of the source scene.
        INSTANCE: ``(B,)`` int64 index of the item's instance in its source scene (with ``SCENE_ID``
            it identifies the instance).
    """

    IMAGE = "image"
    MODAL_MASK = "modal_mask"
    AMODAL_MASK = "amodal_mask"
    INVISIBLE_MASK = "invisible_mask"
    EDIT_MASK = "edit_mask"
    ERASER_MASK = "eraser_mask"
    ERASED_MASK = "erased_mask"
    LAYER = "layer"
    BACKGROUND = "background"
    OBJECT_IMAGE = "object_image"
    OBJECT_MASK = "object_mask"
    TARGET = "target"
    SEGMENTATION = "segmentation"
    TARGET_SEGMENTATION = "target_segmentation"
    CATEGORY = "category"
    AREA_RATIO = "area_ratio"
    OCCLUDED_RATIO = "occluded_ratio"
    BOX = "box"
    ORDER = "order"
    SCENE_ID = "scene_id"
    INSTANCE = "instance"

    PRED_PREFIX = "pred_"

    @staticmethod
    def pred(key: str) -> str:
        """The key under which a system stores its prediction of ``key``."""
        return Keys.PRED_PREFIX + key


@dataclass
class Instance:
    """One object of a scene.

    Args:
        modal_mask: visible mask, ``(1, H, W)`` (numpy / bool / uint8 accepted and converted).
        category: category index (contiguous, 0-based in the reader's ``categories`` list).
        amodal_mask: full mask where known, ``(1, H, W)``; must contain ``modal_mask``.
        layer: full RGB appearance ``(3, H, W)`` where known (synthetic data), zero outside the
            amodal mask.
        depth: depth rank where known (synthetic: 0 is farthest; COCOA: the file's ``order``).
        meta: free-form extra fields of the source (ids, scores, ``occlude_rate`` ...).

    Example:
        >>> inst = Instance(modal_mask=torch.zeros(1, 8, 8), category=0)
        >>> inst.is_occluded
        False
    """

    modal_mask: Tensor
    category: int = 0
    amodal_mask: Tensor | None = None
    layer: Tensor | None = None
    depth: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.modal_mask = as_mask(self.modal_mask, "modal_mask")
        if self.modal_mask.ndim != 3:
            raise ValueError(f"modal_mask: expected (1, H, W), got {tuple(self.modal_mask.shape)}")
        size = tuple(self.modal_mask.shape[-2:])
        if self.amodal_mask is not None:
            self.amodal_mask = as_mask(self.amodal_mask, "amodal_mask")
            if tuple(self.amodal_mask.shape[-2:]) != size:
                raise ValueError(f"amodal_mask size {tuple(self.amodal_mask.shape[-2:])} != modal {size}")
        if self.layer is not None:
            self.layer = as_image(self.layer, "layer")
            if tuple(self.layer.shape[-2:]) != size:
                raise ValueError(f"layer size {tuple(self.layer.shape[-2:])} != modal {size}")
        self.category = int(self.category)

    @classmethod
    def trusted(cls, **fields: Any) -> Instance:
        """Build without the checks and conversions of ``__init__``: for package code whose tensors
        already follow the contract (e.g. a scene rebuilt from its own cache). Users call ``Instance(...)``."""
        obj = object.__new__(cls)
        obj.__dict__.update({"category": 0, "amodal_mask": None, "layer": None, "depth": None, "meta": {}, **fields})
        return obj

    @property
    def invisible_mask(self) -> Tensor | None:
        """``amodal \\ modal`` where the amodal mask is known, else ``None``."""
        if self.amodal_mask is None:
            return None
        return self.amodal_mask * (1.0 - self.modal_mask)

    @property
    def occluded_ratio(self) -> float | None:
        """Hidden share of the amodal area, ``|m_inv| / |m_amodal|`` (``None`` if unknown)."""
        if self.amodal_mask is None:
            return None
        total = float(self.amodal_mask.sum())
        return 0.0 if total == 0 else float(self.invisible_mask.sum()) / total

    @property
    def is_occluded(self) -> bool:
        """True when part of the amodal mask is hidden (False when unknown)."""
        r = self.occluded_ratio
        return bool(r is not None and r > 0)


@dataclass
class Scene:
    """An image with its instances and, where known, background and occlusion order.

    Args:
        image: ``(3, H, W)`` float RGB in [0, 1] (uint8 / numpy / PIL accepted and converted).
        instances: the objects, see :class:`Instance`.
        background: the clean background ``(3, H, W)`` where known (synthetic data).
        order: ``(N, N)`` int64 occlusion matrix, ``order[i, j] = 1`` iff ``i`` occludes ``j``.
        scene_id: identifier (synthetic seed, COCO image id ...).
        meta: free-form extra fields (file name, illumination parameters ...).

    Example:
        >>> s = Scene(image=torch.rand(3, 8, 8), instances=[])
        >>> s.size
        (8, 8)
    """

    image: Tensor
    instances: list[Instance] = field(default_factory=list)
    background: Tensor | None = None
    order: Tensor | None = None
    scene_id: Any = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image = as_image(self.image, "image")
        if self.image.ndim != 3:
            raise ValueError(f"image: expected (3, H, W), got {tuple(self.image.shape)}")
        size = self.size
        for k, inst in enumerate(self.instances):
            if tuple(inst.modal_mask.shape[-2:]) != size:
                raise ValueError(
                    f"instance {k}: mask size {tuple(inst.modal_mask.shape[-2:])} != image {size}"
                )
        if self.background is not None:
            self.background = as_image(self.background, "background")
            if tuple(self.background.shape[-2:]) != size:
                raise ValueError(f"background size {tuple(self.background.shape[-2:])} != image {size}")
        if self.order is not None:
            self.order = torch.as_tensor(self.order, dtype=torch.int64)
            n = len(self.instances)
            if tuple(self.order.shape) != (n, n):
                raise ValueError(f"order: expected ({n}, {n}), got {tuple(self.order.shape)}")

    @classmethod
    def trusted(cls, **fields: Any) -> Scene:
        """Build without the checks and conversions of ``__init__`` (see :meth:`Instance.trusted`)."""
        obj = object.__new__(cls)
        defaults = {"instances": [], "background": None, "order": None, "scene_id": None, "meta": {}}
        obj.__dict__.update({**defaults, **fields})
        return obj

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.image.shape[-2]), int(self.image.shape[-1])

    def __len__(self) -> int:
        return len(self.instances)

    def modal_masks(self) -> Tensor:
        """Stacked visible masks, ``(N, 1, H, W)``."""
        h, w = self.size
        if not self.instances:
            return torch.zeros(0, 1, h, w)
        return torch.stack([i.modal_mask for i in self.instances])

    def amodal_masks(self) -> Tensor | None:
        """Stacked amodal masks ``(N, 1, H, W)``, or ``None`` if any instance lacks one."""
        if any(i.amodal_mask is None for i in self.instances):
            return None
        h, w = self.size
        if not self.instances:
            return torch.zeros(0, 1, h, w)
        return torch.stack([i.amodal_mask for i in self.instances])

    def order_from_masks(self, min_pixels: int = 1) -> Tensor | None:
        """The order implied by the masks (``i`` occludes ``j`` when ``i`` is visible over ``j``'s
        hidden part, see :func:`~amodal_compose.ops.graph.order_from_masks`); ``None`` without amodal masks."""
        amodal = self.amodal_masks()
        if amodal is None:
            return None
        return order_from_masks(self.modal_masks(), amodal, min_pixels)

    def label_map(self) -> Tensor:
        """``(H, W)`` int64 per-pixel labels: 0 for background, ``category + 1`` where an instance is visible."""
        labels = torch.zeros(self.size, dtype=torch.int64)
        for inst in self.instances:
            labels[inst.modal_mask[0] > 0.5] = inst.category + 1
        return labels

    def categories(self) -> Tensor:
        """Category indices, ``(N,)`` int64."""
        return torch.tensor([i.category for i in self.instances], dtype=torch.int64)

    def render(self, exclude: Sequence[int] = ()) -> Tensor:
        """Re-paint the scene back to front from its background and the instances' full layers,
        leaving out the instances in ``exclude``: the image with those objects truly removed.

        Needs the background and, for every instance, its layer, amodal mask and depth (the
        synthetic set has them all; real data does not, and raises).

        Returns:
            ``(3, H, W)``; with ``exclude=()`` it equals ``image`` on synthetic scenes.
        """
        if self.background is None:
            raise ValueError("Scene.render needs the clean background, which this scene lacks")
        missing = [
            k for k, i in enumerate(self.instances) if i.layer is None or i.amodal_mask is None or i.depth is None
        ]
        if missing:
            raise ValueError(f"Scene.render needs layer, amodal_mask and depth; instances {missing} lack one")
        bad = [k for k in exclude if not 0 <= k < len(self.instances)]
        if bad:
            raise IndexError(f"exclude {bad} out of range for {len(self.instances)} instances")
        image = self.background.clone()
        skip = set(exclude)
        for k in sorted(range(len(self.instances)), key=lambda k: self.instances[k].depth):
            if k not in skip:
                inst = self.instances[k]
                image = torch.where(inst.amodal_mask > 0.5, inst.layer, image)
        return image

    def visible_only(self) -> Scene:
        """A copy with only what a photo shows: the image and each instance's visible mask, category,
        depth and meta (no layers, amodal masks or background; the order is kept). Augmenting it moves
        far fewer arrays than the whole scene, for items built from visible data alone."""
        instances = [Instance.trusted(modal_mask=i.modal_mask, category=i.category, depth=i.depth, meta=i.meta)
                     for i in self.instances]  # fmt: skip
        return Scene.trusted(image=self.image, instances=instances, order=self.order, scene_id=self.scene_id,
                             meta=self.meta)  # fmt: skip

    def with_instances(self, keep: list[int]) -> Scene:
        """A copy holding only the instances at ``keep`` (order matrix sliced to match)."""
        order = None if self.order is None else self.order[keep][:, keep]
        return replace(self, instances=[self.instances[k] for k in keep], order=order)
