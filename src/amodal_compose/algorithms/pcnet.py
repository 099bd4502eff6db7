"""PCNet's scene de-occlusion inference (Zhan et al., CVPR 2020, section 3.2-3.3) as plain functions over a
partial-completion callable, so the order and the amodal masks are computed the same way whatever runs
the network (:class:`~amodal_compose.systems.PCNetMSystem` passes its own; a test passes an oracle):

* :func:`recover_order`: ordering recovery by dual completion (eq. 3), with this package's test-time
  options (mirror views, crop scales, context passes, soft ties, cycles broken);
* :func:`amodal_completion`: ordering-grounded amodal completion (eq. 4), or non-grounded.

The callable, ``complete(image, targets, erasers, categories, *, batch, soft, scale)``, is PCNet-M's
``P(M_target; M_eraser, I \\ M_eraser)`` for ``P`` target / eraser pairs of one image: it returns the
``(P, 1, H, W)`` completed masks in the image frame and, with ``soft``, the network's probabilities
(else ``None``); ``batch=False`` runs one pair per forward, ``scale`` multiplies the side of PCNet's
adaptive square.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..ops.graph import ancestors, break_cycles, neighbour_pairs

__all__ = [
    "Completion",
    "orient",
    "neighbours",
    "occluders",
    "dual_growth",
    "dual_completion",
    "recover_order",
    "amodal_completion",
    "check_ties",
    "check_cycles",
    "check_scales",
    "check_context",
]

#: ``complete(image, targets, erasers, categories, *, batch, soft, scale) -> (masks, probabilities | None)``.
Completion = Callable[..., tuple[Tensor, Tensor | None]]


def union(masks: Tensor, index: Sequence[int], like: Tensor) -> Tensor:
    """The union of ``masks[index]`` (zeros like ``like`` for none)."""
    return masks[list(index)].amax(0) if len(index) else torch.zeros_like(like)


def check_ties(ties: str) -> str:
    if ties not in ("none", "soft"):
        raise ValueError(f"ties must be 'none' or 'soft', got {ties!r}")
    return ties


def check_cycles(cycles: str) -> str:
    if cycles not in ("keep", "break"):
        raise ValueError(f"cycles must be 'keep' or 'break', got {cycles!r}")
    return cycles


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(s) for s in scales)
    if not out or min(out) <= 0:
        raise ValueError(f"scales must be a non-empty list of positive crop scales, got {list(scales)}")
    return out


def check_context(context: int) -> int:
    if int(context) != context or context < 0:
        raise ValueError(f"context must be a whole number of passes >= 0, got {context!r}")
    return int(context)


def occluders(order: Tensor) -> list[list[int]]:
    """Per instance, the instances an order matrix puts directly in front of it."""
    return [order[:, k].nonzero().flatten().tolist() for k in range(len(order))]


def orient(
    n: int, pairs: list[tuple[int, int]], hard: Tensor, soft: Tensor | None = None, acyclic: bool = False,
) -> Tensor:  # fmt: skip
    """PCNet eq. 3 on increments ``(2, P)`` of ``pairs``: the instance that grows less is in front; equal
    hard increments are decided by ``soft`` ones when given, else left without an edge. ``acyclic``: the
    cycles broken by :func:`~amodal_compose.ops.graph.break_cycles`, each edge's evidence the difference
    of the increments that decided it."""
    out = torch.zeros(n, n, dtype=torch.int64)
    if not pairs:
        return out
    i, j = torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])
    grow_i, grow_j = hard
    if soft is not None:
        tie = grow_i == grow_j
        grow_i, grow_j = torch.where(tie, soft[0], grow_i), torch.where(tie, soft[1], grow_j)
    out[i[grow_i < grow_j], j[grow_i < grow_j]] = 1  # i grows less: i is in front
    out[j[grow_j < grow_i], i[grow_j < grow_i]] = 1
    if not acyclic:
        return out
    evidence = torch.zeros(n, n, dtype=torch.float64)
    evidence[i, j], evidence[j, i] = (grow_j - grow_i).double().clamp(min=0), (grow_i - grow_j).double().clamp(min=0)
    return break_cycles(out, evidence)


def neighbours(modal: Tensor, dilation: int) -> tuple[Tensor, list[tuple[int, int]]]:
    """The neighbour matrix (CPU) of masks that touch after growing by ``dilation`` pixels, and its
    pairs ``(i, j)``, ``i < j``."""
    near = neighbour_pairs(modal, dilation).cpu()
    return near, [(i, j) for i in range(len(modal)) for j in range(i + 1, len(modal)) if near[i, j]]

def dual_completion(
    complete: Completion, image: Tensor, modal: Tensor, categories: Tensor | None, dilation: int, batch: bool,
    soft: bool, mirror: bool = False, scales: Sequence[float] = (1.0,), context: int = 0,
) -> tuple[list[tuple[int, int]], Tensor, Tensor | None]:  # fmt: skip
    """:func:`dual_growth` of eq. 3, or of the last of at most ``context`` passes, each grounded in the
    order of the one before (its hard increments, ties left without an edge). A completion whose
    eraser an earlier pass already used is not run again, and the passes stop once the order no longer
    changes (a further pass would repeat the last): the later passes cost a fraction of the first."""
    if not context:
        return dual_growth(complete, image, modal, categories, dilation, batch, soft, mirror, scales)
    near, pairs = neighbours(modal, dilation)
    others = [near[k].nonzero().flatten().tolist() for k in range(len(modal))]
    rows = pairs + [(j, i) for i, j in pairs]  # the order of dual_growth's flattened increments
    done: dict[tuple, tuple[float, float]] = {}  # (target, other, eraser) -> hard, soft increment
    for _ in range(context):
        keys = [(a, b, tuple(sorted({b, *others[a]}))) for a, b in rows]  # target, other, all it erases
        todo = [key not in done for key in keys]
        if any(todo):
            _, hard, soft_inc = dual_growth(complete, image, modal, categories, dilation, batch, soft, mirror,
                                            scales, others, todo)  # fmt: skip
            for r, key in enumerate(keys):
                if todo[r]:
                    done[key] = (float(hard.flatten()[r]), float(soft_inc.flatten()[r]) if soft else 0.0)
        hard = torch.tensor([done[key][0] for key in keys]).view(2, -1)
        soft_inc = torch.tensor([done[key][1] for key in keys]).view(2, -1) if soft else None
        before, others = others, occluders(orient(len(modal), pairs, hard))
        if others == before:
            break
    return pairs, hard, soft_inc

def dual_growth(
    complete: Completion, image: Tensor, modal: Tensor, categories: Tensor | None, dilation: int, batch: bool,
    soft: bool, mirror: bool = False, scales: Sequence[float] = (1.0,), context: list[list[int]] | None = None,
    rows: list[bool] | None = None,
) -> tuple[list[tuple[int, int]], Tensor, Tensor | None]:  # fmt: skip
    """Neighbouring pairs ``(i, j)``, ``i < j``, and their increments ``(2, P)`` (row 0: ``i`` completed
    with ``j`` as eraser; row 1: the reverse), hard and (with ``soft``) soft, on the CPU. With
    ``context`` (per instance, the other instances erased with the pair's), ``i``'s eraser is ``j``
    and ``context[i]``, and its increment is its growth into ``j``'s visible mask; ``rows`` (``2 P``
    flags, in the order of the flattened increments) limits the completions to those flagged (the
    others' increments are 0). With ``mirror`` and several ``scales``, the increments of every view
    (each mirror image at each crop scale) summed (mirroring and rescaling keep the neighbour pairs).
    Summing increments orders better on val than averaging the views before the threshold, which
    leaves more pairs tied."""
    if mirror or len(scales) > 1:
        views = [dual_growth(complete, image.flip(-1) if flip else image, modal.flip(-1) if flip else modal,
                             categories, dilation, batch, soft, scales=(scale,), context=context, rows=rows)
                 for scale in scales for flip in ((False, True) if mirror else (False,))]  # fmt: skip
        hard = torch.stack([v[1] for v in views]).sum(0)
        return views[0][0], hard, (torch.stack([v[2] for v in views]).sum(0) if soft else None)
    scale = scales[0]
    n = len(modal)
    pairs = neighbours(modal, dilation)[1]
    if not pairs:
        return pairs, torch.zeros(2, 0), (torch.zeros(2, 0) if soft else None)
    first, second = [i for i, _ in pairs], [j for _, j in pairs]
    keep = [r for r in range(2 * len(pairs)) if rows is None or rows[r]]
    target_of, other_of = [(first + second)[r] for r in keep], [(second + first)[r] for r in keep]
    cats = categories if categories is not None else torch.zeros(n, dtype=torch.long)
    targets, erasers, cats = modal[target_of], modal[other_of], cats[target_of]
    region = 1 - targets  # eq. 3: the growth anywhere; with context, into the pair's other instance
    if context is not None:
        region = region * erasers
        erasers = torch.stack([torch.maximum(e, union(modal, context[t], e))
                               for e, t in zip(erasers, target_of)])  # fmt: skip
    if batch:
        done = [complete(image, targets, erasers, cats, batch=True, soft=soft, scale=scale)]
    else:  # one completion per call, and per forward
        done = [complete(image, targets[[r]], erasers[[r]], cats[[r]], batch=False, soft=soft, scale=scale)
                for r in range(len(keep))]  # fmt: skip
    outside = region.to(done[0][0])

    def increments(k: int) -> Tensor:  # 0: hard, 1: soft; all i-rows, then all j-rows
        maps = torch.cat([d[k] for d in done])
        out = torch.zeros(2 * len(pairs))
        out[keep] = (maps * outside).flatten(1).sum(1).cpu().to(out.dtype)
        return out.view(2, -1)

    return pairs, increments(0), (increments(1) if soft else None)


def recover_order(
    complete: Completion, image: Tensor, modal: Tensor, categories: Tensor | None = None, dilation: int = 1,
    batch: bool = True, ties: str = "none", mirror: bool = False, scales: Sequence[float] = (1.0,),
    context: int = 0, cycles: str = "keep",
) -> Tensor:  # fmt: skip
    """Occlusion order by dual completion (PCNet eq. 3); see
    :meth:`~amodal_compose.systems.PCNetMSystem.order` for the options (``ties``, ``mirror``, ``scales``,
    ``context``, ``cycles``).

    Returns:
        ``(N, N)`` int64 on ``modal``'s device, ``[i, j] = 1`` when ``i`` occludes ``j``.

    Example:
        >>> modal = torch.zeros(2, 1, 20, 20); modal[0, :, 2:12, 2:12] = 1; modal[1, :, 8:18, 8:18] = 1
        >>> def oracle(image, targets, erasers, categories, batch, soft, scale):  # 0 grows behind 1
        ...     grown = torch.maximum(targets, erasers * (targets[:, :, 2:3, 2:3] > 0).float())
        ...     return grown, (grown if soft else None)
        >>> recover_order(oracle, torch.rand(3, 20, 20), modal).tolist()
        [[0, 0], [1, 0]]
    """
    check_ties(ties)
    pairs, hard, soft = dual_completion(complete, image, modal, categories, dilation, batch, ties == "soft", mirror,
                                        check_scales(scales), check_context(context))  # fmt: skip
    return orient(len(modal), pairs, hard, soft, check_cycles(cycles) == "break").to(modal.device)


def amodal_completion(
    complete: Completion, image: Tensor, modal: Tensor, order: Tensor | None = None,
    categories: Tensor | None = None, dilation: int = 1,
) -> Tensor:  # fmt: skip
    """Amodal completion in one step per instance (PCNet eq. 4): with ``order``, the eraser is the
    union of all the instance's ancestors' modal masks (ordering-grounded); without, of all its
    neighbours' (non-grounded). Instances with no eraser keep their modal mask.

    Returns:
        ``(N, 1, H, W)`` amodal masks, each containing its modal mask.
    """
    n = len(modal)
    if order is None:
        near = neighbours(modal, dilation)[0]
        erasers = [[j for j in range(n) if near[i, j]] for i in range(n)]
    else:
        erasers = [ancestors(order, i) for i in range(n)]
    out = modal.clone()
    todo = [i for i in range(n) if erasers[i]]
    if todo:
        cats = categories if categories is not None else torch.zeros(n, dtype=torch.long)
        eraser = torch.stack([union(modal, erasers[i], modal[0]) for i in todo])
        pred = complete(image, modal[todo], eraser, cats[todo], batch=True, soft=False, scale=1.0)[0]
        out[todo] = torch.maximum(pred, modal[todo])
    return out
