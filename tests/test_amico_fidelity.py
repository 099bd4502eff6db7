"""AMICO fidelity: eq. 5's colour change of the whole image, the harder colour change, the affine
colour head of f_comp, contextual attention restricted to the visible object, the coarse-net skips,
and the gradient-penalty and warm-up options of the content GAN."""

import kornia
import pytest
import torch

from amodal_compose.data.datasets import SyntheticScenes
from amodal_compose.data.index import scene_image
from amodal_compose.data.occlusion import random_color_change
from amodal_compose.data.pairs import CompositionPairs
from amodal_compose.losses import gradient_penalty
from amodal_compose.nets import CompositionNet, ContentGenerator
from amodal_compose.nets.content import CoarseNet
from amodal_compose.nets.layers import ContextualAttention
from amodal_compose.ops.color import reinhard_transfer, smooth_gain, tone_curves
from amodal_compose.ops.masks import SquareBox, crop_square, dilate
from amodal_compose.structures import Keys

TINY = dict(widths=(8, 16, 16), bottleneck=(16,))


def test_tone_curves_and_smooth_gain_hand_values():
    x = torch.tensor([[[0.0, 0.125, 0.5, 1.0]]])
    # knots at 0, 0.5, 1 -> values 0.1, 0.3, 0.9: linear between them
    out = tone_curves(x, torch.tensor([[0.1, 0.3, 0.9]]))
    torch.testing.assert_close(out, torch.tensor([[[0.1, 0.15, 0.3, 0.9]]]))
    img = torch.full((3, 8, 8), 0.5)
    torch.testing.assert_close(smooth_gain(img, torch.full((3, 2, 2), 1.5)), torch.full((3, 8, 8), 0.75))
    with pytest.raises(ValueError, match="knots"):
        tone_curves(x, torch.tensor([[0.1]]))


def _lab_mean(x):
    return kornia.color.rgb_to_lab(x[None]).mean((-2, -1))[0]


def test_color_changes_reinhard_follows_the_reference_and_tone_is_not_affine():
    s, r = SyntheticScenes(2, 64, "val")
    out = random_color_change(s.image, r.image, "reinhard", 0)
    # the whole image takes the reference's LAB statistics (up to clipping to the RGB gamut)
    assert (_lab_mean(out) - _lab_mean(r.image)).abs().max() < 4.0
    assert (_lab_mean(s.image) - _lab_mean(r.image)).abs().max() > 8.0
    tone = random_color_change(s.image, r.image, "tone", 0)
    x = torch.cat([s.image.flatten(1), torch.ones(1, 64 * 64)]).T  # (N, 4): an affine RGB map's inputs
    fit = torch.linalg.lstsq(x, tone.flatten(1).T).solution
    residual = (x @ fit - tone.flatten(1).T).abs().mean()
    assert residual > 0.01  # no affine colour map explains the change
    assert torch.equal(random_color_change(s.image, r.image, "none", 0), s.image)
    assert torch.equal(random_color_change(s.image, r.image, "tone", 0, strength=0.0), s.image)
    with pytest.raises(ValueError, match="kind"):
        random_color_change(s.image, r.image, "sepia", 0)


def test_composition_pairs_recolour_the_whole_image_before_the_cut():
    """AMICO eq. 5, I_c = ColorTransfer(I, I_ref) * Dilate(m, iter): the object and the background ring
    inside the cut carry the change of the *whole* image towards the reference."""
    scenes = SyntheticScenes(6, 64, "val")
    ds = CompositionPairs(scenes, 64, min_dilation=10, max_dilation=10)
    index = 2
    item = ds[index]
    draws, _ = ds.draws(index)
    g = draws.generator("colour")
    i, _ = ds.index[index]
    ref = scene_image(scenes, int(torch.randint(len(scenes), (1,), generator=g)))
    torch.rand(1, generator=g)  # the strength draw
    full = reinhard_transfer(scenes[i].image, ref)
    box = SquareBox(*item[Keys.BOX].tolist(), *scenes[i].size)
    expected = crop_square(full, box, 64) * item[Keys.OBJECT_MASK]
    torch.testing.assert_close(item[Keys.OBJECT_IMAGE], expected, atol=1e-5, rtol=0)
    ring = item[Keys.OBJECT_MASK] * (1 - item[Keys.MODAL_MASK])
    assert ring.sum() > 0  # a background ring is inside the cut, recoloured like the object


def test_unchanged_pairs_need_no_change_and_leave_the_other_draws_alone():
    """``unchanged_share`` (not in the paper): such a pair's layer is the input itself, its cut coarse
    (``"ring"``, the ring the true background) or the visible mask (``"exact"``); eq. 5 pairs stay."""
    scenes = SyntheticScenes(6, 64, "val")
    eq5 = CompositionPairs(scenes, 64, min_dilation=10, max_dilation=10, train=True)
    ring = CompositionPairs(scenes, 64, min_dilation=10, max_dilation=10, unchanged_share=1.0, train=True)
    exact = CompositionPairs(scenes, 64, min_dilation=10, max_dilation=10, unchanged_share=1.0,
                             unchanged_cut="exact", train=True)  # fmt: skip
    for index in range(3):
        a, r, e = eq5[index], ring[index], exact[index]
        assert torch.equal(r[Keys.OBJECT_MASK], a[Keys.OBJECT_MASK])  # the same cut draw
        assert not torch.allclose(a[Keys.OBJECT_IMAGE], a[Keys.TARGET] * a[Keys.OBJECT_MASK])  # eq. 5 recolours
        torch.testing.assert_close(r[Keys.OBJECT_IMAGE], r[Keys.TARGET] * r[Keys.OBJECT_MASK])
        assert torch.equal(e[Keys.OBJECT_MASK], e[Keys.MODAL_MASK])
        torch.testing.assert_close(e[Keys.OBJECT_IMAGE], e[Keys.TARGET] * e[Keys.MODAL_MASK])
    with pytest.raises(ValueError, match="unchanged_cut"):
        CompositionPairs(scenes, 64, unchanged_cut="loose")


def test_exact_share_cuts_changed_and_unchanged_pairs_with_the_visible_mask():
    """``exact_share`` (not in the paper): the cut is the visible mask, the colour change as drawn."""
    scenes = SyntheticScenes(6, 64, "val")
    eq5 = CompositionPairs(scenes, 64, min_dilation=10, max_dilation=10, train=True)
    exact = CompositionPairs(scenes, 64, min_dilation=10, max_dilation=10, exact_share=1.0, train=True)
    for index in range(3):
        a, e = eq5[index], exact[index]
        assert torch.equal(e[Keys.OBJECT_MASK], e[Keys.MODAL_MASK])
        assert not torch.equal(a[Keys.OBJECT_MASK], a[Keys.MODAL_MASK])  # the coarse cut otherwise
        # the same recoloured object, cut by the visible mask instead
        torch.testing.assert_close(e[Keys.OBJECT_IMAGE], a[Keys.OBJECT_IMAGE] * e[Keys.MODAL_MASK])
    none = CompositionPairs(scenes, 64, exact_share=0.0, train=True)
    assert torch.equal(none[0][Keys.OBJECT_MASK], CompositionPairs(scenes, 64, train=True)[0][Keys.OBJECT_MASK])
    with pytest.raises(ValueError, match="exact_share"):
        CompositionPairs(scenes, 64, exact_share=1.5)


def test_affine_color_head_starts_as_the_identity_and_learns():
    net = CompositionNet(**TINY, color_head="affine")
    bg, obj = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    rgb, alpha = net(bg, obj)
    torch.testing.assert_close(rgb, obj)
    (rgb.square().mean() + alpha.mean()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    with pytest.raises(ValueError, match="color_head"):
        CompositionNet(**TINY, color_head="lut")


def _two_sources():
    """A hole whose exact match lies outside the source region, and a source region of one flat colour."""
    g = torch.Generator().manual_seed(3)
    bg = torch.rand(1, 4, 16, 16, generator=g)
    bg[..., 10:16, :] = 0.5  # the source region and its 1 px rim: flat
    fg = bg.clone()
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 6:9, 6:9] = 1
    fg[..., 5:10, 5:10] = bg[..., 0:5, 10:15]  # every query patch over the hole has an exact match, top right
    source = torch.zeros(1, 1, 16, 16)
    source[..., 11:15, 1:15] = 1  # only patches centred on these cells may be copied (all flat, in the image)
    return fg, bg * (1 - hole), hole, source


def test_attention_copies_only_from_the_source_region_or_falls_back():
    fg, bg, hole, source = _two_sources()
    att = ContextualAttention(3, softmax_scale=1000.0)
    free = att(fg, bg, hole)
    torch.testing.assert_close(free[..., 7, 7], bg[..., 2, 12], atol=1e-4, rtol=0)  # the exact match
    restricted = att(fg, bg, hole, source)
    # every patch pasted over the hole comes from the flat source rows
    torch.testing.assert_close(restricted[..., 6:9, 6:9], torch.full_like(restricted[..., 6:9, 6:9], 0.5))
    tiny = torch.zeros_like(source)
    tiny[..., 13, 13] = 1  # one cell: fewer than min_sources -> the unrestricted rule
    torch.testing.assert_close(att(fg, bg, hole, tiny), free)


def test_generator_attends_to_the_visible_object_by_default():
    g = ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,))
    known = ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,), attend="known")
    known.load_state_dict(g.state_dict())
    vis = torch.zeros(1, 1, 32, 32)
    vis[..., 8:24, 4:16] = 1
    inv = torch.zeros_like(vis)
    inv[..., 8:24, 16:24] = 1
    obj = torch.rand(1, 3, 32, 32) * vis
    a, b = g(obj, vis, inv)["refine"], known(obj, vis, inv)["refine"]
    assert not torch.allclose(a, b)  # the same weights copy from different places


def test_coarse_skips_keep_parameter_names_and_change_the_output():
    plain, skip = CoarseNet(5, 16, (1, 1, 1, 1, 1)), CoarseNet(5, 16, (1, 1, 1, 1, 1), skips=True)
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in skip.named_parameters()]
    x = torch.rand(2, 5, 32, 32)
    assert skip(x).shape == plain(x).shape == (2, 3, 32, 32)
    skip(x).mean().backward()
    assert all(p.grad is not None for p in skip.parameters())


def test_gradient_penalty_at_the_fakes_is_eq_4_as_written():
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    real, fake = torch.rand(3, 3, 2, 2), torch.rand(3, 3, 2, 2)
    at_fakes = gradient_penalty(critic, real, fake, epsilon=torch.zeros(3))
    x = fake.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    torch.testing.assert_close(at_fakes, ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean())


def test_residual_prior_starts_at_the_telea_fill_and_learns_corrections():
    from amodal_compose.baselines import inpaint_telea
    from amodal_compose.nets import Critic
    from amodal_compose.systems import ContentSystem

    g = ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,), prior="residual")
    system = ContentSystem(g, Critic(3, (8, 16), 32), prefill="telea")
    vis = torch.zeros(1, 1, 32, 32)
    vis[..., 4:28, 4:16] = 1
    inv = torch.zeros_like(vis)
    inv[..., 4:28, 16:28] = 1
    obj = torch.rand(1, 3, 32, 32) * vis
    out = system.complete(obj, vis, inv)
    telea = inpaint_telea(obj * vis, 1 - vis)
    # at initialisation both corrections are zero: the completion is the Telea fill
    torch.testing.assert_close(out["completed"], obj * vis + telea * inv, atol=1e-5, rtol=0)
    loss = (g(obj, vis, inv, telea)["completed"] - torch.rand_like(obj)).abs().mean()
    loss.backward()
    assert g.refine.out.conv.conv.weight.grad.abs().sum() > 0  # the zeroed layer still learns
    with pytest.raises(ValueError, match="needs a generator with prior='residual'"):
        ContentSystem(ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,)), Critic(3, (8, 16), 32), prefill="telea")
    with pytest.raises(ValueError, match="needs a prior fill"):
        g(obj, vis, inv)


def test_offset_fill_continues_stripes_and_checkers_where_telea_smooths_them():
    from amodal_compose.baselines import inpaint_offsets, inpaint_telea
    from amodal_compose.ops.offsets import offset_fill

    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    stripes = ((xs + ys) % 10 < 5).float()  # diagonal stripes: exact along (1, -1)
    checker = ((xs // 6 + ys // 6) % 2).float()  # exact under (12, 0), (0, 12), (6, 6) ...
    img = torch.stack([torch.stack([stripes, 1 - stripes, stripes]), torch.stack([checker] * 3)])
    hole = torch.zeros(2, 1, 48, 48)
    hole[..., 16:32, 12:30] = 1
    filled, unfilled = offset_fill(img * (1 - hole), hole)
    assert unfilled.sum() == 0
    torch.testing.assert_close(filled, img)  # a periodic texture is continued exactly
    telea = inpaint_telea(img * (1 - hole), hole)
    assert ((telea - img).abs() * hole).sum() > 50  # diffusion blurs the same hole
    # ``source`` limits what is copied: with nothing to copy from, nothing is filled
    _, none = offset_fill(img, hole, source=torch.zeros_like(hole))
    torch.testing.assert_close(none, hole)
    # the baseline falls back to its ``fallback`` fill where no offset reaches
    out = inpaint_offsets(img, hole, fallback=torch.full_like(img, 0.25))
    torch.testing.assert_close(out, img)
    with pytest.raises(ValueError, match="expected image"):
        offset_fill(img, hole[0])


def test_select_prior_starts_at_the_mean_of_its_candidates_and_learns_to_weigh_them():
    from amodal_compose.baselines import inpaint_offsets, inpaint_telea
    from amodal_compose.nets import Critic
    from amodal_compose.systems import ContentSystem

    g = ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,), prior="select", candidates=2)
    system = ContentSystem(g, Critic(3, (8, 16), 32), prefill="telea+offsets")
    vis = torch.zeros(1, 1, 32, 32)
    vis[..., 4:28, 4:16] = 1
    inv = torch.zeros_like(vis)
    inv[..., 4:28, 16:28] = 1
    obj = (torch.arange(32.0) % 6 < 3).float().expand(1, 3, 32, 32) * (vis + inv)
    out = system.complete(obj * vis, vis, inv)
    telea = inpaint_telea(obj * vis, 1 - vis)
    offsets = inpaint_offsets(obj * vis, 1 - vis)
    torch.testing.assert_close(out["completed"], obj * vis + (telea + offsets) / 2 * inv, atol=1e-5, rtol=0)
    # the per-pixel weights and the correction train: the coarse error on the stripes falls
    prior = torch.cat([telea, offsets], 1)
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    errors = []
    for _ in range(30):
        err = ((g(obj * vis, vis, inv, prior)["coarse"] - obj).abs() * inv).sum() / inv.sum()
        opt.zero_grad()
        err.backward()
        opt.step()
        errors.append(float(err.detach()))
    assert errors[-1] < 0.5 * errors[0]
    with pytest.raises(ValueError, match="prior='select' and candidates=2"):
        ContentSystem(ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,), prior="residual"),
                      Critic(3, (8, 16), 32), prefill="telea+offsets")  # fmt: skip
    with pytest.raises(ValueError, match=r"2 fill\(s\)"):
        g(obj * vis, vis, inv, telea)


def test_holdout_weights_score_each_candidate_on_pixels_held_out_next_to_the_hole():
    from amodal_compose.baselines import (
        blend_candidates,
        holdout_log_weights,
        inpaint_holdout_blend,
        telea_and_offsets,
    )

    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    stripes = (xs % 6 < 3).float().expand(3, 32, 32)
    smooth = ((xs / 31) ** 2 + (ys / 31) ** 3).expand(3, 32, 32)  # smooth, and no translation keeps it
    img = torch.stack([stripes, smooth])
    hole = torch.zeros(2, 1, 32, 32)
    hole[..., 10:22, 12:20] = 1
    known = img * (1 - hole)
    logw = holdout_log_weights(telea_and_offsets, known, hole)
    # by hand: hide the known pixels within 4 px of the hole too, fill, score each fill's MSE there
    held = dilate(hole, 4) * (1 - hole)
    bigger = torch.maximum(hole, held)
    cands = telea_and_offsets(img * (1 - bigger), bigger).unflatten(1, (2, 3))
    mse = ((cands - img[:, None]) ** 2).mean(2).mul(held).flatten(2).sum(-1) / held.flatten(1).sum(1)[:, None]
    torch.testing.assert_close(logw, -2 * mse.clamp_min(1e-6).log())
    w = logw.softmax(1)
    assert w[0, 1] > 0.99  # stripes: the offsets copy is exact, Telea blurs
    assert w[1, 0] > 0.8  # the smooth ramp: Telea's diffusion continues it better than any copy does
    blended = inpaint_holdout_blend(known, hole)
    torch.testing.assert_close(blended * (1 - hole), known)  # known pixels untouched
    torch.testing.assert_close(blended * hole, blend_candidates(telea_and_offsets(known, hole), logw) * hole)
    # an image with nothing known near the part that matters weighs its candidates equally
    far = torch.zeros_like(hole)
    assert torch.equal(holdout_log_weights(telea_and_offsets, known, hole, far), torch.zeros(2, 2))


def test_select_prior_with_holdout_weights_starts_at_their_blend():
    from amodal_compose.baselines import blend_candidates, holdout_log_weights, telea_and_offsets
    from amodal_compose.nets import Critic
    from amodal_compose.systems import ContentSystem

    g = ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,), prior="select", candidates=2, prior_weights=True)
    system = ContentSystem(g, Critic(3, (8, 16), 32), prefill="telea+offsets", holdout_ring=4)
    vis = torch.zeros(2, 1, 32, 32)
    vis[..., 4:28, 4:16] = 1
    inv = torch.zeros_like(vis)
    inv[..., 4:28, 16:28] = 1
    xs = torch.arange(32.0)
    obj = torch.stack([(xs % 6 < 3).float().expand(3, 32, 32), (xs / 31).expand(3, 32, 32)]) * (vis + inv)
    out = system.complete(obj * vis, vis, inv)
    known, hole = obj * vis, 1 - vis
    logw = holdout_log_weights(telea_and_offsets, known, hole, inv)
    assert not torch.allclose(logw.softmax(1), torch.full((2, 2), 0.5))  # the blend is not the mean
    expected = known + blend_candidates(telea_and_offsets(known, hole), logw) * inv
    torch.testing.assert_close(out["completed"], expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="go together"):
        ContentSystem(g, Critic(3, (8, 16), 32), prefill="telea+offsets")
    with pytest.raises(ValueError, match="needs prior_logits"):
        g(known, vis, inv, telea_and_offsets(known, hole))
    with pytest.raises(ValueError, match="prior_weights needs prior='select'"):
        ContentGenerator(8, (1, 1, 1, 1, 1), (8, 8, 16), (2,), prior="residual", prior_weights=True)
