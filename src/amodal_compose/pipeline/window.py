"""Crop -> run -> paste: one network crop of a full-resolution image and the edits it carries back.

Every pipeline runs its networks on a square window of the image, resized to the side the network was
trained on, and applies what comes back at the image's resolution (:mod:`amodal_compose.ops.fullres`):

* :meth:`Window.blend` composites an RGBA layer (f_comp): alpha upsampled edge-aware, guided by the
  full-resolution image; colour changed by f_comp's transform applied to the full-resolution object
  (the affine head's coefficients, or the RGB head's change against its input, upsampled);
* :meth:`Window.fill` writes generated content into its hole only, seam-matched to the known pixels.

Pixels outside what a layer blends (alpha 0) or a fill's hole are returned bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..ops.fullres import apply_color_transform, seam_fill, upsample, upsample_alpha
from ..ops.masks import SquareBox, bbox, context_square, crop_square, paste_square, square_box

__all__ = ["Window"]


@dataclass(frozen=True)
class Window:
    """A square window of an image and the side a network sees it at.

    Args:
        box: the window (it may reach past the image; those pixels are zero in crops, dropped on paste).
        size: the network's input side.

    Example:
        >>> image = torch.rand(3, 300, 400); mask = torch.zeros(1, 300, 400); mask[:, 100:200, 150:250] = 1
        >>> win = Window.around(mask, 64, enlarge=1.5)
        >>> win.net(image).shape, win.full(image).shape
        (torch.Size([3, 64, 64]), torch.Size([3, 150, 150]))
    """

    box: SquareBox
    size: int

    @classmethod
    def around(cls, mask: Tensor, size: int, enlarge: float = 1.0) -> Window:
        """The square around ``mask``'s bounding box, ``enlarge`` times its longer side."""
        return cls(square_box(_bbox(mask), tuple(mask.shape[-2:]), enlarge), int(size))

    @classmethod
    def context(cls, mask: Tensor, size: int, area_factor: float = 3.0) -> Window:
        """PCNet's adaptive square around ``mask`` (:func:`~amodal_compose.ops.masks.context_square`)."""
        return cls(context_square(_bbox(mask), tuple(mask.shape[-2:]), area_factor), int(size))

    @classmethod
    def whole(cls, image_size: tuple[int, int], size: int) -> Window:
        """The square holding the whole image (its shorter side zero-padded)."""
        h, w = image_size
        return cls(square_box((0, 0, w, h), (h, w), 1.0), int(size))

    @property
    def side(self) -> int:
        return self.box.side

    def net(self, x: Tensor, mode: str = "image") -> Tensor:
        """The window at the network's side (``mode="mask"``: thresholded at 0.5)."""
        return crop_square(x, self.box, self.size, mode)

    def net_cut(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x`` cut by ``mask`` (hard or soft) at the network's side, the cut made there as training makes
        its crops: inside the resized mask (thresholded at 0.5) each pixel is the mean of ``x`` over the
        mask's share of it, not blended with the zeros outside the cut; zero elsewhere."""
        m = mask.to(x.dtype)
        num, den = self.net(x * m), self.net(m)
        keep = self.net(m, "mask") > 0
        return torch.where(keep, num / den.clamp_min(1e-6), torch.zeros_like(num)).clamp(0, 1)

    def full(self, x: Tensor) -> Tensor:
        """The window at full resolution (``(C, side, side)``, zero past the image)."""
        return crop_square(x, self.box)

    def paste(self, window: Tensor, canvas: Tensor) -> Tensor:
        """``canvas`` (copied) with the window's full-resolution content written back."""
        return paste_square(window, self.box, canvas)

    def layer(self, alpha: Tensor, guide: Tensor, obj: Tensor, transform: Tensor | None = None,
              rgb: Tensor | None = None, obj_net: Tensor | None = None) -> Tensor:  # fmt: skip
        """f_comp's RGBA layer at full resolution on the window, ``(4, side, side)``.

        Args:
            alpha: ``(1, s, s)`` the network's alpha.
            guide: ``(3, side, side)`` the full-resolution image whose edges the alpha follows (the
                object's source photo).
            obj: ``(3, side, side)`` the full-resolution object ``I_c`` the colour change applies to.
            transform: ``(12, s, s)`` the affine head's coefficients, or ``None`` with
            rgb, obj_net: the RGB head's ``I_out`` and the input it saw, ``(3, s, s)``: their difference
                (the colour change) is upsampled and added to ``obj``.
        """
        a = upsample_alpha(alpha, guide)
        if transform is not None:
            colour = apply_color_transform(transform, obj)
        elif rgb is not None and obj_net is not None:
            colour = (obj + upsample(rgb - obj_net, (self.side, self.side))).clamp(0, 1)
        else:
            raise ValueError("a layer needs the affine head's transform or the RGB head's rgb and obj_net")
        return torch.cat([colour, a])

    def mask(self, low: Tensor, guide: Tensor, frame: Tensor) -> Tensor:
        """A network's ``(1, s, s)`` mask as a binary mask of the image, the shape of ``frame``: upsampled
        along ``guide``'s edges (:func:`~amodal_compose.ops.fullres.upsample_alpha`), split at 0.5, zero
        outside the window."""
        up = (upsample_alpha(low, guide) > 0.5).to(frame.dtype)
        return self.paste(up, torch.zeros_like(frame))

    def blend(self, canvas: Tensor, layer: Tensor) -> Tensor:
        """``canvas`` with a full-resolution RGBA ``layer`` of the window alpha-blended in (AMICO, the
        equation after eq. 5); pixels where alpha is 0 keep their exact values."""
        below = self.full(canvas)
        a = layer[3:]
        mixed = torch.where(a > 0, a * layer[:3] + (1 - a) * below, below)
        return self.paste(mixed, canvas)

    def fill(self, image: Tensor, hole: Tensor, generated: Tensor, known: Tensor | None = None) -> Tensor:
        """``image`` with the network's ``generated`` window (``(3, s, s)``) upsampled into ``hole`` (full
        resolution, ``(1, H, W)``) only, its seam matched to the ``known`` pixels around the hole
        (default: every pixel outside it) by :func:`~amodal_compose.ops.fullres.seam_fill`."""
        fill = upsample(generated, (self.side, self.side))
        kw = None if known is None else self.full(known)
        hw = self.full(hole)
        out = seam_fill(self.full(image), hw, fill, kw)
        return self.paste(torch.where(hw > 0.5, out, self.full(image)), image)



def _bbox(mask: Tensor) -> Tensor:
    return bbox(mask[0] if mask.ndim == 3 else mask)
