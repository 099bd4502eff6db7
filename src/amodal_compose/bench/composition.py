"""Task ``composition``: f_comp (AMICO section 3.2) against cut-and-paste and Poisson blending, PSNR /
SSIM per AMICO area bin on held-out eq. 5 pairs cut with a 5-10 px dilation (AMICO Table 2's
protocol). Rows: ``f_comp (paper)`` (recipe ``composition_paper.yaml``: the RGB head of Table 5, no
input skip, every training pair recoloured), then ``f_comp (paper + additions)`` (recipe
``composition.yaml``: the affine colour head, the input skip, weight averaging, a share of pairs that
need no change and the cut's border difference as input; ``docs/methods.md``), then the classical rows;
test variants in each recipe's ``bench:`` section."""

from ..baselines import BASELINES
from .runner import LearnedTask, Recipe

OURS = "f_comp (paper + affine head, input skip, EMA, unchanged pairs, border input)"

TASK = LearnedTask(
    "composition",
    [Recipe("composition_paper.yaml", rename=(("f_comp", "f_comp (paper)"),)),
     Recipe("composition.yaml", rename=(("f_comp", OURS),), drop=tuple(BASELINES["composition"]))],
    aliases=("compose", "comp"),
)  # fmt: skip
