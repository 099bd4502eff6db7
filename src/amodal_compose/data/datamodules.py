"""The package's DataModules: one per training recipe, on a shared scene-source base.

:class:`SceneDataModule` owns split handling, scene sources, augmentation and loaders; each
network's DataModule only says how a split's scenes become training items (``make_dataset``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from ..structures import Scene
from .augment import AugmentConfig, SceneAugment
from .datasets import InstanceCrops, SyntheticScenes
from .pairs import CompositionPairs, ContentPairs, EditedCrops
from .readers import CocoaAmodal, CocoInstances, KinsAmodal

__all__ = [
    "TransformedScenes",
    "build_scene_source",
    "SceneDataModule",
    "InstanceCropDataModule",
    "ShapeDataModule",
    "CompositionDataModule",
    "ContentDataModule",
]

READERS = {"cocoa": CocoaAmodal, "kins": KinsAmodal, "coco": CocoInstances}


class TransformedScenes(Dataset):
    """Apply ``transform`` (e.g. :class:`SceneAugment`) to every scene of ``source`` on access."""

    def __init__(self, source: Dataset, transform: Callable[[Scene], Scene]) -> None:
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Scene:
        return self.transform(self.source[index])


def build_scene_source(
    source: str,
    split: str,
    length: int,
    image_size: int,
    annotation_file: str | Path | None = None,
    image_root: str | Path | None = None,
    seed: int = 0,
) -> Dataset:
    """A scene dataset: ``"synthetic"`` (``length`` scenes of ``split``) or a reader over a file.

    Raises:
        ValueError: an unknown source, or a reader source without its files.
    """
    if source == "synthetic":
        return SyntheticScenes(length, image_size=image_size, split=split, seed=seed)
    if source not in READERS:
        raise ValueError(f"unknown source {source!r}; choose from ['synthetic', *{sorted(READERS)}]")
    if annotation_file is None or image_root is None:
        raise ValueError(f"source {source!r} needs annotation_file and image_root for the {split} split")
    return READERS[source](annotation_file, image_root)


class SceneDataModule(pl.LightningDataModule):
    """Base of the package's DataModules: scene sources per split, augmentation and loaders.

    Subclasses turn a split's scenes into items with :meth:`make_dataset`.

    Args:
        source: ``"synthetic"`` (default, nothing to download), ``"cocoa"``, ``"kins"`` or ``"coco"``.
        train_annotation_file, train_image_root, val_annotation_file, val_image_root: files for a
            reader source.
        image_size: synthetic scene size.
        train_scenes, val_scenes: synthetic scene counts (val uses its own seed range).
        batch_size, num_workers: loader settings.
        augment: training augmentation (validation is never augmented); ``None`` = defaults,
            ``AugmentConfig(enabled=False)`` = off.
        seed: base seed for scenes, item choice and augmentation.
    """

    def __init__(
        self,
        source: str = "synthetic",
        train_annotation_file: str | None = None,
        train_image_root: str | None = None,
        val_annotation_file: str | None = None,
        val_image_root: str | None = None,
        image_size: int = 64,
        train_scenes: int = 2000,
        val_scenes: int = 200,
        batch_size: int = 16,
        num_workers: int = 2,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.source = source
        self.files = {
            "train": (train_annotation_file, train_image_root),
            "val": (val_annotation_file, val_image_root),
        }
        self.image_size = int(image_size)
        self.num_scenes = {"train": int(train_scenes), "val": int(val_scenes)}
        self.batch_size, self.num_workers, self.seed = int(batch_size), int(num_workers), int(seed)
        if isinstance(augment, dict):  # as stored in a checkpoint's hyper-parameters
            augment = AugmentConfig(**augment)
        self.augment = augment if augment is not None else AugmentConfig()
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None

    def _save_hparams(self, frame) -> None:
        # the augmentation config is stored as a plain dict so checkpoints load with weights_only
        self.save_hyperparameters(ignore=["augment"], frame=frame)
        self.hparams["augment"] = asdict(self.augment)

    def scenes(self, split: str, train: bool) -> Dataset:
        """The (augmented, when ``train``) scene source of ``split``."""
        scenes = build_scene_source(
            self.source, split, self.num_scenes[split], self.image_size, *self.files[split], self.seed
        )
        if train and self.augment.enabled:
            scenes = TransformedScenes(scenes, SceneAugment(self.augment, seed=self.seed))
        return scenes

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        """Items of one split; implemented by subclasses."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_dataset is None:
            self.train_dataset = self.make_dataset(self.scenes("train", train=True), train=True)
        if stage in (None, "fit", "validate") and self.val_dataset is None:
            self.val_dataset = self.make_dataset(self.scenes("val", train=False), train=False)

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        n = self.num_workers
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=n,
            persistent_workers=n > 0,
            drop_last=shuffle and len(ds) >= self.batch_size,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, shuffle=False)


class InstanceCropDataModule(SceneDataModule):
    """Instance crops (:class:`InstanceCrops`) for training and validation.

    Args:
        crop_size: network input side.
        enlarge: crop box enlargement.
        select: which instances (``"any"``, ``"occluded"``, ``"unoccluded"``).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = InstanceCropDataModule(train_scenes=8, val_scenes=4, image_size=32, crop_size=32)
        >>> dm.setup("fit"); len(dm.train_dataset)
        8
    """

    def __init__(
        self,
        source: str = "synthetic",
        train_annotation_file: str | None = None,
        train_image_root: str | None = None,
        val_annotation_file: str | None = None,
        val_image_root: str | None = None,
        image_size: int = 64,
        train_scenes: int = 2000,
        val_scenes: int = 200,
        crop_size: int = 64,
        enlarge: float = 1.5,
        select: Literal["any", "occluded", "unoccluded"] = "any",
        batch_size: int = 16,
        num_workers: int = 2,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            source, train_annotation_file, train_image_root, val_annotation_file, val_image_root,
            image_size, train_scenes, val_scenes, batch_size, num_workers, augment, seed,
        )  # fmt: skip
        self._save_hparams(inspect.currentframe())
        self.crop_size, self.enlarge, self.select = int(crop_size), float(enlarge), select

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        return InstanceCrops(scenes, crop_size=self.crop_size, enlarge=self.enlarge, select=self.select, seed=self.seed)


class ShapeDataModule(InstanceCropDataModule):
    """f_shape data (AMICO section 3.3): occluded and unoccluded instance crops with ``m_edit``.

    Args:
        edit_pixels: largest random dilation / erosion of the visible mask, at 256 px (scaled
            to ``crop_size``); validation uses the exact visible mask.
        **kwargs: see :class:`InstanceCropDataModule` (``select="any"`` by default).

    Example:
        >>> dm = ShapeDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32)
        >>> dm.setup("fit"); sorted(dm.train_dataset[0])[:3]
        ['amodal_mask', 'area_ratio', 'background']
    """

    def __init__(
        self,
        source: str = "synthetic",
        train_annotation_file: str | None = None,
        train_image_root: str | None = None,
        val_annotation_file: str | None = None,
        val_image_root: str | None = None,
        image_size: int = 64,
        train_scenes: int = 2000,
        val_scenes: int = 200,
        crop_size: int = 64,
        enlarge: float = 1.5,
        select: Literal["any", "occluded", "unoccluded"] = "any",
        edit_pixels: int = 12,
        batch_size: int = 16,
        num_workers: int = 2,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            source, train_annotation_file, train_image_root, val_annotation_file, val_image_root,
            image_size, train_scenes, val_scenes, crop_size, enlarge, select, batch_size, num_workers,
            augment, seed,
        )  # fmt: skip
        self._save_hparams(inspect.currentframe())
        self.edit_pixels = int(edit_pixels)

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        return EditedCrops(super().make_dataset(scenes, train), self.edit_pixels, edit=train, seed=self.seed)


class CompositionDataModule(SceneDataModule):
    """f_comp data (AMICO eq. 5): see :class:`~amodal_compose.data.pairs.CompositionPairs`.

    Args:
        crop_size: network input side.
        enlarge_range: crop enlargement range (below 1 the crop trims the object's box, which
            populates AMICO's (0.4, 0.5] area bin).
        background: ``"clean"`` (true background, synthetic only) or ``"inpaint"`` (Telea, as the
            paper does on real data; the only choice for reader sources).
        min_dilation, max_dilation: coarse cut-out dilation at 256 px for training (paper: 0-25).
        val_min_dilation, val_max_dilation: the same for validation (AMICO Table 2: 5-10).
        color_strength: colour-transfer strength range (paper: full transfer, 1).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = CompositionDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32)
        >>> dm.setup("fit"); tuple(dm.val_dataset[0]["object_image"].shape)
        (3, 32, 32)
    """

    def __init__(
        self,
        source: str = "synthetic",
        train_annotation_file: str | None = None,
        train_image_root: str | None = None,
        val_annotation_file: str | None = None,
        val_image_root: str | None = None,
        image_size: int = 64,
        train_scenes: int = 2000,
        val_scenes: int = 200,
        crop_size: int = 64,
        enlarge_range: tuple[float, float] = (0.7, 2.2),
        background: Literal["clean", "inpaint"] = "clean",
        min_dilation: int = 0,
        max_dilation: int = 25,
        val_min_dilation: int = 5,
        val_max_dilation: int = 10,
        color_strength: tuple[float, float] = (1.0, 1.0),
        batch_size: int = 16,
        num_workers: int = 2,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            source, train_annotation_file, train_image_root, val_annotation_file, val_image_root,
            image_size, train_scenes, val_scenes, batch_size, num_workers, augment, seed,
        )  # fmt: skip
        if background == "clean" and source != "synthetic":
            raise ValueError(
                f"background='clean' needs the true background, which only the synthetic source has; "
                f"use background='inpaint' with source={source!r}"
            )
        self._save_hparams(inspect.currentframe())
        self.pair_args = dict(crop_size=crop_size, enlarge_range=tuple(enlarge_range), background=background)
        self.dilation = {True: (min_dilation, max_dilation), False: (val_min_dilation, val_max_dilation)}
        self.color_strength = tuple(color_strength)

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        lo, hi = self.dilation[train]
        return CompositionPairs(
            scenes, **self.pair_args, min_dilation=lo, max_dilation=hi, color_strength=self.color_strength,
            seed=self.seed,
        )  # fmt: skip


class ContentDataModule(SceneDataModule):
    """f_content data (AMICO section 3.1): :class:`~amodal_compose.data.pairs.ContentPairs`, an object
    hidden in part by another instance's mask (hidden share in ``hidden_range``).

    Args:
        crop_size: generator input side (a multiple of 8; the generator needs 8 * attention_rate, 16 by default).
        enlarge: crop enlargement around the object.
        object_from: ``"amodal"`` (full synthetic objects) or ``"visible"`` (real data, as the paper).
        hidden_range: hidden share range (paper: [0.1, 0.9]).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = ContentDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32)
        >>> dm.setup("fit"); tuple(dm.train_dataset[0]["invisible_mask"].shape)
        (1, 32, 32)
    """

    def __init__(
        self,
        source: str = "synthetic",
        train_annotation_file: str | None = None,
        train_image_root: str | None = None,
        val_annotation_file: str | None = None,
        val_image_root: str | None = None,
        image_size: int = 64,
        train_scenes: int = 2000,
        val_scenes: int = 200,
        crop_size: int = 64,
        enlarge: float = 1.2,
        object_from: Literal["amodal", "visible"] = "amodal",
        hidden_range: tuple[float, float] = (0.1, 0.9),
        batch_size: int = 16,
        num_workers: int = 2,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            source, train_annotation_file, train_image_root, val_annotation_file, val_image_root,
            image_size, train_scenes, val_scenes, batch_size, num_workers, augment, seed,
        )  # fmt: skip
        if object_from == "amodal" and source != "synthetic":
            raise ValueError(
                f"object_from='amodal' needs full object layers (synthetic only); use 'visible' with {source!r}"
            )
        if crop_size % 8:
            raise ValueError(f"crop_size must be a multiple of 8 for the content generator, got {crop_size}")
        self._save_hparams(inspect.currentframe())
        self.pair_args = dict(
            crop_size=crop_size, enlarge=enlarge, object_from=object_from, hidden_range=tuple(hidden_range)
        )

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        return ContentPairs(scenes, **self.pair_args, seed=self.seed)
