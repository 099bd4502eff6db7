"""Inference: trained systems chained into a :class:`Pipeline` (``Pipeline.from_checkpoints``), AMICO
Algorithm 1 on the user's own images (:meth:`Pipeline.compose`), and batch inference over many jobs
with ``Trainer.predict`` on any number of devices (:mod:`amodal_compose.pipeline.predict`)."""

from .checkpoints import CheckpointError, load_system
from .core import (
    ComposeInstance,
    CompositionResult,
    InstanceLayer,
    MissingComponentError,
    Pipeline,
)
from .scene import DeocclusionResult, ManipulationResult

__all__ = [
    "CheckpointError",
    "ComposeInstance",
    "CompositionResult",
    "DeocclusionResult",
    "ManipulationResult",
    "InstanceLayer",
    "MissingComponentError",
    "Pipeline",
    "load_system",
]
