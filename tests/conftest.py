import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import pytest  # noqa: E402
import torch  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    yield


def rect(h, w, x0, x1, y0, y1):
    m = torch.zeros(1, h, w)
    m[:, y0:y1, x0:x1] = 1
    return m
