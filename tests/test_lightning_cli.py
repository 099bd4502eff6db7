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


def test_wandb_goes_online_with_a_key_and_offline_without_one_or_when_told(tmp_path, monkeypatch):
    """The overlay's logger decides its mode from the environment: online with a key (``WANDB_API_KEY``
    or a ``wandb login`` netrc entry), offline with ``WANDB_MODE=offline`` or no key. No run starts here."""
    from amodal_compose.loggers import WandbLogger, wandb_mode

    empty = tmp_path / "netrc"
    empty.write_text("")
    assert wandb_mode({"WANDB_API_KEY": "k" * 40}, empty) == (False, "a W&B key is set")
    assert wandb_mode({"WANDB_API_KEY": "k" * 40, "WANDB_MODE": "offline"}, empty)[0] is True
    assert wandb_mode({}, empty)[0] is True and "no W&B key" in wandb_mode({}, empty)[1]
    logged_in = tmp_path / "netrc_login"
    logged_in.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert wandb_mode({}, logged_in)[0] is False
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_ENTITY", "my-team")
    monkeypatch.setenv("WANDB_PROJECT", "my-project")
    online = WandbLogger(save_dir=str(tmp_path))
    assert online._offline is False and online._project == "my-project"
    assert online._wandb_init["entity"] == "my-team"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert WandbLogger(save_dir=str(tmp_path))._offline is True


@pytest.mark.parametrize("network", ["shape", "pcnet_m"])
def test_cluster_overlay_keeps_last_and_best_logs_the_rate_and_an_image_grid(tmp_path, monkeypatch, network):
    """``common/cluster.yaml`` over a config (on the CPU here, one device; bf16 autocast works there too):
    ``last.ckpt`` and the best checkpoint by the system's own validation metric, the learning rate logged,
    a validation image grid (PCNet-M's from whole scenes), W&B offline without a key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    rc = main(["fit", "--config", str(CONFIGS / network / "synthetic.yaml"), "--config", TINY,
               "--config", str(CONFIGS / "common" / "cluster.yaml"), "--trainer.accelerator", "cpu",
               "--trainer.devices", "1", "--data.init_args.num_workers", "0"])  # fmt: skip
    assert rc == 0
    ckpts = sorted(p.name for p in tmp_path.rglob("*.ckpt"))
    assert "last.ckpt" in ckpts and any(name.startswith("best-step=") for name in ckpts), ckpts
    best = next(p for p in tmp_path.rglob("best-*.ckpt"))
    state = torch.load(best, map_location="cpu", weights_only=False)
    monitor = next(v for k, v in state["callbacks"].items() if "BestCheckpoint" in k)["monitor"]
    assert monitor.startswith("val/") and monitor.endswith(("f_shape", "pcnet_m"))
    runs = list((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].rglob("media/images/val_images_*.png"))
    assert any(tmp_path.rglob("val_images_*.png"))


def test_slurm_launch_dry_run_names_every_node_and_gpu():
    import os
    import subprocess

    script = Path(__file__).resolve().parents[1] / "scripts" / "slurm_fit.sh"
    env = {**os.environ, "DRY_RUN": "1", "SLURM_JOB_NUM_NODES": "2", "SLURM_GPUS_PER_NODE": "h100:8"}
    out = subprocess.run(["bash", str(script), "lightning_configs/pcnet_m/cocoa.yaml", "--trainer.max_steps", "10"],
                         env=env, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.startswith("srun amodal-compose fit --config lightning_configs/pcnet_m/cocoa.yaml --config ")
    assert "common/cluster.yaml --trainer.devices 8 --trainer.num_nodes 2 --trainer.max_steps 10" in out
    bad = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "usage" in bad.stderr


def test_configs_may_be_named_relative_to_the_config_folder(tmp_path, monkeypatch):
    from amodal_compose.lightning_cli import resolve_config_paths

    monkeypatch.chdir(tmp_path)  # no lightning_configs here: the checkout's folder is found
    out = resolve_config_paths(["fit", "--config", "pcnet_m/cocoa.yaml", "--config=common/cluster.yaml",
                                "--config", "nowhere.yaml", "--trainer.devices", "8"])  # fmt: skip
    from amodal_compose.lightning_cli import find_configs

    assert out[2] == str(find_configs() / "pcnet_m" / "cocoa.yaml")  # the package's own checkout
    assert out[3] == "--config=" + str(find_configs() / "common" / "cluster.yaml")
    assert out[5] == "nowhere.yaml" and out[6:] == ["--trainer.devices", "8"]  # left for LightningCLI's error
    cli = run_lightning_cli(["--config", "pcnet_m/cocoa.yaml", "--config", "common/cluster.yaml",
                             "--trainer.accelerator", "cpu", "--trainer.devices", "1"], run=False)  # fmt: skip
    assert cli.trainer.precision == "bf16-mixed"


def _documented_counts() -> dict[str, dict[str, float]]:
    """``config -> {network: M parameters}`` from the table in ``docs/methods.md``."""
    import re

    text = (CONFIGS.parent / "docs" / "methods.md").read_text()
    table = text.split("## Real-data configs and their sources", 1)[1]
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        files = re.findall(r"`([^`]+\.yaml)`", cells[0])
        folder = files[0].split("/")[0]
        counts: dict[str, float] = {}
        for part in cells[1].split(","):  # "net 10.496", "edge / segmentation / image inpainters 1 / 2 / 3"
            names, _, values = part.strip().rpartition(" ")
            if "/" in part:
                words = part.strip().split(" ")
                nums = [float(w) for w in words if re.fullmatch(r"[0-9.]+", w)]
                kinds = [w for w in part.replace("inpainters", "").replace("critics", "").split() if w.isalpha()]
                suffix = "_inpainter" if "inpainters" in part else "_critic"
                counts.update({f"{k}{suffix}": v for k, v in zip(kinds, nums)})
            else:
                counts[names.strip()] = float(values)
        for f in files:
            out[f if "/" in f else f"{folder}/{f}"] = counts
    return out


def test_every_real_config_instantiates_with_its_documented_network_sizes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    documented = _documented_counts()
    real = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.glob("*/*.yaml")
                  if any(k in p.name for k in ("cocoa", "kins", "coco_")))  # fmt: skip
    assert set(real) == set(documented), set(real) ^ set(documented)
    for name in real:
        cli = run_lightning_cli(["--config", str(CONFIGS / name), "--trainer.accelerator", "cpu",
                                 "--trainer.devices", "1"], run=False)  # fmt: skip
        for net, millions in documented[name].items():
            params = sum(p.numel() for p in getattr(cli.model, net).parameters())
            assert round(params / 1e6, 3) == millions, (name, net, params)
