"""Task ``ordering``: pairwise occlusion-ordering accuracy on held-out scenes (PCNet Table 1), all
methods on the same scenes and neighbour pairs (masks within 3 px; an unordered pair counts as wrong).
Rows, on one trained PCNet-M (recipe ``lightning_configs/bench/pcnet_m.yaml``, trained with erasers of
1-3 instances; its amodal rows are task ``amodal_mask``'s):

* ``pcnet_m (eq. 3)``: dual completion as the paper writes it (one view, no context, cycles kept);
* ``pcnet_m (eq. 3 + views)``, ``(eq. 3 + views, context)``: our inference additions one at a time
  (the scene's mirror view and five crop scales; passes with scene context; ``docs/methods.md``);
* ``pcnet_m (recipe: ...)``: the recipe's full order (the above, with the order's cycles broken), and
  with its ties decided by the soft increments;
* the ``area`` (both directions), ``y-axis`` and ``convex`` heuristics.
"""

from .runner import LearnedTask, Recipe

RECIPE_ORDER = "pcnet_m (recipe: eq. 3 + views, context, cycles)"

TASK = LearnedTask(
    "ordering",
    [Recipe("pcnet_m.yaml", ("pair_accuracy",), rename=(("pcnet_m", RECIPE_ORDER),
                                                        ("pcnet_m (soft ties)", f"{RECIPE_ORDER[:-1]}, soft ties)")))],
)  # fmt: skip
