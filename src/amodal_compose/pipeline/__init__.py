"""Inference: trained systems chained into a :class:`Pipeline` (``Pipeline.from_checkpoints``), which
gives every task its components allow through one pipeline per task (:class:`CompositionPipeline`,
:class:`DeocclusionPipeline`, :class:`RemovalPipeline`, sharing one :class:`Components`), and batch
inference over many jobs with ``Trainer.predict`` on any number of devices
(:mod:`amodal_compose.pipeline.predict`)."""

from ..checkpoints import CheckpointError, load_system
from .components import Components
from .compose import CompositionPipeline
from .core import (
    ComposeInstance,
    CompositionResult,
    InstanceLayer,
    MissingComponentError,
    Pipeline,
)
from .removal import RemovalPipeline
from .results import DeocclusionResult, ManipulationResult
from .scene import DeocclusionPipeline

__all__ = [
    "CheckpointError",
    "Components",
    "CompositionPipeline",
    "DeocclusionPipeline",
    "RemovalPipeline",
    "ComposeInstance",
    "CompositionResult",
    "DeocclusionResult",
    "ManipulationResult",
    "InstanceLayer",
    "MissingComponentError",
    "Pipeline",
    "load_system",
]
