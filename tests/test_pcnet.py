"""PCNet (Self-Supervised Scene De-occlusion): partial convolution, the losses, the self-supervised
pairs, ordering by dual completion, ordering-grounded amodal completion, and scene de-occlusion and
manipulation in the pipeline."""

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import known_compositor
from torch.utils.data import default_collate

from amodal_compose import Pipeline
from amodal_compose.algorithms import pcnet as pcnet_algorithms
from amodal_compose.algorithms.pcnet import dual_growth
from amodal_compose.baselines import complete_object_baselines
from amodal_compose.data.datamodules import PCNetCDataModule, PCNetMDataModule
from amodal_compose.data.datasets import SyntheticScenes
from amodal_compose.losses.pcnet import partial_completion_loss
from amodal_compose.metrics import OrderingAccuracy
from amodal_compose.nets.inpainting import PartialConv2d, PartialUNet, PatchDiscriminator
from amodal_compose.nets.pcnet import PartialMaskNet
from amodal_compose.ops.graph import ancestors
from amodal_compose.ops.masks import context_square, dilate
from amodal_compose.pipeline.scene import paint_order
from amodal_compose.structures import Keys
from amodal_compose.systems import PCNetCSystem, PCNetMSystem

DM = dict(image_size=32, crop_size=32, train_scenes=12, val_scenes=3, test_scenes=3, batch_size=4, num_workers=0)


def tiny_m() -> PCNetMSystem:
    torch.manual_seed(0)
    return PCNetMSystem(PartialMaskNet(widths=(8, 8, 16), bottleneck=(16,), use_image=False), input_size=32)


def tiny_c() -> PCNetCSystem:
    torch.manual_seed(0)
    return PCNetCSystem(PartialUNet(5, widths=(8, 16, 16)), PatchDiscriminator(3, widths=(8, 16, 16, 16)))


def scenes_with_occlusion(count=6, size=64):
    data = SyntheticScenes(40, size, "test")
    out = [data[i] for i in range(len(data)) if len(data[i]) >= 3 and any(x.is_occluded for x in data[i].instances)]
    return out[:count]


def oracle(system: PCNetMSystem, scene) -> None:
    """Make ``system``'s partial completion perfect on ``scene``: a target grows by its true amodal
    mask where the eraser covers it (what PCNet-M is trained to do)."""
    modal, amodal = scene.modal_masks(), scene.amodal_masks()

    def complete(image, targets, erasers, categories, batch, soft=False, mirror=False, scale=1.0):
        out = []
        for t, e in zip(targets, erasers):
            k = next(k for k in range(len(modal)) if torch.equal(modal[k], t))
            out.append(torch.maximum(t, amodal[k] * e))
        return torch.stack(out), (torch.stack(out) if soft else None)

    system._complete_masks = complete


# ----------------------------------------------------------------------------- layers and losses
def test_partial_convolution_renormalises_by_the_valid_share():
    conv = PartialConv2d(2, 3, 3)
    x = torch.rand(1, 2, 6, 6)
    full, m = conv(x, torch.ones(1, 1, 6, 6))
    # a full mask inside the image: the plain convolution (zero padding rescaled at the border)
    inner = F.conv2d(x, conv.conv.weight, conv.conv.bias)
    torch.testing.assert_close(full[..., 1:-1, 1:-1], inner)
    assert bool(m.all())
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :, :3] = 1  # the left half valid
    out, new = conv(x * 100 * (1 - mask) + x * mask, mask)  # what is under the hole does not matter
    ref, _ = conv(x, mask)
    torch.testing.assert_close(out, ref)
    assert torch.equal(new[0, 0, 0], torch.tensor([1.0, 1, 1, 1, 0, 0]))  # the valid region grows by one
    assert torch.all(out[..., 5:] == 0)  # a window with no valid pixel: zero, and no bias


def test_partial_completion_loss_weights_the_eraser():
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    eraser = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    bce = torch.log(torch.tensor(2.0))  # every pixel at p = 0.5
    assert partial_completion_loss(logits, target, eraser, 5.0).item() == pytest.approx((5 + 1 + 1 + 1) / 4 * bce)
    with pytest.raises(ValueError, match="shapes differ"):
        partial_completion_loss(logits, target[..., :1], eraser)


@pytest.mark.parametrize("erasers", [1, 3])
def test_pcnet_m_pairs_are_case_1_or_case_2(erasers):
    dm = PCNetMDataModule(**DM, gamma=0.5, erasers=erasers)
    dm.setup("fit")
    ds = dm.dataset("train")
    cases = set()
    for i in range(min(len(ds), 24)):
        item = ds[i]
        target, shown, eraser = item[Keys.MODAL_MASK], item[Keys.ERASED_MASK], item[Keys.ERASER_MASK]
        if torch.equal(shown, target):  # case 2: the eraser is behind, shown outside the target
            assert (eraser * target).sum() == 0
            cases.add(2)
        else:  # case 1: the target minus the eraser in front
            assert torch.equal(shown, target * (1 - eraser)) and (target * eraser).sum() > 0
            cases.add(1)
        assert torch.equal(item[Keys.IMAGE] * eraser, torch.zeros_like(item[Keys.IMAGE]))  # I \ M_B
    assert cases == {1, 2}


def test_pcnet_m_compound_erasers():
    """erasers=n: an eraser is the union of 1..n placed instances, each aiming for 1/k of the hidden
    share; erasers=1 is the paper's single instance, item for item."""
    from amodal_compose.data.pairs import PartialMaskPairs

    scenes = SyntheticScenes(8, 32, "train")
    single, default = (PartialMaskPairs(scenes, crop_size=32, train=True, **kw) for kw in ({"erasers": 1}, {}))
    compound = PartialMaskPairs(scenes, crop_size=32, train=True, erasers=3)
    keys = [(2, i) for i in range(len(single))]
    assert all(torch.equal(single[k][Keys.ERASER_MASK], default[k][Keys.ERASER_MASK]) for k in keys)
    differ = hidden = 0
    for k in keys:
        a, b = compound[k], compound[k]  # the same (epoch, index): the same item
        assert torch.equal(a[Keys.ERASER_MASK], b[Keys.ERASER_MASK])
        differ += not torch.equal(a[Keys.ERASER_MASK], single[k][Keys.ERASER_MASK])
        target, eraser = a[Keys.MODAL_MASK], a[Keys.ERASER_MASK]
        hidden += float((target * eraser).sum() / target.sum()) <= 0.7 + 0.05
    assert differ > len(keys) // 2 and hidden >= 0.9 * len(keys)
    with pytest.raises(ValueError, match="erasers must be at least 1"):
        PartialMaskPairs(scenes, erasers=0)


def test_pcnet_c_pairs_erase_the_overlap():
    dm = PCNetCDataModule(**DM)
    dm.setup("fit")
    item = dm.dataset("train")[0]
    hole = item[Keys.INVISIBLE_MASK]
    assert hole.sum() > 0 and (hole * item[Keys.MODAL_MASK]).sum() == 0
    assert torch.equal(item[Keys.IMAGE] * hole, torch.zeros_like(item[Keys.IMAGE]))
    assert torch.equal(item[Keys.IMAGE] * (1 - hole), item[Keys.TARGET] * (1 - hole))
    batch = default_collate([item])
    assert torch.equal(PCNetCSystem.truth(batch), batch[Keys.TARGET])  # an erasure pair's truth is its crop


def test_pcnet_c_trains_on_real_occlusions_with_the_scene_as_truth():
    """``train_occlusion="real"``: the training scenes' own occlusions, new draws each epoch; the losses
    compare against the scene with the object's hidden part filled in, not the object alone."""
    dm = PCNetCDataModule(**DM, train_occlusion="real", texture="photo")
    dm.setup("fit")
    ds = dm.dataset("train")
    assert len(ds) > 0 and ds.train
    assert any(not torch.equal(ds[(0, i)][Keys.IMAGE], ds[(1, i)][Keys.IMAGE]) for i in range(min(len(ds), 8)))
    item = ds[(0, 0)]
    hole, outside = item[Keys.INVISIBLE_MASK], 1 - item[Keys.AMODAL_MASK]
    truth = PCNetCSystem.truth(default_collate([item]))[0]
    assert torch.equal(truth * hole, item[Keys.TARGET] * hole)  # the hidden part's true content
    assert torch.equal(truth * outside, item[Keys.IMAGE] * outside) and (item[Keys.IMAGE] * outside).any()
    system = tiny_c()
    batch = default_collate([ds[(0, i)] for i in range(min(len(ds), 4))])
    perfect = PCNetCSystem.truth(batch)  # an output equal to the truth has no L1 left, known pixels or hole
    terms = system.generator_losses(batch, {"raw": perfect, "completed": perfect}, system.discriminator(perfect))
    assert float(terms["valid"]) == 0.0 and float(terms["hole"]) == 0.0
    pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0).fit(system, dm)  # fmt: skip
    assert all(torch.isfinite(p).all() for p in system.parameters())
    with pytest.raises(ValueError, match="train_occlusion='real' needs known hidden content"):
        PCNetCDataModule(**DM, source="cocoa", train_occlusion="real")
    with pytest.raises(ValueError, match="train_occlusion must be"):
        PCNetCDataModule(**DM, train_occlusion="erased")


# ----------------------------------------------------------------------------- ordering and amodal masks
def test_ancestors_and_paint_order_handle_cycles():
    order = torch.zeros(4, 4, dtype=torch.int64)
    order[0, 1] = order[1, 2] = order[2, 1] = order[3, 0] = 1  # 3 > 0 > 1 <-> 2 (a cycle)
    assert ancestors(order, 1) == [0, 2, 3] and ancestors(order, 3) == []
    paint = paint_order(order, [0, 1, 2, 3])
    assert sorted(paint) == [0, 1, 2, 3]
    assert paint.index(1) < paint.index(0) < paint.index(3)  # behind first; the 1 <-> 2 cycle broken either way
    assert paint_order(order, [0, 3]) == [0, 3]


def test_dual_completion_recovers_the_order_and_grounded_completion_the_amodal_masks():
    """With a perfect partial completion (PCNet-M's training target), eq. 3 recovers every
    neighbouring pair's order and eq. 4 (grounded) the true amodal masks."""
    acc = OrderingAccuracy()
    system = tiny_m()
    for scene in scenes_with_occlusion():
        oracle(system, scene)
        modal = scene.modal_masks()
        order = system.order(scene.image, modal)
        acc.update(order, scene.order)
        amodal = system.amodal(scene.image, modal, order)
        assert torch.equal(amodal, scene.amodal_masks())
        ungrounded = system.amodal(scene.image, modal, None)  # every neighbour as eraser: no smaller
        assert torch.all(ungrounded >= modal)
    assert acc.total > 5 and acc.compute() == 1.0


def test_batched_ordering_equals_the_per_pair_loop():
    system = tiny_m()
    with torch.no_grad():  # an untrained net whose output depends on its inputs
        for p in system.net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    for scene in scenes_with_occlusion(3):
        modal = scene.modal_masks()
        for ties, mirror, context in (("none", False, 0), ("soft", False, 0), ("soft", True, 0), ("soft", True, 2)):
            assert torch.equal(system.order(scene.image, modal, batch=True, ties=ties, mirror=mirror, context=context),
                               system.order(scene.image, modal, batch=False, ties=ties, mirror=mirror,
                                            context=context))  # fmt: skip


def test_mirror_averaged_ordering_is_the_same_for_a_scene_and_its_mirror_image():
    system = tiny_m()
    with torch.no_grad():  # an untrained net whose output depends on its inputs (and is not mirror-symmetric)
        for p in system.net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    differs = 0
    for scene in scenes_with_occlusion(4):
        image, modal, cats = scene.image, scene.modal_masks(), scene.categories()
        flipped = image.flip(-1), modal.flip(-1), cats
        both = system.order(image, modal, cats, ties="soft", mirror=True)
        assert torch.equal(both, system.order(*flipped, ties="soft", mirror=True))
        differs += not torch.equal(system.order(image, modal, cats, ties="soft"), system.order(*flipped, ties="soft"))
    assert differs  # without it, the untrained net orders some scene differently from its mirror image
    system.hparams.mirror = True  # the system's default, as a config sets it
    assert torch.equal(system.order(image, modal, cats, ties="soft"), both)
    # completion thresholds the two views' averaged probabilities: mirroring the input mirrors the output
    order = system.order(image, modal, cats)
    amodal = system.amodal(image, modal, order, cats)
    assert torch.equal(system.amodal(image.flip(-1), modal.flip(-1), order, cats), amodal.flip(-1))
    erasers = modal.flip(0)  # each instance erased by another one
    masks, probs = system.complete_masks(image, modal, erasers, cats, soft=True)
    views = [system.complete_masks(*(t.flip(-1) if f else t for t in (image, modal, erasers)), cats, soft=True,
                                   mirror=False)[1] for f in (False, True)]  # fmt: skip
    torch.testing.assert_close(probs, (views[0] + views[1].flip(-1)) / 2)
    assert torch.equal(masks, (probs > system.hparams.threshold).float())


def test_ordering_over_crop_scales_sums_each_scales_increments():
    system = tiny_m()
    with torch.no_grad():  # an untrained net whose output depends on its inputs
        for p in system.net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    scales = (0.8, 1.0, 1.2)
    differs = 0
    for scene in scenes_with_occlusion(4):
        image, modal, cats = scene.image, scene.modal_masks(), scene.categories()
        assert torch.equal(system.order(image, modal, cats, scales=(1.0,)), system.order(image, modal, cats))
        for mirror in (False, True):
            complete, near = system._completion(), system.hparams.neighbour_dilation
            pairs, hard, soft = dual_growth(complete, image, modal, cats, near, True, True, mirror, scales)
            views = [dual_growth(complete, image, modal, cats, near, True, True, mirror, (s,)) for s in scales]
            assert [v[0] for v in views] == [pairs] * 3
            torch.testing.assert_close(hard, sum(v[1] for v in views))
            torch.testing.assert_close(soft, sum(v[2] for v in views))
            differs += not torch.equal(views[0][2], views[1][2])
        multi = system.order(image, modal, cats, scales=scales, mirror=True)
        assert torch.equal(multi, system.order(image, modal, cats, scales=scales, mirror=True, batch=False))
    assert differs  # another crop scale gives other increments
    system.hparams.scales = scales  # the system's default, as a config sets it
    assert torch.equal(system.order(image, modal, cats, mirror=True), multi)
    # a scale is PCNet's square resized: 1.2 crops a 20 % wider context around the same box
    box = (10, 10, 20, 40)
    assert context_square(box, (64, 64), scale=1.2).side == round(1.2 * context_square(box, (64, 64)).side)
    with pytest.raises(ValueError, match="scales"):
        system.order(image, modal, scales=(0.0,))
    with pytest.raises(ValueError, match="scales"):
        PCNetMSystem(scales=())


def test_context_passes_order_an_instance_cut_by_two_occluders():
    """Eq. 3 judges instance 0, hidden by 1 on the left and by 2 on the right, with one occluder erased at a
    time; a completion that restores a silhouette only when every cut is erased (a shape prior cannot
    explain the other cut) then grows neither way and eq. 3 leaves both pairs unordered. A context pass
    erases 0's every neighbour with the pair's: 0 grows into 1 and into 2, and both come out in front;
    the grounded passes after it keep that order, and a perfect completion keeps every order right."""
    amodal = torch.zeros(3, 1, 16, 16)
    amodal[0, :, 4:12, 4:12], amodal[1, :, 3:13, 1:6], amodal[2, :, 3:13, 10:15] = 1, 1, 1
    modal = amodal.clone()
    modal[0] *= (1 - amodal[1]) * (1 - amodal[2])  # 1 and 2 in front of 0

    def complete(image, targets, erasers, categories, batch, soft=False, mirror=False, scale=1.0):
        out = []
        for t, e in zip(targets, erasers):
            k = next(k for k in range(len(modal)) if torch.equal(modal[k], t))
            whole = ((amodal[k] - modal[k]) * (1 - e)).sum() == 0  # every hidden pixel under the eraser
            out.append(torch.maximum(t, amodal[k] * e) if whole else t)
        return torch.stack(out), (torch.stack(out) if soft else None)

    system = tiny_m()
    system._complete_masks = complete
    image = torch.rand(3, 16, 16)
    assert system.order(image, modal).sum() == 0  # eq. 3: no growth either way, no edge
    truth = torch.zeros(3, 3, dtype=torch.int64)
    truth[1, 0] = truth[2, 0] = 1
    for passes in (1, 2, 3):
        for batch in (True, False):
            assert torch.equal(system.order(image, modal, context=passes, batch=batch), truth)
    calls = []
    system._complete_masks = lambda *args, **kw: calls.append(len(args[1])) or complete(*args, **kw)
    for passes in (2, 5):  # later passes rerun no completion they repeat, and stop once the order holds
        calls.clear()
        assert torch.equal(system.order(image, modal, context=passes), truth)
        assert sum(calls) == 4  # pass 2 erases for each completion what pass 1 did: nothing runs again
    system._complete_masks = complete
    system.hparams.context = 2  # the system's default, as a config sets it
    assert torch.equal(system.order(image, modal), truth)
    assert system.order(image, modal, context=0).sum() == 0
    with pytest.raises(ValueError, match="context"):
        system.order(image, modal, context=-1)
    with pytest.raises(ValueError, match="context"):
        PCNetMSystem(context=1.5)
    acc = OrderingAccuracy()
    for scene in scenes_with_occlusion(4):  # a perfect partial completion: every order still right
        oracle(system, scene)
        acc.update(system.order(scene.image, scene.modal_masks(), context=3), scene.order)
    assert acc.total > 5 and acc.compute() == 1.0


def test_soft_ties_order_the_pairs_eq_3_leaves_unordered():
    system = tiny_m()
    modal = torch.zeros(3, 1, 16, 16)
    modal[0, :, 2:8, 2:8], modal[1, :, 2:8, 8:14], modal[2, :, 12:15, 12:15] = 1, 1, 1  # 0 and 1 touch

    def complete(image, targets, erasers, categories, batch, soft=False, mirror=False, scale=1.0):
        # no pixel grows past the threshold; the probabilities spill more from instance 1 than from 0
        spill = torch.stack([0.2 * e * (1 + float(t[0, 2:8, 8:14].sum() > 0)) for t, e in zip(targets, erasers)])
        return targets.clone(), ((targets + spill).clamp(max=1) if soft else None)

    system._complete_masks = complete
    image = torch.rand(3, 16, 16)
    assert system.order(image, modal).sum() == 0  # eq. 3: equal increments, no edge
    soft = system.order(image, modal, ties="soft")
    assert soft[0, 1] == 1 and soft.sum() == 1  # 1 spills more: it is the occludee
    system.hparams.ties = "soft"  # the system's default, as a config sets it
    assert torch.equal(system.order(image, modal), soft)
    with pytest.raises(ValueError, match="ties"):
        system.order(image, modal, ties="random")


def test_cycles_break_the_weakest_edge_of_the_predicted_order(monkeypatch):
    system = tiny_m()
    modal = torch.zeros(3, 1, 16, 16)
    modal[0, :, 2:8, 2:8], modal[1, :, 2:8, 8:14], modal[2, :, 8:14, 4:12] = 1, 1, 1  # all three touch
    pairs = [(0, 1), (0, 2), (1, 2)]
    # increments (grow of i, grow of j): 0 in front of 1 by 10 px, 2 in front of 0 by 2, 1 in front of 2 by 8
    hard = torch.tensor([[0.0, 3.0, 0.0], [10.0, 1.0, 8.0]])
    monkeypatch.setattr(pcnet_algorithms, "dual_growth", lambda *args, **kwargs: (pairs, hard, None))
    image = torch.rand(3, 16, 16)
    assert system.order(image, modal).tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]  # PCNet: a ring
    front_to_back = [[0, 1, 1], [0, 0, 1], [0, 0, 0]]  # 2 > 0, the weakest edge, reversed
    assert system.order(image, modal, cycles="break").tolist() == front_to_back
    system.hparams.cycles = "break"  # the system's default, as a config sets it
    assert system.order(image, modal).tolist() == front_to_back
    with pytest.raises(ValueError, match="cycles"):
        system.order(image, modal, cycles="drop")
    with pytest.raises(ValueError, match="cycles"):
        PCNetMSystem(cycles="drop")


def test_systems_fit_and_score_whole_scenes():
    for system, dm, main in ((tiny_m(), PCNetMDataModule(**DM), "pair_accuracy/pcnet_m"),
                             (tiny_c(), PCNetCDataModule(**DM), "psnr/all/pcnet_c")):  # fmt: skip
        trainer = pl.Trainer(max_steps=2, limit_val_batches=1, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
        trainer.fit(system, dm)
        result = trainer.test(system, datamodule=dm, verbose=False)[0]
        assert f"test/{main}" in result
    assert {"test/pair_accuracy/y-axis", "test/pair_accuracy/pcnet_m (soft ties)",
            "test/miou_invisible/pcnet_m (grounded)", "test/miou_full/convex_r"} <= \
        set(trainer.test(*(tiny_m(), PCNetMDataModule(**DM)), verbose=False)[0])  # fmt: skip


# ----------------------------------------------------------------------------- the pipeline
def test_deocclude_and_manipulate_with_a_perfect_pcnet_m():
    scene = scenes_with_occlusion(1)[0]
    m = tiny_m()
    oracle(m, scene)
    pipe = Pipeline(pcnet_m=m, pcnet_c=tiny_c())
    modal = scene.modal_masks()
    d = pipe.deocclude(scene.image, modal)
    assert torch.equal(d.amodal, scene.amodal_masks()) and torch.equal(d.layers[:, 3:], d.amodal)
    assert torch.equal(d.layers[:, :3] * modal, scene.image[None] * modal)  # visible pixels kept
    assert d.notes == {"content": "pcnet_c", "amodal": "pcnet_m", "background": "pcnet_c"}
    assert d.background.shape == scene.image.shape

    # delete the front occluder of a hidden object: outside what it covered, the result is the scene
    # re-rendered without it, exactly (the layers' visible pixels and the untouched background)
    target = next(k for k, i in enumerate(scene.instances) if i.is_occluded)
    j = int(torch.nonzero(scene.order[:, target]).flatten()[0])
    edited = pipe.manipulate(scene.image, modal, [{"delete": j}], harmonize=False)
    assert j not in edited.paint and len(edited.paint) == len(scene) - 1
    others = [k for k in range(len(scene)) if k != j]
    exact = torch.maximum(1 - dilate(modal.amax(0), 1), modal[others].amax(0))
    truth = scene.render(exclude=[j])
    torch.testing.assert_close(edited.image * exact, truth * exact)
    # the hidden part j revealed is painted from the completed layer
    revealed = d.amodal[target] * modal[j]
    assert revealed.sum() > 0 and torch.equal(edited.image * revealed, d.layers[target, :3] * revealed)

    moved = pipe.manipulate(scene.image, modal, [{"move": target, "offset": (3, 0)}], harmonize=False)
    assert moved.layers[moved.paint.index(target)][3:, :, 3:].sum() == d.amodal[target][:, :, :-3].sum()
    # only the edit is painted: outside the object's old and new place every pixel is the input's
    region = torch.maximum(d.amodal[target], torch.roll(d.amodal[target], 3, -1))
    assert torch.equal(moved.image * (1 - region), scene.image * (1 - region))
    assert not torch.equal(moved.image * region, scene.image * region)
    assert torch.equal(pipe.manipulate(scene.image, modal, [], harmonize=False).image, scene.image)  # no edit
    flipped = pipe.manipulate(scene.image, modal, [{"front": target, "of": j}], harmonize=False)
    assert flipped.paint.index(target) > flipped.paint.index(j)
    inserted = pipe.manipulate(scene.image, modal, [{"insert": (scene.image, modal[target])}], harmonize=False)
    assert len(inserted.layers) == len(scene) + 1
    for bad, message in (({"delete": 99}, "out of range"), ({"spin": 0}, "unknown edit")):
        with pytest.raises(ValueError, match=message):
            pipe.manipulate(scene.image, modal, [bad])


def test_manipulate_blends_inserted_objects_and_pastes_moved_layers_by_default():
    """harmonize="inserted": a moved layer keeps the photo's colours (pasted), an inserted object goes
    through f_comp; "edited" sends the moved layer through it too; "none" pastes everything."""
    scene = scenes_with_occlusion(1)[0]
    m = tiny_m()
    oracle(m, scene)
    pipe = Pipeline(pcnet_m=m, pcnet_c=tiny_c(), compositor=known_compositor((0.2, 0.2, 0.2)))
    modal = scene.modal_masks()
    target = next(k for k, i in enumerate(scene.instances) if i.is_occluded)
    move = [{"move": target, "offset": (3, 0)}]
    pasted = pipe.manipulate(scene.image, modal, move, harmonize="none").image
    assert torch.equal(pipe.manipulate(scene.image, modal, move).image, pasted)
    assert torch.equal(pipe.manipulate(scene.image, modal, move, harmonize=False).image, pasted)
    shifted = torch.roll(modal[target], 3, -1)
    brighter = pipe.manipulate(scene.image, modal, move, harmonize="edited").image
    assert float(((brighter - pasted) * shifted).sum()) > 0.05 * float(shifted.sum())  # f_comp's +0.2
    insert = [{"insert": (scene.image, modal[target])}]
    blended = pipe.manipulate(scene.image, modal, insert).image
    assert not torch.equal(blended, pipe.manipulate(scene.image, modal, insert, harmonize="none").image)
    with pytest.raises(ValueError, match="harmonize must be"):
        pipe.manipulate(scene.image, modal, move, harmonize="moved")


def test_objects_cut_by_the_image_border():
    """An object the image border cuts is completed inside the image: its crop is zero-padded beyond
    the border, the hidden part behind its occluder is recovered, nothing past the border is."""

    class Scene:  # a hand-made scene: A touches the left and top borders, B stands in front of it
        def __init__(self):
            self.a, self.b = torch.zeros(1, 48, 48), torch.zeros(1, 48, 48)
            self.a[:, 0:20, 0:22] = 1
            self.b[:, 8:30, 12:34] = 1

        def modal_masks(self):
            return torch.stack([self.a * (1 - self.b), self.b])

        def amodal_masks(self):
            return torch.stack([self.a, self.b])

    scene = Scene()
    image = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(0))
    m = tiny_m()
    oracle(m, scene)
    d = Pipeline(pcnet_m=m, pcnet_c=tiny_c()).deocclude(image, scene.modal_masks())
    assert d.order.tolist() == [[0, 0], [1, 0]]  # B occludes A
    assert torch.equal(d.amodal, scene.amodal_masks())  # A's hidden corner back, clipped to the image
    assert d.layers.shape == (2, 4, 48, 48) and torch.isfinite(d.layers).all()
    hidden = scene.a * scene.b
    assert torch.equal(d.layers[0, 3:] * hidden, hidden)  # the hidden part is a painted, opaque layer


def test_deocclude_falls_back_and_names_what_is_missing():
    from amodal_compose.pipeline import MissingComponentError

    scene = scenes_with_occlusion(1)[0]
    m = tiny_m()
    oracle(m, scene)
    with pytest.raises(MissingComponentError, match="pcnet_c"):
        Pipeline(pcnet_m=m).deocclude(scene.image, scene.modal_masks())  # a hidden part to fill, no content net
    with pytest.raises(MissingComponentError, match="pcnet_m"):
        Pipeline(pcnet_c=tiny_c()).deocclude(scene.image, scene.modal_masks())
    with pytest.raises(ValueError, match="mask 1 is empty"):
        modal = scene.modal_masks().clone()
        modal[1] = 0
        Pipeline(pcnet_m=m, pcnet_c=tiny_c()).deocclude(scene.image, modal)
    with pytest.raises(ValueError, match="needs shape_method='amodal_vae'"):
        Pipeline(pcnet_m=m, pcnet_c=tiny_c()).deocclude(scene.image, scene.modal_masks(), hypotheses=3)


def test_deocclude_with_amodal_vae_hypotheses():
    """shape_method="amodal_vae": N sampled masks per instance, kept only where the erasers above
    cover them, each completed by PCNet-C, ranked; the result's masks are the first."""
    from amodal_compose.nets.vae import AmodalVAE
    from amodal_compose.systems import AmodalVAESystem

    scene = scenes_with_occlusion(1)[0]
    m = tiny_m()
    oracle(m, scene)
    torch.manual_seed(0)
    vae = AmodalVAESystem(AmodalVAE(size=16, latent=4, widths=(8, 8), num_classes=8, embed=2), stage=2,
                          train_decoder=True)  # fmt: skip
    with torch.no_grad():
        for p in vae.net.decoder.parameters():
            p.mul_(3)
    pipe = Pipeline(pcnet_m=m, pcnet_c=tiny_c(), amodal_vae=vae)
    modal = scene.modal_masks()
    d = pipe.deocclude(scene.image, modal, scene.categories().tolist(), shape_method="amodal_vae", hypotheses=3)
    assert d.notes["amodal"] == "amodal_vae" and len(d.hypotheses) == len(scene)
    for k, alternatives in enumerate(d.hypotheses):
        assert len(alternatives) == 3
        assert [h.score for h in alternatives] == sorted((h.score for h in alternatives), reverse=True)
        assert torch.equal(d.amodal[k], alternatives[0].amodal_mask)
        above = ancestors(d.order, k)
        cover = modal[above].amax(0) if above else torch.zeros_like(modal[k])
        for h in alternatives:  # grounded: the visible mask plus what the erasers above hide
            assert torch.all(h.amodal_mask >= modal[k]) and torch.all(h.amodal_mask <= torch.maximum(modal[k], cover))
            assert torch.equal(h.completed * modal[k], scene.image * modal[k])
    again = pipe.deocclude(scene.image, modal, scene.categories().tolist(), shape_method="amodal_vae", hypotheses=3)
    assert torch.equal(again.amodal, d.amodal)
    one = pipe.deocclude(scene.image, modal, shape_method="amodal_vae")
    assert one.hypotheses == [] and one.amodal.shape == modal.shape


def test_deocclude_and_convert_commands(tmp_path, capsys):
    """``deocclude`` on a saved pipeline (with Amodal-VAE hypotheses), and ``convert-amodal`` turning the
    COCO fixture into a COCOA file that the COCOA reader reads back with amodal masks and an order."""
    import json

    from conftest import FIXTURES

    from amodal_compose.cli import main
    from amodal_compose.data.readers import CocoaAmodal
    from amodal_compose.io import write_png
    from amodal_compose.nets.vae import AmodalVAE
    from amodal_compose.systems import AmodalVAESystem

    scene = scenes_with_occlusion(1)[0]
    vae = AmodalVAESystem(AmodalVAE(size=16, latent=4, widths=(8, 8), num_classes=8, embed=2), stage=2,
                          train_decoder=True)  # fmt: skip
    Pipeline(pcnet_m=tiny_m(), pcnet_c=tiny_c(), amodal_vae=vae).save(tmp_path / "pipe")
    write_png(tmp_path / "scene.png", scene.image)
    for k, inst in enumerate(scene.instances):
        write_png(tmp_path / "masks" / f"{k:02d}.png", inst.modal_mask)
    args = ["deocclude", "--image", str(tmp_path / "scene.png"), "--masks", str(tmp_path / "masks"),
            "--checkpoints", str(tmp_path / "pipe"), "--out", str(tmp_path / "out"), "--shape-method", "amodal_vae",
            "--hypotheses", "2"]  # fmt: skip
    assert main(args) == 0
    assert f"{len(scene)} objects" in capsys.readouterr().out
    order = json.loads((tmp_path / "out" / "order.json").read_text())
    assert len(order["matrix"]) == len(scene) and order["notes"]["amodal"] == "amodal_vae"
    for k in range(len(scene)):
        for name in (f"amodal_{k}.png", f"layer_{k}.png", f"amodal_{k}_hypothesis_1.png"):
            assert (tmp_path / "out" / name).is_file()

    m = tiny_m()
    torch.save(m.portable_checkpoint(), tmp_path / "pcnet_m.ckpt")
    out = tmp_path / "cocoa" / "pseudo_amodal.json"
    assert main(["convert-amodal", "--annotations", str(FIXTURES / "coco" / "instances_fixture.json"),
                 "--images", str(FIXTURES / "coco"), "--checkpoint", str(tmp_path / "pcnet_m.ckpt"),
                 "--out", str(out)]) == 0  # fmt: skip
    back = CocoaAmodal(out, FIXTURES / "coco")
    assert len(back) >= 1 and all(s.order is not None for s in back)
    for s in back:
        for inst in s.instances:
            assert inst.amodal_mask is not None and torch.all(inst.amodal_mask >= inst.modal_mask)


def test_pcnet_c_prefill_corrects_the_telea_fill_and_keeps_the_known_pixels():
    torch.manual_seed(0)
    system = PCNetCSystem(PartialUNet(5, widths=(8, 16, 16)), PatchDiscriminator(3, widths=(8, 16, 16, 16)),
                          prefill="telea")  # fmt: skip
    image, visible = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    visible[..., 4:20, 4:28] = 1
    hole = torch.zeros_like(visible)
    hole[..., 20:28, 4:28] = 1
    system.eval()
    with torch.no_grad():
        out = system(image, visible, hole)
    assert torch.equal(out["completed"] * (1 - hole), image * (1 - hole))
    telea = complete_object_baselines(image * visible, visible, hole)["telea"]
    # the network's correction is bounded and starts near zero: the fill stays close to Telea's
    gap = ((out["completed"] - telea).abs() * hole).sum() / (3 * hole.sum())
    assert 0 < gap < 0.5
    with torch.no_grad():  # a background (nothing visible): filled from the known pixels, not from black
        background = system(torch.full_like(image, 0.8), torch.zeros_like(visible), hole)["completed"]
    assert ((background - 0.8).abs() * hole).sum() / (3 * hole.sum()) < 0.3  # a black prefill: about 0.8
    with pytest.raises(ValueError, match="prefill"):
        PCNetCSystem(prefill="lama")


def test_ordering_and_amodal_completion_are_plain_functions_over_a_completion():
    """PCNet's inference lives in ``algorithms.pcnet`` (no Lightning in it) and the system calls it: the
    same order and masks with the system's own completion passed by hand."""
    import ast
    from pathlib import Path

    from amodal_compose.algorithms import amodal_completion, recover_order

    source = Path(pcnet_algorithms.__file__).read_text()
    imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names}
    assert not any("lightning" in m for m in imported)
    scene = scenes_with_occlusion(1)[0]
    system = tiny_m()
    oracle(system, scene)
    modal, cats = scene.modal_masks(), scene.categories()
    order = recover_order(system._completion(), scene.image, modal, cats, system.hparams.neighbour_dilation)
    assert torch.equal(order, system.order(scene.image, modal, cats))
    complete = lambda im, t, e, c, **_: (system.complete_masks(im, t, e, c), None)  # noqa: E731
    assert torch.equal(amodal_completion(complete, scene.image, modal, order, cats), system.amodal(scene.image, modal,
                                                                                                    order, cats))


def test_crops_per_forward_follow_the_device_unless_set():
    from amodal_compose.systems.pcnet import BATCH_PIXELS

    system = tiny_m()  # 32 px crops
    assert system.max_batch_on("cpu") == BATCH_PIXELS["cpu"] // 32**2
    assert system.max_batch_on("cuda") == BATCH_PIXELS["cuda"] // 32**2
    assert PCNetMSystem(input_size=256).max_batch_on("cpu") == 1  # the real configs' crops: one per forward
    assert PCNetMSystem(max_batch=7).max_batch_on("cuda") == 7
    scene = scenes_with_occlusion(1)[0]
    modal, cats = scene.modal_masks(), scene.categories()
    orders = []
    for mb in (1, 3, None):
        system.hparams.max_batch = mb
        orders.append(system.order(scene.image, modal, cats))
    assert all(torch.equal(o, orders[0]) for o in orders)  # the batch size changes the speed, not the order
