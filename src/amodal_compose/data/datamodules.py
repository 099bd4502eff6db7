"""The package's DataModules: one per training recipe, on a shared scene-source base.

:class:`SceneDataModule` owns the splits, the scene sources, the epoch-aware sampler, augmentation
and loaders; each network's DataModule only says how a split's scenes become items
(:meth:`SceneDataModule.make_dataset`) and takes the base's arguments through ``**kwargs``
(LightningCLI lists them all in ``--help``).

Data contract of every DataModule:

* splits ``train`` (fresh draws every epoch, augmented), ``val`` (curves and every choice) and
  ``test`` (scored once); ``val`` and ``test`` items are fixed, and do not depend on the training
  ``seed`` (they follow ``data_seed``), so runs with different seeds are scored on the same items;
  the test split's synthetic scenes follow a ``test_seed`` of their own, so a fresh test draw leaves
  train and val (and every choice made on val) as they were;
* items are instances: every eligible instance of every scene is one item per epoch;
* the training loader's :class:`~amodal_compose.data.sampling.EpochSampler` carries the epoch to
  the items (with any ``num_workers``) and splits each epoch between DDP ranks.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ..structures import Keys
from .augment import AugmentConfig, SceneAugment
from .datasets import SPLITS, InstanceCrops, SceneItems, SyntheticScenes
from .index import cached_scenes
from .pairs import (
    CompositionPairs,
    ContentPairs,
    CopyPastePairs,
    EditedCrops,
    OccluderCrops,
    PartialContentPairs,
    PartialMaskPairs,
    RealOcclusions,
    SimulatedOcclusionMasks,
)
from .readers import CocoaAmodal, CocoInstances, KinsAmodal
from .sampling import EpochSampler
from .synthetic import check_texture

__all__ = [
    "build_scene_source",
    "SceneDataModule",
    "InstanceCropDataModule",
    "ShapeDataModule",
    "CompositionDataModule",
    "ContentDataModule",
    "PCNetMDataModule",
    "PCNetCDataModule",
    "RemovalDataModule",
    "AmodalVAEDataModule",
]

READERS = {"cocoa": CocoaAmodal, "kins": KinsAmodal, "coco": CocoInstances}
_BANKS: dict[tuple, dict] = {}  # the last nearest-neighbour bank built (AmodalVAEDataModule.neighbour_bank)


def build_scene_source(
    source: str,
    split: str,
    length: int,
    image_size: int,
    annotation_file: str | Path | None = None,
    image_root: str | Path | None = None,
    seed: int = 0,
    texture: str = "procedural",
    photo_set: str = "registry",
) -> Dataset:
    """A scene dataset: ``"synthetic"`` (``length`` scenes of ``split``, textured by ``texture``) or a
    reader over a file.

    Raises:
        ValueError: an unknown source, or a reader source without its files.
    """
    if source == "synthetic":
        return SyntheticScenes(length, image_size=image_size, split=split, seed=seed, texture=texture,
                               photo_set=photo_set)  # fmt: skip
    if source not in READERS:
        raise ValueError(f"unknown source {source!r}; choose from ['synthetic', *{sorted(READERS)}]")
    if annotation_file is None or image_root is None:
        raise ValueError(
            f"source {source!r} needs {split}_annotation_file and {split}_image_root for the {split} split"
        )
    return READERS[source](annotation_file, image_root)


class SceneDataModule(pl.LightningDataModule):
    """Base of the package's DataModules: scene sources per split, augmentation and loaders.

    Args:
        source: ``"synthetic"`` (default, nothing to download), ``"cocoa"``, ``"kins"`` or ``"coco"``.
        train_annotation_file, train_image_root, val_annotation_file, val_image_root,
            test_annotation_file, test_image_root: files of a reader source, per split.
        image_size: synthetic scene size.
        texture: synthetic textures: ``"procedural"`` (default), ``"photo"`` (windows of real photos;
            train, val and test use disjoint photos, see :mod:`~amodal_compose.data.photos`) or
            ``"mixed"``. The scenes' geometry is the same for every texture. Synthetic source only.
        photo_set: ``"registry"`` (the photos of the ``[photos]`` extra's packages) or ``"bundled"``
            (three tiny crops shipped with the package, for tests).
        train_scenes, val_scenes, test_scenes: synthetic scene counts (disjoint scene sets).
        batch_size, num_workers: loader settings (``num_workers`` also renders / indexes in parallel).
        augment: training augmentation (evaluation items are never augmented); ``None`` = defaults,
            ``AugmentConfig(enabled=False)`` = off.
        seed: seed of the training draws (augmentation, edits, erasers, ... and the epoch order).
        data_seed: seed of the train and val synthetic scenes and of the fixed evaluation draws.
        test_seed: seed of the test split's synthetic scenes. The bench scores each recipe once on a
            test draw none of its choices saw; a recipe changed after its test was seen moves to a new
            ``test_seed`` (the report names it).
        cache_scenes: render the synthetic scenes once and keep them in memory (about 100 KB per
            64 px scene), so an epoch crops and simulates instead of rendering.
        predict_split: the split ``predict`` runs on.
    """

    def __init__(
        self,
        source: str = "synthetic",
        train_annotation_file: str | None = None,
        train_image_root: str | None = None,
        val_annotation_file: str | None = None,
        val_image_root: str | None = None,
        test_annotation_file: str | None = None,
        test_image_root: str | None = None,
        image_size: int = 64,
        texture: Literal["procedural", "photo", "mixed"] = "procedural",
        photo_set: Literal["registry", "bundled"] = "registry",
        train_scenes: int = 2000,
        val_scenes: int = 200,
        test_scenes: int = 200,
        batch_size: int = 16,
        num_workers: int = 2,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        data_seed: int = 0,
        test_seed: int = 1,
        cache_scenes: bool = True,
        predict_split: Literal["train", "val", "test"] = "test",
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if min(seed, data_seed, test_seed) < 0:
            raise ValueError(f"seed, data_seed and test_seed must be >= 0, got {seed}, {data_seed}, {test_seed}")
        if predict_split not in SPLITS:
            raise ValueError(f"predict_split must be one of {list(SPLITS)}, got {predict_split!r}")
        if source != "synthetic" and source not in READERS:
            raise ValueError(f"unknown source {source!r}; choose from ['synthetic', *{sorted(READERS)}]")
        check_texture(texture, photo_set)
        if texture != "procedural" and source != "synthetic":
            raise ValueError(f"texture={texture!r} textures synthetic scenes; source {source!r} has its own images")
        self.texture, self.photo_set = texture, photo_set
        self.source = source
        self.files = {
            "train": (train_annotation_file, train_image_root),
            "val": (val_annotation_file, val_image_root),
            "test": (test_annotation_file, test_image_root),
        }
        self.image_size = int(image_size)
        self.num_scenes = {"train": int(train_scenes), "val": int(val_scenes), "test": int(test_scenes)}
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.seed, self.data_seed, self.cache_scenes = int(seed), int(data_seed), bool(cache_scenes)
        self.test_seed = int(test_seed)
        self.predict_split = predict_split
        if isinstance(augment, dict):  # as stored in a checkpoint's hyper-parameters
            augment = AugmentConfig(**augment)
        self.augment = augment if augment is not None else AugmentConfig()
        self.augmenter = SceneAugment(self.augment) if self.augment.enabled else None
        # every __init__ argument of the subclass chain; augment as a dict, so checkpoints load with weights_only
        self.save_hyperparameters(ignore=["augment"])
        self.hparams["augment"] = asdict(self.augment)
        self.datasets: dict[str, Dataset] = {}

    # ------------------------------------------------------------------ items
    def scenes(self, split: str) -> Dataset:
        """The scene source of ``split`` (synthetic scenes rendered once when ``cache_scenes``)."""
        scene_seed = self.test_seed if split == "test" else self.data_seed
        scenes = build_scene_source(
            self.source, split, self.num_scenes[split], self.image_size, *self.files[split], scene_seed,
            texture=self.texture, photo_set=self.photo_set,
        )
        if self.source == "synthetic" and self.cache_scenes:
            scenes = cached_scenes(scenes, self.num_workers)
        return scenes

    def item_args(self, train: bool) -> dict:
        """What every item dataset takes: training draws from ``seed`` with augmentation, evaluation
        draws fixed by ``data_seed``, and the indexing processes."""
        return {
            "train": train,
            "seed": self.seed if train else self.data_seed,
            "augment": self.augmenter if train else None,
            "num_workers": self.num_workers,
        }

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        """Items of one split (``train``: the training items); implemented by subclasses."""
        raise NotImplementedError

    def dataset(self, split: str) -> Dataset:
        """The items of ``split``, built on first use."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if split not in self.datasets:
            self.datasets[split] = self.make_dataset(self.scenes(split), train=split == "train")
        return self.datasets[split]

    @property
    def train_dataset(self) -> Dataset:
        return self.dataset("train")

    @property
    def val_dataset(self) -> Dataset:
        return self.dataset("val")

    @property
    def test_dataset(self) -> Dataset:
        return self.dataset("test")

    def setup(self, stage: str | None = None) -> None:
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": (self.predict_split,)}
        for split in needed.get(stage, SPLITS) if stage is not None else SPLITS:
            self.dataset(split)

    # ------------------------------------------------------------------ loaders
    def _loader(self, ds: Dataset, sampler=None) -> DataLoader:
        # the last, smaller batch is kept: an epoch visits every instance
        n = self.num_workers
        return DataLoader(ds, batch_size=self.batch_size, sampler=sampler, num_workers=n, persistent_workers=n > 0,
                          collate_fn=getattr(ds, "collate_fn", None))  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        ds = self.dataset("train")
        return self._loader(ds, EpochSampler(ds, shuffle=True, seed=self.seed))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("val"))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("test"))

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.dataset(self.predict_split))


class InstanceCropDataModule(SceneDataModule):
    """Instance crops (:class:`~amodal_compose.data.datasets.InstanceCrops`): every eligible instance
    of every scene, once per epoch.

    Args:
        crop_size: network input side.
        enlarge: crop box enlargement.
        select: which instances are training items (``"any"``, ``"occluded"``, ``"unoccluded"``).
        eval_select: which are validation / test items (default: as ``select``).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = InstanceCropDataModule(train_scenes=8, val_scenes=4, image_size=32, crop_size=32)
        >>> dm.setup("fit"); len(dm.train_dataset) > 8  # instances, not scenes
        True
    """

    def __init__(
        self,
        crop_size: int = 64,
        enlarge: float = 1.5,
        select: Literal["any", "occluded", "unoccluded"] = "any",
        eval_select: Literal["any", "occluded", "unoccluded"] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.crop_size, self.enlarge = int(crop_size), float(enlarge)
        self.select = {True: select, False: eval_select or select}

    def crop_args(self, train: bool) -> dict:
        return {"crop_size": self.crop_size, "enlarge": self.enlarge, "select": self.select[train],
                **self.item_args(train)}  # fmt: skip

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        return InstanceCrops(scenes, **self.crop_args(train))


class ShapeDataModule(InstanceCropDataModule):
    """f_shape data (AMICO section 3.3): instance crops with ``m_edit``.

    Args:
        edit_pixels: largest random dilation / erosion of the visible mask, at 256 px (scaled to
            ``crop_size``), drawn anew every epoch; validation and test use the exact visible mask.
        **kwargs: see :class:`InstanceCropDataModule` (``select="any"`` by default) and
            :class:`SceneDataModule`.

    Example:
        >>> dm = ShapeDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32)
        >>> dm.setup("fit"); sorted(dm.train_dataset[0])[:3]
        ['amodal_mask', 'area_ratio', 'background']
    """

    def __init__(self, edit_pixels: int = 12, **kwargs) -> None:
        super().__init__(**kwargs)
        self.edit_pixels = int(edit_pixels)

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        return EditedCrops(scenes, self.edit_pixels, **self.crop_args(train))


class CompositionDataModule(SceneDataModule):
    """f_comp data (AMICO eq. 5): see :class:`~amodal_compose.data.pairs.CompositionPairs`.

    Args:
        crop_size: network input side.
        enlarge_range: crop enlargement range (below 1 the crop trims the object's box, which
            populates AMICO's (0.4, 0.5] area bin).
        background: ``"clean"`` (true background, synthetic only) or ``"inpaint"`` (Telea, as the
            paper does on real data; the only choice for reader sources).
        min_dilation, max_dilation: coarse cut-out dilation at 256 px for training (paper: 0-25).
        eval_min_dilation, eval_max_dilation: the same for validation and test (AMICO Table 2: 5-10).
        color_change: the colour change of training pairs: ``"reinhard"`` (the paper's colour
            transfer of the whole image), ``"tone"`` (harder: non-affine tone curves and a smooth
            gain field), ``"mixed"`` or ``"none"`` (see :func:`~amodal_compose.data.occlusion.random_color_change`).
        eval_color_change: the same for validation and test.
        color_strength: colour-change strength range for training (paper: full transfer, 1).
        eval_color_strength: the same for validation and test.
        unchanged_share, unchanged_cut: the share of training pairs that need no colour change, and
            their cut (``"ring"``: coarse, its ring the background; ``"exact"``: the visible mask), so the
            network learns to leave a correct object alone (not in the paper; see
            :class:`~amodal_compose.data.pairs.CompositionPairs`). Validation and test keep the eq. 5
            pairs.
        exact_share: the share of training pairs, changed or not, cut with the visible mask itself
            (not in the paper; validation and test keep eq. 5's coarse cuts).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = CompositionDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32)
        >>> dm.setup("fit"); tuple(dm.val_dataset[0]["object_image"].shape)
        (3, 32, 32)
    """

    def __init__(
        self,
        crop_size: int = 64,
        enlarge_range: tuple[float, float] = (0.7, 2.2),
        background: Literal["clean", "inpaint"] = "clean",
        min_dilation: int = 0,
        max_dilation: int = 25,
        eval_min_dilation: int = 5,
        eval_max_dilation: int = 10,
        color_change: Literal["reinhard", "tone", "mixed", "none"] = "reinhard",
        eval_color_change: Literal["reinhard", "tone", "mixed", "none"] = "reinhard",
        color_strength: tuple[float, float] = (1.0, 1.0),
        eval_color_strength: tuple[float, float] = (1.0, 1.0),
        unchanged_share: float = 0.0,
        unchanged_cut: Literal["ring", "exact"] = "ring",
        exact_share: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if background == "clean" and self.source != "synthetic":
            raise ValueError(
                f"background='clean' needs the true background, which only the synthetic source has; "
                f"use background='inpaint' with source={self.source!r}"
            )
        self.pair_args = dict(crop_size=crop_size, enlarge_range=tuple(enlarge_range), background=background)
        self.dilation = {True: (min_dilation, max_dilation), False: (eval_min_dilation, eval_max_dilation)}
        self.color_strength = {True: tuple(color_strength), False: tuple(eval_color_strength)}
        self.color_change = {True: color_change, False: eval_color_change}
        self.unchanged_share = {True: float(unchanged_share), False: 0.0}
        self.unchanged_cut = unchanged_cut
        self.exact_share = {True: float(exact_share), False: 0.0}

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        lo, hi = self.dilation[train]
        return CompositionPairs(
            scenes, **self.pair_args, min_dilation=lo, max_dilation=hi, color_change=self.color_change[train],
            color_strength=self.color_strength[train], unchanged_share=self.unchanged_share[train],
            unchanged_cut=self.unchanged_cut, exact_share=self.exact_share[train], **self.item_args(train),
        )  # fmt: skip


class ContentDataModule(SceneDataModule):
    """f_content data (AMICO section 3.1): :class:`~amodal_compose.data.pairs.ContentPairs`, an object
    hidden in part by another instance's mask (hidden share in ``hidden_range``).

    Args:
        crop_size: generator input side (a multiple of 8; the generator needs 8 * attention_rate, 16 by default).
        enlarge: crop enlargement around the object.
        object_from: ``"amodal"`` (full synthetic objects) or ``"visible"`` (real data, as the paper).
        hidden_range: hidden share range (paper: [0.1, 0.9]).
        eval_occlusion: validation / test items: ``"simulated"`` (as training: a placed eraser) or
            ``"real"``: the scenes' own occlusions, whose hidden content the synthetic set knows
            (:class:`~amodal_compose.data.pairs.RealOcclusions`; synthetic only).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = ContentDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32)
        >>> dm.setup("fit"); tuple(dm.train_dataset[0]["invisible_mask"].shape)
        (1, 32, 32)
    """

    def __init__(
        self,
        crop_size: int = 64,
        enlarge: float = 1.2,
        object_from: Literal["amodal", "visible"] = "amodal",
        hidden_range: tuple[float, float] = (0.1, 0.9),
        eval_occlusion: Literal["simulated", "real"] = "simulated",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if object_from == "amodal" and self.source != "synthetic":
            raise ValueError(
                f"object_from='amodal' needs full object layers (synthetic only); use 'visible' with {self.source!r}"
            )
        if eval_occlusion == "real" and self.source != "synthetic":
            raise ValueError(f"eval_occlusion='real' needs known hidden content (synthetic only), not {self.source!r}")
        if eval_occlusion not in ("simulated", "real"):
            raise ValueError(f"eval_occlusion must be 'simulated' or 'real', got {eval_occlusion!r}")
        if crop_size % 8:
            raise ValueError(f"crop_size must be a multiple of 8 for the content generator, got {crop_size}")
        self.eval_occlusion = eval_occlusion
        self.pair_args = dict(
            crop_size=crop_size, enlarge=enlarge, object_from=object_from, hidden_range=tuple(hidden_range)
        )

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        if not train and self.eval_occlusion == "real":
            a = self.pair_args
            return RealOcclusions(scenes, a["crop_size"], a["enlarge"], a["hidden_range"], num_workers=self.num_workers)
        return ContentPairs(scenes, **self.pair_args, **self.item_args(train))


class PCNetMDataModule(SceneDataModule):
    """PCNet-M data (PCNet section 3.1): self-supervised partial-completion pairs for training
    (:class:`~amodal_compose.data.pairs.PartialMaskPairs`, modal masks only) and whole scenes for
    validation and test, where the system recovers the occlusion order and the amodal masks.

    Args:
        crop_size: network input side (paper: 256).
        gamma: probability of case 1, the eraser in front (paper: 0.8).
        eraser_range: hidden share of the target the placed eraser aims for.
        jitter: training crops' ``(scale, shift)`` jitter.
        erasers: up to this many instances make one eraser (1: the paper's single instance); see
            :class:`~amodal_compose.data.pairs.PartialMaskPairs`.
        eval_batch_size: scenes per validation / test batch.
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = PCNetMDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32)
        >>> dm.setup("fit"); sorted(dm.train_dataset[0])[:3]
        ['box', 'category', 'erased_mask']
    """

    def __init__(
        self, crop_size: int = 64, gamma: float = 0.8, eraser_range: tuple[float, float] = (0.05, 0.7),
        jitter: tuple[float, float] = (0.2, 0.1), erasers: int = 1, eval_batch_size: int = 8, **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.pair_args = dict(crop_size=crop_size, gamma=gamma, eraser_range=tuple(eraser_range), jitter=tuple(jitter),
                              erasers=int(erasers))  # fmt: skip
        self.eval_batch_size = int(eval_batch_size)

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        return PartialMaskPairs(scenes, **self.pair_args, **self.item_args(True)) if train else SceneItems(scenes)

    def _loader(self, ds: Dataset, sampler=None) -> DataLoader:
        if isinstance(ds, SceneItems):
            n = self.num_workers
            return DataLoader(ds, batch_size=self.eval_batch_size, num_workers=n, persistent_workers=n > 0,
                              collate_fn=ds.collate_fn)  # fmt: skip
        return super()._loader(ds, sampler)


class PCNetCDataModule(SceneDataModule):
    """PCNet-C data (PCNet section 3.1, eq. 2): :class:`~amodal_compose.data.pairs.PartialContentPairs`
    for training; for validation and test, the scenes' real occlusions (synthetic data, whose hidden
    content is known: the items f_content is scored on) or simulated pairs.

    Args:
        crop_size: network input side.
        eraser_range, jitter: see :class:`PCNetMDataModule`.
        train_occlusion: ``"simulated"`` (PCNet's self-supervised erasures) or ``"real"`` (not in the paper;
            synthetic only): training items are the training scenes' own occlusions, whose hidden content
            the synthetic world knows (:class:`~amodal_compose.data.pairs.RealOcclusions`, augmented).
        eval_occlusion: ``"real"`` (:class:`~amodal_compose.data.pairs.RealOcclusions`, synthetic only) or
            ``"simulated"``.
        enlarge, hidden_range: the real occlusions' crop enlargement and hidden share (as
            :class:`ContentDataModule`, so both are scored on the same items).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.
    """

    def __init__(
        self, crop_size: int = 64, eraser_range: tuple[float, float] = (0.05, 0.7),
        jitter: tuple[float, float] = (0.2, 0.1), eval_occlusion: Literal["simulated", "real"] = "simulated",
        enlarge: float = 1.2, hidden_range: tuple[float, float] = (0.1, 0.9),
        train_occlusion: Literal["simulated", "real"] = "simulated", **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        for name, value in (("train_occlusion", train_occlusion), ("eval_occlusion", eval_occlusion)):
            if value not in ("simulated", "real"):
                raise ValueError(f"{name} must be 'simulated' or 'real', got {value!r}")
            if value == "real" and self.source != "synthetic":
                raise ValueError(f"{name}='real' needs known hidden content (synthetic only), not {self.source!r}")
        self.pair_args = dict(crop_size=crop_size, eraser_range=tuple(eraser_range), jitter=tuple(jitter))
        self.eval_occlusion, self.enlarge, self.hidden_range = eval_occlusion, float(enlarge), tuple(hidden_range)
        self.train_occlusion = train_occlusion

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        if (self.train_occlusion if train else self.eval_occlusion) == "real":
            return RealOcclusions(scenes, self.pair_args["crop_size"], self.enlarge, self.hidden_range,
                                  **self.item_args(train))  # fmt: skip
        return PartialContentPairs(scenes, **self.pair_args, **self.item_args(train))


class RemovalDataModule(SceneDataModule):
    """Object-removal data (Shimosato & Ukita III-A): :class:`~amodal_compose.data.pairs.CopyPastePairs`,
    an object pasted onto another scene's image, the image without it, the object's mask and both
    label maps; whole images (``image_size``) for training and evaluation.

    Args:
        categories: names of the object categories to paste (e.g. ``["person"]``, as the paper pastes
            COCO persons); ``None``: any.
        scale_range: random scale of the pasted object (wide enough to fill the paper's 0-40 % mask-ratio bins).
        max_ratio: largest share of the image a paste may cover.
        resize: resize every image to ``image_size x image_size`` (real data sets mix sizes).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.

    Example:
        >>> dm = RemovalDataModule(train_scenes=4, val_scenes=2, image_size=32)
        >>> dm.setup("fit"); sorted(dm.train_dataset[0])[:3]
        ['area_ratio', 'category', 'image']
    """

    def __init__(
        self, categories: list[str] | None = None, scale_range: tuple[float, float] = (0.8, 2.8),
        max_ratio: float = 0.4, resize: bool = False, **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.category_names = list(categories) if categories is not None else None
        self.pair_args = dict(scale_range=tuple(scale_range), max_ratio=float(max_ratio),
                              size=self.image_size if resize else None)  # fmt: skip

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        cats = None
        if self.category_names is not None:
            known = list(getattr(scenes, "categories", None) or [])
            missing = [c for c in self.category_names if c not in known]
            if missing:
                raise ValueError(f"categories {missing} not in the source's categories {known}")
            cats = [known.index(c) for c in self.category_names]
        return CopyPastePairs(scenes, cats, **self.pair_args, **self.item_args(train))


class AmodalVAEDataModule(SceneDataModule):
    """Amodal-VAE data (Ling et al. section 4.1), one training stage per config:

    1. full masks only: the unoccluded instances' masks (:class:`~amodal_compose.data.pairs.SimulatedOcclusionMasks`,
       whose full mask the stage reads);
    2. simulated partial -> full pairs (the same items: a mask with another placed in front);
    3. partial masks only: real instances with the masks that may hide them
       (:class:`~amodal_compose.data.pairs.OccluderCrops`; no amodal mask is read).

    Validation and test: the occluded instances' crops, exactly as :class:`ShapeDataModule` evaluates
    f_shape (``crop_size``, ``enlarge``; ground-truth amodal masks for scoring only), so the rows of
    both compare on the same items; with the other instances' masks, where the best-of-N ranking does
    not count disagreement with the visible mask.

    Args:
        stage: 1, 2 or 3.
        crop_size, enlarge: the crops.
        eraser_range: hidden share of the simulated occlusions.
        stage3_select: which instances stage 3 trains on (``"occluded"``; ``"any"`` when the source has
            no amodal masks to tell).
        bank_occlusions: simulated occlusions of every full training mask in the nearest-neighbour
            baseline's bank (:meth:`neighbour_bank`; Ling et al. 5.1: 5).
        bank_size: at most this many pairs in the bank (``None``: all of them).
        **kwargs: the scene-source and loader arguments of :class:`SceneDataModule`.
    """

    def __init__(
        self, stage: int = 2, crop_size: int = 64, enlarge: float = 1.5, eraser_range: tuple[float, float] = (0.1, 0.6),
        stage3_select: Literal["any", "occluded"] = "occluded", bank_occlusions: int = 5, bank_size: int | None = None,
        **kwargs,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        if stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, got {stage}")
        self.stage, self.crop_size, self.enlarge = int(stage), int(crop_size), float(enlarge)
        if bank_occlusions < 1 or (bank_size is not None and bank_size < 1):
            raise ValueError(f"bank_occlusions and bank_size must be >= 1, got {bank_occlusions}, {bank_size}")
        self.eraser_range, self.stage3_select = tuple(eraser_range), stage3_select
        self.bank_occlusions, self.bank_size = int(bank_occlusions), None if bank_size is None else int(bank_size)
        self._bank: dict | None = None

    def make_dataset(self, scenes: Dataset, train: bool) -> Dataset:
        crop = dict(crop_size=self.crop_size, enlarge=self.enlarge)
        if not train:  # the crops f_shape is scored on, with the other instances' masks (the ranking's occluders)
            return OccluderCrops(scenes, **crop, select="occluded", **self.item_args(False))
        if self.stage == 3:
            return OccluderCrops(scenes, **crop, select=self.stage3_select, **self.item_args(True))
        return SimulatedOcclusionMasks(scenes, **crop, eraser_range=self.eraser_range, **self.item_args(True))

    def neighbour_bank(self) -> dict:
        """The nearest-neighbour baseline's bank (Ling et al. 5.1): ``bank_occlusions`` simulated
        occlusions of every full (unoccluded) instance of the training scenes, fixed draws (occlusion
        ``e`` of instance ``i`` is item ``(e, i)``), at most ``bank_size`` pairs; ``{MODAL_MASK,
        AMODAL_MASK}`` as ``(N, 1, crop, crop)`` uint8 (a bank of thousands of masks stays small)."""
        if self._bank is None:
            scenes = self.scenes("train")
            # the same bank for every DataModule that asks with the same settings (a bench's chained stages);
            # a reader's scenes are identified by their files
            source = (self.source, self.num_scenes["train"], self.image_size, *map(str, self.files["train"]))
            key = (source, self.crop_size, self.enlarge, self.eraser_range, self.data_seed, self.bank_occlusions,
                   self.bank_size)  # fmt: skip
            if key not in _BANKS:
                # train=True: item (e, i) draws anew per e (fixed by data_seed; no augmentation)
                pairs = SimulatedOcclusionMasks(scenes, self.crop_size, self.enlarge, self.eraser_range, train=True,
                                                seed=self.data_seed, num_workers=self.num_workers)  # fmt: skip
                keys = [(e, i) for e in range(self.bank_occlusions) for i in range(len(pairs))][: self.bank_size]
                items = [pairs[k] for k in keys]
                _BANKS.clear()  # one bank kept: each holds thousands of masks
                _BANKS[key] = {k: torch.stack([it[k] for it in items]).to(torch.uint8) if items else
                               torch.zeros(0, 1, self.crop_size, self.crop_size, dtype=torch.uint8)
                               for k in (Keys.MODAL_MASK, Keys.AMODAL_MASK)}  # fmt: skip
            self._bank = _BANKS[key]
        return self._bank
