import itertools
import math

import kornia
import pytest
import torch
import torch.nn.functional as F
from conftest import rect

from amodal_compose.ops import (
    alpha_blend,
    ancestors,
    bbox,
    break_cycles,
    canny_edges,
    convex_hull,
    crop_square,
    dilate,
    erode,
    iou,
    neighbour_pairs,
    neighbourhood_max,
    order_from_depth,
    order_from_masks,
    pairwise_order,
    paste_square,
    poisson_blend,
    reinhard_transfer,
    signed_distance,
    square_box,
    telea_inpaint,
)


def test_bbox_hand_values_and_empty():
    m = rect(5, 6, 2, 5, 1, 3)
    assert bbox(m).tolist() == [[2, 1, 5, 3]]
    assert bbox(torch.zeros(2, 1, 4, 4)).tolist() == [[[0, 0, 0, 0]], [[0, 0, 0, 0]]]


def test_dilate_erode_hand_values():
    m = torch.zeros(1, 7, 7)
    m[0, 3, 3] = 1
    d1 = dilate(m, 1)  # first step is a cross
    assert d1.sum() == 5 and d1[0, 2, 3] == 1 and d1[0, 2, 2] == 0
    d2 = dilate(m, 2)  # cross then square: 5x5 square minus nothing? -> 21 pixel octagon
    assert d2.sum() == 21
    assert torch.equal(dilate(m, 0), m)
    # erosion inverts dilation on a block away from the border
    block = rect(9, 9, 2, 7, 2, 7)
    assert torch.equal(erode(block, 1), rect(9, 9, 3, 6, 3, 6))
    # the image border does not erode a mask touching it
    full = torch.ones(1, 5, 5)
    assert torch.equal(erode(full, 2), full)


def test_dilate_per_sample_radius():
    m = torch.zeros(2, 1, 9, 9)
    m[:, 0, 4, 4] = 1
    out = dilate(m, torch.tensor([0, 2]))
    assert out[0].sum() == 1 and out[1].sum() == 21
    with pytest.raises(ValueError):
        dilate(m, -1)


@pytest.mark.parametrize("cross", [False, True])
def test_neighbourhood_max_is_max_pooling_with_a_geodesic_border(cross):
    x = torch.randn(3, 2, 9, 7)
    if cross:
        ref = torch.maximum(F.max_pool2d(x, (3, 1), 1, (1, 0)), F.max_pool2d(x, (1, 3), 1, (0, 1)))
    else:
        ref = F.max_pool2d(x, 3, 1, 1)
    assert torch.equal(neighbourhood_max(x, cross), ref)


def test_canny_edges_are_kornias_with_hysteresis():
    g = torch.Generator().manual_seed(0)
    smooth = kornia.filters.gaussian_blur2d(torch.rand(4, 3, 40, 48, generator=g), (7, 7), (2.0, 2.0))
    scene = torch.zeros(1, 3, 32, 32)
    scene[..., 8:24, 6:20] = torch.tensor([0.9, 0.4, 0.1])[:, None, None]
    for image in (smooth, scene):
        for low, high in ((0.1, 0.2), (0.02, 0.1)):
            ref = kornia.filters.canny(kornia.color.rgb_to_grayscale(image), low, high)[1]
            assert torch.equal(canny_edges(image, low, high), ref)
    assert canny_edges(scene).sum() > 0 and canny_edges(scene)[..., 12:20, 10:16].sum() == 0


def test_iou():
    a, b = rect(4, 4, 0, 2, 0, 4), rect(4, 4, 1, 3, 0, 4)
    assert float(iou(a, b)) == pytest.approx(4 / 12)
    assert float(iou(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3))) == 1.0


@pytest.mark.parametrize("box", [(2, 3, 6, 7), (0, 0, 3, 9), (8, 5, 12, 10)])
@pytest.mark.parametrize("enlarge", [1.0, 2.0, 3.0])
def test_crop_then_paste_returns_the_original(box, enlarge):
    img = torch.rand(2, 3, 10, 12)
    b = square_box(box, (10, 12), enlarge=enlarge)
    crop = crop_square(img, b)  # no resize: exact
    assert torch.equal(paste_square(crop, b, canvas=img), img)
    # the window outside the image is zero in the crop
    assert crop.shape[-1] == b.side


def test_crop_resize_paste_mask_round_trip_is_close():
    m = rect(40, 40, 10, 26, 12, 30)
    b = square_box(bbox(m[0]), (40, 40), enlarge=1.5)
    back = paste_square(crop_square(m, b, 64, mode="mask"), b, mode="mask")
    assert float(iou(back, m)) > 0.95


def test_crop_rejects_mismatched_box():
    b = square_box((0, 0, 4, 4), (10, 10))
    with pytest.raises(ValueError, match="box was made for"):
        crop_square(torch.zeros(3, 8, 8), b)


def test_signed_distance_hand_values():
    m = torch.zeros(1, 1, 5)
    m[..., 1:4] = 1
    assert signed_distance(m).flatten().tolist() == [-1.0, 1.0, 2.0, 1.0, -1.0]
    d = signed_distance(rect(5, 5, 2, 3, 2, 3))
    assert float(d[0, 0, 0]) == pytest.approx(-math.hypot(2, 2), abs=1e-3)


def test_signed_distance_exact_and_reproducible():
    # irregular blobs (OpenCV's threaded transform differed between calls on masks like these by ~1e-6)
    g = torch.Generator().manual_seed(0)
    masks = (torch.nn.functional.avg_pool2d(torch.rand(16, 1, 48, 48, generator=g), 9, 1, 4) > 0.52).float()
    first = signed_distance(masks)
    for _ in range(25):
        assert torch.equal(signed_distance(masks), first)
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    points = torch.stack([ys.flatten(), xs.flatten()], 1)
    # brute force: the distance to the nearest pixel of the other side
    gaps = (points[:, None] - points[None]).square().sum(-1).sqrt()
    for m, d in zip(masks[:, 0].flatten(1).bool(), first[:, 0].flatten(1)):
        if m.all() or not m.any():
            continue
        to_out = gaps[:, ~m].min(1).values
        to_in = gaps[:, m].min(1).values
        torch.testing.assert_close(d, torch.where(m, to_out, -to_in), rtol=0, atol=1e-5)


def test_order_from_masks_and_depth():
    # A in front of B: A's visible pixels cover part of B's amodal
    a = rect(6, 8, 0, 4, 0, 6)
    b_am = rect(6, 8, 2, 8, 0, 6)
    b_vis = b_am * (1 - a)
    modal, amodal = torch.stack([a, b_vis]), torch.stack([a, b_am])
    assert order_from_masks(modal, amodal).tolist() == [[0, 1], [0, 0]]
    assert order_from_depth(torch.tensor([1, 0]), amodal, modal).tolist() == [[0, 1], [0, 0]]
    assert pairwise_order(torch.tensor([[0, 1], [0, 0]])).tolist() == [[0, 1], [-1, 0]]
    assert neighbour_pairs(modal).tolist() == [[False, True], [True, False]]


def test_ancestors_terminates_on_cycles():
    # 0 -> 1 -> 2 -> 3 -> 0 (a ring, PCNet Fig. 7) plus 4 -> 2
    o = torch.zeros(5, 5, dtype=torch.long)
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 0), (4, 2)]:
        o[i, j] = 1
    assert ancestors(o, 2) == [0, 1, 3, 4]
    assert ancestors(o, 4) == []
    with pytest.raises(IndexError):
        ancestors(o, 5)


def _is_acyclic(order):
    return all(i not in ancestors(order, i) for i in range(len(order))) and not any(
        order[i, j] and order[j, i] for i in range(len(order)) for j in range(len(order)))


def test_break_cycles_reverses_the_weakest_edges_and_keeps_the_rest():
    # the ring 0 > 1 > 2 > 3 > 0 (PCNet Fig. 7), its edge 3 > 0 the weakest, plus 4 > 2 and 5 alone
    o = torch.zeros(6, 6, dtype=torch.long)
    evidence = torch.zeros(6, 6)
    for (i, j), w in zip([(0, 1), (1, 2), (2, 3), (3, 0), (4, 2)], [5.0, 4.0, 3.0, 1.0, 0.5]):
        o[i, j], evidence[i, j] = 1, w
    out = break_cycles(o, evidence)
    want = o.clone()
    want[3, 0], want[0, 3] = 0, 1
    assert out.tolist() == want.tolist() and _is_acyclic(out)
    assert torch.equal(break_cycles(want, evidence), want)  # an acyclic order comes back unchanged
    with pytest.raises(ValueError, match="non-negative"):
        break_cycles(o, -evidence)
    with pytest.raises(ValueError, match="expected"):
        break_cycles(o, evidence[:5])


def _overruled(order, evidence, seq):
    """The evidence of ``order``'s edges that the front-to-back sequence ``seq`` goes against."""
    rank = {v: r for r, v in enumerate(seq)}
    n = len(order)
    return sum(float(evidence[i, j]) for i in range(n) for j in range(n) if order[i, j] and rank[i] > rank[j])


def test_break_cycles_is_the_least_overruling_sequence():
    # against every front-to-back sequence of random tournaments-with-gaps: exact up to max_exact nodes,
    # acyclic with the same ordered pairs beyond it (the greedy layout)
    g = torch.Generator().manual_seed(0)
    for trial in range(40):
        n = 3 + trial % 4
        linked = torch.triu(torch.rand(n, n, generator=g) < 0.7, 1)
        forward = torch.rand(n, n, generator=g) < 0.5
        o = (linked & forward).long() + (linked & ~forward).long().T
        evidence = torch.rand(n, n, generator=g) * o
        out = break_cycles(o, evidence)
        assert _is_acyclic(out) and torch.equal(out + out.T, o + o.T)

        best = min(_overruled(o, evidence, seq) for seq in itertools.permutations(range(n)))
        assert float((evidence * o * (out == 0)).sum()) == pytest.approx(best)
        greedy = break_cycles(o, evidence, max_exact=1)
        assert _is_acyclic(greedy) and torch.equal(greedy + greedy.T, o + o.T)


def test_convex_hull_of_an_ell():
    ell = (rect(10, 10, 1, 3, 1, 9) + rect(10, 10, 1, 9, 7, 9)).clamp(0, 1)
    hull = convex_hull(ell)
    assert torch.all(hull >= ell) and hull.sum() > ell.sum()
    assert hull[0, 5, 4] == 1 and hull[0, 2, 6] == 0  # inside the triangle, beyond the diagonal
    assert convex_hull(torch.zeros(1, 4, 4)).sum() == 0
    assert convex_hull(torch.stack([ell, ell])).shape == (2, 1, 10, 10)


def test_alpha_blend():
    fg, bg = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    a = torch.tensor([[[[0.0, 0.25], [0.5, 1.0]]]])
    assert alpha_blend(fg, a, bg)[0, 0].flatten().tolist() == [0.0, 0.25, 0.5, 1.0]
    with pytest.raises(ValueError):
        alpha_blend(fg, torch.zeros(1, 1, 3, 3), bg)


def test_poisson_blend_keeps_position_and_background():
    g = torch.Generator().manual_seed(0)
    bg = torch.rand(3, 40, 40, generator=g) * 0.3
    fg = torch.rand(3, 40, 40, generator=g) * 0.5 + 0.4
    m = rect(40, 40, 12, 26, 10, 21)
    out = poisson_blend(bg, fg, m)
    outside = 1 - dilate(m, 1)
    assert torch.allclose(out * outside, bg * outside, atol=1 / 255 + 1e-6)
    inner = erode(m, 2).bool().expand(3, -1, -1)
    # gradients inside follow the foreground at zero shift better than at a one-pixel shift
    d0 = (out - fg)[inner].std()
    d1 = (out - torch.roll(fg, 1, dims=2))[inner].std()
    assert d0 < d1
    assert torch.equal(poisson_blend(bg, fg, torch.zeros(1, 40, 40)), bg)


def test_telea_changes_only_the_hole():
    img = torch.rand(3, 20, 20)
    hole = rect(20, 20, 5, 9, 5, 9)
    out = telea_inpaint(img, hole)
    assert torch.equal(out * (1 - hole), img * (1 - hole))
    assert not torch.equal(out, img)


def test_lab_conversions_agree_with_kornia_and_invert():
    import kornia

    from amodal_compose.ops.color import lab_to_rgb, rgb_to_lab

    rgb = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    lab = rgb_to_lab(rgb)  # OpenCV's route on CPU tensors without gradients
    torch.testing.assert_close(lab, kornia.color.rgb_to_lab(rgb), atol=0.5, rtol=0)
    torch.testing.assert_close(lab_to_rgb(lab), rgb, atol=5e-3, rtol=0)  # 1/255 or so
    grad = rgb.clone().requires_grad_()
    rgb_to_lab(grad)[:, 0].sum().backward()  # kornia's route keeps gradients
    assert grad.grad is not None and grad.grad.abs().sum() > 0


def test_reinhard_transfer_matches_reference_statistics():
    import kornia

    g = torch.Generator().manual_seed(1)
    src = torch.rand(3, 16, 16, generator=g) * 0.5
    ref = torch.rand(3, 16, 16, generator=g) * 0.3 + 0.6
    out = reinhard_transfer(src, ref)
    lab_o, lab_r = kornia.color.rgb_to_lab(out[None]), kornia.color.rgb_to_lab(ref[None])
    assert torch.allclose(lab_o.mean((-2, -1)), lab_r.mean((-2, -1)), atol=1.5)
    assert out.min() >= 0 and out.max() <= 1
