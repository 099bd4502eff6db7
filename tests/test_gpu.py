"""Checks on a CUDA device (marker ``gpu``; ``make test`` deselects them and they skip where no CUDA device
is present): every system trains on the GPU under mixed precision with the ``ChannelsLast`` and
``EMAWeights`` callbacks, the inference APIs on the GPU agree with the CPU, and the pipeline runs on the
GPU in float32 and in half precision. Run them with ``pytest -m gpu``."""

import pytest
import pytorch_lightning as pl
import torch
from test_pcnet import DM as PCNET_DM
from test_pcnet import scenes_with_occlusion, tiny_c, tiny_m
from test_pipeline import _scene_job
from test_removal import DM as REMOVAL_DM
from test_removal import tiny as tiny_removal
from test_systems import API, SYSTEMS, _inputs
from test_systems import DM as SYSTEM_DM
from test_vae import TINY_NET, tiny_dm

from amodal_compose import Pipeline
from amodal_compose.data.datamodules import PCNetCDataModule, PCNetMDataModule, RemovalDataModule
from amodal_compose.nets.vae import AmodalVAE
from amodal_compose.systems import AmodalVAESystem
from amodal_compose.systems.callbacks import ChannelsLast, EMAWeights

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is present"),
]

FITS = {
    "shape": lambda: (SYSTEMS["shape"][0](), SYSTEMS["shape"][1](**SYSTEM_DM)),
    "compose": lambda: (SYSTEMS["compose"][0](), SYSTEMS["compose"][1](**SYSTEM_DM)),
    "content": lambda: (SYSTEMS["content"][0](), SYSTEMS["content"][1](**SYSTEM_DM)),
    "pcnet_m": lambda: (tiny_m(), PCNetMDataModule(**PCNET_DM)),
    "pcnet_c": lambda: (tiny_c(), PCNetCDataModule(**PCNET_DM)),
    "removal_segmentation": lambda: (tiny_removal("segmentation"), RemovalDataModule(**REMOVAL_DM)),
    "removal_inpainters": lambda: (tiny_removal("inpainters"), RemovalDataModule(**REMOVAL_DM)),
    "amodal_vae": lambda: (AmodalVAESystem(AmodalVAE(**TINY_NET), stage=1), tiny_dm(1)),
}


@pytest.fixture
def exact_float32():
    """Full float32 convolutions and matmuls (no TF32), so GPU and CPU results compare closely."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
@pytest.mark.parametrize("name", list(FITS))
def test_every_system_trains_on_the_gpu_in_mixed_precision(tmp_path, name, precision):
    pl.seed_everything(0, verbose=False)
    system, dm = FITS[name]()
    before = {k: v.clone() for k, v in system.state_dict().items()}
    # float16 autocast skips its first steps while the loss scale settles (gradients overflow at 2^16)
    steps = 3 if precision == "bf16-mixed" else 12
    trainer = pl.Trainer(
        accelerator="gpu", devices=1, precision=precision, max_steps=steps, limit_val_batches=1,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[ChannelsLast(), EMAWeights(decay=0.9)],
    )  # fmt: skip
    trainer.fit(system, dm)
    after = system.state_dict()
    floats = [k for k, v in after.items() if v.is_floating_point()]
    assert all(bool(torch.isfinite(after[k]).all()) for k in floats), "non-finite weights"
    assert any(not torch.equal(before[k], after[k].to(before[k].device)) for k in floats), "no weight moved"
    scores = trainer.validate(system, datamodule=dm, verbose=False)[0]  # the system's evaluation, on the GPU
    assert scores and not any(v == float("inf") or v == float("-inf") for v in scores.values()), scores
    if system.main_metric:
        assert torch.isfinite(torch.tensor(scores[f"val/{system.main_metric}"])), scores


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_inference_apis_on_the_gpu_agree_with_the_cpu(name, exact_float32):
    torch.manual_seed(0)
    system = SYSTEMS[name][0]().eval()
    inputs = _inputs(name, size=(40, 56), batch=2)  # not a multiple of the networks' strides
    torch.manual_seed(1)
    on_cpu = getattr(system, API[name])(**inputs)
    system.cuda()
    torch.manual_seed(1)
    on_gpu = getattr(system, API[name])(**{k: v.cuda() for k, v in inputs.items()})
    assert set(on_cpu) == set(on_gpu)
    for key, value in on_cpu.items():
        torch.testing.assert_close(on_gpu[key].cpu().float(), value.float(), rtol=1e-3, atol=1e-3, msg=key)


def test_pcnet_m_orders_and_completes_a_scene_on_the_gpu_as_on_the_cpu(exact_float32):
    system = tiny_m().eval()
    for scene in scenes_with_occlusion(3):
        modal, cats = scene.modal_masks(), scene.categories()
        cpu = system.order(scene.image, modal, cats), system.amodal(scene.image, modal, categories=cats)
        system.cuda()
        gpu = system.order(scene.image, modal, cats), system.amodal(scene.image, modal, categories=cats)
        system.cpu()
        assert torch.equal(gpu[0].cpu(), cpu[0])
        assert (gpu[1].cpu() != cpu[1]).float().mean() < 1e-3  # a threshold tie may flip a pixel


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_the_pipeline_runs_on_the_gpu_in_float32_and_half_precision(dtype, exact_float32):
    def components():
        torch.manual_seed(0)
        return dict(shape=SYSTEMS["shape"][0](), content=SYSTEMS["content"][0](), compositor=SYSTEMS["compose"][0](),
                    pcnet_m=tiny_m(), pcnet_c=tiny_c(), remover=tiny_removal("joint"))  # fmt: skip

    cpu, gpu = Pipeline(**components()), Pipeline(device="cuda", dtype=dtype, **components())
    tol = 1e-3 if dtype == torch.float32 else 0.1
    bg, instances = _scene_job(2)
    a, b = cpu.compose(bg, instances).image, gpu.compose(bg, instances).image
    assert b.device.type == "cpu" and b.dtype == torch.float32 and bool(torch.isfinite(b).all())
    assert (a - b).abs().mean() < tol / 10 and (a - b).abs().max() < max(tol, 0.5 if dtype != torch.float32 else 0)

    scene = scenes_with_occlusion(1)[0]
    modal = scene.modal_masks()
    x, y = cpu.deocclude(scene.image, modal), gpu.deocclude(scene.image, modal)
    assert torch.isfinite(y.background).all() and y.amodal.shape == x.amodal.shape
    if dtype == torch.float32:
        assert torch.equal(y.order, x.order)

    mask = modal[0, 0]
    removed_cpu, removed_gpu = cpu.remove(scene.image, mask), gpu.remove(scene.image, mask)
    assert removed_gpu["image"].shape == scene.image.shape and torch.isfinite(removed_gpu["image"]).all()
    if dtype == torch.float32:
        torch.testing.assert_close(removed_gpu["image"], removed_cpu["image"], rtol=1e-3, atol=1e-3)
