"""Full resolution: low-resolution network outputs applied as full-resolution edits, every known pixel
kept exactly (the pure ops, then compose, deocclude and remove on images larger than the networks' crops)."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import known_compositor

from amodal_compose import ComposeInstance, Pipeline
from amodal_compose.io import read_rgba
from amodal_compose.nets import CompositionNet
from amodal_compose.nets.inpainting import PartialUNet, PatchDiscriminator
from amodal_compose.nets.pcnet import PartialMaskNet
from amodal_compose.ops.fullres import (
    apply_color_transform,
    box_mean,
    guided_filter,
    push_pull,
    seam_fill,
    upsample_alpha,
)
from amodal_compose.ops.masks import dilate
from amodal_compose.systems import CompositionSystem, PCNetCSystem, PCNetMSystem

TINY = dict(widths=(8, 16, 16), bottleneck=(16,))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _detail(h: int, w: int) -> torch.Tensor:
    """A photo-like image with detail at the finest scale: a 1-2 px checker over smooth colour ramps."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    checker = ((x // 1 + y // 2) % 2).float()
    ramp = torch.stack([x / w, y / h, 0.5 + 0.3 * torch.sin(x / 37.0)])
    return (0.15 + 0.6 * ramp + 0.2 * checker).clamp(0, 1)


# ----------------------------------------------------------------------------- the ops
def test_box_mean_is_the_windowed_mean_cut_at_the_border():
    x = torch.rand(2, 3, 13, 17, generator=torch.Generator().manual_seed(0))
    r = 3
    ones = torch.ones(1, 1, 13, 17)
    ref = F.conv2d(F.pad(x, (r,) * 4), torch.ones(3, 1, 7, 7), groups=3)
    ref = ref / F.conv2d(F.pad(ones, (r,) * 4), torch.ones(1, 1, 7, 7))
    torch.testing.assert_close(box_mean(x, r), ref)


def test_guided_filter_keeps_a_guide_edge_and_smooths_flat_regions():
    guide = torch.zeros(1, 1, 32, 32)
    guide[..., 16:] = 1
    noisy = guide + 0.1 * torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    out = guided_filter(guide, noisy, 4, 1e-4)
    assert float((out - guide).abs()[..., 2:14].mean()) < float((noisy - guide).abs()[..., 2:14].mean()) / 3
    assert float(out[..., 17] .mean() - out[..., 14].mean()) > 0.9  # the edge stays a step


def test_upsampled_alpha_is_exact_where_the_layer_is_absent_or_opaque():
    guide = _detail(128, 128)
    low = torch.zeros(1, 16, 16)
    low[:, 4:12, 4:12] = 1
    up = upsample_alpha(low, guide)
    assert up.shape == (1, 128, 128)
    assert torch.equal(up[:, :20], torch.zeros(1, 20, 128)) and torch.equal(up[:, 44:84, 44:84], torch.ones(1, 40, 40))


def test_colour_transform_is_applied_at_full_resolution():
    image = _detail(96, 80)
    t = torch.zeros(12, 6, 5)
    t[3] = 0.1  # b_R: +0.1 red everywhere
    t[5] = -0.2  # A[1, 1]: green times 0.8
    out = apply_color_transform(t, image)
    torch.testing.assert_close(out[0], (image[0] + 0.1).clamp(0, 1))
    torch.testing.assert_close(out[1], image[1] * 0.8)
    torch.testing.assert_close(out[2], image[2])
    with pytest.raises(ValueError, match="12 channels"):
        apply_color_transform(torch.zeros(4, 6, 5), image)


def test_push_pull_interpolates_the_unknown_values_smoothly():
    values = torch.zeros(1, 1, 33, 33)
    values[..., 0] = 1.0  # known: the left column 1, the right column 0
    weights = torch.zeros(1, 1, 33, 33)
    weights[..., 0] = weights[..., -1] = 1
    out = push_pull(values, weights)
    assert torch.equal(out[..., 0], values[..., 0]) and torch.equal(out[..., -1], values[..., -1])
    row = out[0, 0, 16]
    assert (row[:-1] >= row[1:] - 1e-6).all() and 0.2 < float(row[16]) < 0.8  # falls from 1 to 0


def test_seam_fill_meets_the_known_pixels_and_changes_nothing_else():
    image = _detail(64, 64)
    hole = torch.zeros(1, 64, 64)
    hole[:, 20:40, 16:44] = 1
    fill = (image * 0.7).clamp(0, 1)  # a darker fill: a step at the seam without the correction
    out = seam_fill(image, hole, fill)
    assert torch.equal(out * (1 - hole), image * (1 - hole))
    rim = dilate(hole, 1) - hole
    inner = hole - (hole - (dilate(rim, 1) * hole)).clamp(0, 1)  # the hole's first row of pixels
    step_before = float(((fill - image).abs() * inner).sum() / inner.sum())
    step_after = float(((out - image).abs() * inner).sum() / inner.sum())
    assert step_after < step_before / 3
    only_visible = torch.zeros(1, 64, 64)
    only_visible[:, :, :30] = 1  # the rim is known only left of x = 30
    out = seam_fill(image, hole, fill, known=only_visible)
    assert torch.equal(out * (1 - hole), image * (1 - hole))


def test_the_network_sees_a_cut_made_at_its_own_size():
    """A full-resolution cut shrunk to the network's side keeps the object's colour up to the cut's edge
    (as training cuts its crops), where shrinking the cut image would blend the edge with black."""
    from amodal_compose.pipeline.window import Window

    ys, xs = torch.meshgrid(torch.arange(640.0), torch.arange(640.0), indexing="ij")
    mask = (((ys - 300) ** 2 + (xs - 280) ** 2) < 210.0**2).float()[None]  # a disc: edges across the pixels
    image = torch.rand(3, 1, 1) * 0.8 + 0.1 + torch.zeros(3, 640, 640)
    win = Window.around(mask, 64, 1.5)
    cut = win.net_cut(image * mask, mask)
    keep = win.net(mask, "mask").bool()
    colour = image[:, :1, :1].expand_as(cut)
    assert torch.allclose(cut[keep.expand_as(cut)], colour[keep.expand_as(cut)], atol=1e-5)
    assert torch.equal(cut[~keep.expand_as(cut)], torch.zeros_like(cut[~keep.expand_as(cut)]))
    shrunk = win.net(image * mask) * keep
    assert float((colour - shrunk)[keep.expand_as(cut)].abs().max()) > 0.05  # what the old input lost


def test_border_difference_reads_the_change_on_the_cuts_ring():
    from amodal_compose.ops.color import border_difference

    torch.manual_seed(0)
    bg = torch.rand(2, 3, 32, 32) * 0.8 + 0.1
    obj = torch.zeros(2, 3, 32, 32)
    obj[..., 6:26, 6:26] = bg[..., 6:26, 6:26]  # a ring of background around the object
    obj[..., 9:23, 9:23] = torch.rand(2, 3, 14, 14)
    assert torch.equal(border_difference(bg, obj), torch.zeros(2, 3))  # nothing changed
    shift = torch.tensor([[0.05, -0.02, 0.0], [0.0, 0.03, -0.04]])
    changed = torch.where(obj > 0, obj + shift[..., None, None], obj)
    assert torch.allclose(border_difference(bg, changed), shift, atol=1e-6)
    assert torch.equal(border_difference(bg, torch.zeros_like(bg)), torch.zeros(2, 3))  # no cut at all
    net = CompositionNet(**TINY, color_head="affine", ring_input=True)
    assert net.state_dict()["unet.encoder.0.0.weight"].shape[1] == 9  # background, object, the difference
    rgb, _ = net(bg, obj)
    assert torch.allclose(rgb, obj)  # the identity transform before training, as without the input
    # the spread: zero on a ring of the background under one change, large on an object's own edge
    assert torch.allclose(border_difference(bg, changed, spread=True)[:, 3:], torch.zeros(2, 3), atol=1e-6)
    exact = torch.zeros_like(obj)
    exact[..., 9:23, 9:23] = obj[..., 9:23, 9:23]  # cut on the object's outline: no ring
    assert float(border_difference(bg, exact, spread=True)[:, 3:].min()) > 0.05
    spread = CompositionNet(**TINY, color_head="affine", ring_input=True, ring_spread=True)
    assert spread.state_dict()["unet.encoder.0.0.weight"].shape[1] == 12
    with pytest.raises(ValueError, match="ring_input"):
        CompositionNet(**TINY, ring_spread=True)


# ----------------------------------------------------------------------------- compose at 1024 px
@pytest.mark.parametrize("bias", [(0.0, 0.0, 0.0), (0.1, 0.0, -0.05)])
def test_compose_keeps_fine_detail_of_an_object_larger_than_the_crop(bias):
    photo = _detail(1024, 1024)
    mask = torch.zeros(1, 1024, 1024)
    mask[:, 200:800, 260:900] = 1  # 600 x 640 px, ten times the network's 64 px crop
    pipe = Pipeline(compositor=known_compositor(bias), input_sizes={"compositor": 64})
    background = torch.full((3, 1024, 1024), 0.3)
    result = pipe.compose(background, [ComposeInstance(photo, mask, occluded=False)])
    expected = (photo + torch.tensor(bias).view(3, 1, 1)).clamp(0, 1)
    inside = mask.bool().expand(3, -1, -1)
    psnr = _psnr(result.image[inside], expected[inside])
    assert psnr > 40, f"object-region PSNR {psnr:.1f} dB"
    # outside the compositor's window every background pixel is exact
    alpha = result.layers[0].rgba[3:]
    outside = (alpha == 0).expand(3, -1, -1)
    assert outside.any() and torch.equal(result.image[outside], background[outside])


def test_rgb_head_colour_change_is_applied_without_losing_detail():
    torch.manual_seed(0)
    net = CompositionNet(**TINY, color_head="rgb")
    with torch.no_grad():
        net.unet.head[-1].bias[3] = 10.0  # opaque alpha
    photo = _detail(512, 512)
    mask = torch.zeros(1, 512, 512)
    mask[:, 100:400, 120:420] = 1
    result = Pipeline(compositor=CompositionSystem(net)).compose(photo, [ComposeInstance(photo, mask, occluded=False)])
    out = result.image[:, 150:350, 170:370]
    src = photo[:, 150:350, 170:370]
    high = lambda x: x - F.avg_pool2d(x[None], 5, 1, 2, count_include_pad=False)[0]  # noqa: E731
    assert _psnr(high(out), high(src)) > 40  # the RGB head's change is smooth: the detail survives


# ----------------------------------------------------------------------------- deocclude and remove
def _occluded_scene(h=300, w=420):
    image = _detail(h, w)
    back, front = torch.zeros(1, h, w), torch.zeros(1, h, w)
    back[:, 60:220, 50:250] = 1
    front[:, 120:280, 180:380] = 1
    image = torch.where(front.bool(), image.flip(-1), image)
    return image, torch.stack([back * (1 - front), front]), torch.stack([back, front])


def _perfect_pcnet_m(amodal: torch.Tensor) -> PCNetMSystem:
    class Oracle(PCNetMSystem):  # dual completion and eq. 4 from the true amodal masks
        def order(self, image, modal, categories=None, **kw):
            return torch.tensor([[0, 0], [1, 0]])

        def amodal(self, image, modal, order=None, categories=None, **kw):
            return amodal.clone()

    torch.manual_seed(0)
    return Oracle(PartialMaskNet(widths=(8, 8, 16), bottleneck=(16,), use_image=False), input_size=32)


def test_deocclude_keeps_every_visible_pixel_and_fills_only_the_holes(tmp_path):
    image, modal, amodal = _occluded_scene()
    torch.manual_seed(0)
    pcnet_c = PCNetCSystem(PartialUNet(5, widths=(8, 16, 16)), PatchDiscriminator(3, widths=(8, 16, 16, 16)))
    pipe = Pipeline(pcnet_m=_perfect_pcnet_m(amodal), pcnet_c=pcnet_c, input_sizes={"pcnet_c": 64})
    d = pipe.deocclude(image, modal)
    assert torch.equal(d.layers[:, :3] * modal, image[None] * modal)  # visible pixels bit for bit
    hidden = amodal[0] * (1 - modal[0])
    assert torch.equal(d.layers[0, :3] * (1 - amodal[0]), torch.zeros(3, *image.shape[-2:]))
    assert float((d.layers[0, :3] * hidden).abs().sum()) > 0  # the hidden part is painted
    hole = dilate(modal.amax(0), 1)
    assert torch.equal(d.background * (1 - hole), image * (1 - hole))  # background: only the hole changes
    # the fill meets the visible rim: no step at the seam wider than the image's own detail
    rim_in = hidden * dilate(modal[0], 1)
    rim_out = dilate(hidden, 1) * modal[0]
    step = abs(float((d.layers[0, :3] * rim_in).sum() / rim_in.sum() / 3)
               - float((image * rim_out).sum() / rim_out.sum() / 3))  # fmt: skip
    assert step < 0.1
    d.save(tmp_path)  # the RGBA layers keep their alpha on disk
    rgb, alpha = read_rgba(tmp_path / "layer_0.png")
    assert alpha is not None and torch.equal(alpha, d.layers[0, 3:])
    assert (rgb - d.layers[0, :3]).abs().max() <= 0.5 / 255 + 1e-6


def test_remove_changes_only_the_removed_region_of_a_large_photo():
    from test_removal import _Bright, tiny

    system = tiny("joint")
    system.segmenter = _Bright()
    image = _detail(400, 600) * 0.4  # dark: the stand-in segmentation finds only the bright object
    image[:, 150:230, 260:380] = 0.9
    rough = torch.zeros(1, 400, 600)
    rough[:, 140:240, 250:390] = 1
    out = Pipeline(remover=system).remove(image, rough)
    removed = out["mask"]
    assert removed.shape == (1, 400, 600) and removed[:, 150:230, 260:380].all()
    assert int(removed.sum()) < 2 * 80 * 120  # the object, not the window
    assert torch.equal(out["image"] * (1 - removed), image * (1 - removed))
