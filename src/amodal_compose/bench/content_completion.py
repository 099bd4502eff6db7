"""Tasks ``content_completion`` and ``pcnet_c``: L1 / PSNR / SSIM on the hidden region of the *real*
occlusions of held-out synthetic scenes, whose hidden content is known (AMICO Table 1's measure).

* ``content_completion``: ``f_content (paper)`` (AMICO section 3.1 as written: the hole zeroed; recipe
  ``content_completion_paper.yaml``), then ``f_content (held-out prior)`` (recipe
  ``content_completion.yaml``: the generator selects between Telea and an offsets copy, starting from
  their held-out blend; ``docs/methods.md``), its gain over that ``held-out blend``, then the classical
  fills (Telea, offsets copy, mean colour, held-out blend) on the same items.
* ``pcnet_c``: ``pcnet_c (paper)`` (PCNet eq. 2, the hole zeroed; recipe ``pcnet_c_paper.yaml``), then
  ``pcnet_c (paper, no known-pixel L1)`` (recipe ``pcnet_c_paper_novalid.yaml``: Liu et al.'s L1 on the
  known pixels, which the composite discards, dropped), then ``pcnet_c (Telea prior)`` (recipe
  ``pcnet_c.yaml``: the hole pre-filled by Telea), its gain over Telea, then the classical fills.
"""

from ..baselines import BASELINES
from .runner import BenchContext, LearnedTask, Recipe, gain_rows, order_rows

CLASSICAL = tuple(BASELINES["inpainting"])


class PriorTask(LearnedTask):
    """A network as the paper writes it (recipe ``<stem>_paper.yaml``) and started from a classical fill
    (recipe ``<stem>.yaml``, row ``"<method> (<label>)"``), both scored on the same items: their rows, the
    classical fills once, and the second's gain over ``prior``, the fill it starts from. ``changes`` are
    ``(recipe suffix, label)`` pairs: the paper's recipe with one change each (recipe
    ``<stem>_paper_<suffix>.yaml``, row ``"<method> (paper, <label>)"``), listed after the paper's row."""

    def __init__(
        self, name: str, stem: str, method: str, label: str, prior: str, changes=(), aliases=()
    ) -> None:  # fmt: skip
        self.learned, self.prior = f"{method} ({label})", prior
        paper = [Recipe(f"{stem}_paper.yaml", rename=((method, f"{method} (paper)"),))]
        paper += [Recipe(f"{stem}_paper_{suffix}.yaml", rename=((method, f"{method} (paper, {change})"),),
                         drop=CLASSICAL) for suffix, change in changes]  # fmt: skip
        super().__init__(name, paper + [Recipe(f"{stem}.yaml", rename=((method, self.learned),), drop=CLASSICAL)],
                         aliases)  # fmt: skip

    def run(self, ctx: BenchContext) -> list[dict]:
        rows = super().run(ctx)
        return order_rows(rows + gain_rows(rows, self.learned, self.prior))


CONTENT = PriorTask("content_completion", "content_completion", "f_content", "held-out prior", "held-out blend",
                    aliases=("content",))  # fmt: skip
PCNET_C = PriorTask("pcnet_c", "pcnet_c", "pcnet_c", "Telea prior", "telea",
                    changes=(("novalid", "no known-pixel L1"),), aliases=("pcnetc",))  # fmt: skip
TASK = CONTENT
