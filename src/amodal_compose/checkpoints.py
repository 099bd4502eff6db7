"""Checkpoints: what a system records in one, and reading, checking and loading one as untrusted input.

A system's checkpoint carries an ``amodal_compose`` entry (:data:`CHECKPOINT_KEY`: the package version,
the system class, the input crop it was trained on). Loading (:func:`load_system`) reads the file with
``torch.load(weights_only=True)`` (tensors and plain containers only, no pickled code), then checks it
before anything in it is used:

* it was written by this package at a compatible version (same major and minor version);
* it holds the expected system (a compositor checkpoint passed as ``shape=`` is refused by name);
* every class its hyper-parameters name (the system, its networks, Lightning's instantiator) is one
  of this package's or Lightning's own, since ``load_from_checkpoint`` imports and builds them;
  ``trusted=True`` lifts this last rule for checkpoints of your own networks.

Only then is the system rebuilt with its own ``load_from_checkpoint``. The systems register
themselves here (:func:`register_system`), so this module imports none of them.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ._version import __version__

__all__ = [
    "find_trained",
    "CHECKPOINT_KEY",
    "CheckpointError",
    "SYSTEMS",
    "register_system",
    "checkpoint_entry",
    "read_checkpoint",
    "check_checkpoint",
    "load_system",
]

#: the checkpoint entry where a system records what wrote it (package version, class, input crop).
CHECKPOINT_KEY = "amodal_compose"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, of another system or package version, or naming
    code outside the package. The message names the argument and the file."""


def read_checkpoint(path: str | Path, name: str = "checkpoint") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on the CPU, with clear errors.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: a truncated or corrupt file, or one holding more than weights.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{name}: {path} holds more than weights and is refused ({err})") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(f"{name}: {path} is not a readable checkpoint (truncated or corrupt?): {err}") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{name}: {path} is not a Lightning checkpoint (no state_dict)")
    return ckpt


#: every system class by its qualified name (``amodal_compose.systems.shape.ShapeSystem``).
SYSTEMS: dict[str, type] = {}

#: modules whose classes a checkpoint may name without ``trusted=True``.
SAFE_PREFIXES = ("amodal_compose.", "torch.optim.", "torch.nn.")
SAFE_INSTANTIATORS = ("pytorch_lightning.cli.instantiate_module",)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_system(cls: type) -> None:
    """Make ``cls`` loadable by :func:`load_system` (every ``System`` subclass calls this)."""
    SYSTEMS[_qualname(cls)] = cls


def _registered(qualname: str) -> type | None:
    """The system class ``qualname``; a class of this package registers when its module is imported, so
    that module (only ever one of the package's) is imported first when it has not been."""
    if qualname not in SYSTEMS and qualname.startswith("amodal_compose."):
        import importlib

        try:
            importlib.import_module(qualname.rsplit(".", 1)[0])
        except ImportError:
            return None
    return SYSTEMS.get(qualname)


def checkpoint_entry(cls: type, crop: dict | None = None) -> dict[str, Any]:
    """The ``amodal_compose`` entry of a checkpoint of ``cls``: this version, the class, the input crop."""
    return {"version": __version__, "system": _qualname(cls), "crop": dict(crop or {})}


def _named_classes(obj: Any, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("class_path", "_class_path", "_instantiator") and isinstance(value, str):
                found.append((key, value))
            else:
                _named_classes(value, found)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _named_classes(value, found)
    return found


def _minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def check_checkpoint(
    ckpt: dict[str, Any], path: str | Path, name: str = "checkpoint", expected: type | None = None,
    trusted: bool = False,
) -> type:  # fmt: skip
    """The system class of a checkpoint read by :func:`read_checkpoint`, after the checks above.

    Raises:
        CheckpointError: naming ``name``, ``path`` and what is wrong.
    """
    meta = ckpt.get(CHECKPOINT_KEY)
    if not isinstance(meta, dict) or "system" not in meta:
        raise CheckpointError(
            f"{name}: {path} was not written by amodal_compose (no '{CHECKPOINT_KEY}' entry); "
            "checkpoints from this package's systems carry one"
        )
    version = str(meta.get("version", "?"))
    if _minor(version) != _minor(__version__):
        raise CheckpointError(
            f"{name}: {path} was written by amodal_compose {version}; this is {__version__} "
            "(checkpoints load across patch versions only)"
        )
    cls = _registered(str(meta["system"]))
    if cls is None:
        raise CheckpointError(f"{name}: {path} holds {meta['system']}, which is not a system of this package")
    if expected is not None and not issubclass(cls, expected):
        raise CheckpointError(f"{name}: {path} holds a {cls.__name__}, expected a {expected.__name__}")
    if not trusted:
        for key, value in _named_classes(ckpt.get("hyper_parameters", {}), []):
            safe = value in SAFE_INSTANTIATORS if key == "_instantiator" else value.startswith(SAFE_PREFIXES)
            if not safe:
                raise CheckpointError(
                    f"{name}: {path} names {value!r} ({key}), outside amodal_compose; load it with trusted=True "
                    "only if you know where the checkpoint comes from"
                )
    return cls


def load_system(
    path: str | Path, expected: type | None = None, name: str = "checkpoint",
    device: str | torch.device = "cpu", trusted: bool = False,
) -> Any:  # fmt: skip
    """A system from a checkpoint, checked (see the module's documentation), in eval mode.

    Args:
        path: the ``.ckpt`` file.
        expected: the system class it must hold (or a base of it).
        name: the argument's name, for error messages (``"shape"``, ``"compositor"``, ...).
        device: where the weights go.
        trusted: allow classes outside the package in the hyper-parameters.

    Returns:
        The system, with ``checkpoint_meta`` (the ``amodal_compose`` entry: version, class, input crop).

    Example:
        >>> shape = load_system("runs/shape_synthetic/checkpoints/last.ckpt", ShapeSystem, "shape")  # doctest: +SKIP
    """
    ckpt = read_checkpoint(path, name)
    cls = check_checkpoint(ckpt, path, name, expected, trusted)
    system = cls.load_from_checkpoint(path, map_location=device, weights_only=True)
    system.checkpoint_meta = dict(ckpt[CHECKPOINT_KEY])
    return system.eval()


def find_trained(names: tuple[str, ...] = ("shape", "content", "compositor"), start: str | Path | None = None
                 ) -> Path | None:  # fmt: skip
    """The folder of trained checkpoints ``<name>.ckpt`` for every name, wherever the caller runs (a
    notebook opened from ``notebooks/``, a script at the root): ``$AMODAL_COMPOSE_TRAINED`` when set,
    else ``runs/demo`` (what ``make demo`` writes) or ``weights`` (shipped weights) in ``start`` (default:
    the working directory) or any folder above it, else in the source checkout this package runs from.
    ``None`` when no such folder holds them all.

    Example:
        >>> folder = find_trained()  # doctest: +SKIP
        >>> pipe = Pipeline.from_checkpoints(shape=folder / "shape.ckpt")  # doctest: +SKIP
    """
    import os

    def complete(folder: Path) -> bool:
        return all((folder / f"{n}.ckpt").is_file() for n in names)

    if os.environ.get("AMODAL_COMPOSE_TRAINED"):
        folder = Path(os.environ["AMODAL_COMPOSE_TRAINED"])
        return folder if complete(folder) else None
    here = Path(start or Path.cwd()).resolve()
    roots = [here, *here.parents, Path(__file__).resolve().parents[2]]
    for root in dict.fromkeys(roots):
        for sub in ("runs/demo", "weights"):
            if complete(root / sub):
                return root / sub
    return None

