"""Plain ``nn.Module`` networks: no data, no Lightning."""

from .amico import AmodalShapeNet, CompositionNet
from .base import RecordedInit, build_module, module_spec
from .unet import UNet

__all__ = ["AmodalShapeNet", "CompositionNet", "RecordedInit", "UNet", "build_module", "module_spec"]
