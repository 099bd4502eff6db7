import math

import pytest
import torch
import torch.nn.functional as F

from amodal_compose.losses import alpha_mask_loss, alpha_sparsity, reconstruction_loss, shape_loss, weighted_bce


def test_weighted_bce_hand_value():
    target = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    logits = torch.zeros_like(target)  # p = 0.5 everywhere
    # inside: 2 of 4 pixels at -log 0.5, outside likewise: 5 * 0.5 ln2 + 0.5 ln2
    assert float(weighted_bce(logits, target, omega=5)) == pytest.approx(3 * math.log(2), rel=1e-6)


def test_weighted_bce_equals_eq11_literally():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 8, 8, generator=g)
    m2 = (torch.rand(3, 1, 8, 8, generator=g) > 0.6).float()
    m1 = torch.sigmoid(logits)
    eq11 = 5 * F.binary_cross_entropy(m1 * m2, m2) + F.binary_cross_entropy((1 - m1) * (1 - m2), 1 - m2)
    torch.testing.assert_close(weighted_bce(logits, m2, 5.0), eq11, rtol=1e-5, atol=1e-6)


def test_shape_loss_is_sum_over_visible_and_amodal():
    logits = torch.randn(2, 2, 4, 4)
    vis, am = (torch.rand(2, 1, 4, 4) > 0.5).float(), torch.ones(2, 1, 4, 4)
    expected = weighted_bce(logits[:, :1], vis) + weighted_bce(logits[:, 1:], am)
    torch.testing.assert_close(shape_loss(logits, vis, am), expected)
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        shape_loss(logits[:, :1], vis, am)
    with pytest.raises(ValueError, match="differ in shape"):
        weighted_bce(logits[:, :1], torch.ones(2, 1, 8, 8))


def test_alpha_mask_loss_hand_values():
    m = torch.zeros(1, 1, 4, 4)
    m[..., :2, :] = 1  # half the pixels
    assert float(alpha_mask_loss(m.clone(), m)) == 0.0  # alpha == m
    assert float(alpha_mask_loss(1 - m, m)) == pytest.approx(1.0)  # both terms 1/2
    assert float(alpha_mask_loss(torch.full_like(m, 0.5), m)) == pytest.approx(0.5)
    # the first term with an eroded mask: alpha covering only the eroded part is perfect there
    inner = torch.zeros_like(m)
    inner[..., :1, :] = 1
    assert float(alpha_mask_loss(inner, m, inside_mask=inner)) == 0.0
    assert float(alpha_mask_loss(inner, m)) == pytest.approx(0.25)  # half of m missed -> 0.5 / 2


def test_alpha_mask_loss_empty_mask_is_finite():
    alpha = torch.rand(2, 1, 4, 4)
    loss = alpha_mask_loss(alpha, torch.zeros(2, 1, 4, 4))
    assert torch.isfinite(loss)
    assert float(loss) == pytest.approx(float(alpha.mean()) / 2, rel=1e-5)


def test_alpha_sparsity_hand_values():
    assert float(alpha_sparsity(torch.zeros(1, 1, 2, 2))) == 0.0
    ones = float(alpha_sparsity(torch.ones(1, 1, 2, 2), gamma=2.0))
    assert ones == pytest.approx(2.0 + 2 / (1 + math.exp(-5)) - 1)


def test_reconstruction_loss_hand_value():
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.25)
    assert float(reconstruction_loss(a, b)) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        reconstruction_loss(a, b[..., :1])
