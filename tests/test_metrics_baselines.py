import math

import pytest
import torch
from conftest import rect

from amodal_compose.baselines import (
    BASELINES,
    amodal_convex,
    amodal_raw,
    composite_cut_and_paste,
    inpaint_mean_fill,
    order_by_area,
    order_by_convex,
    order_by_yaxis,
)
from amodal_compose.metrics import BinnedImageMetrics, OrderingAccuracy, PooledMIoU, perceptual_metrics, psnr


def test_pooled_miou_is_pooled_not_averaged():
    # instance 1: I=2, U=4 ; instance 2: I=8, U=8 -> pooled 10/12 (the mean of IoUs would be 0.75)
    p = torch.zeros(2, 1, 4, 4)
    t = torch.zeros(2, 1, 4, 4)
    p[0, 0, 0, :3] = 1
    t[0, 0, 0, 1:4] = 1
    p[1, 0, 1:3] = 1
    t[1, 0, 1:3] = 1
    m = PooledMIoU("full")
    m.update(p, t)
    assert float(m.compute()) == pytest.approx(10 / 12)


@pytest.mark.filterwarnings("ignore:.*called before the ..update:UserWarning")
def test_pooled_miou_invisible_part():
    vis = rect(4, 4, 0, 2, 0, 4)[None]
    gt = rect(4, 4, 0, 3, 0, 4)[None]
    pred = rect(4, 4, 0, 4, 0, 4)[None]
    m = PooledMIoU("invisible")
    m.update(pred, gt, vis)
    assert float(m.compute()) == pytest.approx(4 / 8)  # invisible gt: col 2; pred: cols 2-3
    raw = PooledMIoU("invisible")
    raw.update(vis, gt, vis)
    assert float(raw.compute()) == 0.0
    with pytest.raises(ValueError, match="visible"):
        PooledMIoU("invisible").update(pred, gt)
    assert math.isnan(float(PooledMIoU().compute()))


def test_ordering_accuracy():
    gt = torch.tensor([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    pred = torch.tensor([[0, 1, 0], [0, 0, 0], [0, 1, 0]])  # (0,1) right, (1,2) reversed
    m = OrderingAccuracy()
    m.update(pred, gt)
    assert float(m.compute()) == 0.5


def test_psnr_hand_value_and_region():
    a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1)
    assert float(psnr(a, b)) == pytest.approx(20.0)
    region = rect(4, 4, 0, 2, 0, 4)[None]
    b2 = b.clone()
    b2[..., 2:] = 0.5  # error outside the region is ignored
    assert float(psnr(a, b2, region)) == pytest.approx(20.0)


@pytest.mark.filterwarnings("ignore:.*called before the ..update:UserWarning")
def test_binned_metrics_bins():
    m = BinnedImageMetrics()
    x = torch.rand(4, 3, 16, 16)
    y = x.clone()
    y[1] = (y[1] + 0.1).clamp(0, 1)
    m.update(y, x, torch.tensor([0.1, 0.3, 0.45, 0.9]))
    out = m.compute()
    assert int(out["count/(0.05,0.2]"]) == 1 and int(out["count/(0.2,0.4]"]) == 1
    assert int(out["count/all"]) == 4
    assert float(out["psnr/(0.2,0.4]"]) < 30 and float(out["ssim/(0.4,0.5]"]) == pytest.approx(1.0)
    empty = BinnedImageMetrics().compute()
    assert math.isnan(float(empty["psnr/all"]))


def test_perceptual_metrics_are_built_only_from_weights_already_here(tmp_path, monkeypatch):
    """LPIPS / FID are torchmetrics' classes, built only when their package imports and their weights are
    in torch hub's folder; otherwise each has a reason and nothing is downloaded."""
    import importlib
    import types

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    real_find, real_import = importlib.util.find_spec, importlib.import_module
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "torch_fidelity" else real_find(n, *a))
    metrics, reasons = perceptual_metrics()
    assert not metrics and set(reasons) == {"lpips", "fid"}
    assert "torch_fidelity" in reasons["fid"] and "not installed" in reasons["fid"]
    # a package that imports but whose weights are absent: named, with where they were looked for
    fake = types.ModuleType("torchvision")
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "torchvision" else None)
    monkeypatch.setattr(importlib, "import_module", lambda n, *a: fake if n == "torchvision" else real_import(n, *a))
    _, reasons = perceptual_metrics()
    assert "alexnet-owt-7be5be79.pth" in reasons["lpips"] and str(tmp_path) in reasons["lpips"]


def test_amodal_baselines():
    ell = (rect(10, 10, 1, 3, 1, 9) + rect(10, 10, 1, 9, 7, 9)).clamp(0, 1)[None]
    assert torch.equal(amodal_raw(ell), ell)
    hull = amodal_convex(ell)
    assert bool((hull >= ell).all())
    assert hull[0, 0, 5, 5] == 1 and ell[0, 0, 5, 5] == 0  # inside the corner the L leaves open
    assert hull[0, 0, 1, 8] == 0  # beyond the hull of the L (its top right)
    for name, fn in BASELINES["amodal_mask"].items():  # the registry's callables are these baselines
        assert torch.equal(fn(ell), {"raw": amodal_raw, "convex": amodal_convex}[name](ell))


def test_order_baselines():
    big = rect(20, 20, 0, 12, 0, 10)  # touches small, higher up
    small = rect(20, 20, 12, 16, 5, 18)  # lower bottom edge
    far = rect(20, 20, 18, 20, 0, 2)  # touches nobody
    modal = torch.stack([big, small, far])
    assert order_by_area(modal).tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert order_by_area(modal, larger_in_front=True).tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert order_by_yaxis(modal).tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
    # far is 4 px from small: a neighbour once the masks grow by 4 (the system's neighbour_dilation)
    assert order_by_area(modal, dilation=3)[2].tolist() == [0, 0, 0]
    assert order_by_area(modal, dilation=4)[2].tolist() == [0, 1, 0]  # the smaller, far, in front
    assert order_by_yaxis(modal, dilation=4)[1].tolist() == [1, 0, 1]  # small's bottom is the lowest


def test_composite_and_fill_baselines():
    bg, obj = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    m = rect(4, 4, 0, 2, 0, 4)[None]
    out = composite_cut_and_paste(bg, obj, m)
    assert float(out.sum()) == 3 * 8
    img = torch.zeros(1, 3, 4, 4)
    img[..., :2] = 0.5
    hole = rect(4, 4, 2, 4, 0, 4)[None]
    filled = inpaint_mean_fill(img, hole)
    assert torch.allclose(filled, torch.full_like(img, 0.5))


def test_convex_ordering_orders_every_neighbouring_pair_as_the_paper_reads_it():
    """Two touching instances whose hulls do not reach each other tie on growth into the other; the
    paper's rule, at its best, still orders them: the one whose hull adds more in all is the occludee."""
    ell = (rect(20, 20, 2, 14, 2, 5) + rect(20, 20, 11, 14, 2, 12)).clamp(0, 1)  # an L: its hull adds a lot
    bar = rect(20, 20, 14, 17, 2, 12)  # a bar just below the L, touching it: its hull adds nothing
    modal = torch.stack([ell, bar])
    order = order_by_convex(modal)
    assert order.tolist() == [[0, 0], [1, 0]]  # the bar in front of the L, whose hull grows more
    # a hull that grows into the other's visible mask still decides first
    modal2 = torch.stack([ell, rect(20, 20, 3, 8, 5, 10)])  # a box in the L's open corner, touching it
    assert order_by_convex(modal2).tolist() == [[0, 0], [1, 0]]
