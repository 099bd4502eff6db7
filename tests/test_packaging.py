import re
import subprocess
import sys
from pathlib import Path

import amodal_compose

SRC = Path(amodal_compose.__file__).parent


def test_import_and_version():
    assert amodal_compose.__version__
    assert {"Scene", "Instance", "Keys"} <= set(amodal_compose.__all__)


def test_console_script_exists():
    exe = Path(sys.executable).parent / "amodal-compose"
    assert exe.exists(), "the console script amodal-compose is not installed"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "data" in out.stdout and "demo" in out.stdout


def test_lightning_imported_one_way_only():
    """The package imports Lightning as pytorch_lightning only (lightning.pytorch is a separate class tree)."""
    bad = [
        p
        for p in SRC.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+lightning(\.|\s)", p.read_text(), re.M)
    ]
    assert not bad, f"lightning.pytorch imported in {bad}"


def test_layers_stay_clean():
    """ops and nets know nothing of data, Lightning or systems."""
    for sub in ("ops", "nets"):
        for p in (SRC / sub).rglob("*.py"):
            text = p.read_text()
            assert "pytorch_lightning" not in text, p
            assert not re.search(r"from \.\.(data|systems|pipeline)", text), p


def test_every_module_imports_without_the_optional_extras():
    """``pip install -e .`` without extras: wandb, timm, scikit-image and lpips absent, every module of the
    package still imports (each extra is imported where it is used), and the W&B logger says what to install."""
    code = r"""
import importlib, importlib.abc, pkgutil, sys
BLOCKED = {"wandb", "timm", "skimage", "lpips"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, Block())
import importlib.util
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in BLOCKED else real(name, *a)
import amodal_compose
names = [m.name for m in pkgutil.walk_packages(amodal_compose.__path__, "amodal_compose.")]
for name in names:
    importlib.import_module(name)
from amodal_compose.loggers import WandbLogger
try:
    WandbLogger()
except ModuleNotFoundError as err:
    assert "amodal_compose[wandb]" in str(err), err
else:
    raise AssertionError("the W&B logger started without wandb")
print(len(names))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip().splitlines()[-1]) > 40


def test_every_imported_package_is_declared():
    """Third-party packages the package imports are in pyproject's dependencies or an extra."""
    import tomllib

    meta = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())["project"]
    declared = " ".join(meta["dependencies"] + [d for ds in meta["optional-dependencies"].values() for d in ds])
    pip_name = {"cv2": "opencv-python-headless", "PIL": "pillow", "yaml": "pyyaml", "skimage": "scikit-image",
                "pytorch_lightning": "pytorch-lightning", "jsonargparse": "jsonargparse"}  # fmt: skip
    imported = set()
    for p in SRC.rglob("*.py"):
        for a, b in re.findall(r"^\s*(?:from\s+([A-Za-z_]\w*)[\w.]*\s+import\s|import\s+([A-Za-z_]\w*))", p.read_text(),
                               re.M):  # fmt: skip
            imported.add(a or b)
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in ("amodal_compose", "lpips")}
    missing = [m for m in sorted(third_party) if pip_name.get(m, m) not in declared]
    assert not missing, missing
