"""Building blocks of the content GAN: gated convs, contextual attention, WGAN-GP."""

import pytest
import torch
from torch import nn

from amodal_compose.losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from amodal_compose.nets.content import CoarseNet
from amodal_compose.nets.layers import ContextualAttention, GatedConv2d, GatedDeconv2d


@pytest.mark.parametrize("stride,dilation,size", [(1, 1, 16), (2, 1, 16), (1, 4, 32), (1, 8, 32)])
def test_gated_conv_same_padding_shapes(stride, dilation, size):
    layer = GatedConv2d(4, 6, 3, stride, dilation)
    assert layer(torch.rand(2, 4, size, size)).shape == (2, 6, size // stride, size // stride)
    assert GatedConv2d(4, 6, 5, 2)(torch.rand(1, 4, size, size)).shape == (1, 6, size // 2, size // 2)
    assert GatedDeconv2d(4, 3)(torch.rand(1, 4, 8, 8)).shape == (1, 3, 16, 16)


def test_gated_conv_is_feature_times_gate_and_all_params_get_gradients():
    layer = GatedConv2d(2, 3, 3, activation="none")
    x = torch.rand(1, 2, 8, 8)
    f, g = layer.conv(x).chunk(2, 1)
    torch.testing.assert_close(layer(x), f * torch.sigmoid(g))
    layer(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_gated_conv_init_keeps_the_signal_through_the_paper_coarse_net():
    torch.manual_seed(0)
    y, stds = torch.rand(2, 5, 64, 64), []
    for layer in CoarseNet().body:  # Table 6: 25 gated layers
        y = layer(y)
        stds.append(float(y.std(dim=(0, 2, 3)).mean()))
    # the input-dependent spread stays within a few-fold (PyTorch's default init loses ~100x)
    assert 0.1 < min(stds) and max(stds) < 1.0, stds


def _copied_patch_case():
    g = torch.Generator().manual_seed(0)
    bg = torch.rand(1, 3, 12, 12, generator=g)
    hole = torch.zeros(1, 1, 12, 12)
    hole[..., 7:10, 7:10] = 1
    fg = bg.clone()
    fg[..., 5:12, 5:12] = bg[..., 0:7, 0:7]  # the hole (and its context) repeats content found elsewhere
    return fg, bg * (1 - hole), hole, bg[..., 2:5, 2:5]


def test_contextual_attention_copies_an_existing_patch_exactly():
    fg, bg, hole, expected = _copied_patch_case()
    out = ContextualAttention(3, softmax_scale=1000.0)(fg, bg, hole)
    torch.testing.assert_close(out[..., 7:10, 7:10], expected, atol=1e-5, rtol=0)


def test_contextual_attention_at_rate_2_pastes_full_resolution_patches_exactly():
    # a periodic texture: every hole pixel exists, at the same phase, outside the hole
    tile = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    content = tile.repeat(1, 1, 3, 3)
    hole = torch.zeros(1, 1, 24, 24)
    hole[..., 10:14, 9:15] = 1
    att = ContextualAttention(3, softmax_scale=1000.0, rate=2)
    out = att(content, content * (1 - hole), hole)
    torch.testing.assert_close(out * hole, content * hole, atol=1e-5, rtol=0)
    marked = content * (1 - hole) + hole * 100.0  # nothing is read from the hole
    assert float(att(content, marked, hole).max()) <= 1.0 + 1e-5
    with pytest.raises(ValueError, match="multiples of rate"):
        att(torch.rand(1, 3, 9, 9), torch.rand(1, 3, 9, 9), torch.zeros(1, 1, 9, 9))
    with pytest.raises(ValueError, match="rate must be 1 or even"):
        ContextualAttention(rate=3)


def test_contextual_attention_batched_equals_per_sample():
    g = torch.Generator().manual_seed(2)
    fg, bg = torch.rand(3, 4, 16, 16, generator=g), torch.rand(3, 4, 16, 16, generator=g)
    hole = (torch.rand(3, 1, 16, 16, generator=g) > 0.7).float()
    for att in (ContextualAttention(rate=2, propagate=True), ContextualAttention()):
        each = torch.cat([att(fg[k : k + 1], bg[k : k + 1], hole[k : k + 1]) for k in range(3)])
        torch.testing.assert_close(att(fg, bg, hole), each)


def test_contextual_attention_never_reads_from_the_hole_and_propagation_shapes():
    fg, bg, hole, _ = _copied_patch_case()
    bg_marked = bg + hole * 100.0  # anything read from the hole would be huge
    out = ContextualAttention(3, softmax_scale=10.0)(fg, bg_marked, hole)
    assert float(out.max()) <= 1.0 + 1e-5
    att = ContextualAttention(3, propagate=True)
    assert att(fg, bg, hole).shape == fg.shape
    # a 1-long propagation kernel is the identity
    one = ContextualAttention(3, softmax_scale=10.0, propagate=True, propagate_size=1)
    torch.testing.assert_close(one(fg, bg, hole), ContextualAttention(3, softmax_scale=10.0)(fg, bg, hole))


def test_gradient_penalty_hand_value_on_a_linear_critic():
    critic = nn.Conv2d(1, 1, 2, bias=False)  # on a 2x2 input: D(x) = <w, x>, so grad_x D = w everywhere
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[[[1.0, 2.0], [2.0, 4.0]]]]))  # ||w|| = 5
    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake)
    assert float(gp) == pytest.approx((5.0 - 1.0) ** 2)
    gp.backward()  # differentiable in the critic: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(critic.weight.grad, 2 * 4.0 * critic.weight.detach() / 5.0)


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert float(wgan_critic_loss(real, fake)) == pytest.approx(-1.0 - 2.0)
    assert float(wgan_generator_loss(fake)) == pytest.approx(1.0)


@pytest.mark.parametrize("rate", [1, 2])
def test_contextual_attention_with_nothing_to_copy_gives_zeros_and_finite_gradients(rate):
    fg = torch.rand(2, 4, 8, 8, requires_grad=True)
    bg = torch.rand(2, 4, 8, 8, requires_grad=True)
    hole = torch.zeros(2, 1, 8, 8)
    hole[0] = 1  # sample 0: every source patch lies in the hole
    hole[1, :, 2:4, 2:4] = 1
    out = ContextualAttention(rate=rate)(fg, bg, hole)
    out.sum().backward()
    assert float(out[0].abs().sum()) == 0.0 and float(out[1].abs().sum()) > 0
    assert torch.isfinite(fg.grad).all() and torch.isfinite(bg.grad).all()
