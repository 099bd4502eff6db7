"""Occlusion graphs: order from masks, neighbour pairs, ancestors (PCNet section 3.2-3.3).

An order matrix ``O`` is ``(N, N)`` int64 with ``O[i, j] = 1`` when ``i`` occludes ``j``. It is a
directed graph that may contain cycles (PCNet Fig. 7: four objects overlapping in a ring).
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor

from .masks import neighbourhood_max

__all__ = ["order_from_masks", "neighbour_pairs", "pairwise_order", "ancestors", "order_from_depth"]


def _flat(masks: Tensor) -> Tensor:
    if masks.ndim == 4:
        masks = masks[:, 0]
    if masks.ndim != 3:
        raise ValueError(f"expected masks (N, 1, H, W) or (N, H, W), got {tuple(masks.shape)}")
    return (masks > 0.5).flatten(1).float()


def order_from_masks(modal: Tensor, amodal: Tensor, min_pixels: int = 1) -> Tensor:
    """Ground-truth order from visible and amodal masks.

    ``i`` occludes ``j`` when at least ``min_pixels`` of ``j``'s hidden part (``amodal_j \\ modal_j``)
    is visible as ``i``: the pixels there belong to ``i``, so ``i`` is in front of ``j``.

    Args:
        modal: ``(N, 1, H, W)`` visible masks.
        amodal: ``(N, 1, H, W)`` amodal masks.
        min_pixels: overlap below this is ignored (annotation noise).

    Returns:
        ``(N, N)`` int64 order matrix with a zero diagonal.
    """
    v, a = _flat(modal), _flat(amodal)
    hidden = a * (1.0 - v)
    overlap = v @ hidden.T  # [i, j] = |modal_i ∩ hidden_j|
    order = (overlap >= min_pixels).long()
    order.fill_diagonal_(0)
    return order


def order_from_depth(depth: Tensor, amodal: Tensor, modal: Tensor | None = None) -> Tensor:
    """Order from a depth rank: ``i`` occludes ``j`` when ``i`` is nearer and their masks meet.

    Args:
        depth: ``(N,)`` rank, larger = nearer the camera.
        amodal: ``(N, 1, H, W)`` amodal masks.
        modal: optional visible masks; if given, ``i`` must touch ``j``'s amodal with a visible
            pixel (an object hidden behind a third one does not occlude ``j`` there).

    Returns:
        ``(N, N)`` int64 order matrix.
    """
    a = _flat(amodal)
    front = _flat(modal) if modal is not None else a
    meet = (front @ a.T) > 0
    nearer = depth[:, None] > depth[None, :]
    order = (meet & nearer).long()
    order.fill_diagonal_(0)
    return order


def neighbour_pairs(modal: Tensor, dilation: int = 1) -> Tensor:
    """Pairs whose visible masks touch (PCNet: "neighbouring instances"), as an ``(N, N)`` bool matrix.

    Args:
        modal: ``(N, 1, H, W)`` visible masks.
        dilation: masks are grown by this many pixels (3x3 square steps) before testing contact.

    Returns:
        Symmetric bool matrix with a false diagonal.
    """
    m = (modal if modal.ndim == 4 else modal[:, None]).float()
    grown = m
    for _ in range(dilation):  # a (2 dilation + 1)-square, one 3x3 step at a time (faster than max_pool2d)
        grown = neighbourhood_max(grown)
    touch = (_flat(grown) @ _flat(m).T) > 0
    touch = touch | touch.T
    touch.fill_diagonal_(False)
    return touch


def pairwise_order(order: Tensor) -> Tensor:
    """Antisymmetric form of an order matrix: ``+1`` if ``i`` occludes ``j``, ``-1`` if ``j`` occludes ``i``.

    Mutual occlusion (both directions set, possible with interlocking shapes) gives 0.
    """
    o = (order > 0).long()
    return o - o.T


def ancestors(order: Tensor, index: int) -> list[int]:
    """All direct and indirect occluders of ``index``, found by breadth-first search (PCNet eq. 4).

    Each node is visited once, so the search ends on cyclic graphs; ``index`` itself is never
    returned, even when a cycle leads back to it.

    Args:
        order: ``(N, N)`` order matrix.
        index: the instance whose occluders are wanted.

    Returns:
        Sorted list of ancestor indices.
    """
    n = order.shape[0]
    if not 0 <= index < n:
        raise IndexError(f"index {index} out of range for {n} instances")
    parents = [torch.nonzero(order[:, j] > 0).flatten().tolist() for j in range(n)]
    seen = {index}
    queue = deque([index])
    found = []
    while queue:
        node = queue.popleft()
        for p in parents[node]:
            if p not in seen:
                seen.add(p)
                found.append(p)
                queue.append(p)
    return sorted(found)
