"""Composition jobs with a known answer, made from synthetic scenes: what the demo and the quickstart
notebook compose and score."""

from __future__ import annotations

import torch

from ..ops.masks import dilate
from ..structures import Scene

__all__ = ["composition_jobs"]


def composition_jobs(scenes: list[Scene], count: int, dilation: int = 3) -> list[dict]:
    """Up to ``count`` composition jobs with a known answer: scene ``2i``'s most suitable occluded object
    (hidden share 0.15-0.6, the largest), coarsely cut (visible mask dilated by ``dilation`` px), onto
    scene ``2i + 1``; ``{"background", "image", "mask", "target", "amodal"}``, where ``target`` is scene
    ``2i + 1`` with the object whole, lit like it, in front.

    Example:
        >>> from amodal_compose.data import composition_jobs, generate_scene
        >>> jobs = composition_jobs([generate_scene(seed=s, image_size=64) for s in range(8)], 1)
    """
    jobs = []
    for a, b in zip(scenes[0::2], scenes[1::2]):
        cands = [(float(i.amodal_mask.sum()), k) for k, i in enumerate(a.instances)
                 if 0.15 <= (i.occluded_ratio or 0) <= 0.6 and float(i.modal_mask.sum()) >= 40]  # fmt: skip
        if not cands:
            continue
        k = max(cands)[1]
        inst = a.instances[k]
        gain_a, gain_b = torch.tensor(a.meta["illumination_gain"]), torch.tensor(b.meta["illumination_gain"])
        relight = (gain_b / gain_a)[:, None, None]
        layer = (inst.layer * relight).clamp(0, 1)
        target = torch.where(inst.amodal_mask > 0.5, layer, b.image)
        coarse = dilate(inst.modal_mask, dilation)
        jobs.append({"background": b.image, "image": a.image, "mask": coarse, "target": target,
                     "amodal": inst.amodal_mask})  # fmt: skip
        if len(jobs) == count:
            break
    return jobs
