"""Task ``content_completion``: f_content (AMICO section 3.1) against Telea and mean-colour fill, L1 /
PSNR / SSIM on the hidden region of the *real* occlusions of held-out synthetic scenes, whose hidden
content is known (AMICO Table 1's measure). Recipe: ``lightning_configs/bench/content_completion.yaml``."""

from .runner import LearnedTask

TASK = LearnedTask("content_completion", "content_completion.yaml", aliases=("content",))
