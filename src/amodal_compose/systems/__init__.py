"""LightningModules: one per network; they own losses, optimisers and logging."""

from .base import System
from .compose import CompositionSystem
from .shape import ShapeSystem

__all__ = ["CompositionSystem", "ShapeSystem", "System"]
