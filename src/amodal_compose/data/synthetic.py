"""Procedural synthetic scenes with full ground truth (the embedded default data set).

Every scene is reproducible from its integer seed, at any size from 32 to 512 px. A scene is a
textured background under a scene-level illumination (colour cast and brightness shared by the
background and every object, varying between scenes) with 1-``max_objects`` objects layered
back-to-front. Each object has a category with a distinct, mostly non-convex silhouette (so a
convex hull is a poor amodal guess), a structured texture in its own coordinate frame (stripes,
gradient, checkers or blobs; so hidden content is predictable from visible content), and a mild
per-object colour variation. With ``texture="photo"`` the background and every object are textured by
windows of real photographs instead (:mod:`~amodal_compose.data.photos`; disjoint photos per split),
``"mixed"`` draws each of them from either; the geometry (categories, silhouettes, placements, order)
of a seed is the same for every texture. For every object the generator keeps the modal mask, the amodal mask,
the full RGB layer and the category; for the scene the clean background and the occlusion graph.

Objects are placed so that occlusion ratios cover the whole range from none to heavy: a new
object lands near an existing one with probability ``cluster_prob`` and anywhere otherwise, and a
placement is rejected if it would leave any object with less than ``min_visible`` of its area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..structures import Instance, Scene
from .photos import PHOTO_SETS, PhotoBank

__all__ = ["CATEGORIES", "TEXTURE_MODES", "SyntheticConfig", "SyntheticSceneGenerator", "generate_scene"]

#: category names; the index in this tuple is the category id.
CATEGORIES: tuple[str, ...] = ("ell", "crescent", "star", "car", "person", "cross", "arrow")
TEXTURES: tuple[str, ...] = ("stripes", "gradient", "checker", "blobs")
#: what textures a scene: procedural patterns, photographs, or either per object.
TEXTURE_MODES: tuple[str, ...] = ("procedural", "photo", "mixed")
# categories with a natural "up": only small rotations
_UPRIGHT = {"car", "person"}


@dataclass
class SyntheticConfig:
    """Generator settings.

    Args:
        image_size: side of the square image, 32-512 px.
        min_objects: fewest objects a scene tries to hold (placements that fail are skipped).
        max_objects: most objects.
        size_range: object half-extent as a fraction of the image side.
        cluster_prob: probability that a new object is placed next to an existing one (occlusion).
        min_visible: smallest visible share of any object's amodal area that is accepted.
        min_inside: smallest share of an object's full silhouette that must lie inside the frame.
        categories: category names to draw from (a subset of :data:`CATEGORIES`).
        illumination: apply the scene-level colour cast and brightness.
        cast_strength: max per-channel colour cast (gain in ``[1 - s, 1 + s]``).
        brightness_range: scene brightness gain range.
        object_jitter: std of the per-object, per-channel gain variation.
        texture: ``"procedural"`` (stripes, gradients, checkers, blobs), ``"photo"`` (windows of real
            photographs) or ``"mixed"`` (each object and the background either, with equal odds).
        photo_set: ``"registry"`` (photos of the installed packages) or ``"bundled"`` (tiny crops).
        photo_split: whose photos texture the scenes: ``"train"``, ``"val"`` or ``"test"``.
    """

    image_size: int = 64
    min_objects: int = 2
    max_objects: int = 5
    size_range: tuple[float, float] = (0.16, 0.32)
    cluster_prob: float = 0.75
    min_visible: float = 0.1
    min_inside: float = 0.7
    categories: tuple[str, ...] = CATEGORIES
    illumination: bool = True
    cast_strength: float = 0.25
    brightness_range: tuple[float, float] = (0.65, 1.15)
    object_jitter: float = 0.04
    placement_tries: int = 12
    texture: str = "procedural"
    photo_set: str = "registry"
    photo_split: str = "train"

    def __post_init__(self) -> None:
        if not 16 <= int(self.image_size) <= 1024:
            raise ValueError(f"image_size must be in [16, 1024], got {self.image_size}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}"
            )
        unknown = set(self.categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}; choose from {CATEGORIES}")
        if not 0.0 <= self.min_visible < 1.0:
            raise ValueError(f"min_visible must be in [0, 1), got {self.min_visible}")
        check_texture(self.texture, self.photo_set)
        if self.photo_split not in ("train", "val", "test"):
            raise ValueError(f"photo_split must be 'train', 'val' or 'test', got {self.photo_split!r}")
        self.categories = tuple(self.categories)
        self.size_range = tuple(self.size_range)
        self.brightness_range = tuple(self.brightness_range)


def check_texture(texture: str, photo_set: str = "registry") -> None:
    """Raise ``ValueError`` unless ``texture`` is one of :data:`TEXTURE_MODES` and ``photo_set`` one of
    :data:`~amodal_compose.data.photos.PHOTO_SETS`."""
    if texture not in TEXTURE_MODES:
        raise ValueError(f"texture must be one of {list(TEXTURE_MODES)}, got {texture!r}")
    if photo_set not in PHOTO_SETS:
        raise ValueError(f"photo_set must be one of {list(PHOTO_SETS)}, got {photo_set!r}")


# ----------------------------------------------------------------------------- random helpers
def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0, n: int | tuple = ()) -> Tensor:
    shape = (n,) if isinstance(n, int) else n
    return lo + (hi - lo) * torch.rand(shape, generator=g)


def _uf(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return float(_u(g, lo, hi))


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in ``[lo, hi]``."""
    return int(torch.randint(lo, hi + 1, (1,), generator=g))


def _random_colour(g: torch.Generator, saturated: bool = True) -> Tensor:
    """An RGB colour; saturated colours for objects, muted ones for backgrounds."""
    hue = _uf(g)
    sat = _uf(g, 0.55, 0.95) if saturated else _uf(g, 0.1, 0.35)
    val = _uf(g, 0.55, 0.95) if saturated else _uf(g, 0.35, 0.75)
    k = torch.tensor([5.0, 3.0, 1.0])
    kk = (k + hue * 6.0) % 6.0
    rgb = val - val * sat * torch.clamp(torch.minimum(kk, 4.0 - kk), 0.0, 1.0)
    return rgb


# ----------------------------------------------------------------------------- shapes
def _local_coords(
    dx: Tensor, dy: Tensor, radius: float, theta: float, aspect: tuple[float, float], mirror: bool
) -> tuple[Tensor, Tensor]:
    """Object-frame coordinates ``(u, v)`` (~[-1, 1] over the silhouette) of pixel offsets ``(dx, dy)``
    from the object centre, for a rotation ``theta``, per-axis ``aspect`` and an optional mirror."""
    c, s = math.cos(theta), math.sin(theta)
    u = (c * dx + s * dy) / (radius * aspect[0])
    v = (-s * dx + c * dy) / (radius * aspect[1])
    return (-u if mirror else u), v


def _shape(name: str, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Silhouette and "part" region (drawn darker) of a category in local coordinates ~[-1, 1].

    ``v`` points down. Returns two bool tensors of ``u``'s shape.
    """
    none = torch.zeros_like(u, dtype=torch.bool)
    if name == "ell":
        vert = (u >= -0.75) & (u <= -0.2) & (v >= -0.9) & (v <= 0.9)
        horiz = (u >= -0.75) & (u <= 0.75) & (v >= 0.35) & (v <= 0.9)
        return vert | horiz, none
    if name == "crescent":
        outer = u**2 + v**2 <= 0.9**2
        inner = (u - 0.42) ** 2 + (v + 0.05) ** 2 <= 0.72**2
        return outer & ~inner, none
    if name == "star":
        r = torch.sqrt(u**2 + v**2)
        theta = torch.atan2(v, u)
        edge = 0.38 + 0.55 * ((1.0 + torch.cos(5.0 * theta)) / 2.0) ** 2
        return r <= edge, none
    if name == "car":
        body = (u.abs() <= 0.92) & (v >= -0.12) & (v <= 0.35)
        t = ((-0.12 - v) / 0.4).clamp(0, 1)
        cabin = (v >= -0.52) & (v <= -0.12) & (u >= -0.55 + 0.2 * t) & (u <= 0.4 - 0.25 * t)
        wheels = ((u - 0.52) ** 2 + (v - 0.38) ** 2 <= 0.21**2) | (
            (u + 0.52) ** 2 + (v - 0.38) ** 2 <= 0.21**2
        )
        return body | cabin | wheels, wheels
    if name == "person":
        head = u**2 + (v + 0.72) ** 2 <= 0.2**2
        torso = (u.abs() <= 0.27) & (v >= -0.5) & (v <= 0.22)
        arms = (u.abs() <= 0.62) & (v >= -0.48) & (v <= -0.32)
        legs = (u.abs() >= 0.05) & (u.abs() <= 0.26) & (v >= 0.18) & (v <= 0.95)
        return head | torso | arms | legs, head
    if name == "cross":
        return ((u.abs() <= 0.24) & (v.abs() <= 0.88)) | ((v.abs() <= 0.24) & (u.abs() <= 0.88)), none
    if name == "arrow":
        shaft = (v.abs() <= 0.17) & (u >= -0.9) & (u <= 0.15)
        head = (u >= 0.15) & (u <= 0.9) & (v.abs() <= 0.62 * (0.9 - u) / 0.75)
        return shaft | head, none
    raise ValueError(f"unknown category {name!r}")


# ----------------------------------------------------------------------------- textures
def _smooth_noise(g: torch.Generator, size: int, cells: int, channels: int = 1) -> Tensor:
    """A smooth random field in [0, 1] of shape ``(channels, size, size)``."""
    coarse = torch.rand((1, channels, cells, cells), generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0].clamp(0, 1)


def _texture_weight(g: torch.Generator, kind: str, u: Tensor, v: Tensor) -> Tensor:
    """Mixing weight in [0, 1] between an object's two colours, a function of local coordinates."""
    phi = _uf(g, 0, math.pi)
    proj = u * math.cos(phi) + v * math.sin(phi)
    if kind == "stripes":
        freq = _uf(g, 1.2, 2.6)
        return torch.sigmoid(6.0 * torch.sin(2 * math.pi * freq * proj + _uf(g, 0, 2 * math.pi)))
    if kind == "gradient":
        return ((proj + 1.0) / 2.0).clamp(0, 1)
    if kind == "checker":
        f = _uf(g, 1.5, 3.0)
        cu, cv = torch.floor((u + 2.0) * f), torch.floor((v + 2.0) * f)
        return ((cu + cv) % 2).float()
    if kind == "blobs":
        w = torch.zeros_like(u)
        for _ in range(3):
            cx, cy, s = _uf(g, -0.7, 0.7), _uf(g, -0.7, 0.7), _uf(g, 0.25, 0.5)
            w = w + torch.exp(-((u - cx) ** 2 + (v - cy) ** 2) / (2 * s * s))
        return w.clamp(0, 1)
    raise ValueError(f"unknown texture {kind!r}")


def _background(g: torch.Generator, size: int) -> Tensor:
    """A muted textured background: gradient plus low-frequency noise, sometimes faint stripes."""
    c1, c2 = _random_colour(g, saturated=False), _random_colour(g, saturated=False)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    phi = _uf(g, 0, 2 * math.pi)
    grad = ((xs * math.cos(phi) + ys * math.sin(phi)) + 1) / 2
    noise = _smooth_noise(g, size, cells=_randint(g, 3, 6))[0]
    w = (0.5 * grad + 0.5 * noise).clamp(0, 1)
    bg = c1[:, None, None] * (1 - w) + c2[:, None, None] * w
    if _uf(g) < 0.4:  # faint stripes, e.g. a floor or wallpaper
        f = _uf(g, 3, 8)
        stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * f * (xs * math.sin(phi) - ys * math.cos(phi)) / 2)
        bg = bg * (0.9 + 0.1 * stripes)
    return bg.clamp(0, 1)


# ----------------------------------------------------------------------------- generator
@dataclass
class _Object:
    category: int
    amodal: Tensor  # (H, W) bool
    layer: Tensor  # (3, H, W)
    center: tuple[float, float]
    radius: float
    part: Tensor  # (H, W) bool: the darker part (wheels, head)
    meta: dict = field(default_factory=dict)


class SyntheticSceneGenerator:
    """Renders :class:`~amodal_compose.structures.Scene` objects from integer seeds.

    Args:
        config: :class:`SyntheticConfig`; keyword arguments override its fields.

    Example:
        >>> gen = SyntheticSceneGenerator(image_size=32)
        >>> scene = gen(7)
        >>> scene.image.shape, scene.order.shape[0] == len(scene.instances)
        (torch.Size([3, 32, 32]), True)
    """

    def __init__(self, config: SyntheticConfig | None = None, **overrides) -> None:
        base = config or SyntheticConfig()
        if overrides:
            base = SyntheticConfig(**{**base.__dict__, **overrides})
        self.config = base
        size = base.image_size
        ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
        self._xs, self._ys = xs, ys
        self._bank: PhotoBank | None = None

    @property
    def categories(self) -> tuple[str, ...]:
        return CATEGORIES

    def __call__(self, seed: int) -> Scene:
        return self.generate(seed)

    def _render_object(self, g: torch.Generator, center: tuple[float, float], radius: float) -> _Object:
        cfg = self.config
        name = cfg.categories[_randint(g, 0, len(cfg.categories) - 1)]
        theta = _uf(g, -0.25, 0.25) if name in _UPRIGHT else _uf(g, 0, 2 * math.pi)
        ax, ay = _uf(g, 0.85, 1.15), _uf(g, 0.85, 1.15)
        mirror = _uf(g) < 0.5
        u, v = _local_coords(self._xs - center[0], self._ys - center[1], radius, theta, (ax, ay), mirror)
        mask, part = _shape(name, u, v)
        kind = TEXTURES[_randint(g, 0, len(TEXTURES) - 1)]
        c1 = _random_colour(g)
        c2 = _random_colour(g)
        if float((c1 - c2).abs().sum()) < 0.5:  # keep the two colours of a texture apart
            c2 = 1.0 - c1
        w = _texture_weight(g, kind, u, v)
        layer = c1[:, None, None] * (1 - w) + c2[:, None, None] * w
        layer = torch.where(part[None], layer * 0.35, layer)  # wheels, head: a darker part
        return _Object(
            category=CATEGORIES.index(name),
            amodal=mask,
            layer=layer,
            center=center,
            radius=radius,
            part=part,
            meta={"texture": kind, "rotation": theta, "mirror": mirror, "aspect": (ax, ay)},
        )

    def _visible_ok(self, objects: list[_Object], new: Tensor) -> bool:
        """Would every existing object keep ``min_visible`` of its amodal area with ``new`` in front?"""
        cover = new.clone()
        for obj in reversed(objects):
            area = float(obj.amodal.sum())
            vis = float((obj.amodal & ~cover).sum())
            if area == 0 or vis / area < self.config.min_visible or vis < 4:
                return False
            cover |= obj.amodal
        return True

    def generate(self, seed: int) -> Scene:
        """Render the scene of ``seed``: the same seed always gives the same scene."""
        cfg = self.config
        size = cfg.image_size
        g = torch.Generator().manual_seed(int(seed))
        background = _background(g, size)
        n_target = _randint(g, cfg.min_objects, cfg.max_objects)
        objects: list[_Object] = []
        for _ in range(n_target):
            for _try in range(cfg.placement_tries):
                radius = _uf(g, *cfg.size_range) * size
                if objects and _uf(g) < cfg.cluster_prob:
                    anchor = objects[_randint(g, 0, len(objects) - 1)]
                    ang = _uf(g, 0, 2 * math.pi)
                    dist = _uf(g, 0.15, 1.15) * (anchor.radius + radius)
                    center = (
                        anchor.center[0] + dist * math.cos(ang),
                        anchor.center[1] + dist * math.sin(ang),
                    )
                else:
                    center = (_uf(g, 0.15, 0.85) * size, _uf(g, 0.15, 0.85) * size)
                obj = self._render_object(g, center, radius)
                full = self._full_area(obj, radius)
                inside = float(obj.amodal.sum())
                if inside < 6 or inside / max(full, 1.0) < cfg.min_inside:
                    continue
                if self._visible_ok(objects, obj.amodal):
                    objects.append(obj)
                    break

        if cfg.texture != "procedural":
            background = self._photo_textures(seed, background, objects)
        # illumination: one cast and brightness for the scene, a mild jitter per object
        if cfg.illumination:
            cast = 1.0 + _u(g, -cfg.cast_strength, cfg.cast_strength, 3)
            gain = (cast / cast.mean()) * _uf(g, *cfg.brightness_range)
        else:
            gain = torch.ones(3)
        background = (background * gain[:, None, None]).clamp(0, 1)
        image = background.clone()
        cover = torch.zeros(size, size, dtype=torch.bool)
        modal = []
        for obj in reversed(objects):  # front to back for visibility
            modal.append(obj.amodal & ~cover)
            cover |= obj.amodal
        modal.reverse()
        instances = []
        for depth, obj in enumerate(objects):
            jitter = (
                1.0 + torch.randn(3, generator=g) * cfg.object_jitter if cfg.illumination else torch.ones(3)
            )
            layer = (obj.layer * (gain * jitter)[:, None, None]).clamp(0, 1) * obj.amodal[None]
            image = torch.where(obj.amodal[None], layer, image)
            instances.append(
                Instance(
                    modal_mask=modal[depth][None].float(),
                    amodal_mask=obj.amodal[None].float(),
                    layer=layer,
                    category=obj.category,
                    depth=depth,
                    meta=dict(obj.meta),
                )
            )
        scene = Scene(
            image=image,
            instances=instances,
            background=background,
            scene_id=int(seed),
            meta={"illumination_gain": gain.tolist(), "source": "synthetic"},
        )
        scene.order = scene.order_from_masks()
        return scene

    def _photo_textures(self, seed: int, background: Tensor, objects: list[_Object]) -> Tensor:
        """Texture the background and the placed objects with photo windows (all of them for
        ``"photo"``, each with odds 1/2 for ``"mixed"``), drawn from a stream of their own so that the
        scene's geometry does not depend on the texture."""
        cfg = self.config
        if self._bank is None:
            self._bank = PhotoBank(cfg.photo_split, cfg.photo_set)
        g = torch.Generator().manual_seed((int(seed) * 0x9E3779B1 + 0x5EED) % (2**63 - 1))

        def pick() -> bool:
            return cfg.texture == "photo" or _uf(g) < 0.5

        if pick():
            background = self._bank.texture(g, cfg.image_size, lambda q: _random_colour(q, saturated=False))
        for obj in objects:
            if pick():
                tex = self._bank.texture(g, cfg.image_size, _random_colour)
                obj.layer = torch.where(obj.part[None], tex * 0.35, tex)
                obj.meta["texture"] = "photo"
        return background

    @staticmethod
    def _full_area(obj: _Object, radius: float) -> float:
        """Area the silhouette would have on an unbounded canvas, measured on a centred reference grid."""
        ref, n = 40.0, 128
        ys, xs = torch.meshgrid(torch.arange(n) + 0.5 - n / 2, torch.arange(n) + 0.5 - n / 2, indexing="ij")
        m = obj.meta
        u, v = _local_coords(xs, ys, ref, m["rotation"], m["aspect"], m["mirror"])
        mask, _ = _shape(CATEGORIES[obj.category], u, v)
        return float(mask.sum()) / ref**2 * radius**2


def generate_scene(seed: int, image_size: int = 64, **config) -> Scene:
    """Convenience: render one synthetic scene. See :class:`SyntheticConfig` for ``config``."""
    return SyntheticSceneGenerator(SyntheticConfig(image_size=image_size, **config))(seed)
