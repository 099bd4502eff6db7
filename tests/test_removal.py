"""Object removal with inpainting-driven mask optimisation (Shimosato & Ukita): the mask losses, the
segment selection, the copy-paste triplets, the three chained training stages, inference and the
pipeline / command."""

import pytest
import pytorch_lightning as pl
import torch

from amodal_compose import Pipeline
from amodal_compose.cli import main
from amodal_compose.data.datamodules import RemovalDataModule
from amodal_compose.io import write_png
from amodal_compose.losses.removal import boundary_loss, boundary_potential, mask_expansion_loss
from amodal_compose.nets import PatchDiscriminator, ResidualInpainter, SegmentationNet
from amodal_compose.ops.masks import dilate, erode
from amodal_compose.structures import Keys
from amodal_compose.systems import RemovalSystem
from amodal_compose.systems.removal import BASELINES, select_segment

DM = dict(image_size=32, train_scenes=12, val_scenes=3, test_scenes=4, batch_size=4, num_workers=0)


def tiny(stage: str, segmenter=None, **kw) -> RemovalSystem:
    k = 8
    nets = dict(
        segmenter=segmenter or SegmentationNet(k, widths=(8, 16), bottleneck=(16,)),
        edge_inpainter=ResidualInpainter(3, 1, 8, 1, "sigmoid"),
        seg_inpainter=ResidualInpainter(k + 1, k, 8, 1, "logits"),
        image_inpainter=ResidualInpainter(k + 5, 3, 8, 1, "image"),
        edge_critic=PatchDiscriminator(2, (8, 8, 8, 8)), seg_critic=PatchDiscriminator(k, (8, 8, 8, 8)),
        image_critic=PatchDiscriminator(3, (8, 8, 8, 8)),
    )  # fmt: skip
    return RemovalSystem(**nets, num_classes=k, stage=stage, **kw)


def fit(system, steps=2):
    trainer = pl.Trainer(max_steps=steps, limit_val_batches=1, val_check_interval=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)  # fmt: skip
    dm = RemovalDataModule(**DM)
    trainer.fit(system, dm)
    return trainer, dm


# ----------------------------------------------------------------------------- losses and selection
def test_boundary_loss_is_lowest_on_the_true_mask_and_the_expansion_loss_a_few_pixels_out():
    target = torch.zeros(1, 1, 64, 64)
    target[..., 20:44, 16:40] = 1
    phi = boundary_potential(target)
    assert phi[0, 0, 32, 28] < 0 < phi[0, 0, 0, 0]  # negative inside, positive outside
    candidates = {d: dilate(target, d) if d > 0 else erode(target, -d) if d < 0 else target for d in range(-4, 9)}
    boundary = {d: float(boundary_loss(m, phi)) for d, m in candidates.items()}
    assert min(boundary, key=boundary.get) in (-1, 0)  # the pixels on the boundary itself weigh ~0
    expansion = {d: float(mask_expansion_loss(m, phi, alpha=0.03)) for d, m in candidates.items()}
    best = min(expansion, key=expansion.get)
    assert 2 <= best <= 3  # alpha = 0.03 of the 90.5 px diagonal: the zero level 2.7 px outside
    with pytest.raises(ValueError, match="differ"):
        boundary_loss(target[..., :10], phi)


def test_select_segment_takes_the_class_under_the_hint_and_only_its_touching_region():
    logits = torch.full((1, 4, 16, 16), -5.0)
    logits[:, 0] = 5.0  # background
    logits[:, 2, 2:6, 2:6] = 10.0  # class 2 under the hint
    logits[:, 2, 10:14, 10:14] = 10.0  # class 2 elsewhere: another object, not selected
    logits[:, 3, 2:6, 6:8] = 10.0  # class 3 next to it, less mass under the hint
    logits.requires_grad_(True)
    hint = torch.zeros(1, 1, 16, 16)
    hint[..., 3:6, 3:7] = 1
    prob, hard = select_segment(logits, hint)
    assert hard[0, 0, 2:6, 2:6].all() and hard.sum() == 16  # the region of class 2 touching the hint
    prob.sum().backward()  # differentiable: what the straight-through mask carries back
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    far = torch.zeros_like(hint)
    far[..., 8, 0] = 1  # background only: no object region touches it
    assert select_segment(logits.detach(), far)[1].sum() == 0


def test_select_segment_follows_the_argmax_labelling_when_no_class_is_sure():
    # an object the net is unsure of (no class above 0.5) is still a segment of its labelling
    logits = torch.zeros(1, 4, 16, 16)
    logits[:, 0] = 2.0
    logits[:, 2, 4:10, 4:10], logits[:, 3, 4:10, 4:10], logits[:, 0, 4:10, 4:10] = 0.3, 0.2, 0.1
    hint = torch.zeros(1, 1, 16, 16)
    hint[..., 5:9, 5:9] = 1
    prob, hard = select_segment(logits, hint)
    assert prob.max() < 0.5 and hard.sum() == 36 and hard[0, 0, 4:10, 4:10].all()


def test_reconstruction_composite_scores_the_filled_image_and_reaches_the_mask():
    torch.manual_seed(0)
    clean, image = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    image = image * target + clean * (1 - target)  # the object differs from I_G only on m_G
    mask = target.clone().requires_grad_(True)
    raw = torch.where(target > 0, clean, torch.rand_like(clean))  # right inside the mask, wrong outside
    out = {"raw": raw, "image": image * (1 - mask) + raw * mask}  # what fill returns
    composite, output = tiny("joint", reconstruction="composite"), tiny("joint")
    assert output.reconstruction_loss(out, clean, target) > 0.1  # the raw output is scored everywhere
    loss = composite.reconstruction_loss(out, clean, target)
    assert loss == 0  # the filled image is I_G
    shrunk = dict(out, image=image * (1 - mask * 0.5) + raw * mask * 0.5)
    composite.reconstruction_loss(shrunk, clean, target).backward()
    assert mask.grad[target > 0].lt(0).all()  # unmasking object pixels costs: the L1 pushes the mask up there
    with pytest.raises(ValueError, match="reconstruction"):
        tiny("joint", reconstruction="raw")


@pytest.mark.parametrize("reconstruction", ["output", "composite"])
def test_joint_stage_trains_with_either_reconstruction(reconstruction):
    pl.seed_everything(0)
    joint = tiny("joint", reconstruction=reconstruction)
    before = [p.clone() for p in joint.segmenter.parameters()]
    fit(joint, steps=2)
    assert not all(torch.equal(a, b) for a, b in zip(before, joint.segmenter.parameters()))


def test_copy_paste_triplets():
    dm = RemovalDataModule(**DM)
    dm.setup("fit")
    for i in range(4):
        item = dm.dataset("train")[i]
        m = item[Keys.OBJECT_MASK]
        assert m.sum() > 0 and float(item[Keys.AREA_RATIO]) == pytest.approx(float(m.mean()))
        assert torch.equal(item[Keys.IMAGE] * (1 - m), item[Keys.TARGET] * (1 - m))  # only the object differs
        seg, clean = item[Keys.SEGMENTATION], item[Keys.TARGET_SEGMENTATION]
        assert torch.equal(seg[m[0] == 0], clean[m[0] == 0])
        assert torch.all(seg[m[0] > 0] == int(item[Keys.CATEGORY]) + 1)  # the pasted object's label


# ----------------------------------------------------------------------------- stages
def test_three_stages_chain_by_checkpoint(tmp_path):
    pl.seed_everything(0)
    seg = tiny("segmentation")
    fit(seg)
    seg_ckpt = tmp_path / "seg.ckpt"
    torch.save(seg.portable_checkpoint(), seg_ckpt)

    inp = tiny("inpainters", init_from=[str(seg_ckpt)])
    fit(inp)
    for a, b in zip(inp.segmenter.parameters(), seg.segmenter.parameters()):
        assert torch.equal(a, b)  # loaded, and not trained in the inpainters stage
    inp_ckpt = tmp_path / "inp.ckpt"
    torch.save(inp.portable_checkpoint(), inp_ckpt)

    joint = tiny("joint", init_from=[str(inp_ckpt)])
    trainer, dm = fit(joint)
    for a, b in zip(joint.reference_segmenter.parameters(), seg.segmenter.parameters()):
        assert torch.equal(a, b)  # the frozen reference is the pretrained segmenter
    assert not all(torch.equal(a, b) for a, b in zip(joint.segmenter.parameters(), seg.segmenter.parameters()))
    result = trainer.test(joint, datamodule=dm, verbose=False)[0]
    for method in ("joint", "inpainter, gt mask", "inpainter, gt +4px", "inpainter, segmentation mask",
                   "telea, segmentation mask"):  # fmt: skip
        assert f"test/psnr/all/{method}" in result
    with pytest.raises(ValueError, match="no weights"):
        other = tmp_path / "other.ckpt"
        torch.save({"state_dict": {"unrelated.weight": torch.zeros(1)}}, other)
        tiny("joint", init_from=[str(other)]).load_weights([other])


def test_baseline_rows_can_be_restricted():
    dm = RemovalDataModule(**DM)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    system = tiny("joint", name="joint+MEL", baselines=["inpainter, segmentation mask"]).eval()
    with torch.no_grad():
        preds, _ = system.evaluate(batch)
    assert system.methods == ("joint+MEL", "inpainter, segmentation mask")
    assert set(preds) == {"joint+MEL", "inpainter, segmentation mask"}
    assert set(tiny("inpainters").methods) == set(BASELINES)  # all of them by default
    for bad in (["inpainter, gt +3px"], []):
        with pytest.raises(ValueError, match="baselines"):
            tiny("joint", baselines=bad)


def test_remove_any_size_and_clear_errors(tmp_path, capsys):
    system = tiny("joint")
    with torch.no_grad():  # a segmentation that finds nothing: uniform logits
        for p in system.segmenter.parameters():
            p.zero_()
    image = torch.zeros(3, 37, 45)
    image[:, 10:20, 12:25] = 1.0
    rough = torch.zeros(1, 37, 45)
    rough[:, 8:22, 10:27] = 1
    with pytest.raises(ValueError, match="touches no object"):
        system.remove(image, rough)
    # the command on a saved pipeline: the same error, one line, exit status 2
    Pipeline(remover=system).save(tmp_path / "pipe")
    write_png(tmp_path / "image.png", image)
    write_png(tmp_path / "rough.png", rough)
    args = ["remove", "--image", str(tmp_path / "image.png"), "--mask", str(tmp_path / "rough.png"),
            "--checkpoints", str(tmp_path / "pipe"), "--out", str(tmp_path / "removed.png")]  # fmt: skip
    assert main(args) == 2
    assert "touches no object" in capsys.readouterr().err

    system.segmenter = _Bright()  # a stand-in segmentation: the bright object
    out = system.remove(image, rough)
    assert out["image"].shape == (1, 3, 37, 45) and out["mask"].shape == (1, 1, 37, 45)
    assert out["mask"][0, 0, 10:20, 12:25].all() and out["mask"].sum() == 130
    known = 1 - out["mask"]
    torch.testing.assert_close(out["image"] * known, image[None] * known)  # only the removed pixels change
    with pytest.raises(ValueError, match="is empty"):
        system.remove(image, torch.zeros_like(rough))
    nan = image.clone()
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        system.remove(nan, rough)
    # the pipeline runs the networks on a window at their own scale (here the whole image, zero-padded):
    # the same removed region, and only it changed
    piped = Pipeline(remover=system).remove(image, rough)
    assert torch.equal(piped["mask"], out["mask"][0])
    assert torch.equal(piped["image"] * known[0], image * known[0])


class _Bright(torch.nn.Module):
    """A stand-in segmentation: class 1 where the image is bright, background elsewhere."""

    size_multiple = 1

    def forward(self, image):
        bright = (image.mean(1, keepdim=True) > 0.5).float()
        logits = torch.zeros(image.shape[0], 8, *image.shape[-2:])
        logits[:, 1:2] = 10 * bright
        logits[:, 0:1] = 10 * (1 - bright)
        return logits


def _timm_or_skip() -> None:
    try:
        import timm  # noqa: F401
    except Exception as err:  # not installed, or a torchvision built for another torch (fails at import)
        pytest.skip(f"the [timm] extra does not import here ({type(err).__name__}: {err}); it needs timm and a "
                    "torchvision built for this torch")  # fmt: skip


def test_timm_encoder_segments_any_size_and_serves_the_removal_system(tmp_path):
    _timm_or_skip()
    from amodal_compose.nets import TimmSegmentationNet

    torch.manual_seed(0)
    net = TimmSegmentationNet(8, "resnet18", pretrained=False, decoder_width=16)
    assert net.size_multiple == 32
    for size in ((64, 64), (50, 70)):  # the decoder upsamples back to any input size
        logits = net(torch.rand(2, 3, *size))
        assert logits.shape == (2, 8, *size)
    logits.square().mean().backward()
    # timm zero-initialises each residual block's last BatchNorm scale, so the blocks' inner convolutions
    # get no gradient at the first step; the stem, those scales, the decoder and the head do
    reached = {k for k, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert {"encoder.conv1.weight", "encoder.layer4.1.bn2.weight", "head.2.weight"} <= reached
    assert all(k in reached for k, _ in net.lateral.named_parameters(prefix="lateral"))

    system = tiny("segmentation", segmenter=TimmSegmentationNet(8, "resnet18", decoder_width=16))
    before = [p.clone() for p in system.segmenter.encoder.parameters()]
    fit(system)
    assert any(not torch.equal(a, b) for a, b in zip(before, system.segmenter.encoder.parameters()))
    with torch.no_grad():  # a segmentation sure of class 1 everywhere, so removal has a segment to select
        system.segmenter.head[-1].bias[1] += 20
    path = tmp_path / "remover.ckpt"
    torch.save(system.portable_checkpoint(), path)
    pipe = Pipeline.from_checkpoints(remover=path)  # the encoder is rebuilt from its recorded arguments
    assert type(pipe.components["remover"].segmenter).__name__ == "TimmSegmentationNet"
    for a, b in zip(pipe.components["remover"].segmenter.parameters(), system.segmenter.parameters()):
        torch.testing.assert_close(a, b)
    image, rough = torch.rand(3, 45, 61), torch.zeros(45, 61)
    rough[10:30, 20:40] = 1
    out = pipe.remove(image, rough)
    assert out["image"].shape == (3, 45, 61) and out["mask"].shape == (1, 45, 61) and out["mask"].all()


def test_eq_9_acts_on_the_segment_or_on_the_whole_image():
    """``expansion="segment"`` sums the chosen class's probability inside the selected segment only;
    ``"image"`` everywhere, as the paper writes eq. 9 for a mask head."""
    logits = torch.zeros(1, 3, 16, 16)
    logits[:, 1, 4:8, 4:8] = 4.0  # the segment under the hint
    logits[:, 1, 12:15, 12:15] = 4.0  # the same class elsewhere, not touching the hint
    hint = torch.zeros(1, 1, 16, 16)
    hint[..., 5:7, 5:7] = 1
    gated, hard = select_segment(logits, hint)
    ungated, hard2 = select_segment(logits, hint, ungated=True)
    assert torch.equal(hard, hard2) and hard[0, 0, 12:15, 12:15].sum() == 0
    assert gated[0, 0, 12:15, 12:15].max() == 0 and ungated[0, 0, 12:15, 12:15].min() > 0.9
    with pytest.raises(ValueError, match="expansion"):
        RemovalSystem(stage="joint", expansion="everywhere")
