"""Amodal-VAE (Ling et al.): the networks' maths, the three chained training stages, posterior
sampling and the evaluation rows."""

import math
import warnings

import pytest
import pytorch_lightning as pl
import torch
from conftest import rect

from amodal_compose.baselines import amodal_nearest_neighbour
from amodal_compose.data.datamodules import AmodalVAEDataModule
from amodal_compose.nets.vae import AmodalVAE, SpatialTransformer, kl_normal
from amodal_compose.ops.masks import frame_masks, unframe_masks
from amodal_compose.structures import Keys
from amodal_compose.systems import AmodalVAESystem

TINY_NET = dict(size=16, latent=4, widths=(8, 8), num_classes=8, embed=2)


def tiny_dm(stage: int, **kw) -> AmodalVAEDataModule:
    args = dict(stage=stage, image_size=32, crop_size=32, train_scenes=16, val_scenes=4, test_scenes=6,
                batch_size=4, num_workers=0, bank_size=16)  # fmt: skip
    return AmodalVAEDataModule(**{**args, **kw})


def fit(system, dm, steps=3):
    trainer = pl.Trainer(max_steps=steps, limit_val_batches=1, val_check_interval=steps, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, accelerator="cpu")  # fmt: skip
    trainer.fit(system, dm)
    return trainer


def save(system, path):
    torch.save(system.portable_checkpoint(), path)
    return str(path)


# ----------------------------------------------------------------------------- maths
def test_kl_matches_its_closed_form_on_hand_made_values():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # KL(N(mu, s^2) || N(0, 1)) = 1/2 sum(mu^2 + s^2 - 1 - log s^2)
    expected = 0.5 * ((1 + 1 - 1 - 0) + (0 + 4 - 1 - math.log(4.0)))
    assert kl_normal(mu, logvar).item() == pytest.approx(expected, rel=1e-6)
    assert kl_normal(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max().item() == 0.0


def test_reparameterisation_gradient_flows_to_mean_and_variance():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.3]], requires_grad=True)
    z = AmodalVAE.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    (z**2).sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    assert mu.grad.abs().min() > 0 and logvar.grad.abs().min() > 0
    # z = mu + exp(logvar / 2) * eps, so dz/dmu = 1
    eps = (z - mu) / (0.5 * logvar).exp()
    assert torch.allclose(mu.grad, 2 * z.detach())
    assert torch.allclose(logvar.grad, (2 * z * eps * 0.5 * (0.5 * logvar).exp()).detach(), atol=1e-6)


def test_spatial_transformer_with_identity_parameters_returns_its_input():
    stn = SpatialTransformer(16)
    x = torch.rand(2, 1, 16, 16)
    identity = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 2)
    assert torch.allclose(stn.warp(x, identity), x, atol=1e-6)
    # a scale of 2 shows the decoded mask at half size, centred: the frame is twice the mask's box
    wide = stn.warp(torch.ones(1, 1, 16, 16), torch.tensor([[0.0, 0.0, 2.0, 2.0]]))
    assert wide[0, 0, 8, 8] == 1 and wide[0, 0, 0, 0] == 0 and wide[0, 0].sum().item() == pytest.approx(64, abs=8)
    # the initial parameters are (0, 0, context, context)
    net = AmodalVAE(**TINY_NET, context=2.0)
    params = net.transformer.parameters_of(torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16))
    assert torch.allclose(params, torch.tensor([[0.0, 0.0, 2.0, 2.0]] * 3))


def test_frame_and_unframe_round_trip_a_mask():
    m = rect(40, 30, 5, 17, 10, 22)[None]  # a 12 x 12 square
    tight, boxes = frame_masks(m, 12, 1.0)
    assert tight.shape == (1, 1, 12, 12) and tight.min() == 1  # tight: the box fills the frame
    assert torch.equal(unframe_masks(tight, boxes), m)


# ----------------------------------------------------------------------------- stages
def test_stage_data_items():
    for stage in (1, 2, 3):
        dm = tiny_dm(stage)
        dm.setup("fit")
        item = dm.dataset("train")[0]
        assert item[Keys.MODAL_MASK].shape == (1, 32, 32)
        if stage < 3:  # simulated pairs: the partial mask is the full one minus the placed occluder
            full, part = item[Keys.AMODAL_MASK], item[Keys.MODAL_MASK]
            assert torch.equal(part, full * (1 - item[Keys.ERASER_MASK])) and part.sum() < full.sum()
        else:  # real occluded instances: the other instances' masks where the object may hide
            assert Keys.ERASER_MASK in item and (item[Keys.ERASER_MASK] * item[Keys.MODAL_MASK]).sum() == 0
    with pytest.raises(ValueError, match="stage"):
        tiny_dm(4)


def test_three_stages_chain_by_checkpoint_and_stage_2_leaves_the_decoder_bit_identical(tmp_path):
    pl.seed_everything(0)
    one = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=1)
    before = {k: v.clone() for k, v in one.net.decoder.state_dict().items()}
    fit(one, tiny_dm(1))
    assert any(not torch.equal(before[k], v) for k, v in one.net.decoder.state_dict().items())  # stage 1 trains it
    ckpt1 = save(one, tmp_path / "stage1.ckpt")

    two = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2, init_from=ckpt1)
    two.on_fit_start()  # what the fit does first: q_w3 starts as a copy of q_w2
    for a, b in zip(two.net.partial_encoder.parameters(), one.net.full_encoder.parameters()):
        assert torch.equal(a, b)
    two = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2, init_from=ckpt1)
    fit(two, tiny_dm(2))
    for k, v in two.net.decoder.state_dict().items():
        assert torch.equal(v, one.net.decoder.state_dict()[k]), k
    assert not all(torch.equal(a, b) for a, b in zip(two.net.partial_encoder.parameters(),
                                                     one.net.full_encoder.parameters()))  # fmt: skip
    ckpt2 = save(two, tmp_path / "stage2.ckpt")

    three = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=3, init_from=ckpt2)
    fit(three, tiny_dm(3))
    for k, v in three.net.decoder.state_dict().items():
        assert torch.equal(v, one.net.decoder.state_dict()[k]), k


def test_stage_3_warns_once_when_it_lowers_the_val_metric_below_its_start(tmp_path):
    pl.seed_everything(0)
    two = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2, train_decoder=True)
    fit(two, tiny_dm(2))
    three = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=3, init_from=save(two, tmp_path / "stage2.ckpt"))
    # no validation after the sanity check: whether two steps lower the metric does not decide this test
    trainer = pl.Trainer(max_steps=2, val_check_interval=100, check_val_every_n_epoch=None, num_sanity_val_steps=-1,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(three, tiny_dm(3))
    assert not three._stage_3_warned
    # the start is the stage-2 weights scored by the sanity check over the whole val split
    dm = tiny_dm(3)
    start = trainer.validate(two, datamodule=dm, verbose=False)[0]["val/miou_invisible/amodal_vae"]
    assert three._stage_3_start == pytest.approx(start, abs=1e-6)

    with pytest.warns(UserWarning, match="stage 3 .* has lowered val miou_invisible/amodal_vae"):
        three._watch_stage_3(start - 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        three._watch_stage_3(start - 0.2)  # once only
    # a partial sanity check gives no start, so nothing is compared
    partial = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=3, train_decoder=True)
    pl.Trainer(max_steps=1, val_check_interval=1, num_sanity_val_steps=1, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False,
               accelerator="cpu").fit(partial, tiny_dm(3, val_scenes=12))  # fmt: skip
    assert partial._stage_3_start is None


def test_a_frozen_decoder_without_a_previous_stage_is_refused():
    system = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2)
    with pytest.raises(ValueError, match="init_from"):
        fit(system, tiny_dm(2), steps=1)
    scratch = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2, train_decoder=True)  # Table 2: w/o stage 1
    assert all(p.requires_grad for p in scratch.net.decoder.parameters())


def test_stage_3_likelihood_ignores_pixels_another_instance_covers():
    torch.manual_seed(0)
    system = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=3, train_decoder=True)
    modal = rect(32, 32, 8, 20, 8, 20)[None].repeat(2, 1, 1, 1)
    cover = rect(32, 32, 20, 28, 8, 20)[None].repeat(2, 1, 1, 1)
    batch = {Keys.MODAL_MASK: modal, Keys.ERASER_MASK: cover, Keys.CATEGORY: torch.tensor([1, 2])}
    torch.manual_seed(1)
    a = system.losses(batch)
    # the same visible mask; whether the hidden object extends under the cover is unknown, so a loss
    # over the known pixels does not depend on it, but it does change when the cover is removed
    torch.manual_seed(1)
    b = system.losses({**batch, Keys.ERASER_MASK: torch.zeros_like(cover)})
    assert a["recon"] < b["recon"]
    assert set(a) == {"loss", "kl", "recon"}


# ----------------------------------------------------------------------------- inference
def test_sampling_with_a_fixed_generator_is_reproducible_and_ranked_by_visible_iou():
    torch.manual_seed(0)
    system = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2, train_decoder=True)
    with torch.no_grad():  # an untrained decoder whose output depends strongly on the code
        system.net.decoder.fc.weight.mul_(20)
    partial = rect(48, 40, 10, 30, 12, 30)
    one = system.complete(partial, [3], samples=6, generator=torch.Generator().manual_seed(7))
    two = system.complete(partial, [3], samples=6, generator=torch.Generator().manual_seed(7))
    assert torch.equal(one["samples"], two["samples"]) and torch.equal(one["scores"], two["scores"])
    assert one["samples"].shape == (1, 6, 1, 48, 40) and one["mode"].shape == (1, 1, 48, 40)
    assert torch.all(one["scores"][:, :-1] >= one["scores"][:, 1:])  # best first
    # every completion contains the visible mask
    assert torch.all(one["samples"] >= partial[None, None]) and torch.all(one["mode"] >= partial[None])
    assert len({tuple(m.flatten().tolist()) for m in one["samples"][0]}) > 1  # samples differ
    other = system.complete(partial, [3], samples=6, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(other["samples"], one["samples"])
    # the ranking: IoU with the visible mask, on the pixels no occluder covers when they are given
    decoded = system._decoded(partial[None], torch.tensor([3]), 6, torch.Generator().manual_seed(7))
    assert torch.equal(one["scores"][0].sort(descending=True).values,
                       AmodalVAESystem.visible_agreement(decoded, partial[None])[0].sort(descending=True).values)
    cover = rect(48, 40, 0, 40, 30, 48)
    scored = system.complete(partial, [3], samples=6, generator=torch.Generator().manual_seed(7), occluders=cover)
    expected = AmodalVAESystem.visible_agreement(decoded, partial[None], cover[None])[0]
    assert torch.equal(scored["scores"][0], expected.sort(descending=True).values)
    # the cover hides the lower rows: a decoded mask reaching under it is not penalised there
    low = decoded.clone()
    low[..., 30:, 12:30] = 1
    assert torch.all(AmodalVAESystem.visible_agreement(low, partial[None], cover[None]) >=
                     AmodalVAESystem.visible_agreement(decoded, partial[None], cover[None]) - 1e-6)  # fmt: skip
    assert system.training  # the inference API restores the mode it found
    with pytest.raises(ValueError, match="NaN"):
        system.complete(torch.full((1, 8, 8), float("nan")))


def test_evaluation_rows_cover_the_model_its_samples_and_the_baselines(tmp_path):
    pl.seed_everything(0)
    system = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2, train_decoder=True, samples=4)
    dm = tiny_dm(2)
    trainer = fit(system, dm, steps=2)
    result = trainer.test(system, datamodule=dm, verbose=False)[0]
    for method in ("amodal_vae", "amodal_vae (best of N)", "nearest_neighbour", "raw", "convex"):
        assert 0 <= result[f"test/miou_full/{method}"] <= 1
    assert result["test/miou_invisible/raw"] == 0.0
    # the nearest-neighbour bank: simulated pairs of the training scenes, framed like the model's
    assert system.bank is not None and system.bank["partial"].shape[1:] == (1, 16, 16)


def test_outside_a_trainer_the_neighbour_row_needs_its_bank_given():
    """Weights loaded from a file are evaluated without a Trainer: the nearest-neighbour row then takes
    its bank from ``use_neighbour_bank`` (the same bank a Trainer's DataModule gives), never the
    visible mask in its place."""
    system = AmodalVAESystem(AmodalVAE(**TINY_NET), stage=2, samples=2).eval()
    dm = tiny_dm(2)
    dm.setup("test")
    batch = torch.utils.data.default_collate([dm.test_dataset[i] for i in range(4)])
    with torch.no_grad(), pytest.raises(RuntimeError, match="use_neighbour_bank"):
        system.evaluate(batch)
    system.use_neighbour_bank(dm)
    with torch.no_grad():
        preds, _ = system.evaluate(batch)
    bank = system.bank
    expected = amodal_nearest_neighbour(batch[Keys.MODAL_MASK], bank["partial"], bank["full"], system.net.size,
                                        system.net.context)  # fmt: skip
    assert torch.equal(preds["nearest_neighbour"], expected)
    assert len(bank["partial"]) == 16  # the DataModule's bank_size


def test_nearest_neighbour_returns_the_bank_mask_of_an_exact_match():
    modal = rect(32, 32, 8, 16, 8, 24)[None]
    tight, _ = frame_masks(modal, 16, 1.0)
    other = torch.zeros(1, 1, 16, 16)
    other[..., :4, :] = 1
    full = torch.zeros(2, 1, 16, 16)
    full[0, :, 4:12, 2:14] = 1  # the match's full mask, in its context frame
    full[1] = 1
    out = amodal_nearest_neighbour(modal, torch.cat([other, tight]), torch.stack([full[1], full[0]]), 16, 2.0)
    _, boxes = frame_masks(modal, 16, 2.0)
    assert torch.equal(out, torch.maximum(unframe_masks(full[:1], boxes), modal))


def test_the_neighbour_bank_holds_five_occlusions_of_every_full_training_mask():
    """Ling et al. 5.1: every full training mask, occluded 5 times (distinct draws), as uint8 masks."""
    dm = tiny_dm(3, bank_size=None)
    bank = dm.neighbour_bank()
    full, part = bank[Keys.AMODAL_MASK], bank[Keys.MODAL_MASK]
    assert full.dtype == torch.uint8 and len(full) % 5 == 0 and len(full) >= 10
    n = len(full) // 5
    assert torch.equal(full[:n], full[n : 2 * n])  # the same full masks, occluded anew
    assert not torch.equal(part[:n], part[n : 2 * n])
    assert bool((part <= full).all())
    assert len(tiny_dm(3, bank_size=7).neighbour_bank()[Keys.MODAL_MASK]) == 7
    with pytest.raises(ValueError, match="bank_occlusions"):
        tiny_dm(3, bank_occlusions=0)
