"""amodal_compose: complete, order, remove and compose imperfect object instances.

The public API is small: the data model (:class:`Scene`, :class:`Instance`, :class:`Keys`) and the
:class:`Pipeline` of trained systems (``Pipeline.from_checkpoints(...)``, imported on first use, as
it brings in Lightning); networks, systems and data live in their sub-packages.
"""

import os as _os

_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from ._version import __version__  # noqa: E402
from .structures import Instance, Keys, Scene  # noqa: E402

__all__ = [
    "ComposeInstance",
    "CompositionPipeline",
    "DeocclusionPipeline",
    "Instance",
    "Keys",
    "Pipeline",
    "RemovalPipeline",
    "Scene",
    "__version__",
]

_LAZY = {"Pipeline", "ComposeInstance", "CompositionResult", "CompositionPipeline", "DeocclusionPipeline",
         "RemovalPipeline"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'amodal_compose' has no attribute {name!r}")
