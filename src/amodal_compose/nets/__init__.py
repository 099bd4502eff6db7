"""Plain ``nn.Module`` networks: no data, no Lightning."""

from .amico import AmodalShapeNet, CompositionNet
from .base import RecordedInit, build_module, module_spec
from .content import ContentGenerator, Critic
from .inpainting import PartialConv2d, PartialUNet, PatchDiscriminator, ResidualInpainter
from .layers import ContextualAttention, GatedConv2d, GatedDeconv2d
from .pcnet import PartialMaskNet
from .removal import SegmentationNet, TimmSegmentationNet
from .unet import UNet
from .vae import AmodalVAE

__all__ = [
    "AmodalShapeNet",
    "AmodalVAE",
    "CompositionNet",
    "ContentGenerator",
    "ContextualAttention",
    "Critic",
    "GatedConv2d",
    "GatedDeconv2d",
    "PartialConv2d",
    "PartialMaskNet",
    "PartialUNet",
    "PatchDiscriminator",
    "ResidualInpainter",
    "SegmentationNet",
    "TimmSegmentationNet",
    "RecordedInit",
    "UNet",
    "build_module",
    "module_spec",
]
