"""``amodal-compose data check`` on the fixtures in the real formats, and on broken copies of them."""

import json
import shutil

import pytest
from conftest import FIXTURES

from amodal_compose.cli import main
from amodal_compose.data.check import check_config

SOURCES = {
    "cocoa": ("cocoa/COCO_amodal_val2014_fixture.json", "cocoa"),
    "kins": ("kins/instances_val_fixture.json", "kins/testing/image_2"),
    "coco": ("coco/instances_fixture.json", "coco"),
}


def config(tmp_path, source, ann, root):
    args = {f"{s}_{k}": str(v) for s in ("train", "val", "test") for k, v in
            (("annotation_file", ann), ("image_root", root))}  # fmt: skip
    path = tmp_path / f"{source}.yaml"
    path.write_text(json.dumps({"data": {"class_path": "amodal_compose.data.datamodules.ShapeDataModule",
                                         "init_args": {"source": source, **args}}}))  # fmt: skip
    return path


def broken_copy(tmp_path, source):
    """A copy of a fixture's files that can be broken without touching the originals."""
    ann, root = SOURCES[source]
    folder = tmp_path / "copy"
    shutil.copytree(FIXTURES / source, folder / source)
    return folder / ann, folder / root


@pytest.mark.parametrize("source", list(SOURCES))
def test_the_fixtures_are_good(tmp_path, source, capsys):
    ann, root = SOURCES[source]
    report = check_config(config(tmp_path, source, FIXTURES / ann, FIXTURES / root), all_images=True)
    assert report.ok, report.problems
    counts = [line for line in report.lines if "instances" in line]
    assert len(counts) == 3 and all("0 missing" in line for line in counts)
    assert main(["data", "check", "--config", str(config(tmp_path, source, FIXTURES / ann, FIXTURES / root))]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")


def test_a_missing_image_is_one_line_and_a_failing_exit(tmp_path, capsys):
    ann, root = broken_copy(tmp_path, "kins")
    for image in root.iterdir():
        image.unlink()
    path = config(tmp_path, "kins", ann, root)
    report = check_config(path)
    assert not report.ok and all("image missing" in p for p in report.problems)
    assert len(report.problems) == 3  # one per split
    assert main(["data", "check", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("problem: ") == 3 and "Traceback" not in err


def test_truncated_json_and_a_region_without_a_mask_are_reported(tmp_path):
    ann, root = broken_copy(tmp_path, "cocoa")
    text = ann.read_text()
    ann.write_text(text[: len(text) // 2])
    report = check_config(config(tmp_path, "cocoa", ann, root))
    assert len(report.problems) == 3 and all("not valid JSON" in p for p in report.problems)
    data = json.loads(text)
    del data["annotations"][0]["regions"][0]["segmentation"]
    ann.write_text(json.dumps(data))
    report = check_config(config(tmp_path, "cocoa", ann, root))
    assert report.problems and all("lacks 'segmentation'" in p for p in report.problems)


def test_an_image_of_the_wrong_size_and_a_mask_outside_it_are_reported(tmp_path):
    ann, root = broken_copy(tmp_path, "coco")
    data = json.loads(ann.read_text())
    data["annotations"][0]["segmentation"] = [[0, 0, 10_000, 0, 10_000, 10, 0, 10]]
    ann.write_text(json.dumps(data))
    report = check_config(config(tmp_path, "coco", ann, root), all_images=True)
    assert any("outside the image" in p for p in report.problems)
    data["images"][0]["height"] += 1
    ann.write_text(json.dumps(data))
    report = check_config(config(tmp_path, "coco", ann, root), all_images=True)
    assert any("the file says" in p for p in report.problems)


def test_a_synthetic_config_has_nothing_to_check_and_a_bad_config_exits_2(tmp_path, capsys):
    from pathlib import Path

    synthetic = Path(__file__).resolve().parents[1] / "lightning_configs" / "shape" / "synthetic.yaml"
    assert check_config(synthetic).ok
    assert main(["data", "check", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "config not found" in capsys.readouterr().err
