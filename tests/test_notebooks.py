"""The quickstart notebook runs top to bottom (its code cells, in order, in one namespace)."""

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict = {}
    for i, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}[{i}]", "exec"), namespace)
    assert (tmp_path / "quickstart_out" / "scenes.png").is_file()
    for name in ("shape", "content", "compositor"):
        assert (tmp_path / "quickstart_out" / f"{name}.ckpt").is_file()
    assert (tmp_path / "quickstart_out" / "pipeline.png").is_file()
    assert namespace["source"].name == "quickstart_out"  # no demo checkpoints here: the notebook's own
    result = namespace["result"]
    assert result.image.shape == (3, 128, 128) and len(result.stages) == 2
