"""Tasks ``content_completion`` and ``pcnet_c``: L1 / PSNR / SSIM on the hidden region of the *real*
occlusions of held-out synthetic scenes, whose hidden content is known (AMICO Table 1's measure).

* ``content_completion``: ``f_content (paper)`` (AMICO section 3.1 as written: the hole zeroed; recipe
  ``content_completion_paper.yaml``), then ``f_content (held-out prior)`` (recipe
  ``content_completion.yaml``: the generator selects between Telea and an offsets copy, starting from
  their held-out blend; ``docs/methods.md``), its gain over that ``held-out blend``, then the classical
  fills (Telea, offsets copy, mean colour, held-out blend) on the same items.
* ``pcnet_c``: ``pcnet_c (paper)`` (PCNet eq. 2, the hole zeroed; recipe ``pcnet_c_paper.yaml``), then
  ``pcnet_c (Telea prior)`` (recipe ``pcnet_c.yaml``: the hole pre-filled by Telea), its gain over
  Telea, then the classical fills.
"""

from ..baselines import BASELINES
from .runner import BenchContext, LearnedTask, Recipe, gain_rows, order_rows

CLASSICAL = tuple(BASELINES["inpainting"])


class PriorTask(LearnedTask):
    """A learned task whose second recipe starts from a classical fill: its rows plus the gain over it."""

    def __init__(self, name: str, recipes, prior: str, aliases=()) -> None:
        super().__init__(name, recipes, aliases)
        self.prior = prior

    def run(self, ctx: BenchContext) -> list[dict]:
        rows = super().run(ctx)
        learned = self.recipes[-1].method_name(self.recipes[-1].rename[0][0])
        return order_rows(rows + gain_rows(rows, learned, self.prior))


CONTENT = PriorTask(
    "content_completion",
    [Recipe("content_completion_paper.yaml", rename=(("f_content", "f_content (paper)"),)),
     Recipe("content_completion.yaml", rename=(("f_content", "f_content (held-out prior)"),), drop=CLASSICAL)],
    prior="held-out blend", aliases=("content",),
)  # fmt: skip
PCNET_C = PriorTask(
    "pcnet_c",
    [Recipe("pcnet_c_paper.yaml", rename=(("pcnet_c", "pcnet_c (paper)"),)),
     Recipe("pcnet_c.yaml", rename=(("pcnet_c", "pcnet_c (Telea prior)"),), drop=CLASSICAL)],
    prior="telea", aliases=("pcnetc",),
)  # fmt: skip
TASK = CONTENT
