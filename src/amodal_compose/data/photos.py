"""Photographs that texture the synthetic world (``texture: photo | mixed``).

The photographs come from packages the registries ship, so nothing is downloaded at run time:
scikit-image's bundled ``skimage.data`` photos and scikit-learn's two sample images (``make install``
installs both through the ``[photos]`` extra). Each photo belongs to one split, so the train, val and
test scenes are textured by disjoint photos and test textures are never seen in training. The four
photos of the real-photo bench (astronaut, Chelsea, coffee, rocket) are test photos: neither training
nor the recipes' val choices see them. ``photo_set="bundled"`` uses three small crops that ship inside
this package (one per split; what ``make test`` uses). Sources and licences: ``docs/data.md``.

A texture is a random square window of a photo (a side of ``scale`` times the photo's shorter side, a
random mirror and quarter turn) resized with antialiasing. Colour photos get a random channel order;
grey photos are mapped onto a random two-colour ramp, so the few photos give many colourings.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..io import read_image
from ..ops.convert import as_image

__all__ = ["PHOTO_SETS", "PhotoBank", "PhotoSource", "photo_sources"]

#: where the photos come from: ``registry`` (installed packages) or ``bundled`` (tiny crops shipped here).
PHOTO_SETS = ("registry", "bundled")
_BUNDLED = Path(__file__).with_name("photos")
_MAX_SIDE = 512  # photos are kept at most this large (a 64-512 px world needs no more)


@dataclass(frozen=True)
class PhotoSource:
    """One photograph: its name, where it comes from, its licence and its split."""

    name: str
    split: str
    origin: str
    licence: str


#: the registry photos, by split (train, val and test disjoint).
REGISTRY: tuple[PhotoSource, ...] = (
    PhotoSource("china", "train", "sklearn/datasets/images/china.jpg", "CC BY 2.0 (danielbuechele, Flickr)"),
    PhotoSource("hubble_deep_field", "train", "skimage.data.hubble_deep_field", "public domain (NASA)"),
    PhotoSource("immunohistochemistry", "train", "skimage.data.immunohistochemistry",
                "no known copyright restrictions"),
    PhotoSource("retina", "train", "skimage.data.retina", "CC0 1.0 (Häggström, WikiJournal of Medicine)"),
    PhotoSource("brick", "train", "skimage.data.brick", "CC0 (CC0Textures, Bricks25)"),
    PhotoSource("grass", "train", "skimage.data.grass", "CC0 (CC0Textures)"),
    PhotoSource("gravel", "train", "skimage.data.gravel", "CC0 (CC0Textures, Gravel04)"),
    PhotoSource("camera", "train", "skimage.data.camera", "CC0 (Lav Varshney)"),
    PhotoSource("cell", "train", "skimage.data.cell", "CC0"),
    PhotoSource("clock", "train", "skimage.data.clock", "public domain (Stefan van der Walt)"),
    PhotoSource("flower", "val", "sklearn/datasets/images/flower.jpg", "CC BY 2.0 (vultilion, Flickr)"),
    PhotoSource("coins", "val", "skimage.data.coins", "no known copyright restrictions (Brooklyn Museum)"),
    PhotoSource("astronaut", "test", "skimage.data.astronaut", "public domain (NASA)"),
    PhotoSource("chelsea", "test", "skimage.data.chelsea", "CC0 (Stefan van der Walt)"),
    PhotoSource("coffee", "test", "skimage.data.coffee", "CC0 (Rachel Michetti)"),
    PhotoSource("rocket", "test", "skimage.data.rocket", "public domain (SpaceX)"),
)

#: the bundled crops (``src/amodal_compose/data/photos/<name>.png``), one per split.
BUNDLED: tuple[PhotoSource, ...] = (
    PhotoSource("retina_crop", "train", "skimage.data.retina, a 48 px crop", "CC0 1.0 (Häggström)"),
    PhotoSource("ihc_crop", "val", "skimage.data.immunohistochemistry, a 48 px crop",
                "no known copyright restrictions"),
    PhotoSource("coffee_crop", "test", "skimage.data.coffee, a 48 px crop", "CC0 (Rachel Michetti)"),
)


def photo_sources(photo_set: str = "registry", split: str | None = None) -> tuple[PhotoSource, ...]:
    """The photos of ``photo_set`` (of one ``split`` when given)."""
    if photo_set not in PHOTO_SETS:
        raise ValueError(f"photo_set must be one of {list(PHOTO_SETS)}, got {photo_set!r}")
    sources = REGISTRY if photo_set == "registry" else BUNDLED
    return tuple(s for s in sources if split is None or s.split == split)


def _read_registry(source: PhotoSource) -> Tensor:
    if source.origin.startswith("skimage.data."):
        try:
            import skimage.data
        except ImportError as err:
            raise ImportError(
                "texture 'photo' reads scikit-image's bundled photos: pip install 'amodal_compose[photos]'"
            ) from err
        return as_image(np.asarray(getattr(skimage.data, source.origin.rsplit(".", 1)[1])()), source.name)
    package, rel = source.origin.split("/", 1)
    spec = importlib.util.find_spec(package)  # read the file without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"texture 'photo' reads {source.origin}: pip install 'amodal_compose[photos]'")
    return read_image(Path(next(iter(spec.submodule_search_locations))) / rel)


@cache
def _load(photo_set: str, name: str) -> tuple[Tensor, bool]:
    """Photo ``name`` as a float ``(3, H, W)`` tensor in [0, 1] (at most ``_MAX_SIDE`` px) and whether
    it is grey."""
    source = next((s for s in photo_sources(photo_set) if s.name == name), None)
    if source is None:
        raise KeyError(f"no photo {name!r} in the {photo_set!r} set")
    image = read_image(_BUNDLED / f"{name}.png") if photo_set == "bundled" else _read_registry(source)
    grey = bool(torch.equal(image[0], image[1]) and torch.equal(image[1], image[2]))
    image = image[:1] if grey else image
    scale = _MAX_SIDE / max(image.shape[-2:])
    if scale < 1:
        size = (round(image.shape[-2] * scale), round(image.shape[-1] * scale))
        image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    return image.clamp(0, 1).contiguous(), grey


class PhotoBank:
    """Random textures cut from the photos of one split.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``: whose photos.
        photo_set: ``"registry"`` (the installed packages' photos) or ``"bundled"`` (tiny crops).
        scale: the window's side as a share of the photo's shorter side, drawn from this range.

    Example:
        >>> bank = PhotoBank("val", photo_set="bundled")
        >>> tex = bank.texture(torch.Generator().manual_seed(0), 32, lambda g: torch.rand(3, generator=g))
        >>> tex.shape
        torch.Size([3, 32, 32])
    """

    def __init__(self, split: str, photo_set: str = "registry", scale: tuple[float, float] = (0.25, 0.7)) -> None:
        self.sources = photo_sources(photo_set, split)
        if not self.sources:
            raise ValueError(f"no {photo_set!r} photos for split {split!r}")
        self.split, self.photo_set, self.scale = split, photo_set, (float(scale[0]), float(scale[1]))
        self.photos = [_load(photo_set, s.name) for s in self.sources]

    def texture(self, g: torch.Generator, size: int, colour) -> Tensor:
        """A ``(3, size, size)`` texture in [0, 1]; ``colour(g)`` gives the ramp colours of grey photos."""
        image, grey = self.photos[int(torch.randint(len(self.photos), (1,), generator=g))]
        h, w = image.shape[-2:]
        lo, hi = self.scale
        side = max(2, round((lo + (hi - lo) * float(torch.rand((), generator=g))) * min(h, w)))
        y = int(torch.randint(h - side + 1, (1,), generator=g))
        x = int(torch.randint(w - side + 1, (1,), generator=g))
        window = image[:, y : y + side, x : x + side]
        window = torch.rot90(window, int(torch.randint(4, (1,), generator=g)), dims=(-2, -1))
        if bool(torch.rand((), generator=g) < 0.5):
            window = window.flip(-1)
        tex = F.interpolate(window[None], size=(size, size), mode="bilinear", antialias=side > size,
                            align_corners=False)[0].clamp(0, 1)  # fmt: skip
        if grey:
            c1, c2 = colour(g), colour(g)
            return c1[:, None, None] * (1 - tex) + c2[:, None, None] * tex
        return tex[torch.randperm(3, generator=g)]
