"""The pipeline: trained systems chained for inference on the user's own images.

:class:`Pipeline` holds any subset of the package's systems by component name (its
:class:`~amodal_compose.pipeline.components.Components`) and gives every task those components allow:
:meth:`Pipeline.compose` (AMICO Algorithm 1, :class:`~amodal_compose.pipeline.compose.CompositionPipeline`),
:meth:`Pipeline.deocclude` / :meth:`Pipeline.manipulate` (PCNet,
:class:`~amodal_compose.pipeline.scene.DeocclusionPipeline`) and :meth:`Pipeline.remove`
(:class:`~amodal_compose.pipeline.removal.RemovalPipeline`); the task pipelines share its components.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .components import DEFAULT_ENLARGE, DEFAULT_SIZE, MANIFEST, Components, MissingComponentError
from .compose import CompositionPipeline
from .removal import RemovalPipeline
from .results import ComposeInstance, CompositionResult, Hypothesis, InstanceLayer
from .scene import DeocclusionPipeline

__all__ = [
    "Pipeline",
    "ComposeInstance",
    "InstanceLayer",
    "Hypothesis",
    "CompositionResult",
    "MissingComponentError",
    "MANIFEST",
    "DEFAULT_SIZE",
    "DEFAULT_ENLARGE",
]


class Pipeline(Components):
    """Trained systems chained for inference: any subset of the components, each in eval mode, frozen,
    on one device and dtype; every task its components allow, each through its task pipeline.

    Args:
        device, dtype, input_sizes, **components: see
            :class:`~amodal_compose.pipeline.components.Components` (systems by component name: ``shape``,
            ``content``, ``compositor``, ``pcnet_m``, ``pcnet_c``, ``remover``, ``amodal_vae``).

    Example:
        >>> pipe = Pipeline.from_checkpoints(shape="shape.ckpt", content="content.ckpt",
        ...                                  compositor="compose.ckpt")  # doctest: +SKIP
        >>> result = pipe.compose(background, [(object_image, rough_mask)])  # doctest: +SKIP
        >>> result.image.shape  # doctest: +SKIP
        torch.Size([3, 256, 256])
        >>> pipe.composition  # the task pipeline, sharing the loaded components  # doctest: +SKIP
    """

    @classmethod
    def from_pretrained(
        cls, folder: str | Path | None = None, *, device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Pipeline:  # fmt: skip
        """The shipped weights (``weights/``, trained by ``make weights``; ``$AMODAL_COMPOSE_WEIGHTS``
        overrides), or the weights set or :meth:`save` folder ``folder``; every component in it, checked
        as :meth:`from_checkpoints` checks them.

        Raises:
            FileNotFoundError: no weights set there (the message says how to make one).

        Example:
            >>> pipe = Pipeline.from_pretrained()  # doctest: +SKIP
            >>> pipe.compose(background, [(object_image, rough_mask)]).image  # doctest: +SKIP
        """
        from ..pretrained import shipped_weights

        return cls.from_dir(shipped_weights(folder), device=device, dtype=dtype)

    @property
    def composition(self) -> CompositionPipeline:
        """AMICO Algorithm 1 on these components."""
        return CompositionPipeline(components=self)

    @property
    def deocclusion(self) -> DeocclusionPipeline:
        """PCNet de-occlusion and manipulation on these components."""
        return DeocclusionPipeline(components=self)

    @property
    def removal(self) -> RemovalPipeline:
        """Object removal on these components."""
        return RemovalPipeline(components=self)

    def compose(self, *args, **kwargs) -> CompositionResult:
        return self.composition.compose(*args, **kwargs)

    def deocclude(self, *args, **kwargs):
        return self.deocclusion.deocclude(*args, **kwargs)

    def manipulate(self, *args, **kwargs):
        return self.deocclusion.manipulate(*args, **kwargs)

    def remove(self, *args, **kwargs):
        return self.removal.remove(*args, **kwargs)

    compose.__doc__ = CompositionPipeline.compose.__doc__
    deocclude.__doc__ = DeocclusionPipeline.deocclude.__doc__
    manipulate.__doc__ = DeocclusionPipeline.manipulate.__doc__
    remove.__doc__ = RemovalPipeline.remove.__doc__
