import pytest
import torch

from amodal_compose.data import CATEGORIES, SyntheticConfig, SyntheticSceneGenerator, generate_scene
from amodal_compose.ops import convex_hull, erode, iou, order_from_masks


@pytest.fixture(scope="module")
def scenes():
    g = SyntheticSceneGenerator(image_size=64)
    return [g(i) for i in range(150)]


def test_reproducible_from_seed():
    a, b = generate_scene(11, 48), generate_scene(11, 48)
    assert torch.equal(a.image, b.image) and torch.equal(a.order, b.order)
    assert not torch.equal(a.image, generate_scene(12, 48).image)


@pytest.mark.parametrize("size", [32, 64, 128, 512])
def test_any_size(size):
    s = generate_scene(3, size)
    assert s.image.shape == (3, size, size) and len(s) >= 1
    assert s.background.shape == (3, size, size)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="image_size"):
        SyntheticConfig(image_size=8)
    with pytest.raises(ValueError, match="unknown categories"):
        SyntheticConfig(categories=("ell", "dragon"))


@pytest.mark.parametrize("texture", ["procedural", "photo"])
def test_ground_truth_is_consistent(scenes, texture):
    if texture == "photo":  # the photo world keeps the same exact ground truth
        gen = SyntheticSceneGenerator(image_size=48, texture="photo", photo_set="bundled")
        scenes = [gen(i) for i in range(10)]
        assert all(inst.meta["texture"] == "photo" for s in scenes for inst in s.instances)
    for s in scenes[:60]:
        cover = torch.zeros(1, *s.size)
        for inst in s.instances:
            assert torch.all(inst.modal_mask <= inst.amodal_mask)
            assert inst.layer is not None and inst.modal_mask.sum() > 0
            # the image shows the layer wherever the object is visible
            vis = inst.modal_mask.bool().expand(3, -1, -1)
            assert torch.allclose(s.image[vis], inst.layer[vis])
            cover = torch.maximum(cover, inst.amodal_mask)
        # the background shows where no object is
        free = (cover == 0).expand(3, -1, -1)
        assert torch.allclose(s.image[free], s.background[free])
        # the stored order is the order implied by the masks, and it agrees with depth
        assert torch.equal(s.order, order_from_masks(s.modal_masks(), s.amodal_masks()))
        for i, j in torch.nonzero(s.order).tolist():
            assert s.instances[i].depth > s.instances[j].depth


def test_occlusion_ratios_cover_the_range(scenes):
    r = torch.tensor([i.occluded_ratio for s in scenes for i in s.instances])
    assert (r == 0).float().mean() > 0.2  # unoccluded cases
    assert ((r > 0.1) & (r < 0.3)).sum() > 20
    assert (r > 0.5).sum() > 15  # heavy occlusion
    assert r.max() <= 0.9 + 1e-6  # min_visible = 0.1


def test_categories_are_distinct_and_mostly_non_convex(scenes):
    seen = {i.category for s in scenes for i in s.instances}
    assert len(seen) == len(CATEGORIES) >= 6
    # for unoccluded, in-frame objects the convex hull is a poor amodal guess for most categories
    by_cat = {}
    for s in scenes:
        for inst in s.instances:
            if not inst.is_occluded and inst.amodal_mask.sum() > 60:
                by_cat.setdefault(inst.category, []).append(
                    float(iou(convex_hull(inst.amodal_mask), inst.amodal_mask))
                )
    means = {CATEGORIES[c]: sum(v) / len(v) for c, v in by_cat.items()}
    assert sum(m < 0.85 for m in means.values()) >= 5, means


def test_textures_are_structured(scenes):
    """Objects are not flat: the layer varies inside the object (stripes, gradients, checkers, blobs)."""
    stds = [
        float(i.layer[:, erode(i.amodal_mask, 1)[0] > 0].std())
        for s in scenes[:30]
        for i in s.instances
        if erode(i.amodal_mask, 1).sum() > 30
    ]
    assert sum(v > 0.05 for v in stds) / len(stds) > 0.7


def test_illumination_is_shared_within_a_scene_and_varies_between_scenes(scenes):
    gains = torch.tensor([s.meta["illumination_gain"] for s in scenes[:40]])
    assert gains.std(0).min() > 0.03
    # turning illumination off changes every pixel of the same seed by the same per-channel gain
    lit = generate_scene(5, 64)
    flat = generate_scene(5, 64, illumination=False)
    gain = torch.tensor(lit.meta["illumination_gain"])
    ratio = (lit.background / flat.background.clamp_min(1e-3)).flatten(1)
    unclipped = (flat.background.flatten(1) * gain[:, None] < 0.99).all(0)
    assert torch.allclose(ratio[:, unclipped].mean(1), gain, atol=0.02)
