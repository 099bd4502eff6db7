"""The loaded components a pipeline is built from: trained systems by name, on one device and dtype,
each with the input side and crop enlargement it was trained with; checked loading from checkpoints and
folders, saving, and running a component on a batch. Every task pipeline
(:class:`~amodal_compose.pipeline.compose.CompositionPipeline`,
:class:`~amodal_compose.pipeline.scene.DeocclusionPipeline`,
:class:`~amodal_compose.pipeline.removal.RemovalPipeline`) and the :class:`~amodal_compose.pipeline.Pipeline`
entry share one such set, as diffusers' pipelines share ``components``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._version import __version__
from ..checkpoints import CHECKPOINT_KEY, load_system
from ..systems.base import COMPONENTS, System

__all__ = ["Components", "MissingComponentError", "MANIFEST", "DEFAULT_SIZE", "DEFAULT_ENLARGE", "check_shape_method"]

#: the file :meth:`Pipeline.save` writes next to the weights.
MANIFEST = "pipeline.json"
#: network input side when a system carries no record of its training crop.
DEFAULT_SIZE = 64
#: crop enlargement around the mask per component when its checkpoint does not say (the training crops).
DEFAULT_ENLARGE = {
    "shape": 1.5, "content": 1.2, "compositor": 1.5, "pcnet_m": 1.0, "pcnet_c": 1.0, "remover": 1.0, "amodal_vae": 1.5,
}  # fmt: skip


class MissingComponentError(KeyError):
    """A call needs a component the pipeline was built without; the message names the argument."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class Components:
    """Trained systems by component name, each in eval mode, frozen, on one device and dtype.

    Args:
        device: where the networks run (``"cpu"``, ``"cuda"``, a ``torch.device``).
        dtype: their dtype (e.g. ``torch.bfloat16`` on a GPU); inputs are cast to it, outputs are float32.
        input_sizes: network input side per component; default: the crop the system was trained on
            (recorded in its checkpoint), else 64.
        **components: systems by component name: ``shape=`` a :class:`~amodal_compose.systems.ShapeSystem`,
            ``content=`` a :class:`~amodal_compose.systems.ContentSystem`, ``compositor=`` a
            :class:`~amodal_compose.systems.CompositionSystem`, ``pcnet_m=`` / ``pcnet_c=`` (scene
            de-occlusion), ``remover=`` a :class:`~amodal_compose.systems.RemovalSystem`, ``amodal_vae=``,
            and any system class declaring a ``component`` name (``None`` values are left out).

    Example:
        >>> parts = Components.from_dir("runs/demo/pipeline")  # doctest: +SKIP
        >>> CompositionPipeline(components=parts).compose(background, [(image, mask)])  # doctest: +SKIP
    """

    def __init__(
        self, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
        input_sizes: dict[str, int] | None = None, **components: System | None,
    ) -> None:  # fmt: skip
        unknown = sorted(set(components) - set(COMPONENTS))
        if unknown:
            raise TypeError(f"unknown pipeline components {unknown}; the components are {sorted(COMPONENTS)}")
        self.device, self.dtype = torch.device(device), dtype
        self.components: dict[str, System] = {}
        for name, system in components.items():
            if system is None:
                continue
            if not isinstance(system, COMPONENTS[name]):
                raise TypeError(f"{name}: expected a {COMPONENTS[name].__name__}, got {type(system).__name__}")
            system.eval().requires_grad_(False)
            self.components[name] = system.to(device=self.device, dtype=dtype)
        self.input_sizes = {name: int((input_sizes or {}).get(name) or self._recorded(s, "crop_size") or DEFAULT_SIZE)
                            for name, s in self.components.items()}  # fmt: skip
        self.enlarge = {name: float(self._recorded(s, "enlarge") or DEFAULT_ENLARGE.get(name, 1.5))
                        for name, s in self.components.items()}  # fmt: skip

    @staticmethod
    def _recorded(system: System, key: str) -> Any:
        return (getattr(system, "checkpoint_meta", None) or {}).get("crop", {}).get(key)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_checkpoints(
        cls, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, trusted: bool = False,
        input_sizes: dict[str, int] | None = None, **paths: str | Path | None,
    ):  # fmt: skip
        """Load each named component with its system's ``load_from_checkpoint`` after checking the file
        (:func:`~amodal_compose.checkpoints.load_system`: weights only, the expected system,
        a compatible package version).

        Args:
            device, dtype, input_sizes: see :class:`Pipeline`.
            trusted: allow checkpoints whose hyper-parameters name classes outside the package.
            **paths: checkpoint paths by component name (``shape=``, ``content=``, ``compositor=``).

        Raises:
            TypeError: an unknown component name.
            FileNotFoundError, ~amodal_compose.checkpoints.CheckpointError: a missing, truncated,
                foreign or mismatched checkpoint, naming the argument.
        """
        unknown = sorted(set(paths) - set(COMPONENTS))
        if unknown:
            raise TypeError(f"unknown pipeline components {unknown}; the components are {sorted(COMPONENTS)}")
        systems = {name: load_system(p, COMPONENTS[name], name, "cpu", trusted) for name, p in paths.items() if p}
        return cls(device=device, dtype=dtype, input_sizes=input_sizes, **systems)

    def save(self, folder: str | Path, weights_dtype: torch.dtype = torch.float32) -> Path:
        """Write each component as ``<name>.ckpt`` (weights and hyper-parameters, loadable by
        :meth:`from_checkpoints` too) and a small manifest, ``pipeline.json``. Returns the manifest.

        Args:
            folder: where the files go (created).
            weights_dtype: the stored dtype of floating-point weights (``torch.float16`` halves the
                files; loading casts them back to the pipeline's dtype).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        entries = {}
        for name in self.components:
            ckpt = self.save_component(name, folder / f"{name}.ckpt", weights_dtype)
            entries[name] = {"file": f"{name}.ckpt", "system": ckpt[CHECKPOINT_KEY]["system"]}
        manifest = folder / MANIFEST
        manifest.write_text(json.dumps({"amodal_compose": __version__, "components": entries}, indent=1))
        return manifest

    def save_component(self, name: str, path: str | Path, weights_dtype: torch.dtype = torch.float32) -> dict:
        """Write one component's checkpoint (see :meth:`save`) to ``path``; returns what was written."""
        system = self.require(name, "save_component")
        ckpt = system.portable_checkpoint({"crop_size": self.input_sizes[name], "enlarge": self.enlarge[name]})
        ckpt["state_dict"] = {k: v.to(weights_dtype) if v.is_floating_point() else v
                              for k, v in ckpt["state_dict"].items()}  # fmt: skip
        torch.save(ckpt, path)
        return ckpt

    @classmethod
    def from_dir(
        cls, folder: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
        trusted: bool = False,
    ):  # fmt: skip
        """The pipeline of a folder: the one :meth:`save` wrote (its ``pipeline.json`` lists the
        files), or a folder of ``<component>.ckpt`` files (``shape.ckpt``, ``content.ckpt``, ...).

        Raises:
            FileNotFoundError: no such folder, or neither a manifest nor a component checkpoint in it.
            ValueError: a manifest that is not this package's.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no such folder: {folder}")
        manifest = folder / MANIFEST
        if manifest.is_file():
            try:
                entries = json.loads(manifest.read_text())["components"]
                paths = {name: folder / str(e["file"]) for name, e in entries.items()}
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{manifest} is not a pipeline manifest ({err})") from err
        else:
            paths = {name: folder / f"{name}.ckpt" for name in COMPONENTS if (folder / f"{name}.ckpt").is_file()}
            if not paths:
                names = ", ".join(f"{n}.ckpt" for n in sorted(COMPONENTS))
                raise FileNotFoundError(f"{folder} holds neither {MANIFEST} nor any of {names}")
        return cls.from_checkpoints(device=device, dtype=dtype, trusted=trusted, **paths)

    # ------------------------------------------------------------------ access
    def __contains__(self, name: str) -> bool:
        return name in self.components

    def require(self, name: str, why: str) -> System:
        """The component ``name``, or an error saying which call needs it and how to supply it."""
        if name not in self.components:
            raise MissingComponentError(
                f"{why} needs the '{name}' component ({COMPONENTS[name].__name__}); pass {name}=<checkpoint> to "
                f"Pipeline.from_checkpoints (or {name}=<system> to Pipeline)"
            )
        return self.components[name]

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={type(s).__name__}@{self.input_sizes[n]}px" for n, s in self.components.items())
        return f"{type(self).__name__}({parts}, device={self.device}, dtype={self.dtype})"

    def run(self, fn, *tensors: Tensor) -> dict[str, Tensor]:
        """``fn`` on ``tensors`` cast to the pipeline's device and dtype; outputs as float32 on the CPU."""
        out = fn(*(t.to(self.device, self.dtype) for t in tensors))
        return {k: v.float().cpu() for k, v in out.items()}

    def _batches(self, indices: list[int], batch: bool) -> list[list[int]]:
        return [indices] if batch else [[j] for j in indices]



def check_shape_method(shape_method: str, choices: Sequence[str], hypotheses: int, deterministic: str) -> None:
    """Refuse an unknown ``shape_method`` (one of ``choices``) or ``hypotheses`` that is not an integer
    >= 1, or > 1 with a deterministic method (only ``"amodal_vae"`` samples several masks)."""
    if shape_method not in choices:
        raise ValueError(f"shape_method must be {' or '.join(map(repr, choices))}, got {shape_method!r}")
    if not (isinstance(hypotheses, int) and hypotheses >= 1):
        raise ValueError(f"hypotheses must be an integer >= 1, got {hypotheses!r}")
    if hypotheses > 1 and shape_method != "amodal_vae":
        raise ValueError(f"hypotheses > 1 needs shape_method='amodal_vae' ({deterministic} predicts one mask)")
