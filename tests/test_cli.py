import json
from pathlib import Path

from amodal_compose.cli import main


def test_data_preview_writes_png(tmp_path, capsys):
    assert main(["data", "preview", "--out", str(tmp_path), "--num", "4", "--size", "48"]) == 0
    png = tmp_path / "synthetic_preview.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in capsys.readouterr().out
    photo = tmp_path / "photo"
    assert main(["data", "preview", "--out", str(photo), "--num", "2", "--size", "48", "--texture", "photo"]) == 0
    assert (photo / "synthetic_preview.png").read_bytes() != png.read_bytes()


def test_data_stats(capsys):
    assert main(["data", "stats", "--num", "20", "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "occluded ratio" in out and "categories" in out


def test_demo_runs_end_to_end_and_reuses_its_checkpoints(tmp_path, capsys):
    """The demo at a tiny training budget: data checks, every network trained (chained stages from
    the previous stage's checkpoint), each section on held-out scenes with known answers, the
    figures, the metrics and the job manifest; a second run reuses the checkpoints."""
    args = ["demo", "--retrain", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--scenes", "3",
            "--train-scale", "0.004", "--train-scenes", "24"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "order matrices equal: True" in out and "visible RLE masks exact: True" in out
    from amodal_compose.demo import DEMO_TRAINING

    for name, stages in DEMO_TRAINING.items():
        assert (tmp_path / "runs" / f"{name}.ckpt").is_file()
        for k in range(1, len(stages)):  # the chained stages' own checkpoints
            assert (tmp_path / "runs" / f"{name}_stage{k}.ckpt").is_file()
    assert set(json.loads((tmp_path / "runs" / "pipeline" / "pipeline.json").read_text())["components"]) == \
        set(DEMO_TRAINING)  # fmt: skip
    assert (tmp_path / "out" / "pipeline_demo.png").is_file()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics["composition"]) == {"pipeline", "cut_and_paste", "poisson"}
    assert {"pcnet_m", "area", "y-axis", "convex", "raw"} <= set(metrics["deocclusion"])
    assert "posterior mode" in metrics["amodal_vae"]
    # real photos at full resolution: outside each edit, every pixel is the photo's own
    assert {m: v["share_kept_outside_edit"] for m, v in metrics["real_photos"].items()} == \
        {"compose onto another photo": 1.0, "deocclude + move": 1.0}  # fmt: skip
    assert (tmp_path / "out" / "real_photos_demo.png").is_file()
    for section in ("composition", "deocclusion", "removal", "amodal_vae", "real_photos"):
        assert f"## {section}" in (tmp_path / "out" / "metrics.md").read_text() or section not in metrics
    assert len((tmp_path / "out" / "jobs" / "jobs.jsonl").read_text().splitlines()) == 3
    assert main(args) == 0
    assert capsys.readouterr().out.count("reusing") == len(DEMO_TRAINING)
    assert main([*args, "--sections", "composition,nope"]) == 2
    assert "unknown demo sections" in capsys.readouterr().err


def test_bench_command_writes_the_report_and_exits_2_on_bad_input(tmp_path, capsys):
    tiny = str(Path(__file__).resolve().parents[1] / "lightning_configs" / "debug" / "tiny_data.yaml")
    assert main(["bench", "--task", "ordering", "--out", str(tmp_path), "--runs", str(tmp_path / "runs"),
                 "--config", tiny]) == 0  # fmt: skip
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert {r["method"] for r in rows} >= {"y-axis", "task"}
    assert "## ordering" in (tmp_path / "bench.md").read_text()
    assert main(["bench", "--task", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown bench task" in capsys.readouterr().err


def test_version_auto_device_and_windows_drive_letters(capsys, monkeypatch):
    import pytest
    import torch

    from amodal_compose import __version__
    from amodal_compose.cli import _device, _instance_spec

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"amodal-compose {__version__}"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _device("auto") == "cpu" and _device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _device("auto") == "cuda"
    spec = _instance_spec(r"C:\cuts\cat.png:D:/masks/cat.png:10,20,0.5")
    assert (spec["image"], spec["mask"]) == (r"C:\cuts\cat.png", "D:/masks/cat.png")
    assert spec["position"] == (10.0, 20.0) and spec["scale"] == 0.5
    assert _instance_spec("C:/cat.png")["mask"] is None  # an RGBA cut-out on a drive
    assert _instance_spec("cat.png:mask.png")["mask"] == "mask.png"
