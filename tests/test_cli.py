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


def test_bench_command_writes_the_report_and_exits_2_on_bad_input(tmp_path, capsys):
    assert main(["bench", "--task", "ordering", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert {r["method"] for r in rows} >= {"y-axis", "task"}
    assert "## ordering" in (tmp_path / "bench.md").read_text()
    assert main(["bench", "--task", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown bench task" in capsys.readouterr().err
