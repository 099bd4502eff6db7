"""Algorithms the systems and pipelines call: plain functions over tensors and a network callable, with
no Lightning and no data in them."""

from .pcnet import amodal_completion, recover_order

__all__ = ["amodal_completion", "recover_order"]
