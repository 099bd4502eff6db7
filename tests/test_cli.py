import json

from amodal_compose.cli import main


def test_data_preview_writes_png(tmp_path, capsys):
    assert main(["data", "preview", "--out", str(tmp_path), "--num", "4", "--size", "48"]) == 0
    png = tmp_path / "synthetic_preview.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in capsys.readouterr().out


def test_data_stats(capsys):
    assert main(["data", "stats", "--num", "20", "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "occluded ratio" in out and "categories" in out


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "order matrices equal: True" in out and "visible RLE masks exact: True" in out
    assert (tmp_path / "synthetic_preview.png").is_file()


def test_bench_rows_have_the_contract_format(tmp_path):
    assert main(["bench", "--task", "amodal_mask", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert {tuple(sorted(r)) for r in rows} == {
        ("image_size", "method", "metric", "split", "steps", "task", "value")
    }
    by = {(r["method"], r["metric"]): r["value"] for r in rows}
    assert by[("raw", "miou_invisible")] == 0.0 and by[("convex", "miou_invisible")] > 0.1
    assert "| amodal_mask | convex |" in (tmp_path / "bench.md").read_text()


def test_bad_arguments_exit_nonzero(capsys):
    assert main(["bench", "--task", "nope", "--out", "/tmp/unused_reports"]) == 2
    assert "unknown bench task" in capsys.readouterr().err
