"""LightningModules: one per network; they own losses, optimisers and logging."""

from .base import System
from .compose import CompositionSystem
from .content import ContentSystem
from .pcnet import PCNetCSystem, PCNetMSystem
from .removal import RemovalSystem
from .shape import ShapeSystem
from .vae import AmodalVAESystem

__all__ = [
    "AmodalVAESystem",
    "CompositionSystem",
    "ContentSystem",
    "PCNetCSystem",
    "PCNetMSystem",
    "RemovalSystem",
    "ShapeSystem",
    "System",
]
