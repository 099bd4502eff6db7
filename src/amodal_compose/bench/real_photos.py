"""Task ``real_photos``: composition on real photographs at full resolution.

The photographs are the public-domain / CC0 ones scikit-image ships (``skimage.data``; licences in
``docs/data.md``), the objects hand-drawn polygons (``real_photos.json`` beside this module). Each object
is put back onto its own photo, over the photo's completed background (Telea inpainting of the object,
as AMICO eq. 5's ``I_bg``), in two conditions:

* ``unchanged``: the object as it is, cut with its exact outline: the right answer is the input;
* ``eq5_change``: the whole photo recoloured towards another photo (AMICO eq. 5's Reinhard colour
  transfer, as the compositor is trained), the object cut with a ring of ``ring_px`` pixels.

Scored on the object's pixels against the photo (PSNR): f_comp as AMICO Algorithm 1 writes it (the
network's RGBA at its 64 px pasted back, upsampled), f_comp through the pipeline's full-resolution edits
(:class:`~amodal_compose.pipeline.window.Window`), cut-and-paste and Poisson blending; and the seconds
per compose at full resolution. The compositor is the ``composition`` task's recipe, trained per seed
(shared with that task within one bench run). Recipe: ``lightning_configs/bench/real_photos.yaml``.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..baselines import composite_cut_and_paste, composite_poisson
from ..data.occlusion import random_color_change
from ..data.readers import decode_segmentation
from ..metrics import perceptual_metrics, psnr
from ..ops.classic import telea_inpaint
from ..ops.convert import as_image
from ..ops.fullres import upsample
from ..ops.masks import dilate
from ..pipeline import ComposeInstance, Pipeline
from ..pipeline.window import Window
from .runner import BenchContext, Task, aggregate, read_recipe

__all__ = ["Photo", "load_photos", "paste_network_layer", "fit_scale", "TASK"]

#: the polygon fixtures and the photos' sources and licences.
POLYGONS = Path(__file__).with_name("real_photos.json")

#: the methods' row names.
NETWORK = "f_comp, network RGBA pasted (AMICO Alg. 1)"
FULL = "f_comp, full-resolution edits"


class Photo:
    """A photograph and its objects' masks (``{name: (1, H, W)}``)."""

    def __init__(self, name: str, image: Tensor, masks: dict[str, Tensor], licence: str) -> None:
        self.name, self.image, self.masks, self.licence = name, image, masks, licence


def load_photos(path: str | Path = POLYGONS) -> list[Photo]:
    """The photographs of ``path`` (a JSON of ``skimage.data`` photo names, sources, licences and object
    polygons) with their object masks.

    Raises:
        ModuleNotFoundError: scikit-image is not installed (``pip install -e .[photos]``; ``make`` does it).
    """
    try:
        import skimage.data
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "the real-photo bench reads the photographs scikit-image ships: pip install -e '.[photos]' "
            "(make install does)"
        ) from err
    spec = json.loads(Path(path).read_text())
    photos = []
    for name, entry in spec["photos"].items():
        image = as_image(np.ascontiguousarray(getattr(skimage.data, name)()), name)
        h, w = image.shape[-2:]
        masks = {obj: torch.from_numpy(decode_segmentation([poly], h, w)).float()[None]
                 for obj, poly in entry["objects"].items()}  # fmt: skip
        photos.append(Photo(name, image, masks, entry["licence"]))
    return photos


def paste_network_layer(pipe: Pipeline, background: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """AMICO Algorithm 1 as written: f_comp's RGBA on the object's crop at the network's side (the cut made
    there, as training makes it), pasted back upsampled (RGB and alpha), and blended: what the pipeline did
    before its full-resolution edits."""
    system = pipe.components["compositor"]
    win = Window.around(mask, pipe.input_sizes["compositor"], pipe.enlarge["compositor"])
    out = pipe.run(system.compose, win.net(background)[None], win.net_cut(image, mask)[None])
    rgb = win.paste(upsample(out["rgb"][0], win.side), torch.zeros_like(background))
    alpha = win.paste(upsample(out["alpha"][0], win.side), torch.zeros_like(mask))
    return alpha * rgb + (1 - alpha) * background


class RealPhotosTask(Task):
    def run(self, ctx: BenchContext) -> list[dict]:
        recipe = read_recipe(ctx.recipes / self.recipe)
        ring = int(recipe.get("ring_px", 6))
        photos = load_photos()
        per_seed, steps, size = [], 0, 64
        perceptual, reasons = perceptual_metrics()  # LPIPS only where its weights are already here
        for reason in reasons.values():
            ctx.log(f"[bench] real_photos: {reason}")
        for seed in range(ctx.seeds):
            run = ctx.trained(ctx.recipes / recipe["compositor"], seed, test=False)
            steps, size = run.steps, int(run.datamodule.hparams.get("crop_size", 64))
            system = copy.deepcopy(run.system)
            pipe = Pipeline(compositor=system, input_sizes={"compositor": size})
            scores: dict[tuple[str, str], list[float]] = {}
            seconds: dict[str, list[float]] = {FULL: [], NETWORK: []}
            figure: dict[str, Tensor] = {}
            for p, photo in enumerate(photos):
                other = photos[(p + 1) % len(photos)]
                reference = other.image
                recoloured = random_color_change(photo.image, reference, "reinhard", seed, 1.0)
                for obj, mask in photo.masks.items():
                    bg = telea_inpaint(photo.image, dilate(mask, 1))
                    for condition, image, cut in (("unchanged", photo.image, mask),
                                                  ("eq5_change", recoloured, dilate(mask, ring))):  # fmt: skip
                        t0 = time.perf_counter()
                        full = pipe.compose(bg, [ComposeInstance(image, cut, occluded=False)]).image
                        seconds[FULL].append(time.perf_counter() - t0)
                        t0 = time.perf_counter()
                        network = paste_network_layer(pipe, bg, image, cut)
                        seconds[NETWORK].append(time.perf_counter() - t0)
                        preds = {
                            NETWORK: network, FULL: full,
                            "cut_and_paste": composite_cut_and_paste(bg[None], (image * cut)[None], cut[None])[0],
                            "poisson": composite_poisson(bg[None], (image * cut)[None], cut[None])[0],
                        }  # fmt: skip
                        for method, pred in preds.items():
                            value = float(psnr(pred[None].clamp(0, 1), photo.image[None], mask[None])[0])
                            scores.setdefault((method, f"psnr/object/{condition}"), []).append(value)
                            if "lpips" in perceptual:  # on the object's box
                                y0, x0, y1, x1 = _box(mask)
                                lp = perceptual["lpips"](pred[None, :, y0:y1, x0:x1].clamp(0, 1),
                                                         photo.image[None, :, y0:y1, x0:x1])  # fmt: skip
                                scores.setdefault((method, f"lpips/object/{condition}"), []).append(float(lp))
                        if seed == 0 and (photo.name, obj, condition) == FIGURE:
                            figure = {"input": image * cut + bg * (1 - cut), **preds, "photo": photo.image}
                    # onto another photo (no ground truth: timed, and shown when it is the figure's)
                    t0 = time.perf_counter()
                    centre = (other.image.shape[-1] / 2, other.image.shape[-2] / 2)
                    placed = ComposeInstance(recoloured, dilate(mask, ring), centre, fit_scale(mask, other.image),
                                             occluded=False)  # fmt: skip
                    pipe.compose(other.image, [placed])
                    seconds[FULL].append(time.perf_counter() - t0)
                    ctx.log(f"[bench] real_photos seed {seed}: {photo.name}/{obj} "
                            f"{tuple(photo.image.shape[-2:])}: " + ", ".join(
                                f"{m} {v[-1]:.1f}" for (m, k), v in scores.items() if k.endswith("eq5_change")))
            values = {key: statistics.fmean(v) for key, v in scores.items()}
            for method, runs in seconds.items():
                values[(method, "seconds_per_compose")] = statistics.median(runs)
            values[("photos", "objects")] = float(sum(len(p.masks) for p in photos))
            per_seed.append(values)
            if seed == 0 and figure and ctx.figures is not None:
                path = _write_figure(figure, FIGURE, ctx.figures / "real_photos.png")
                ctx.log(f"[bench] real_photos: wrote {path}")
        return aggregate(self.name, per_seed, "photos", steps, size)


#: the object and condition the figure shows (first seed).
FIGURE = ("coffee", "cup", "eq5_change")


def _box(mask: Tensor) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` of a mask's pixels."""
    ys, xs = torch.nonzero(mask[0] > 0.5, as_tuple=True)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def fit_scale(mask: Tensor, background: Tensor) -> float:
    """A scale that makes the object's box at most 60 % of the background's shorter side (at most 1)."""
    ys, xs = torch.nonzero(mask[0], as_tuple=True)
    extent = max(int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1)
    return min(1.0, 0.6 * min(background.shape[-2:]) / extent)


def _write_figure(images: dict[str, Tensor], what: tuple[str, str, str], path: Path) -> Path:
    """The figure's panels side by side, each captioned, at the photo's resolution."""
    import cv2

    from ..io import write_png
    from ..ops.convert import to_uint8_hwc
    from ..ops.grid import tile

    tiles = []
    for name, image in images.items():
        arr = np.ascontiguousarray(to_uint8_hwc(image.clamp(0, 1)))
        caption = {"input": f"{what[0]}/{what[1]}: {what[2]} input"}.get(name, name)
        cv2.rectangle(arr, (0, 0), (arr.shape[1], 18), (255, 255, 255), -1)
        cv2.putText(arr, caption[:60], (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(arr)
    return write_png(path, tile(tiles, cols=3))


TASK = RealPhotosTask("real_photos", "real_photos.yaml", aliases=("real",))
