"""Data: the synthetic generator, real-data readers, occlusion simulators, datasets, augmentation."""

from .synthetic import CATEGORIES, SyntheticConfig, SyntheticSceneGenerator, generate_scene

__all__ = ["CATEGORIES", "SyntheticConfig", "SyntheticSceneGenerator", "generate_scene"]
