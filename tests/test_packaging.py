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
