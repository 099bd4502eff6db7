"""Task ``amodal_mask``: f_shape (AMICO section 3.3) against the ``raw`` and ``convex`` baselines,
pooled full / invisible mIoU on the occluded instances of held-out scenes, all methods given the
exact visible mask. Recipe: ``lightning_configs/bench/amodal_mask.yaml``."""

from .runner import LearnedTask

TASK = LearnedTask("amodal_mask", "amodal_mask.yaml", aliases=("shape",))
