"""Rebuildable networks: a network records its constructor arguments so that a system can save a
``{"class_path", "init_args"}`` spec in its hyper-parameters and ``load_from_checkpoint`` can
rebuild it with no extra arguments (the same spec format LightningCLI configs use)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["RecordedInit", "module_spec", "build_module", "tanh_to_unit"]


def tanh_to_unit(x: Tensor) -> Tensor:
    """The papers' ``tanh`` output read in [0, 1]: ``(tanh(x) + 1) / 2``."""
    return (torch.tanh(x) + 1.0) / 2.0


class RecordedInit(nn.Module):
    """Base class for networks whose ``__init__`` arguments are recorded in ``self.init_args``.

    Subclasses call ``super().__init__()`` first and ``self.record_init(locals())`` in their own
    ``__init__``; only JSON-like values (numbers, strings, lists, dicts, ``None``) should be passed.
    """

    init_args: dict[str, Any]

    def record_init(self, local_vars: dict[str, Any]) -> None:
        params = inspect.signature(type(self).__init__).parameters
        self.init_args = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in local_vars.items()
            if k in params and k != "self" and params[k].kind is not inspect.Parameter.VAR_KEYWORD
        }


def module_spec(module: nn.Module) -> dict[str, Any] | None:
    """``{"class_path": ..., "init_args": ...}`` for a :class:`RecordedInit` network, else ``None``."""
    args = getattr(module, "init_args", None)
    if args is None:
        return None
    cls = type(module)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": dict(args)}


def build_module(spec: nn.Module | dict[str, Any] | None, default: type[nn.Module]) -> nn.Module:
    """A module from an instance (returned as is), a spec dict or ``None`` (``default()``).

    Raises:
        ValueError: the spec lacks ``class_path`` or names something that is not an ``nn.Module``.
    """
    if spec is None:
        return default()
    if isinstance(spec, nn.Module):
        return spec
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ValueError(f"expected an nn.Module or a {{'class_path', 'init_args'}} dict, got {spec!r}")
    path = str(spec["class_path"])
    if "." not in path:
        raise ValueError(f"class_path must be a dotted path 'package.module.Class', got {path!r}")
    mod, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(mod), name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"class_path {path!r} does not name an nn.Module subclass")
    return cls(**dict(spec.get("init_args") or {}))
