import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from amodal_compose.data.augment import AugmentConfig
from amodal_compose.data.datamodules import CompositionDataModule, ShapeDataModule
from amodal_compose.nets import AmodalShapeNet, CompositionNet
from amodal_compose.ops.masks import erode, scaled_radius
from amodal_compose.structures import Keys
from amodal_compose.systems import CompositionSystem, ShapeSystem

TINY = dict(widths=(8, 16, 16), bottleneck=(16,))
DM = dict(image_size=32, crop_size=32, train_scenes=8, val_scenes=4, batch_size=4, num_workers=0,
          augment=AugmentConfig(enabled=False))


def _trainer(tmp_path, steps=2, **kw):
    return pl.Trainer(
        max_steps=steps, limit_val_batches=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, **kw,
    )


@pytest.mark.parametrize("system_cls,net_cls,dm_cls,keys", [
    (ShapeSystem, AmodalShapeNet, ShapeDataModule,
     ["val/miou_invisible/f_shape", "val/miou_invisible/raw", "val/miou_full/convex"]),
    (CompositionSystem, CompositionNet, CompositionDataModule,
     ["val/psnr/(0.05,0.2]/f_comp", "val/psnr/all/poisson", "val/ssim/all/cut_and_paste"]),
])
def test_fit_changes_weights_logs_baselines_and_reloads(tmp_path, system_cls, net_cls, dm_cls, keys):
    system = system_cls(net_cls(**TINY))
    before = {k: v.clone() for k, v in system.state_dict().items()}
    trainer = _trainer(tmp_path)
    trainer.fit(system, dm_cls(**DM))
    after = system.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    for k in keys:
        assert k in trainer.callback_metrics, sorted(trainer.callback_metrics)
    path = tmp_path / "s.ckpt"
    trainer.save_checkpoint(path)
    loaded = system_cls.load_from_checkpoint(path)  # no extra arguments
    assert loaded.net.init_args["widths"] == list(TINY["widths"])
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, after[k])


def test_shape_predict_masks_converts_and_checks_inputs():
    system = ShapeSystem(AmodalShapeNet(**TINY)).eval()
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 255
    out = system.predict_masks(img, mask)  # uint8 0-255 image and {0, 255} mask: documented conversion
    assert out["amodal"].shape == (1, 1, 32, 32)
    assert bool((out["amodal"] >= out["visible"]).all())
    assert set(out["amodal"].unique().tolist()) <= {0.0, 1.0}
    empty = system.predict_masks(torch.rand(3, 32, 32), torch.zeros(1, 32, 32))  # empty masks are valid
    assert empty["visible"].shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="binary"):
        system.predict_masks(torch.rand(3, 32, 32), torch.rand(1, 32, 32))
    with pytest.raises(ValueError, match="spatial sizes differ"):
        system.predict_masks(torch.rand(3, 32, 32), torch.ones(1, 16, 16))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        system.predict_masks(torch.rand(3, 32, 32) * 255, torch.ones(1, 32, 32))


def test_composition_compose_is_alpha_blend_and_checks_inputs():
    system = CompositionSystem(CompositionNet(**TINY)).eval()
    bg, obj = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    out = system.compose(bg, obj)
    torch.testing.assert_close(out["composite"], out["rgb"] * out["alpha"] + bg * (1 - out["alpha"]))
    with pytest.raises(ValueError, match="spatial sizes differ"):
        system.compose(bg, obj[..., :16, :16])


class _FixedAlpha(nn.Module):
    """Returns a given alpha (and the background as RGB), to test the loss schedules alone."""

    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, background, object_image):
        return background + 0 * self.w, self.alpha + 0 * self.w


def test_composition_loss_schedules():
    m = torch.zeros(1, 1, 32, 32)
    m[..., 8:24, 8:24] = 1
    system = CompositionSystem(_FixedAlpha(m.clone()), lambda_mask=50, lambda_mask_late=5,
                               lambda_mask_switch_step=10, erode_after_step=5, erode_pixels=12)
    assert system.lambda_mask_at(9) == 50 and system.lambda_mask_at(10) == 5
    batch = {Keys.BACKGROUND: torch.rand(1, 3, 32, 32), Keys.OBJECT_IMAGE: torch.rand(1, 3, 32, 32),
             Keys.TARGET: torch.rand(1, 3, 32, 32), Keys.MODAL_MASK: m}
    assert float(system.losses(batch, 0)["mask"]) == 0.0  # alpha == m
    system.net.alpha = erode(m, scaled_radius(12, 32))  # m eroded by 12 px at 256 = 2 px at 32
    assert 0 < float(system.net.alpha.sum()) < float(m.sum())
    early, late = system.losses(batch, 0), system.losses(batch, 5)
    assert float(early["mask"]) > 0 and float(late["mask"]) == 0.0
    t = late
    torch.testing.assert_close(t["loss"], t["recon"] + 50 * t["mask"] + 0.005 * t["reg"])
    torch.testing.assert_close(system.losses(batch, 10)["loss"],
                               t["recon"] + 5 * system.losses(batch, 10)["mask"] + 0.005 * t["reg"])


class _TinyRegression(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _LrRecorder(pl.Callback):
    def __init__(self):
        self.lrs = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]


def test_cosine_lr_tail_holds_then_decays_and_resumes_on_the_same_schedule(tmp_path):
    from amodal_compose.systems.callbacks import CosineLRTail

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(64, 2), torch.rand(64, 1)), 4)
    args = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)

    def fit(max_steps, ckpt_path=None):
        tail, rec = CosineLRTail(start=0.5, final_factor=0.1), _LrRecorder()
        trainer = pl.Trainer(max_steps=max_steps, callbacks=[tail, rec], **args)
        trainer.fit(_TinyRegression(), data, ckpt_path=ckpt_path)
        return trainer, tail, rec.lrs

    _, tail, lrs = fit(8)
    expected = [0.1 * tail.factor(s, 8) for s in range(8)]
    assert [lrs[s] for s in range(8)] == pytest.approx(expected)
    assert expected[:5] == pytest.approx([0.1] * 5)  # held for the first half
    assert all(a > b for a, b in zip(expected[4:], expected[5:]))  # then decays
    assert tail.factor(8, 8) == pytest.approx(0.1)
    # a run stopped at step 4 and resumed with max_steps 8 follows the same schedule
    first, _, _ = fit(4)
    first.save_checkpoint(tmp_path / "half.ckpt")
    _, _, resumed = fit(8, ckpt_path=tmp_path / "half.ckpt")
    assert [resumed[s] for s in range(4, 8)] == pytest.approx(expected[4:])
    with pytest.raises(ValueError, match="start < 1"):
        CosineLRTail(start=1.0)
