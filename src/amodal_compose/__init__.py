"""amodal_compose: complete, order, remove and compose imperfect object instances.

The public API is small: the data model (:class:`Scene`, :class:`Instance`, :class:`Keys`) and
the synthetic scene generator; networks, systems and the pipeline live in their sub-packages.
"""

import os as _os

_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from .structures import Instance, Keys, Scene  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Instance", "Keys", "Scene", "__version__"]
