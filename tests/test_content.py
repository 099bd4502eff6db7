"""AMICO's content-completion GAN: generator / critic shapes and gradients, manual optimisation,
configs, and training under DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from amodal_compose.cli import main
from amodal_compose.data.datamodules import ContentDataModule
from amodal_compose.data.datasets import SyntheticScenes
from amodal_compose.data.pairs import ContentPairs, occluded_object_crop
from amodal_compose.lightning_cli import run_lightning_cli
from amodal_compose.losses import object_reconstruction_loss
from amodal_compose.nets import ContentGenerator, Critic
from amodal_compose.structures import Keys
from amodal_compose.systems import ContentSystem

CONFIGS = Path(__file__).resolve().parents[1] / "lightning_configs"
TINY_G = dict(coarse_width=8, coarse_repeats=(1, 1, 1, 1, 1), refine_widths=(8, 8, 16), refine_dilations=(2,))


def _system(size=32):
    return ContentSystem(ContentGenerator(**TINY_G), Critic(3, (8, 16), size))


@pytest.mark.parametrize("size", [32, 64])
def test_generator_and_critic_shapes(size):
    g = ContentGenerator(**TINY_G)
    vis = torch.zeros(2, 1, size, size)
    vis[..., : size // 2, :] = 1
    obj = torch.rand(2, 3, size, size)
    out = g(obj, vis, 1 - vis)
    assert all(v.shape == (2, 3, size, size) for v in out.values())
    # completed keeps the visible pixels and takes the refined ones in the hole
    torch.testing.assert_close(out["completed"] * vis, obj * vis)
    torch.testing.assert_close(out["completed"] * (1 - vis), out["refine"] * (1 - vis))
    assert Critic(3, (8, 16), size)(out["completed"]).shape == (2,)
    with pytest.raises(ValueError, match="multiples of 16"):  # 8 * attention_rate
        g(torch.rand(1, 3, 40, 40), torch.ones(1, 1, 40, 40), torch.zeros(1, 1, 40, 40))


def test_paper_generator_at_256_px():
    g = ContentGenerator().eval()  # Tables 6-7 sizes
    with torch.no_grad():
        out = g(torch.rand(1, 3, 256, 256), torch.ones(1, 1, 256, 256), torch.zeros(1, 1, 256, 256))
    assert out["refine"].shape == (1, 3, 256, 256)


def test_every_parameter_of_g_and_d_gets_a_gradient():
    s = _system()
    batch = ContentDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32, num_workers=0)
    batch.setup("fit")
    b = torch.utils.data.default_collate([batch.train_dataset[i] for i in range(4)])
    out = s(b[Keys.TARGET], b[Keys.MODAL_MASK], b[Keys.INVISIBLE_MASK])
    (s.generator_losses(b, out)["loss"] + s.critic_loss(b[Keys.TARGET], out["completed"])).backward()
    for name, module in (("generator", s.generator), ("critic", s.critic)):
        missing = [n for n, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing, (name, missing)


def test_object_reconstruction_loss_hand_value():
    pred, target = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    vis = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    inv = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    # inside m_inv: 2 of 4 pixels wrong by 1 -> 0.5; m_vis: 1 of 4 -> beta * 0.25
    assert float(object_reconstruction_loss(pred, target, vis, inv, beta=5.0)) == pytest.approx(0.5 + 1.25)


def test_pairs_hide_the_requested_share_and_real_occlusions_are_exact():
    ds = ContentPairs(SyntheticScenes(30, 64, "val"), 64)
    for i in range(30):
        it = ds[i]
        m, v, h = it[Keys.AMODAL_MASK], it[Keys.MODAL_MASK], it[Keys.INVISIBLE_MASK]
        assert float((v * h).sum()) == 0 and torch.equal(v + h, m)
        ratio = float(it[Keys.OCCLUDED_RATIO])
        assert 0.1 <= ratio <= 0.9  # the eraser placement found a share in range for every item here
        assert ratio == pytest.approx(float(h.sum()) / float(m.sum()), abs=1e-6)
    scene = SyntheticScenes(20, 64, "test")[3]
    k = next(i for i, inst in enumerate(scene.instances) if inst.is_occluded)
    crop = occluded_object_crop(scene, k, 64)
    assert float(crop[Keys.INVISIBLE_MASK].sum()) > 0
    assert torch.equal(crop[Keys.TARGET] * (1 - crop[Keys.AMODAL_MASK]), torch.zeros(3, 64, 64))


def test_manual_optimisation_changes_both_networks(tmp_path):
    s = _system()
    g0 = {k: v.clone() for k, v in s.generator.state_dict().items()}
    d0 = {k: v.clone() for k, v in s.critic.state_dict().items()}
    trainer = pl.Trainer(max_steps=6, limit_val_batches=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(s, ContentDataModule(train_scenes=8, val_scenes=4, image_size=32, crop_size=32, batch_size=4,
                                     num_workers=0))
    assert not s.automatic_optimization
    assert trainer.global_step == 6  # 3 batches x (critic step + generator step)
    assert any(not torch.equal(g0[k], v) for k, v in s.generator.state_dict().items() if v.is_floating_point())
    assert any(not torch.equal(d0[k], v) for k, v in s.critic.state_dict().items() if v.is_floating_point())
    path = tmp_path / "c.ckpt"
    trainer.save_checkpoint(path)
    loaded = ContentSystem.load_from_checkpoint(path)
    assert loaded.generator.init_args["coarse_width"] == 8 and loaded.critic.init_args["image_size"] == 32


@pytest.mark.parametrize("dataset", ["synthetic", "cocoa", "kins"])
def test_content_configs_parse_and_instantiate(tmp_path, monkeypatch, dataset):
    monkeypatch.chdir(tmp_path)
    cli = run_lightning_cli(["--config", str(CONFIGS / "content" / f"{dataset}.yaml"), "--trainer.accelerator", "cpu",
                             "--trainer.devices", "1", "--trainer.strategy", "auto"], run=False)
    hp = cli.model.hparams
    assert (hp.lambda_refine, hp.lambda_coarse, hp.lambda_adv, hp.beta, hp.sigma) == (1.2, 1.2, 1e-3, 5.0, 10.0)
    opt_g, opt_d = cli.model.configure_optimizers()
    assert opt_g.defaults["lr"] == opt_d.defaults["lr"] == 1e-4 and opt_g.defaults["betas"] == (0.5, 0.9)
    if dataset != "synthetic":
        assert cli.model.generator.init_args["coarse_repeats"] == [6, 5, 4, 2, 3]
        assert cli.datamodule.pair_args["object_from"] == "visible"


def test_content_fit_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(CONFIGS / "content" / "synthetic.yaml"),
                 "--config", str(CONFIGS / "debug" / "tiny_content.yaml")]) == 0
    run = tmp_path / "runs" / "content_synthetic"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "logs").rglob("images/val_images_epoch*.png"))


DDP_SCRIPT = """
import json, sys, torch, pytorch_lightning as pl
from amodal_compose.systems import ContentSystem
from amodal_compose.nets import ContentGenerator, Critic
from amodal_compose.data.datamodules import ContentDataModule
torch.set_num_threads(1)
s = ContentSystem(ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,)), Critic(3, (8, 16), 32))
before = [p.detach().clone() for p in s.parameters()]
dm = ContentDataModule(train_scenes=8, val_scenes=4, test_scenes=4, image_size=32, crop_size=32, batch_size=2,
                       num_workers=0)
t = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", max_steps=4,
               limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False)
t.fit(s, dm)
changed = sum(not torch.equal(a, b.detach()) for a, b in zip(before, s.parameters()))
checksum = sum(float(p.double().sum()) for p in s.parameters())
with open(f"{sys.argv[1]}/rank{t.global_rank}.json", "w") as f:  # one file per rank: nothing interleaves
    json.dump({"step": t.global_step, "changed": changed, "checksum": checksum}, f)
"""


def test_gan_trains_under_ddp(tmp_path):
    """Two gloo ranks on the CPU (one thread each): the alternating G / D updates synchronise. Each rank
    writes its result to its own file (printed lines of two processes can interleave)."""
    script = tmp_path / "ddp_gan.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["step"] == 4 and r["changed"] > 0 for r in ranks)
    assert ranks[0]["checksum"] == ranks[1]["checksum"]  # the ranks hold the same weights


def test_keep_background_ablation_feeds_the_scene(tmp_path):
    dm = ContentDataModule(train_scenes=4, val_scenes=2, image_size=32, crop_size=32, num_workers=0)
    dm.setup("fit")
    b = torch.utils.data.default_collate([dm.train_dataset[i] for i in range(2)])
    outside = 1 - b[Keys.AMODAL_MASK]
    assert float((b[Keys.IMAGE] * outside).abs().sum()) > 0  # the scene is there for the ablation
    assert float((b[Keys.TARGET] * outside).abs().sum()) == 0  # and absent from the paper's input
    plain, ablation = _system(), ContentSystem(ContentGenerator(**TINY_G), Critic(3, (8, 16), 32), keep_background=True)
    ablation.load_state_dict(plain.state_dict())
    i = b[Keys.INVISIBLE_MASK]
    a = ablation(ablation._inputs(b), b[Keys.MODAL_MASK], i)["completed"]
    p = plain(plain._inputs(b), b[Keys.MODAL_MASK], i)["completed"]
    assert not torch.allclose(a, p)  # the generator reads the background only in the ablation
    torch.testing.assert_close(ablation._real(b) * outside, b[Keys.IMAGE] * outside)


def test_warmup_trains_the_generator_alone_then_both(tmp_path):
    s = ContentSystem(ContentGenerator(**TINY_G), Critic(3, (8, 16), 32), warmup_steps=3)
    d0 = {k: v.clone() for k, v in s.critic.state_dict().items()}
    dm = ContentDataModule(train_scenes=8, val_scenes=4, test_scenes=4, image_size=32, crop_size=32, batch_size=4,
                           num_workers=0)  # fmt: skip
    args = dict(limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    pl.Trainer(max_steps=3, **args).fit(s, dm)  # 3 generator-only steps
    assert all(torch.equal(d0[k], v) for k, v in s.critic.state_dict().items())
    trainer = pl.Trainer(max_steps=5, **args)
    trainer.fit(s, dm)  # then one batch of critic + generator: 2 more steps
    assert trainer.global_step == 5
    assert any(not torch.equal(d0[k], v) for k, v in s.critic.state_dict().items())
