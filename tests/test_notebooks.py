"""The quickstart notebook: it runs top to bottom from the repository root and from ``notebooks/``, finds
``runs/demo`` from either, and its committed outputs (text and figures, so a code host shows them) are
what a run produces now. ``UPDATE_NOTEBOOK=1 pytest tests/test_notebooks.py`` rewrites the outputs."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def execute(notebook: dict, cwd: Path) -> list[list[dict]]:
    """Run the code cells in order in one namespace, from ``cwd``; per code cell its outputs in the
    notebook format: printed text as a stream, each figure it shows as an ``image/png``."""
    outputs, namespace = [], {}
    old = Path.cwd()
    os.chdir(cwd)
    try:
        for i, cell in enumerate(c for c in notebook["cells"] if c["cell_type"] == "code"):
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile("".join(cell["source"]), f"quickstart.ipynb[{i}]", "exec"), namespace)
            cell_out, text = [], []
            for line in buffer.getvalue().splitlines():
                if line.startswith("figure: "):
                    png = (cwd / line[len("figure: "):]).read_bytes()
                    cell_out.append({"output_type": "display_data", "metadata": {},
                                     "data": {"image/png": base64.b64encode(png).decode(), "text/plain":
                                              [f"<{Path(line).name}>"]}})  # fmt: skip
                else:
                    text.append(line + "\n")
            if text:
                cell_out.insert(0, {"output_type": "stream", "name": "stdout", "text": text})
            outputs.append(cell_out)
    finally:
        os.chdir(old)
    return outputs, namespace


def _pixels(output: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(output["data"]["image/png"]))).convert("RGB"), float)


def test_quickstart_runs_from_the_root_and_from_notebooks_and_its_outputs_are_current(tmp_path, monkeypatch):
    notebook = json.loads(NOTEBOOK.read_text())
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    empty = tmp_path / "no_trained"
    empty.mkdir()
    monkeypatch.setenv("AMODAL_COMPOSE_TRAINED", str(empty))  # no trained networks: the notebook's own
    fresh, namespace = execute(notebook, repo)
    assert namespace["source"].name == "quickstart_out" and namespace["result"].image.shape == (3, 128, 128)
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    if os.environ.get("UPDATE_NOTEBOOK") == "1":
        for cell, out in zip(code, fresh):
            cell["outputs"] = out
        NOTEBOOK.write_text(json.dumps(notebook, indent=1) + "\n")
    stored = [c["outputs"] for c in code]
    figures = 0
    for i, (old, new) in enumerate(zip(stored, fresh)):
        assert [o["output_type"] for o in old] == [o["output_type"] for o in new], f"cell {i}: rerun the notebook"
        for a, b in zip(old, new):
            if a["output_type"] == "stream":
                assert a["text"] == b["text"], f"cell {i}: stored text is stale (UPDATE_NOTEBOOK=1)"
            else:
                figures += 1
                x, y = _pixels(a), _pixels(b)
                assert x.shape == y.shape, f"cell {i}: stored figure is stale (UPDATE_NOTEBOOK=1)"
                mse = float(((x - y) ** 2).mean())
                assert mse == 0 or 10 * np.log10(255**2 / mse) > 30, f"cell {i}: stored figure is stale"
    assert figures == 2  # the scenes and the pipeline, shown on a code host
    # from notebooks/, with runs/demo in the repository: the demo's checkpoints are found
    demo = repo / "runs" / "demo"
    demo.mkdir(parents=True)
    for name in ("shape", "content", "compositor"):
        shutil.copy(repo / "quickstart_out" / f"{name}.ckpt", demo / f"{name}.ckpt")
    monkeypatch.delenv("AMODAL_COMPOSE_TRAINED")
    again, namespace = execute(notebook, repo / "notebooks")
    assert namespace["source"] == demo.resolve()
    assert "checkpoints from: the demo's" in "".join(again[-1][0]["text"])
    assert (repo / "notebooks" / "quickstart_out" / "pipeline.png").is_file()


def test_trained_checkpoints_are_found_from_any_folder_below_the_repository(tmp_path, monkeypatch):
    from amodal_compose.checkpoints import find_trained

    monkeypatch.delenv("AMODAL_COMPOSE_TRAINED", raising=False)
    demo = tmp_path / "runs" / "demo"
    demo.mkdir(parents=True)
    deep = tmp_path / "notebooks" / "drafts"
    deep.mkdir(parents=True)
    for name in ("shape", "content"):
        (demo / f"{name}.ckpt").write_bytes(b"x")
    assert find_trained(("shape", "content"), start=deep) == demo
    assert find_trained(("shape", "content", "compositor"), start=deep) != demo  # one missing: not this folder
    monkeypatch.setenv("AMODAL_COMPOSE_TRAINED", str(demo))
    assert find_trained(("shape",)) == demo
