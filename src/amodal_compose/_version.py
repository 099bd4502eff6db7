"""The package version, in one place (pyproject reads it; checkpoints and manifests record it)."""

__version__ = "0.1.0"
