import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import pytest  # noqa: E402
import torch  # noqa: E402

from amodal_compose.nets import CompositionNet  # noqa: E402
from amodal_compose.systems import CompositionSystem  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    yield


def rect(h, w, x0, x1, y0, y1):
    m = torch.zeros(1, h, w)
    m[:, y0:y1, x0:x1] = 1
    return m


def known_compositor(colour_bias=(0.0, 0.0, 0.0)) -> CompositionSystem:
    """A tiny affine-head f_comp whose output is known: an opaque alpha on its window and a constant
    colour change (its head's weights zero, its biases set)."""
    torch.manual_seed(0)
    net = CompositionNet(widths=(8, 16, 16), bottleneck=(16,), color_head="affine")
    head = net.unet.head[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[12] = 10.0  # alpha = (tanh(10) + 1) / 2: 1 after the snap
        for c, v in enumerate(colour_bias):
            head.bias[4 * c + 3] = v
    return CompositionSystem(net)
