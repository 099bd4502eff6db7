"""Occlusion graphs: order from masks, neighbour pairs, ancestors (PCNet section 3.2-3.3).

An order matrix ``O`` is ``(N, N)`` int64 with ``O[i, j] = 1`` when ``i`` occludes ``j``. It is a
directed graph that may contain cycles (PCNet Fig. 7: four objects overlapping in a ring).
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor

from .masks import neighbourhood_max

__all__ = ["order_from_masks", "neighbour_pairs", "pairwise_order", "ancestors", "order_from_depth", "break_cycles"]


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


def _components(order: Tensor) -> list[list[int]]:
    """The strongly connected components of an order matrix, each a sorted list of nodes (scipy's
    linear-time ``connected_components(connection="strong")``), in order of their smallest node."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = order.shape[0]
    if n == 0:
        return []
    _, labels = connected_components(csr_matrix(order.detach().cpu().numpy() > 0), directed=True,
                                     connection="strong")  # fmt: skip
    groups: dict[int, list[int]] = {}
    for node, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(node)
    return sorted(groups.values(), key=lambda comp: comp[0])


def _sequence(front: list[list[float]]) -> list[int]:
    """The front-to-back sequence of ``k`` nodes that goes against the least total evidence, where
    ``front[a][b]`` is the evidence that ``a`` is in front of ``b``: exact by dynamic programming over
    the subsets of nodes already placed (``O(2^k k^2)``)."""
    k = len(front)
    best, last = [0.0] + [float("inf")] * ((1 << k) - 1), [-1] * (1 << k)
    for placed in range(1 << k):
        if best[placed] == float("inf"):
            continue
        for v in range(k):
            if placed >> v & 1:
                continue
            # v goes behind every placed node: the evidence that v is in front of them is overruled
            cost = best[placed] + sum(front[v][s] for s in range(k) if placed >> s & 1)
            if cost < best[placed | 1 << v]:
                best[placed | 1 << v], last[placed | 1 << v] = cost, v
    seq, placed = [], (1 << k) - 1
    while placed:
        seq.append(last[placed])
        placed ^= 1 << seq[-1]
    return seq[::-1]


def break_cycles(order: Tensor, evidence: Tensor, max_exact: int = 12) -> Tensor:
    """An acyclic order from one that may be cyclic (not in PCNet, whose order graph keeps its cycles).

    Each strongly connected component (the nodes of every cycle) is laid out front to back in the
    sequence that overrules the least total ``evidence`` (a minimum-weight feedback arc set), and each
    of its ordered pairs is then oriented by that sequence: the weakest edges of a cycle are reversed,
    the rest of the graph is unchanged. A component of more than ``max_exact`` nodes is laid out by the
    net evidence of each node (in front of others minus behind them), a greedy approximation.

    Args:
        order: ``(N, N)`` order matrix.
        evidence: ``(N, N)`` non-negative weights, ``evidence[i, j]`` how strongly ``i`` is in front of
            ``j`` (for PCNet-M: how much less ``i`` grows than ``j`` in the dual completion, eq. 3);
            read only on the pairs ``order`` orders.
        max_exact: the largest component laid out exactly.

    Returns:
        ``(N, N)`` int64 acyclic order matrix with the same ordered pairs as ``order``.

    Example:
        >>> ring = torch.tensor([[0, 1, 0], [0, 0, 1], [1, 0, 0]])  # 0 > 1 > 2 > 0
        >>> evidence = torch.tensor([[0, 5.0, 0], [0, 0, 4.0], [1.0, 0, 0]])
        >>> break_cycles(ring, evidence).tolist()  # the weakest edge, 2 > 0, is reversed
        [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    """
    if order.ndim != 2 or order.shape[0] != order.shape[1] or evidence.shape != order.shape:
        raise ValueError(f"expected (N, N) order and evidence, got {tuple(order.shape)} and {tuple(evidence.shape)}")
    if (evidence < 0).any():
        raise ValueError("evidence must be non-negative")
    out = (order > 0).long().cpu()
    weight = torch.where(out > 0, evidence.detach().double().cpu(), torch.zeros((), dtype=torch.float64))
    for comp in _components(out):
        if len(comp) < 2:
            continue
        idx = torch.tensor(comp)
        sub = weight[idx][:, idx]
        if len(comp) <= max_exact:
            seq = _sequence(sub.tolist())
        else:
            seq = torch.argsort(sub.sum(1) - sub.sum(0), descending=True, stable=True).tolist()
        rank = torch.empty(len(comp), dtype=torch.long)
        rank[torch.tensor(seq)] = torch.arange(len(comp))
        edges = out[idx][:, idx]
        out[idx[:, None], idx[None, :]] = (((edges + edges.T) > 0) & (rank[:, None] < rank[None, :])).long()
    return out.to(order.device)
