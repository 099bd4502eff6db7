from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from amodal_compose.data.augment import AugmentConfig
from amodal_compose.data.datamodules import CompositionDataModule, ContentDataModule, ShapeDataModule
from amodal_compose.metrics import MethodMetrics
from amodal_compose.nets import AmodalShapeNet, CompositionNet, ContentGenerator, Critic
from amodal_compose.ops.masks import erode, scaled_radius
from amodal_compose.structures import Keys
from amodal_compose.systems import CompositionSystem, ContentSystem, ShapeSystem

TINY = dict(widths=(8, 16, 16), bottleneck=(16,))
DM = dict(image_size=32, crop_size=32, train_scenes=8, val_scenes=4, test_scenes=4, batch_size=4, num_workers=0,
          augment=AugmentConfig(enabled=False))


def _trainer(tmp_path, steps=2, **kw):
    return pl.Trainer(
        max_steps=steps, limit_val_batches=1, val_check_interval=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, **kw,
    )


TINY_CONTENT = dict(coarse_width=8, coarse_repeats=(1, 1, 1, 1, 1), refine_widths=(8, 8, 16), refine_dilations=(2,))
SYSTEMS = {
    "shape": (lambda: ShapeSystem(AmodalShapeNet(**TINY)), ShapeDataModule),
    "compose": (lambda: CompositionSystem(CompositionNet(**TINY)), CompositionDataModule),
    "content": (lambda: ContentSystem(ContentGenerator(**TINY_CONTENT), Critic(3, (8, 16), 32)), ContentDataModule),
}


@pytest.mark.parametrize("name", ["shape", "compose"])
def test_fit_changes_weights_and_reloads_from_the_checkpoint_alone(tmp_path, name):
    make, dm_cls = SYSTEMS[name]
    system = make()
    before = {k: v.clone() for k, v in system.state_dict().items()}
    trainer = _trainer(tmp_path)
    trainer.fit(system, dm_cls(**DM))
    after = system.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    assert f"val/{system.main_metric}" in trainer.callback_metrics
    path = tmp_path / "s.ckpt"
    trainer.save_checkpoint(path)
    loaded = type(system).load_from_checkpoint(path)  # no extra arguments
    assert loaded.net.init_args["widths"] == list(TINY["widths"])
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, after[k])


def _by_hand(system, dataset) -> dict[str, float]:
    """The system's evaluation of every item of ``dataset``, computed outside Lightning."""
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    system.eval()
    with torch.no_grad():
        preds, _ = system.evaluate(batch)
    metrics = MethodMetrics(system.methods, lambda: system.scores["val"].metrics[system.methods[0]].clone())
    system.score(metrics, preds, batch)
    return {k: float(v) for k, v in metrics.compute().items()}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_validate_and_test_score_every_method_on_their_own_split(tmp_path, name):
    """``validate`` scores the val items and ``test`` the test items, every method on the same items, and
    the logged values are exactly those of the evaluation computed by hand on the whole split."""
    make, dm_cls = SYSTEMS[name]
    system, dm = make(), dm_cls(**DM)
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)  # fmt: skip
    logged = {"val": trainer.validate(system, dm, verbose=False)[0], "test": trainer.test(system, dm, verbose=False)[0]}
    for stage in ("val", "test"):
        expected = _by_hand(system, dm.dataset(stage))
        assert expected["count/all/samples"] == len(dm.dataset(stage))
        for key, value in expected.items():
            close = pytest.approx(value, rel=1e-4, abs=1e-5, nan_ok=True)
            assert logged[stage][f"{stage}/{key}"] == close, (stage, key)
    main = system.main_metric
    assert logged["val"][f"val/{main}"] != logged["test"][f"test/{main}"]  # different items


def _inputs(name, size=(32, 32), batch=1):
    h, w = size
    vis = torch.zeros(batch, 1, h, w)
    vis[..., h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
    img = torch.rand(batch, 3, h, w)
    if name == "shape":
        return {"image": img, "edit_mask": vis}
    if name == "compose":
        return {"background": img, "object_image": torch.rand(batch, 3, h, w) * vis}
    inv = torch.zeros_like(vis)
    inv[..., h // 2 :, :] = 1
    return {"object_image": img * vis, "visible": vis * (1 - inv), "invisible": inv * vis}


API = {"shape": "predict_masks", "compose": "compose", "content": "complete"}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_inference_api_leaves_the_module_as_it_was_and_returns_plain_tensors(name):
    system = SYSTEMS[name][0]().train()
    state = {k: v.clone() for k, v in system.state_dict().items()}
    out = getattr(system, API[name])(**_inputs(name, batch=2))
    assert system.training  # the caller's mode is restored
    for k, v in system.state_dict().items():  # BatchNorm statistics untouched
        assert torch.equal(v, state[k]), k
    for v in out.values():
        assert not v.requires_grad and v.numpy().shape[0] == 2  # no graph: straight to numpy


def test_inference_restores_each_submodule_as_it_was():
    system = SYSTEMS["compose"][0]().train()
    system.net.eval()  # e.g. a frozen part held in eval mode under a training system
    with system.inference():
        assert not any(m.training for m in system.modules())
    assert system.training and not any(m.training for m in system.net.modules())


@pytest.mark.parametrize("name", ["shape", "compose"])
def test_channels_last_trains_to_the_same_weights_up_to_rounding(tmp_path, name):
    from amodal_compose.systems.callbacks import ChannelsLast

    make, dm_cls = SYSTEMS[name]
    fitted = {}
    for memory in ("nchw", "nhwc"):
        pl.seed_everything(0)
        system = make()
        callbacks = [ChannelsLast()] if memory == "nhwc" else []
        _trainer(tmp_path, steps=3, callbacks=callbacks).fit(system, dm_cls(**DM))
        fitted[memory] = system.state_dict()
    convs = [v for v in fitted["nhwc"].values() if v.ndim == 4]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)
    for key, value in fitted["nchw"].items():
        torch.testing.assert_close(fitted["nhwc"][key], value, rtol=1e-3, atol=1e-4, msg=key)
    labels, vector = torch.ones(2, 3, 4, 5, dtype=torch.uint8), torch.rand(2, 3)
    batch = {"x": torch.rand(2, 3, 4, 5), "labels": labels, "v": vector}
    ChannelsLast.convert(batch)
    assert batch["x"].is_contiguous(memory_format=torch.channels_last)
    assert batch["labels"] is labels and batch["v"] is vector  # only 4-D floating-point tensors change


def test_ema_weights_end_the_fit_as_the_average_of_the_trajectory(tmp_path):
    from amodal_compose.systems.callbacks import ChannelsLast, EMAWeights

    class Record(pl.Callback):  # the weights after every batch
        def __init__(self):
            self.states = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.states.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})

    pl.seed_everything(0)
    system, record = SYSTEMS["compose"][0](), Record()
    callbacks = [ChannelsLast(), record, EMAWeights(decay=0.6, start_step=2)]
    _trainer(tmp_path, steps=8, callbacks=callbacks).fit(system, CompositionDataModule(**DM))
    assert len(record.states) == 8  # the composition system counts one step per batch
    key = next(k for k, v in system.state_dict().items() if v.ndim == 4)
    expected = record.states[1][key]  # steps 0 and 1 are before start_step: the average follows
    for state in record.states[2:]:
        expected = 0.6 * expected + 0.4 * state[key]
    torch.testing.assert_close(system.state_dict()[key], expected)
    assert not torch.allclose(expected, record.states[-1][key])  # the average is not the last weights
    assert system.state_dict()[key].is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="decay"):
        EMAWeights(decay=1.0)


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_inference_api_rejects_nan_and_names_mismatched_batches(name):
    system = SYSTEMS[name][0]()
    fn = getattr(system, API[name])
    bad = _inputs(name)
    first = next(iter(bad))
    bad[first] = bad[first].clone()
    bad[first][0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fn(**bad)
    mixed = _inputs(name, batch=2)
    mixed[first] = _inputs(name, batch=3)[first]
    with pytest.raises(ValueError, match=r"batch sizes differ: .*\(3, .*\(2, "):
        fn(**mixed)


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_inference_api_accepts_any_size_by_padding_and_cropping_back(name):
    system = SYSTEMS[name][0]()
    fn = getattr(system, API[name])
    x = _inputs(name, size=(37, 45))
    out = fn(**x)
    assert all(v.shape[-2:] == (37, 45) for v in out.values())
    # the same as running on the input zero-padded to the next multiple of the network's stride, cropped
    net = system.generator if name == "content" else system.net
    m = system.size_multiple(net)
    assert m > 1 and (37 % m or 45 % m)
    padded = {k: torch.nn.functional.pad(v, (0, -45 % m, 0, -37 % m)) for k, v in x.items()}
    ref = fn(**padded)
    for k, v in out.items():
        torch.testing.assert_close(v, ref[k][..., :37, :45])


def test_shape_predict_masks_converts_user_inputs():
    system = ShapeSystem(AmodalShapeNet(**TINY))
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 255
    out = system.predict_masks(img, mask)  # uint8 0-255 image and {0, 255} mask: documented conversion
    same = system.predict_masks(torch.from_numpy(img).permute(2, 0, 1).float() / 255, torch.from_numpy(mask > 0)[None])
    assert torch.equal(out["amodal"], same["amodal"])
    assert bool((out["amodal"] >= out["visible"]).all())
    assert set(out["amodal"].unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="binary"):
        system.predict_masks(torch.rand(3, 32, 32), torch.rand(1, 32, 32))
    with pytest.raises(ValueError, match="spatial sizes differ"):
        system.predict_masks(torch.rand(3, 32, 32), torch.ones(1, 16, 16))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        system.predict_masks(torch.rand(3, 32, 32) * 255, torch.ones(1, 32, 32))


def test_composition_compose_is_alpha_blend():
    system = CompositionSystem(CompositionNet(**TINY))
    bg, obj = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    out = system.compose(bg, obj)
    torch.testing.assert_close(out["composite"], out["rgb"] * out["alpha"] + bg * (1 - out["alpha"]))


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


def test_cosine_tail_holds_then_decays_with_torch_schedulers():
    """``System.cosine_tail``: torch's SequentialLR(ConstantLR, CosineAnnealingLR): the rate held for the
    first half, then a half cosine down to the final factor at the last step."""
    import math

    from amodal_compose.systems.base import System

    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = System.cosine_tail(opt, total=8, start=0.5, final_factor=0.1)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    lrs.append(opt.param_groups[0]["lr"])
    expected = [0.1] * 4 + [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(5)]
    assert lrs == pytest.approx(expected)
    with pytest.raises(ValueError, match="start < 1"):
        System.cosine_tail(opt, total=8, start=1.0, final_factor=0.1)


@pytest.mark.parametrize("configs", [("content/synthetic.yaml", "debug/tiny_content.yaml"),
                                     ("bench/pcnet_c_real.yaml", "debug/tiny_data.yaml")], ids=["content", "pcnet_c"])
def test_the_gans_step_their_schedulers_once_per_batch_and_resume_them(tmp_path, monkeypatch, configs):
    """Manual optimisation: ContentSystem and PCNetCSystem step both schedulers themselves; a run ends at
    the final factor and a checkpoint carries the schedulers' state."""
    from amodal_compose.lightning_cli import run_lightning_cli

    monkeypatch.chdir(tmp_path)
    root = Path(__file__).resolve().parents[1] / "lightning_configs"
    cli = run_lightning_cli(["fit", "--config", str(root / configs[0]), "--config", str(root / configs[1]),
                             "--trainer.max_steps", "8", "--model.init_args.cosine_tail",
                             "[0.5, 0.1]", "--trainer.limit_train_batches", "8", "--trainer.logger", "false",
                             "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false"])  # fmt: skip
    base = cli.model.hparams.lr if cli.model.factories[0] is None else None
    for opt in cli.trainer.optimizers:
        start = opt.param_groups[0]["initial_lr"] if base is None else base
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * start)  # 8 steps = 4 batches: the tail's end
    cli.trainer.save_checkpoint(tmp_path / "end.ckpt")
    state = torch.load(tmp_path / "end.ckpt", map_location="cpu", weights_only=False)
    assert len(state["lr_schedulers"]) == 2
