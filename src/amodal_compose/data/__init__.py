"""Data: the synthetic generator, real-data readers, occlusion simulators, datasets, augmentation."""

from .jobs import composition_jobs
from .synthetic import CATEGORIES, SyntheticConfig, SyntheticSceneGenerator, generate_scene

__all__ = ["CATEGORIES", "SyntheticConfig", "SyntheticSceneGenerator", "composition_jobs", "generate_scene"]
