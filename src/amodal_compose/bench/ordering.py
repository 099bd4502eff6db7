"""Task ``ordering``: pairwise occlusion-ordering accuracy on held-out scenes (PCNet Table 1): PCNet-M
by dual completion (eq. 3, and with its ties decided by the soft increments; the recipe sums each pair's
increments over the scene's views, orders in three passes with scene context, breaks the order's cycles
and counts masks within 3 px as neighbours) against the ``area`` (both directions), ``y-axis`` and
``convex`` heuristics, all on the same scenes and neighbour pairs. Recipe:
``lightning_configs/bench/pcnet_m.yaml`` (its ordering rows; task ``amodal_mask`` reports its amodal rows)."""

from .runner import LearnedTask, Recipe

TASK = LearnedTask("ordering", [Recipe("pcnet_m.yaml", ("pair_accuracy",))])
