"""Task ``ordering``: pairwise occlusion-ordering accuracy on held-out scenes (PCNet Table 1): PCNet-M
by dual completion (eq. 3, and with its ties decided by the soft increments; the recipe sums each pair's
increments over the scene's views and orders in three passes with scene context) against the ``area``
(both directions), ``y-axis`` and ``convex`` heuristics, all on the same scenes. Recipe:
``lightning_configs/bench/pcnet_m.yaml`` (its ordering rows; task ``amodal_mask`` reports its amodal rows)."""

from .runner import LearnedTask, Recipe

TASK = LearnedTask("ordering", [Recipe("pcnet_m.yaml", ("pair_accuracy",))])
