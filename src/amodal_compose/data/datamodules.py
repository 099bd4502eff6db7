"""The shared DataModule: instance crops from any scene source, with per-DataModule augmentation.

Network-specific DataModules (shape, content, compositing, ...) build their training pairs on top
of :class:`InstanceCropDataModule`'s scene sources; it owns split handling, augmentation and loaders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from ..structures import Scene
from .augment import AugmentConfig, SceneAugment
from .datasets import InstanceCrops, SyntheticScenes
from .readers import CocoaAmodal, CocoInstances, KinsAmodal

__all__ = ["TransformedScenes", "build_scene_source", "InstanceCropDataModule"]

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


class InstanceCropDataModule(pl.LightningDataModule):
    """Instance crops for training and validation from synthetic scenes or a real annotation file.

    Args:
        source: ``"synthetic"`` (default, nothing to download), ``"cocoa"``, ``"kins"`` or ``"coco"``.
        train_annotation_file, train_image_root, val_annotation_file, val_image_root: files for a
            reader source.
        image_size: synthetic scene size.
        train_scenes, val_scenes: synthetic scene counts (val uses its own seed range).
        crop_size: network input side.
        enlarge: crop box enlargement.
        select: which instances (``"any"``, ``"occluded"``, ``"unoccluded"``).
        batch_size, num_workers: loader settings.
        augment: training augmentation (validation is never augmented); ``None`` = defaults,
            ``AugmentConfig(enabled=False)`` = off.
        seed: base seed for scenes, instance choice and augmentation.

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
        super().__init__()
        self.save_hyperparameters()
        self.augment = augment if augment is not None else AugmentConfig()
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None

    def _crops(self, split: str, train: bool) -> InstanceCrops:
        hp = self.hparams
        scenes = build_scene_source(
            hp.source,
            split,
            hp.train_scenes if train else hp.val_scenes,
            hp.image_size,
            hp.train_annotation_file if train else hp.val_annotation_file,
            hp.train_image_root if train else hp.val_image_root,
            hp.seed,
        )
        if train and self.augment.enabled:
            scenes = TransformedScenes(scenes, SceneAugment(self.augment, seed=hp.seed))
        return InstanceCrops(
            scenes, crop_size=hp.crop_size, enlarge=hp.enlarge, select=hp.select, seed=hp.seed
        )

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_dataset is None:
            self.train_dataset = self._crops("train", train=True)
        if stage in (None, "fit", "validate") and self.val_dataset is None:
            self.val_dataset = self._crops("val", train=False)

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        n = self.hparams.num_workers
        return DataLoader(
            ds,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=n,
            persistent_workers=n > 0,
            drop_last=shuffle,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, shuffle=False)
