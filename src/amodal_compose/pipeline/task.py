"""The base of the task pipelines: a shared set of loaded components and what a task reads of it."""

from __future__ import annotations

import torch
from torch import Tensor

from ..systems.base import System
from .components import Components
from .window import Window

__all__ = ["TaskPipeline"]


class TaskPipeline:
    """A task over a shared :class:`~amodal_compose.pipeline.components.Components`: built from systems
    (the subclass's typed constructor names the ones it uses) or from a set already loaded, which it
    shares rather than copies (``Pipeline.composition``, ``.deocclusion``, ``.removal``).

    Attributes:
        uses: the component names the task can use.
    """

    uses: tuple[str, ...] = ()

    def __init__(
        self, components: Components | None, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
        input_sizes: dict[str, int] | None = None, **systems: System | None,
    ) -> None:  # fmt: skip
        given = {name: s for name, s in systems.items() if s is not None}
        if components is not None and given:
            raise TypeError(f"give the systems ({', '.join(sorted(given))}) or components=, not both")
        self.parts = components if components is not None else Components(
            device=device, dtype=dtype, input_sizes=input_sizes, **given)  # fmt: skip

    # what the task steps read of the shared components
    @property
    def components(self) -> dict[str, System]:
        return self.parts.components

    @property
    def input_sizes(self) -> dict[str, int]:
        return self.parts.input_sizes

    @property
    def enlarge(self) -> dict[str, float]:
        return self.parts.enlarge

    @property
    def device(self) -> torch.device:
        return self.parts.device

    def __contains__(self, name: str) -> bool:
        return name in self.parts

    def require(self, name: str, why: str) -> System:
        return self.parts.require(name, why)

    def _run(self, fn, *tensors: Tensor) -> dict[str, Tensor]:
        return self.parts.run(fn, *tensors)

    @staticmethod
    def _layer(win: Window, out: dict[str, Tensor], n: int, obj_net: Tensor, guide: Tensor, obj: Tensor) -> Tensor:
        """Sample ``n`` of f_comp's outputs ``out`` as a full-resolution RGBA layer of ``win``
        (:meth:`Window.layer`): the alpha guided by ``guide``, the colour change applied to ``obj``."""
        transform = out["transform"][n] if "transform" in out else None
        return win.layer(out["alpha"][n], guide, obj, transform, out["rgb"][n], obj_net)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.parts!r})"
