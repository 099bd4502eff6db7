"""Detector and annotator outputs as ``deocclude --masks``: COCO results (RLE and polygons, scores, several
images), COCO instances, .npz and mask folders; categories passed on to PCNet-M; one clear line and exit
code 2 for every input that cannot be used."""

import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from amodal_compose import Pipeline
from amodal_compose.cli import main
from amodal_compose.io import category_ranks, read_instance_masks, write_png
from amodal_compose.systems import PCNetMSystem

H, W = 48, 64


def _masks() -> np.ndarray:
    m = np.zeros((3, H, W), np.uint8)
    m[0, 5:30, 4:30] = 1
    m[1, 20:44, 22:50] = 1
    m[0][m[1] > 0] = 0  # object 1 in front of object 0
    m[2, 2:9, 50:60] = 1
    return m


def _rle(m: np.ndarray) -> dict:
    r = mask_utils.encode(np.asfortranarray(m))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def _polygon(m: np.ndarray) -> list:
    ys, xs = np.nonzero(m)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from test_pcnet import tiny_c, tiny_m

    folder = tmp_path_factory.mktemp("detector")
    Pipeline(pcnet_m=tiny_m(), pcnet_c=tiny_c()).save(folder / "pipe")
    image = torch.rand(3, H, W, generator=torch.Generator().manual_seed(0))
    write_png(folder / "scene.png", image)
    m = _masks()
    results = [
        {"image_id": 7, "category_id": 18, "segmentation": _rle(m[0]), "score": 0.9},
        {"image_id": 7, "category_id": 1, "segmentation": _polygon(m[1]), "score": 0.8},
        {"image_id": 7, "category_id": 1, "segmentation": _rle(m[2]), "score": 0.3},
    ]
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "two_images.json").write_text(json.dumps(results + [dict(results[0], image_id=8)]))
    (folder / "categories.json").write_text(json.dumps({"categories": [{"id": 18, "name": "dog"},
                                                                       {"id": 1, "name": "person"}]}))  # fmt: skip
    return folder


def _args(folder, masks, *extra):
    return ["deocclude", "--image", str(folder / "scene.png"), "--masks", str(masks), "--checkpoints",
            str(folder / "pipe"), "--out", str(folder / "out"), *extra]  # fmt: skip


def test_coco_results_rle_and_polygons_with_a_score_threshold(setup):
    m = _masks()
    found = read_instance_masks(setup / "results.json", setup / "scene.png", (H, W))
    assert len(found.masks) == 2 and found.scores == [0.9, 0.8] and found.categories is None
    assert torch.equal(found.masks[0][0], torch.from_numpy(m[0]).float())  # RLE exact
    assert found.masks[1][0].bool().equal(torch.from_numpy(m[1]).bool())  # a box polygon
    low = read_instance_masks(setup / "results.json", setup / "scene.png", (H, W), score_threshold=0.2)
    assert len(low.masks) == 3
    mapped = read_instance_masks(setup / "results.json", setup / "scene.png", (H, W),
                                 category_map=setup / "categories.json")  # fmt: skip
    assert mapped.categories == [1, 0]  # ranks of ids 18 and 1 among the sorted ids (1, 18)
    assert category_ranks([{"id": 90}, {"id": 3}]) == {3: 0, 90: 1}


def test_deocclude_command_takes_detector_output_and_passes_categories(setup, capsys, monkeypatch):
    seen = {}
    order = PCNetMSystem.order

    def recording(self, image, modal, categories=None, **kw):
        seen["categories"] = categories.tolist()
        return order(self, image, modal, categories, **kw)

    monkeypatch.setattr(PCNetMSystem, "order", recording)
    assert main(_args(setup, setup / "results.json", "--category-map", str(setup / "categories.json"))) == 0
    out = capsys.readouterr().out
    assert "2 of 3 detections of image 7" in out and "categories 1,0" in out and seen["categories"] == [1, 0]
    assert main(_args(setup, setup / "results.json", "--score-threshold", "0.2", "--categories", "2,0,1")) == 0
    assert "3 objects" in capsys.readouterr().out and seen["categories"] == [2, 0, 1]
    # several images in one file: --image-id picks one
    assert main(_args(setup, setup / "two_images.json", "--image-id", "8")) == 0
    assert "1 of 1 detections of image 8" in capsys.readouterr().out


def test_npz_folder_and_coco_instances_sources(setup, capsys):
    m = _masks()
    np.savez(setup / "masks.npz", masks=m[:2].astype(bool), categories=np.array([3, 4]))
    found = read_instance_masks(setup / "masks.npz", setup / "scene.png", (H, W))
    assert len(found.masks) == 2 and found.categories == [3, 4]
    for k in range(2):
        write_png(setup / "folder" / f"{k}.png", torch.from_numpy(m[k]).float()[None])
    assert len(read_instance_masks(setup / "folder", setup / "scene.png", (H, W)).masks) == 2
    coco = {"images": [{"id": 1, "file_name": "x/scene.png", "height": H, "width": W}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 9, "segmentation": _rle(m[0])},
                            {"id": 6, "image_id": 1, "category_id": 2, "segmentation": _polygon(m[1])}],
            "categories": [{"id": 2}, {"id": 9}]}  # fmt: skip
    (setup / "instances.json").write_text(json.dumps(coco))
    found = read_instance_masks(setup / "instances.json", setup / "scene.png", (H, W))
    assert len(found.masks) == 2 and found.categories == [1, 0]
    assert main(_args(setup, setup / "masks.npz", "--mask-threshold", "0.5")) == 0
    assert "categories 3,4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("[{\"image_id\": 7, ", (), "not a JSON file"),
        ("{\"images\": []}", (), "neither a COCO instances file"),
        ("[]", (), "the results list is empty"),
        ("[{\"image_id\": 7}]", (), "needs 'image_id' and 'segmentation'"),
        ("TWO", (), "pick one with --image-id"),
        ("RESULTS", ("--image-id", "99"), "no results for image_id 99"),
        ("RESULTS", ("--score-threshold", "0.95"), "lower --score-threshold"),
        ("RESULTS", ("--categories", "1"), "1 values for 2 instances"),
        ("BADSIZE", (), "the image (48, 64)"),
        ("BADRLE", (), "cannot be decoded"),
        ("RESULTS", ("--category-map", "nope.json"), "no such file"),
        ("NPZ", (), "has no 'masks' array"),
        ("MISSING", (), "no such file or folder"),
    ],
)
def test_every_unusable_input_is_one_line_and_exit_code_2(setup, capsys, tmp_path, content, extra, message):
    sources = {"TWO": setup / "two_images.json", "RESULTS": setup / "results.json", "MISSING": tmp_path / "no.json"}
    if content in sources:
        path = sources[content]
    elif content == "NPZ":
        path = tmp_path / "bad.npz"
        np.savez(path, other=np.zeros((1, H, W)))
    else:
        if content == "BADSIZE":
            content = json.dumps([{"image_id": 1, "segmentation": _rle(np.ones((10, 10), np.uint8)), "score": 1}])
        elif content == "BADRLE":
            content = json.dumps([{"image_id": 1, "segmentation": {"size": [H, W], "counts": 12}, "score": 1}])
        path = tmp_path / "masks.json"
        path.write_text(content)
    assert main(_args(setup, path, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("amodal-compose: error:") and "\n" not in err and message in err, err


def test_folder_mode_deocclude_and_remove_every_image_once(tmp_path, capsys):
    from test_pipeline import _scene_checkpoints

    _scene_checkpoints(tmp_path / "pipe")
    m = _masks()
    for name in ("a", "b", "c"):
        write_png(tmp_path / "images" / f"{name}.png", torch.rand(3, H, W, generator=torch.Generator().manual_seed(1)))
        write_png(tmp_path / "rough" / f"{name}.png", torch.from_numpy(m[1]).float()[None])
    (tmp_path / "masks").mkdir()
    np.savez(tmp_path / "masks" / "a.npz", masks=m)
    for k in range(2):
        write_png(tmp_path / "masks" / "b" / f"{k}.png", torch.from_numpy(m[k]).float()[None])
    # c has no masks: reported in one line, the others are written, exit code 2
    args = ["deocclude", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"),
            "--checkpoints", str(tmp_path / "pipe"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "c.png: --masks" in captured.err and "2 images done, 0 already done before, 1 failed" in captured.out
    assert len(json.loads((tmp_path / "out" / "a" / "order.json").read_text())["matrix"]) == 3
    assert (tmp_path / "out" / "b" / "layer_1.png").is_file() and not (tmp_path / "out" / "c").exists()
    assert main(args) == 2 and "0 images done, 2 already done before, 1 failed" in capsys.readouterr().out

    rem = ["remove", "--images", str(tmp_path / "images"), "--mask", str(tmp_path / "rough"), "--checkpoints",
           str(tmp_path / "pipe"), "--out", str(tmp_path / "removed"), "--save-mask"]  # fmt: skip
    assert main(rem) == 0 and "3 images done" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "removed").iterdir()} == {f"{n}{s}.png" for n in "abc" for s in ("", "_mask")}
    assert main(rem) == 0 and "0 images done, 3 already done before" in capsys.readouterr().out
    assert main([*rem, "--image", "x.png"]) == 2  # --image and --images: one clear line
    assert "give --image" in capsys.readouterr().err
