"""The photo-textured synthetic world: disjoint photos per split, the same geometry in every world, the
ground truth kept exact, and the option on every DataModule."""

import json
from pathlib import Path

import pytest
import torch

from amodal_compose.data import SyntheticConfig, SyntheticSceneGenerator
from amodal_compose.data.datamodules import CompositionDataModule, ContentDataModule, PCNetMDataModule
from amodal_compose.data.datasets import SyntheticScenes
from amodal_compose.data.photos import PhotoBank, photo_sources

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("photo_set", ["registry", "bundled"])
def test_splits_use_disjoint_photos(photo_set):
    by_split = {s: {p.name for p in photo_sources(photo_set, s)} for s in ("train", "val", "test")}
    assert all(by_split.values())
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"]
                or by_split["val"] & by_split["test"])  # fmt: skip


def test_real_photo_bench_photos_are_test_photos_only():
    used = set(json.loads((REPO / "src/amodal_compose/bench/real_photos.json").read_text())["photos"])
    assert used <= {p.name for p in photo_sources("registry", "test")}


def test_every_registry_photo_loads():
    pytest.importorskip("skimage", reason="the registry photos come with the [photos] extra")
    pytest.importorskip("sklearn", reason="the registry photos come with the [photos] extra")
    g = torch.Generator().manual_seed(0)
    for split in ("train", "val", "test"):
        bank = PhotoBank(split)
        assert len(bank.photos) == len(photo_sources("registry", split))
        for image, _grey in bank.photos:
            assert image.ndim == 3 and max(image.shape[-2:]) <= 512 and 0 <= image.min() and image.max() <= 1
        tex = bank.texture(g, 48, lambda q: torch.rand(3, generator=q))
        assert tex.shape == (3, 48, 48) and tex.std() > 0.01


def _geometry(scene):
    return [(i.category, i.depth, i.amodal_mask, i.modal_mask) for i in scene.instances], scene.order


@pytest.mark.parametrize("texture", ["photo", "mixed"])
def test_geometry_is_the_same_in_every_world(texture):
    plain = SyntheticSceneGenerator(image_size=48)
    photo = SyntheticSceneGenerator(image_size=48, texture=texture, photo_set="bundled")
    changed = 0
    for seed in range(12):
        a, b = plain(seed), photo(seed)
        (ga, oa), (gb, ob) = _geometry(a), _geometry(b)
        assert torch.equal(oa, ob) and len(ga) == len(gb)
        for x, y in zip(ga, gb):
            assert x[:2] == y[:2] and torch.equal(x[2], y[2]) and torch.equal(x[3], y[3])
        changed += int(not torch.equal(a.image, b.image))
        assert torch.equal(b.image, photo(seed).image)  # reproducible from the seed
    assert changed == 12


def test_mixed_draws_both_kinds_and_splits_take_their_own_photos():
    gen = SyntheticSceneGenerator(image_size=48, texture="mixed", photo_set="bundled")
    kinds = {inst.meta["texture"] == "photo" for seed in range(10) for inst in gen(seed).instances}
    assert kinds == {True, False}
    for split in ("train", "val", "test"):
        ds = SyntheticScenes(2, 32, split, texture="photo", photo_set="bundled")
        assert ds.generator.config.photo_split == split
        ds[0]
        assert ds.generator._bank.sources == photo_sources("bundled", split)


def test_bad_texture_settings_are_rejected():
    from amodal_compose.cli import TEXTURES
    from amodal_compose.data.synthetic import TEXTURE_MODES

    assert TEXTURES == TEXTURE_MODES  # the CLI's choices, written out so that its parser needs no torch
    with pytest.raises(ValueError, match="texture must be one of"):
        SyntheticConfig(texture="wood")
    with pytest.raises(ValueError, match="photo_set"):
        SyntheticConfig(photo_set="internet")
    with pytest.raises(ValueError, match="texture must be one of"):
        PCNetMDataModule(texture="wood")
    with pytest.raises(ValueError, match="has its own images"):
        ContentDataModule(source="cocoa", texture="photo", object_from="visible", eval_occlusion="simulated",
                          train_annotation_file="a.json", train_image_root=".")  # fmt: skip


def test_datamodules_train_in_the_photo_world():
    dm = CompositionDataModule(train_scenes=4, val_scenes=2, test_scenes=2, image_size=32, crop_size=32,
                               texture="photo", photo_set="bundled", num_workers=0, batch_size=2)  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert all(torch.isfinite(v).all() for v in batch.values() if isinstance(v, torch.Tensor))
    assert dm.hparams["texture"] == "photo" and dm.scenes("val")[0].instances[0].meta["texture"] == "photo"


def test_mask_only_networks_see_the_same_items_in_every_world():
    """PCNet-M (without ``use_image``) and Amodal-VAE read masks only, so their bench rows do not depend on
    the world; only the RGB image, which they do not read, differs."""
    import yaml

    from amodal_compose.data.datamodules import AmodalVAEDataModule

    recipe = yaml.safe_load((REPO / "lightning_configs/bench/pcnet_m.yaml").read_text())
    assert not recipe["model"]["init_args"].get("use_image", False)
    for cls in (PCNetMDataModule, AmodalVAEDataModule):
        batches = []
        for texture in ("procedural", "photo"):
            dm = cls(train_scenes=6, val_scenes=2, test_scenes=2, image_size=48, crop_size=32, texture=texture,
                     photo_set="bundled", num_workers=0, batch_size=4)  # fmt: skip
            dm.setup("fit")
            batches.append(next(iter(dm.train_dataloader())))
        a, b = batches
        for key in a:
            if key != "image":
                assert torch.equal(a[key], b[key]) if isinstance(a[key], torch.Tensor) else a[key] == b[key], key
