"""LightningCLI configs: every YAML parses and instantiates; synthetic ones fit; W&B offline; resume."""

import copy
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from amodal_compose.cli import main
from amodal_compose.data.datamodules import CompositionDataModule, ShapeDataModule
from amodal_compose.lightning_cli import run_lightning_cli
from amodal_compose.systems import CompositionSystem, ShapeSystem

CONFIGS = Path(__file__).resolve().parents[1] / "lightning_configs"
TINY = str(CONFIGS / "debug" / "tiny.yaml")


@pytest.mark.parametrize("network,dataset", [
    ("shape", "synthetic"), ("shape", "cocoa"), ("shape", "kins"),
    ("compose", "synthetic"), ("compose", "cocoa"), ("compose", "kins"),
])
def test_config_parses_and_instantiates(tmp_path, monkeypatch, network, dataset):
    monkeypatch.chdir(tmp_path)
    cli = run_lightning_cli(["--config", str(CONFIGS / network / f"{dataset}.yaml")], run=False)
    classes = {"shape": (ShapeSystem, ShapeDataModule), "compose": (CompositionSystem, CompositionDataModule)}
    system_cls, dm_cls = classes[network]
    assert isinstance(cli.model, system_cls) and isinstance(cli.datamodule, dm_cls)
    assert cli.datamodule.source == dataset
    opt = cli.model.configure_optimizers()
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["betas"] == (0.5, 0.9)
    if dataset != "synthetic":  # the paper's settings at 256 px
        assert opt.defaults["lr"] == (1e-3 if network == "shape" else 2e-4)  # AMICO A.2
        assert cli.model.net.init_args["input_skip"] is False
        assert cli.model.net.init_args["widths"] == [64, 128, 256, 256, 256]
        assert cli.model.net.init_args["bottleneck"] == [256, 256]
        if network == "compose":
            hp = cli.model.hparams
            assert (hp.lambda_mask, hp.lambda_mask_late, hp.lambda_mask_switch_step) == (50, 5, 150_000)
            assert (hp.erode_pixels, hp.erode_after_step, hp.lambda_reg, hp.gamma) == (3, 100_000, 0.005, 2)
            assert cli.datamodule.pair_args["background"] == "inpaint"
        else:
            assert cli.model.hparams.omega == 5


@pytest.mark.parametrize("network", ["shape", "compose"])
def test_fit_from_the_command_line(tmp_path, monkeypatch, network):
    monkeypatch.chdir(tmp_path)
    rc = main(["fit", "--config", str(CONFIGS / network / "synthetic.yaml"), "--config", TINY])
    assert rc == 0
    run = tmp_path / "runs" / f"{network}_synthetic"
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    assert list((run / "logs").rglob("metrics.csv"))
    assert list((run / "logs").rglob("images/val_images_epoch*.png"))  # the image-grid callback
    system = (ShapeSystem if network == "shape" else CompositionSystem).load_from_checkpoint(ckpt)
    assert system.net.init_args["widths"] == [8, 16, 16]  # rebuilt from the checkpoint alone


FIXTURES = Path(__file__).parent / "fixtures"
REAL = {
    "cocoa": (FIXTURES / "cocoa" / "COCO_amodal_val2014_fixture.json", FIXTURES / "cocoa"),
    "kins": (FIXTURES / "kins" / "update_test_2020_fixture.json", FIXTURES / "kins" / "testing" / "image_2"),
}


@pytest.mark.parametrize("network", ["shape", "compose"])
@pytest.mark.parametrize("dataset", ["cocoa", "kins"])
def test_real_data_configs_fit_on_fixture_files(tmp_path, monkeypatch, network, dataset):
    """The 256 px paper configs run end to end on one-image fixture files in the real formats."""
    monkeypatch.chdir(tmp_path)
    ann, root = (str(p) for p in REAL[dataset])
    files = []
    for split in ("train", "val"):
        files += [f"--data.init_args.{split}_annotation_file", ann, f"--data.init_args.{split}_image_root", root]
    rc = main([
        "fit", "--config", str(CONFIGS / network / f"{dataset}.yaml"), "--config", TINY, *files,
        "--trainer.precision", "32", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
        "--data.init_args.batch_size", "1",
    ])
    assert rc == 0
    assert (tmp_path / "runs" / f"{network}_{dataset}" / "checkpoints" / "last.ckpt").is_file()


def test_wandb_offline_run_writes_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    rc = main([
        "fit", "--config", str(CONFIGS / "shape" / "synthetic.yaml"), "--config", TINY,
        "--config", str(CONFIGS / "common" / "wandb.yaml"),
    ])
    assert rc == 0
    runs = list((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("run-*.wandb"))
    assert list(runs[0].rglob("media/images/val_images_*.png"))


class _Record(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        self.step, self.epoch = trainer.global_step, trainer.current_epoch
        self.weights = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        self.optimizer = copy.deepcopy(trainer.optimizers[0].state_dict())


def test_resume_from_last_restores_step_epoch_optimizer_and_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["--config", str(CONFIGS / "shape" / "synthetic.yaml"), "--config", TINY,
            "--trainer.max_steps", "4", "--trainer.limit_train_batches", "2"]
    assert main(["fit", *base]) == 0
    saved = torch.load(tmp_path / "runs/shape_synthetic/checkpoints/last.ckpt", weights_only=False)
    assert saved["global_step"] == 4
    cli = run_lightning_cli([*base, "--trainer.max_steps", "6"], run=False)
    rec = _Record()
    cli.trainer.callbacks.append(rec)
    cli.trainer.fit(cli.model, cli.datamodule, ckpt_path="last")
    assert (rec.step, rec.epoch) == (4, saved["epoch"])
    for k, v in saved["state_dict"].items():
        torch.testing.assert_close(rec.weights[k], v)
    exp_state = saved["optimizer_states"][0]["state"]
    assert exp_state and set(rec.optimizer["state"]) == set(exp_state)
    for i, st in exp_state.items():
        assert int(rec.optimizer["state"][i]["step"]) == int(st["step"]) == 4
        torch.testing.assert_close(rec.optimizer["state"][i]["exp_avg"], st["exp_avg"])
    assert cli.trainer.global_step == 6


@pytest.mark.parametrize("network,overlay", [("shape", "tiny"), ("compose", "tiny"), ("content", "tiny_content")])
def test_test_and_predict_subcommands_use_the_held_out_split(tmp_path, monkeypatch, network, overlay):
    """`test` scores the test split with the system's evaluation; `predict` writes one PNG per test
    item and output through the configs' PredictionWriter."""
    monkeypatch.chdir(tmp_path)
    base = ["--config", str(CONFIGS / network / "synthetic.yaml"),
            "--config", str(CONFIGS / "debug" / f"{overlay}.yaml")]  # fmt: skip
    assert main(["fit", *base]) == 0
    run = tmp_path / "runs" / f"{network}_synthetic"
    ckpt = str(run / "checkpoints" / "last.ckpt")
    assert main(["test", *base, "--ckpt_path", ckpt]) == 0
    logged = "".join(p.read_text() for p in (run / "logs").rglob("metrics.csv"))
    main_metric = {"shape": "miou_invisible/f_shape", "compose": "psnr/all/f_comp", "content": "psnr/all/f_content"}
    assert f"test/{main_metric[network]}" in logged
    assert main(["predict", *base, "--ckpt_path", ckpt]) == 0
    cli = run_lightning_cli(base, run=False)
    n = len(cli.datamodule.dataset("test"))
    outputs = {"shape": ("visible", "amodal"), "compose": ("rgb", "alpha", "composite"),
               "content": ("coarse", "completed")}  # fmt: skip
    for name in outputs[network]:
        pngs = sorted((run / "predictions" / name).glob("*.png"))
        assert [p.stem for p in pngs] == [f"{i:06d}" for i in range(n)], name
