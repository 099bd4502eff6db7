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
* ``pcnet_c_real``: ``pcnet_c (Telea prior, trained on the world's occlusions)`` (recipe
  ``pcnet_c_real.yaml``: trained on the training scenes' own occlusions, whose hidden content the
  synthetic world knows, instead of PCNet's erasures; a task of its own, since its longer run fills
  a task's time), its gain over Telea, then the classical fills.
"""

from ..baselines import BASELINES
from .runner import BenchContext, LearnedTask, Recipe, gain_rows, order_rows

CLASSICAL = tuple(BASELINES["inpainting"])


class PriorTask(LearnedTask):
    """A network as the paper writes it (recipe ``<stem>_paper.yaml``) and started from a classical fill
    (recipe ``<stem>.yaml``, row ``"<method> (<label>)"``), both scored on the same items: their rows, the
    classical fills once, and the second's gain over ``prior``, the fill it starts from. ``changes`` are
    ``(recipe suffix, label)`` pairs: the paper's recipe with one change each (recipe
    ``<stem>_paper_<suffix>.yaml``, row ``"<method> (paper, <label>)"``), listed after the paper's row.
    ``paper=False``: the prior's recipe alone (no paper's row), which then scores the classical fills."""

    def __init__(
        self, name: str, stem: str, method: str, label: str, prior: str, changes=(), aliases=(), paper: bool = True,
    ) -> None:  # fmt: skip
        if changes and not paper:
            raise ValueError("changes are made to the paper's recipe: they need paper=True")
        self.learned, self.prior = f"{method} ({label})", prior
        recipes = [Recipe(f"{stem}_paper.yaml", rename=((method, f"{method} (paper)"),))] if paper else []
        recipes += [Recipe(f"{stem}_paper_{suffix}.yaml", rename=((method, f"{method} (paper, {change})"),),
                           drop=CLASSICAL) for suffix, change in changes]  # fmt: skip
        # the first recipe scores the classical fills; the others are scored on the same items
        recipes.append(Recipe(f"{stem}.yaml", rename=((method, self.learned),), drop=CLASSICAL if paper else ()))
        super().__init__(name, recipes, aliases)

    def run(self, ctx: BenchContext) -> list[dict]:
        rows = super().run(ctx)
        return order_rows(rows + gain_rows(rows, self.learned, self.prior))


CONTENT = PriorTask("content_completion", "content_completion", "f_content", "held-out prior", "held-out blend",
                    aliases=("content",))  # fmt: skip
PCNET_C = PriorTask("pcnet_c", "pcnet_c", "pcnet_c", "Telea prior", "telea",
                    changes=(("novalid", "no known-pixel L1"),), aliases=("pcnetc",))  # fmt: skip
PCNET_C_REAL = PriorTask("pcnet_c_real", "pcnet_c_real", "pcnet_c", "Telea prior, trained on the world's occlusions",
                         "telea", paper=False, aliases=("pcnetc_real",))  # fmt: skip
TASK = CONTENT
