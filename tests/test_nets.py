import pytest
import torch

from amodal_compose.nets import AmodalShapeNet, CompositionNet, UNet, build_module, module_spec

TINY = dict(widths=(8, 16, 16), bottleneck=(16,))


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("batch", [1, 2])
def test_unet_shapes(size, batch):
    net = UNet(4, 3, **TINY)
    assert net(torch.rand(batch, 4, size, size)).shape == (batch, 3, size, size)


def test_unet_batch_zero_in_eval():
    net = UNet(4, 2, **TINY).eval()
    assert net(torch.rand(0, 4, 32, 32)).shape == (0, 2, 32, 32)


def test_unet_table5_layout_at_256():
    net = UNet(4, 4)  # the paper's widths
    convs = [m for m in net.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 256]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert [m.out_channels for m in net.bottleneck.modules() if isinstance(m, torch.nn.Conv2d)] == [256, 256]
    ups = [m for m in net.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [u.out_channels for u in ups] == [256, 256, 128, 64, 64]
    assert [u.in_channels for u in ups] == [512, 512, 512, 256, 128]  # skip5..skip1 concatenations
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.encoder[0].modules())  # no bn on layer 1
    with torch.no_grad():
        assert net.eval()(torch.zeros(1, 4, 256, 256)).shape == (1, 4, 256, 256)


def test_unet_bad_inputs():
    net = UNet(4, 2, **TINY)
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 4, 36, 36))
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        net(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="empty"):
        UNet(4, 2, widths=())


@pytest.mark.parametrize("cls,inputs", [
    (AmodalShapeNet, lambda: (torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float())),
    (CompositionNet, lambda: (torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))),
])
def test_every_parameter_gets_a_gradient(cls, inputs):
    net = cls(**TINY)
    out = net(*inputs())
    loss = sum(o.square().mean() for o in (out if isinstance(out, tuple) else (out,)))
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_heads_ranges_and_tanh_equivalence():
    net = CompositionNet(**TINY)
    rgb, alpha = (t.detach() for t in net(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)))
    assert rgb.shape == (2, 3, 32, 32) and alpha.shape == (2, 1, 32, 32)
    assert 0 <= float(rgb.min()) and float(rgb.max()) <= 1 and 0 <= float(alpha.min()) and float(alpha.max()) <= 1
    shape = AmodalShapeNet(**TINY).eval()
    x, m = torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    raw = shape.unet(torch.cat([x, m], 1))
    # the logit is 2x, so sigmoid(logit) is Table 5's tanh read as a probability
    torch.testing.assert_close(torch.sigmoid(shape(x, m)), (torch.tanh(raw) + 1) / 2)


def test_nets_reject_bad_inputs():
    shape = AmodalShapeNet(**TINY)
    with pytest.raises(ValueError, match="spatial sizes differ"):
        shape(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 64, 64))
    with pytest.raises(TypeError, match="uint8"):
        shape(torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), torch.ones(1, 1, 32, 32))
    with pytest.raises(ValueError, match="edit_mask"):
        shape(torch.rand(1, 3, 32, 32), torch.ones(1, 2, 32, 32))
    comp = CompositionNet(**TINY)
    with pytest.raises(ValueError, match="object_image"):
        comp(torch.rand(1, 3, 32, 32), torch.rand(1, 4, 32, 32))


def test_module_spec_round_trip():
    net = AmodalShapeNet(widths=(8, 16), bottleneck=(), use_image=False)
    spec = module_spec(net)
    assert spec == {
        "class_path": "amodal_compose.nets.amico.AmodalShapeNet",
        "init_args": {"widths": [8, 16], "bottleneck": [], "use_image": False, "input_skip": False},
    }
    rebuilt = build_module(spec, AmodalShapeNet)
    rebuilt.load_state_dict(net.state_dict())
    m = torch.ones(1, 1, 16, 16)
    torch.testing.assert_close(rebuilt.eval()(None, m), net.eval()(None, m))
    assert build_module(None, CompositionNet).init_args["widths"] == [64, 128, 256, 256, 256]
    assert module_spec(torch.nn.Linear(2, 2)) is None
    with pytest.raises(ValueError, match="nn.Module"):
        build_module({"class_path": "os.path.join"}, AmodalShapeNet)
    with pytest.raises(ValueError, match="class_path"):
        build_module({"init_args": {}}, AmodalShapeNet)


def test_bottleneck_free_unet_still_uses_skips():
    net = UNet(1, 1, widths=(4, 8), bottleneck=())
    ups = [m for m in net.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [u.in_channels for u in ups] == [8, 4 + 4]  # deepest level: its skip alone; then skip + decoder
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    y = net(x)
    assert y.shape == (1, 1, 16, 16)
    y.sum().backward()
    assert x.grad.abs().sum() > 0


def test_input_skip_feeds_the_input_to_the_head():
    net = UNet(3, 2, widths=(4, 8), bottleneck=(8,), input_skip=True)
    assert net.head[1].in_channels == 4 + 3
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
