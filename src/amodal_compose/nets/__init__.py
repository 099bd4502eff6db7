"""Plain ``nn.Module`` networks: no data, no Lightning."""

from .amico import AmodalShapeNet, CompositionNet
from .base import RecordedInit, build_module, module_spec
from .content import ContentGenerator, Critic
from .layers import ContextualAttention, GatedConv2d, GatedDeconv2d
from .unet import UNet

__all__ = [
    "AmodalShapeNet",
    "CompositionNet",
    "ContentGenerator",
    "ContextualAttention",
    "Critic",
    "GatedConv2d",
    "GatedDeconv2d",
    "RecordedInit",
    "UNet",
    "build_module",
    "module_spec",
]
