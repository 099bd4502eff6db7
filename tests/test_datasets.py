import pytest
import torch
from torch.utils.data import DataLoader

from amodal_compose import Keys
from amodal_compose.data import generate_scene
from amodal_compose.data.augment import AugmentConfig, SceneAugment
from amodal_compose.data.datasets import InstanceCrops, SyntheticScenes, collate_scenes
from amodal_compose.ops import erode, order_from_masks


def test_splits_and_seeds_give_disjoint_scenes_and_are_lazy():
    tr, va = SyntheticScenes(3, 32, "train"), SyntheticScenes(3, 32, "val")
    other = SyntheticScenes(3, 32, "train", seed=1)
    ids = {s.scene_id for ds in (tr, va, other) for s in ds}
    assert len(ids) == 9  # hashed scene seeds: no split or data seed shares a scene
    assert tr[1].scene_id == tr.scene_seed(1) and torch.equal(tr[1].image, SyntheticScenes(3, 32, "train")[1].image)
    # an offset scheme would make scene i + 1 of seed 0 scene i of seed 1: hashing does not
    assert not torch.equal(other[0].image, tr[1].image)
    with pytest.raises(IndexError):
        tr[3]
    with pytest.raises(ValueError, match="split"):
        SyntheticScenes(3, 32, "holdout")


@pytest.mark.parametrize("select", ["any", "occluded", "unoccluded"])
def test_instance_crops(select):
    ds = InstanceCrops(SyntheticScenes(20, 64, "val"), crop_size=48, select=select, seed=1)
    item = ds[3]
    assert item[Keys.IMAGE].shape == (3, 48, 48) and item[Keys.MODAL_MASK].shape == (1, 48, 48)
    assert torch.all(item[Keys.MODAL_MASK] <= item[Keys.AMODAL_MASK])
    assert torch.equal(item[Keys.INVISIBLE_MASK], item[Keys.AMODAL_MASK] * (1 - item[Keys.MODAL_MASK]))
    if select == "occluded":
        assert item[Keys.OCCLUDED_RATIO] > 0
    if select == "unoccluded":
        assert item[Keys.OCCLUDED_RATIO] == 0
    # every item is an instance of the right kind, and the items are reproducible
    again = InstanceCrops(SyntheticScenes(20, 64, "val"), 48, select=select, seed=1)
    assert len(again) == len(ds) and torch.equal(ds[3][Keys.IMAGE], again[3][Keys.IMAGE])
    scenes = SyntheticScenes(20, 64, "val")
    expected = sum(
        1
        for s in scenes
        for i in s.instances
        if i.modal_mask.sum() >= 4 and (select == "any" or i.is_occluded == (select == "occluded"))
    )
    assert len(ds) == expected


def test_instance_crops_layer_matches_image_where_visible():
    ds = InstanceCrops(SyntheticScenes(10, 64, "val"), crop_size=64, enlarge=1.2)
    for i in range(5):
        it = ds[i]
        inner = erode(it[Keys.MODAL_MASK], 1).bool().expand(3, -1, -1)
        if inner.any():
            # resampling blends a pixel or two at the boundary; inside, the layer is what the image shows
            assert (it[Keys.IMAGE][inner] - it[Keys.LAYER][inner]).abs().mean() < 0.03


def test_dataloader_with_two_workers():
    ds = InstanceCrops(SyntheticScenes(16, 64, "train"), crop_size=64)
    batch = next(iter(DataLoader(ds, batch_size=8, num_workers=2)))
    assert batch[Keys.IMAGE].shape == (8, 3, 64, 64) and batch[Keys.BOX].shape == (8, 3)
    scenes = next(iter(DataLoader(SyntheticScenes(4, 32), batch_size=2, collate_fn=collate_scenes)))
    assert len(scenes) == 2


def test_augment_keeps_everything_aligned():
    s = generate_scene(3, 64)
    for k in range(4):
        o = SceneAugment(AugmentConfig(hflip=0.5, p_affine=1.0), seed=k)(s)
        assert o.image.shape == s.image.shape and len(o) <= len(s)
        assert torch.equal(o.order, order_from_masks(o.modal_masks(), o.amodal_masks()))
        for inst in o.instances:
            assert torch.all(inst.modal_mask <= inst.amodal_mask)
            inner = erode(inst.modal_mask, 1).bool().expand(3, -1, -1)
            if inner.any():  # colour jitter is the same on image and layer (resampling aside)
                assert (o.image[inner] - inst.layer[inner]).abs().mean() < 0.03


def test_augment_tracks_instances_and_depends_only_on_its_seed():
    s = generate_scene(3, 64)
    aug = SceneAugment(AugmentConfig(), seed=0)
    a, b = aug(s, seed=11), aug(s, seed=12)
    aug(s, seed=99)  # an unrelated call in between changes nothing
    assert torch.equal(aug(s, seed=11).image, a.image) and not torch.equal(a.image, b.image)
    for inst in a.instances:
        src = s.instances[inst.meta["source_index"]]
        assert inst.category == src.category and inst.depth == src.depth


def test_visible_only_scenes_augment_like_the_whole_scene():
    """Items built from visible data alone (PCNet's pairs) augment the scene without its layers, amodal
    masks and background: the same draws move the image and the visible masks exactly as before."""
    from amodal_compose.data.pairs import PartialMaskPairs

    s = generate_scene(3, 64)
    v = s.visible_only()
    assert all(i.layer is None and i.amodal_mask is None for i in v.instances) and v.background is None
    assert torch.equal(v.modal_masks(), s.modal_masks()) and torch.equal(v.order, s.order)
    aug = SceneAugment(AugmentConfig(hflip=0.5, p_affine=1.0))
    for seed in range(4):
        whole, part = aug(s, seed=seed), aug(v, seed=seed)
        assert torch.equal(whole.image, part.image) and torch.equal(whole.modal_masks(), part.modal_masks())
    assert PartialMaskPairs.visible_only and not InstanceCrops.visible_only
    pairs = PartialMaskPairs(SyntheticScenes(6, 32, "train"), crop_size=32, train=True, augment=aug)
    fast = [pairs[(1, i)] for i in range(len(pairs))]
    pairs.visible_only = False  # the whole scene augmented: the very same items
    for a, b in zip(fast, (pairs[(1, i)] for i in range(len(pairs)))):
        assert all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a)


def test_augment_flip_is_exact_and_reproducible():
    s = generate_scene(3, 64)
    aug = SceneAugment(AugmentConfig(hflip=1.0, p_affine=0.0, color_jitter=0.0, hue=0.0), seed=0)
    o = aug(s)
    assert torch.allclose(o.image, s.image.flip(-1), atol=1 / 255)
    for a, b in zip(o.instances, s.instances):
        assert torch.equal(a.modal_mask, b.modal_mask.flip(-1))
    a1 = SceneAugment(AugmentConfig(), seed=5)(s)
    a2 = SceneAugment(AugmentConfig(), seed=5)(s)
    assert torch.equal(a1.image, a2.image)
    assert SceneAugment(AugmentConfig(enabled=False))(s) is s


def test_instance_crop_datamodule_synthetic_and_reader(tmp_path):
    from conftest import FIXTURES

    from amodal_compose.data.datamodules import InstanceCropDataModule

    dm = InstanceCropDataModule(
        train_scenes=8, val_scenes=4, image_size=32, crop_size=32, batch_size=4, num_workers=0
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch[Keys.IMAGE].shape == (4, 3, 32, 32)
    assert len(dm.val_dataset) == sum(len(s) for s in SyntheticScenes(4, 32, "val"))  # instances of 4 scenes
    real = InstanceCropDataModule(
        source="cocoa",
        train_annotation_file=str(FIXTURES / "cocoa/COCO_amodal_val2014_fixture.json"),
        train_image_root=str(FIXTURES / "cocoa"),
        val_annotation_file=str(FIXTURES / "cocoa/COCO_amodal_val2014_fixture.json"),
        val_image_root=str(FIXTURES / "cocoa"),
        crop_size=32,
        batch_size=1,
        num_workers=0,
        augment=AugmentConfig(enabled=False),
    )
    real.setup("fit")
    item = real.val_dataset[0]
    assert item[Keys.AMODAL_MASK].shape == (1, 32, 32)
    with pytest.raises(ValueError, match="needs train_annotation_file"):
        InstanceCropDataModule(source="kins").setup("fit")
