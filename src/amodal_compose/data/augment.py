"""Training-time augmentation through albumentations, applied to a scene's image and all its masks
(and layers and background) together, so every target stays aligned.

Geometric ops (flip, shift, scale) move every array; the colour jitter is applied with the same
parameters to the image, the background and every layer, so hidden content and the clean
background stay consistent with what is visible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..ops.convert import to_uint8_hwc  # noqa: E402
from ..structures import Instance, Scene  # noqa: E402

__all__ = ["AugmentConfig", "SceneAugment"]


@dataclass
class AugmentConfig:
    """Augmentation settings, one per DataModule (all off with ``enabled=False``).

    Args:
        enabled: master switch.
        hflip: probability of a horizontal flip.
        shift: max shift as a fraction of the side.
        scale: scale range.
        color_jitter: strength of brightness / contrast / saturation jitter (0 disables it); pixel-wise
            ops only, so image, layers and background change alike.
        hue: max hue shift (fraction of the hue circle).
        p_affine: probability of the shift-scale transform.
    """

    enabled: bool = True
    hflip: float = 0.5
    shift: float = 0.06
    scale: tuple[float, float] = (0.9, 1.1)
    color_jitter: float = 0.15
    hue: float = 0.03
    p_affine: float = 0.5


class SceneAugment:
    """Callable ``Scene -> Scene`` applying :class:`AugmentConfig` with albumentations.

    Args:
        config: the settings.
        seed: seed of albumentations' own random state, used when a call passes no ``seed``.
        max_instances: the most layers a scene may carry (each layer is an extra image target).

    A call ``augment(scene, seed=s)`` draws its parameters from ``s`` alone, so the result depends
    only on ``(scene, s)``, not on earlier calls or on the process (how training items are
    augmented: the seed comes from the item's draws). Each instance of the result carries
    ``meta["source_index"]``, its index in the input scene; instances moved wholly out of view are
    dropped.

    Example:
        >>> from amodal_compose.data.synthetic import generate_scene
        >>> aug = SceneAugment(AugmentConfig(hflip=1.0), seed=0)
        >>> out = aug(generate_scene(0, image_size=32))
    """

    def __init__(self, config: AugmentConfig | None = None, seed: int | None = None, max_instances: int = 64):
        self.config = config or AugmentConfig()
        c = self.config
        ops: list = []
        if c.hflip > 0:
            ops.append(A.HorizontalFlip(p=c.hflip))
        if c.p_affine > 0 and (c.shift > 0 or tuple(c.scale) != (1.0, 1.0)):
            ops.append(
                A.Affine(
                    scale=tuple(c.scale),
                    translate_percent={"x": (-c.shift, c.shift), "y": (-c.shift, c.shift)},
                    interpolation=1,
                    mask_interpolation=0,
                    border_mode=1,  # replicate the border for images; masks are cleared below
                    p=c.p_affine,
                )
            )
        if c.color_jitter > 0:
            # pixel-wise only (brightness by max, contrast as a gain): the same parameters give the same
            # change to a pixel whether it is seen in the image, a layer or the background
            j = c.color_jitter
            ops.append(
                A.RandomBrightnessContrast(
                    brightness_limit=j, contrast_limit=j, brightness_by_max=True, p=1.0
                )
            )
        if c.hue > 0 or c.color_jitter > 0:
            ops.append(
                A.HueSaturationValue(
                    hue_shift_limit=round(c.hue * 180),
                    sat_shift_limit=round(c.color_jitter * 100),
                    val_shift_limit=0,
                    p=1.0,
                )
            )
        targets = {"background": "image", **{f"layer{k}": "image" for k in range(max_instances)}}
        self.max_instances = max_instances
        self.transform = A.Compose(ops, additional_targets=targets, seed=seed)

    def __call__(self, scene: Scene, seed: int | None = None) -> Scene:
        if not self.config.enabled:
            return scene
        if seed is not None:
            self.transform.set_random_seed(int(seed))
        n = len(scene.instances)
        if n > self.max_instances:
            raise ValueError(
                f"scene has {n} instances; SceneAugment was built for at most {self.max_instances}"
            )
        h, w = scene.size
        inputs = {"image": to_uint8_hwc(scene.image)}
        if scene.background is not None:
            inputs["background"] = to_uint8_hwc(scene.background)
        masks = []
        for k, inst in enumerate(scene.instances):
            masks.append(inst.modal_mask[0].numpy().astype(np.uint8))
            masks.append(
                (inst.amodal_mask if inst.amodal_mask is not None else inst.modal_mask)[0]
                .numpy()
                .astype(np.uint8)
            )
            if inst.layer is not None:
                inputs[f"layer{k}"] = to_uint8_hwc(inst.layer)
        # a validity mask tells which pixels came from inside the frame (border replication is not content)
        masks.append(np.ones((h, w), np.uint8))
        out = self.transform(**inputs, masks=masks)

        def img(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0

        def msk(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).float()[None]

        valid = msk(out["masks"][-1])
        instances = []
        for k, inst in enumerate(scene.instances):
            modal = msk(out["masks"][2 * k]) * valid
            amodal = msk(out["masks"][2 * k + 1]) * valid if inst.amodal_mask is not None else None
            layer = (
                img(out[f"layer{k}"]) * (amodal if amodal is not None else modal)
                if inst.layer is not None
                else None
            )
            meta = {**inst.meta, "source_index": k}
            # the warped arrays follow the contract by construction ({0, 1} masks, [0, 1] images)
            instances.append(Instance.trusted(**{**vars(inst), "modal_mask": modal, "amodal_mask": amodal,
                                                 "layer": layer, "meta": meta}))  # fmt: skip
        keep = [k for k, i in enumerate(instances) if float(i.modal_mask.sum()) > 0]
        result = Scene.trusted(
            image=img(out["image"]),
            instances=instances,
            background=img(out["background"]) if scene.background is not None else None,
            order=scene.order,
            scene_id=scene.scene_id,
            meta={**scene.meta, "augmented": True},
        )
        if scene.order is not None and instances:
            # a shift can push an overlap out of the frame: re-derive who visibly occludes whom
            result.order = result.order_from_masks() if result.amodal_masks() is not None else scene.order
        # objects shifted fully out of view are dropped (with their rows of the order matrix)
        return result if len(keep) == n else result.with_instances(keep)
