"""Reader round-trips on fixture files written field for field in the real formats
(see tests/fixtures/make_fixtures.py for the geometry the expected masks come from)."""

import json
import shutil
import warnings

import pytest
import torch
from conftest import FIXTURES, rect

from amodal_compose.data.readers import (
    AnnotationFormatError,
    CocoaAmodal,
    CocoInstances,
    KinsAmodal,
    decode_segmentation,
    parse_depth_constraint,
)
from amodal_compose.ops import order_from_masks

H, W = 24, 32
RECTS = {"A": (4, 14, 3, 13), "B": (10, 22, 6, 16), "C": (18, 28, 10, 20), "D": (2, 8, 17, 22)}
DEPTH = "ABCD"


def amodal(name):
    x0, x1, y0, y1 = RECTS[name]
    return rect(H, W, x0, x1, y0, y1)


def visible(name):
    m = amodal(name)
    for front in DEPTH[: DEPTH.index(name)]:
        m = m * (1 - amodal(front))
    return m


EXPECTED_ORDER = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]

AMODAL_READERS = [
    (CocoaAmodal, "cocoa/COCO_amodal_val2014_fixture.json", "cocoa", "file"),
    (CocoaAmodal, "cocoa/COCOA_cls_val2014_fixture.json", "cocoa", "masks"),
    (KinsAmodal, "kins/instances_val_fixture.json", "kins/testing/image_2", "file"),
    (KinsAmodal, "kins/update_test_2020_fixture.json", "kins/testing/image_2", "file"),
]


def _read(cls, ann, root, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(FIXTURES / ann, FIXTURES / root, **kw)


@pytest.mark.parametrize("cls,ann,root,order_source", AMODAL_READERS)
def test_amodal_readers_decode_exactly(cls, ann, root, order_source):
    reader = _read(cls, ann, root, check_images=True)
    assert len(reader) == 1 and not reader.stats
    scene = reader[0]
    assert scene.size == (H, W) and len(scene) == 4
    for inst, name in zip(scene.instances, DEPTH):
        assert torch.equal(inst.amodal_mask, amodal(name)), name
        assert torch.equal(inst.modal_mask, visible(name)), name
        assert torch.all(inst.modal_mask <= inst.amodal_mask)
    # ground-truth order derived from the masks matches the file's order where the file has one
    derived = order_from_masks(scene.modal_masks(), scene.amodal_masks())
    assert derived.tolist() == EXPECTED_ORDER
    assert scene.order.tolist() == EXPECTED_ORDER
    assert scene.meta["order_source"] == order_source


def test_cocoa_regions_metadata_and_categories():
    scene = _read(CocoaAmodal, "cocoa/COCO_amodal_val2014_fixture.json", "cocoa")[0]
    assert [i.meta["order"] for i in scene.instances] == [1, 2, 3, 4]
    assert scene.instances[1].meta["occlude_rate"] == pytest.approx(
        float(1 - visible("B").sum() / amodal("B").sum()), abs=1e-3
    )
    cls = _read(CocoaAmodal, "cocoa/COCOA_cls_val2014_fixture.json", "cocoa")
    assert cls.variant == "cls" and cls.categories == ("person", "bicycle")
    assert [i.category for i in cls[0].instances] == [0, 1, 0, 1]


def test_kins_categories_are_contiguous():
    r = _read(KinsAmodal, "kins/update_test_2020_fixture.json", "kins/testing/image_2")
    assert r.categories == ("cyclist", "pedestrian", "car")
    assert [i.category for i in r[0].instances] == [0, 1, 2, 2]


def test_coco_polygon_rle_crowd_and_counted_warnings():
    with pytest.warns(UserWarning, match="crowd_skipped: 1.*polygon_lt_3_points: 1.*unknown_category: 1"):
        reader = CocoInstances(FIXTURES / "coco/instances_fixture.json", FIXTURES / "coco")
    scene = reader[0]
    assert reader.categories == ("person", "car")
    # A (polygon), B (compressed RLE), D (degenerate polygon part skipped, valid part kept)
    assert [i.meta["id"] for i in scene.instances] == [10, 11, 14]
    assert torch.equal(scene.instances[0].modal_mask, amodal("A"))
    assert torch.equal(scene.instances[1].modal_mask, visible("B"))
    assert torch.equal(scene.instances[2].modal_mask, amodal("D"))
    assert scene.instances[0].amodal_mask is None and scene.order is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crowd = CocoInstances(
            FIXTURES / "coco/instances_fixture.json", FIXTURES / "coco", include_crowd=True
        )[0]
    assert torch.equal(crowd.instances[2].modal_mask, visible("C"))  # uncompressed RLE decoded


def test_decode_segmentation_and_depth_constraint():
    poly = [[1, 1, 5, 1, 5, 4, 1, 4]]
    assert torch.equal(
        torch.from_numpy(decode_segmentation(poly, 6, 8)).float()[None], rect(6, 8, 1, 5, 1, 4)
    )
    assert torch.equal(
        torch.from_numpy(decode_segmentation(poly[0], 6, 8)).float()[None], rect(6, 8, 1, 5, 1, 4)
    )
    with pytest.raises(AnnotationFormatError, match="size"):
        decode_segmentation({"size": [5, 5], "counts": "00"}, 6, 8)
    with pytest.raises(AnnotationFormatError, match="unknown segmentation"):
        decode_segmentation(3, 6, 8)
    assert parse_depth_constraint("1-2,1-3", 3).tolist() == [[0, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert parse_depth_constraint("", 2).sum() == 0
    with pytest.raises(AnnotationFormatError, match="outside"):
        parse_depth_constraint("1-4", 3)
    with pytest.raises(AnnotationFormatError, match="not 'i-j'"):
        parse_depth_constraint("1>2", 3)


def _copy_fixture(tmp_path, ann, root):
    shutil.copytree(FIXTURES / root, tmp_path / "imgs")
    data = json.loads((FIXTURES / ann).read_text())
    return data, tmp_path / "imgs"


def test_malformed_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AnnotationFormatError, match="not valid JSON"):
        CocoaAmodal(bad, tmp_path)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(AnnotationFormatError, match="missing list 'annotations'"):
        KinsAmodal(bad, tmp_path)
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        CocoInstances(tmp_path / "nope.json", tmp_path)

    data, root = _copy_fixture(tmp_path, "kins/update_test_2020_fixture.json", "kins/testing/image_2")
    del data["annotations"][1]["i_segm"]
    bad.write_text(json.dumps(data))
    with pytest.raises(AnnotationFormatError, match="annotation 301 of image 3"):
        KinsAmodal(bad, root)

    data = json.loads((FIXTURES / "cocoa/COCO_amodal_val2014_fixture.json").read_text())
    del data["annotations"][0]["regions"][2]["segmentation"]
    bad.write_text(json.dumps(data))
    with pytest.raises(AnnotationFormatError, match="region 3 lacks 'segmentation'"):
        CocoaAmodal(bad, tmp_path)


def test_missing_image_is_named(tmp_path):
    data = json.loads((FIXTURES / "cocoa/COCO_amodal_val2014_fixture.json").read_text())
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    reader = CocoaAmodal(path, tmp_path)
    with pytest.raises(FileNotFoundError, match="COCO_val2014_000000000002.png"):
        reader[0]
    with pytest.raises(FileNotFoundError, match="1 of 1 images missing"):
        CocoaAmodal(path, tmp_path, check_images=True)


def test_unknown_category_and_short_polygon_are_counted(tmp_path):
    data, root = _copy_fixture(tmp_path, "kins/instances_val_fixture.json", "kins/testing/image_2")
    data["annotations"][3]["category_id"] = 42
    data["annotations"][2]["segmentation"] = [[1, 1, 2, 2]] + data["annotations"][2]["segmentation"]
    path = tmp_path / "k.json"
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="polygon_lt_3_points: 1, unknown_category: 1"):
        reader = KinsAmodal(path, root)
    scene = reader[0]
    assert reader.stats["unknown_category"] == 1 and reader.stats["polygon_lt_3_points"] == 1
    assert len(scene) == 3


def test_visible_outside_amodal_is_repaired_and_counted(tmp_path):
    data, root = _copy_fixture(tmp_path, "cocoa/COCOA_cls_val2014_fixture.json", "cocoa")
    from amodal_compose.data.writers import encode_rle

    m = visible("B")[0].numpy().astype("uint8")
    m[0, 0] = 1  # a visible pixel outside the amodal mask
    data["annotations"][1]["visible_mask"] = encode_rle(m)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    reader = CocoaAmodal(path, root)
    with pytest.warns(UserWarning, match="visible_outside_amodal_repaired"):
        inst = reader[0].instances[1]
    assert reader.stats["visible_outside_amodal_repaired"] == 1
    assert torch.all(inst.modal_mask <= inst.amodal_mask)
