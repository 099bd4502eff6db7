"""Task ``composition``: f_comp (AMICO section 3.2) against cut-and-paste and Poisson blending, PSNR /
SSIM per AMICO area bin on held-out eq. 5 pairs cut with a 5-10 px dilation (AMICO Table 2's
protocol); test variants in the recipe's ``bench:`` section. Recipe:
``lightning_configs/bench/composition.yaml``."""

from .runner import LearnedTask

TASK = LearnedTask("composition", "composition.yaml", aliases=("compose", "comp"))
