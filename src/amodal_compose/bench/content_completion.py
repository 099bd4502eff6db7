"""Task ``content_completion``: L1 / PSNR / SSIM on the hidden region of the *real* occlusions of
held-out synthetic scenes, whose hidden content is known (AMICO Table 1's measure): f_content (AMICO
section 3.1, recipe ``content_completion.yaml``) and PCNet-C (PCNet eq. 2, recipe ``pcnet_c.yaml``), each
against the inpainting baselines (Telea, the offsets copy, mean-colour fill, and the held-out blend of
Telea and offsets) on the same items."""

from .runner import LearnedTask

TASK = LearnedTask("content_completion", ["content_completion.yaml", "pcnet_c.yaml"], aliases=("content",))
