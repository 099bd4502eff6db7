"""LightningModules: one per network; they own losses, optimisers and logging."""

from .base import System
from .compose import CompositionSystem
from .content import ContentSystem
from .shape import ShapeSystem

__all__ = ["CompositionSystem", "ContentSystem", "ShapeSystem", "System"]
