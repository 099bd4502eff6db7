import numpy as np
import pytest
import torch
from PIL import Image

from amodal_compose import Instance, Keys, Scene
from amodal_compose.ops import as_image, as_mask, check_same_size


def test_as_image_conversions():
    u8 = np.full((4, 5, 3), 255, np.uint8)
    t = as_image(u8)
    assert t.shape == (3, 4, 5) and t.dtype == torch.float32 and float(t.max()) == 1.0
    assert as_image(Image.fromarray(u8)).shape == (3, 4, 5)
    assert as_image(np.zeros((4, 5), np.uint8)).shape == (3, 4, 5)  # grey -> RGB
    assert as_image(torch.rand(2, 3, 4, 5)).shape == (2, 3, 4, 5)


def test_as_image_rejects_out_of_range_floats():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        as_image(torch.full((3, 4, 4), 200.0))
    with pytest.raises(ValueError, match="colour channels"):
        as_image(torch.rand(5, 4, 4))


def test_as_mask_conversions_and_errors():
    assert as_mask(np.array([[0, 255]], np.uint8)).tolist() == [[[0.0, 1.0]]]
    assert as_mask(np.array([[True, False]])).tolist() == [[[1.0, 0.0]]]
    assert as_mask(torch.tensor([[0.2, 0.7]]), threshold=0.5).tolist() == [[[0.0, 1.0]]]
    with pytest.raises(ValueError, match="binary"):
        as_mask(torch.tensor([[0.2, 0.7]]))
    with pytest.raises(ValueError, match="binary"):
        as_mask(torch.tensor([[0.0, 255.0]]))  # 0-255 float is not silently accepted
    with pytest.raises(ValueError, match="single-channel"):
        as_mask(np.zeros((4, 4, 3), np.uint8))


def test_check_same_size_names_arguments():
    with pytest.raises(ValueError, match="image=.*mask="):
        check_same_size(image=torch.zeros(3, 4, 4), mask=torch.zeros(1, 5, 4))


def test_instance_and_scene_validation():
    inst = Instance(modal_mask=np.ones((4, 4), np.uint8), amodal_mask=torch.ones(1, 4, 4), category=2)
    assert inst.modal_mask.shape == (1, 4, 4) and inst.occluded_ratio == 0.0 and not inst.is_occluded
    with pytest.raises(ValueError, match="amodal_mask size"):
        Instance(modal_mask=torch.zeros(1, 4, 4), amodal_mask=torch.zeros(1, 5, 4))
    with pytest.raises(ValueError, match="instance 0"):
        Scene(image=torch.rand(3, 6, 6), instances=[inst])
    with pytest.raises(ValueError, match="order"):
        Scene(image=torch.rand(3, 4, 4), instances=[inst], order=torch.zeros(2, 2))
    s = Scene(image=np.zeros((4, 4, 3), np.uint8), instances=[inst, inst], order=[[0, 1], [0, 0]])
    assert s.modal_masks().shape == (2, 1, 4, 4) and s.categories().tolist() == [2, 2]
    sub = s.with_instances([1])
    assert len(sub) == 1 and sub.order.shape == (1, 1)


def test_invisible_mask_and_ratio():
    modal = torch.zeros(1, 4, 4)
    modal[..., :2] = 1
    inst = Instance(modal_mask=modal, amodal_mask=torch.ones(1, 4, 4))
    assert inst.occluded_ratio == 0.5 and inst.is_occluded
    assert torch.equal(inst.invisible_mask, 1 - modal)


def test_keys_defined_once():
    assert Keys.pred(Keys.AMODAL_MASK) == "pred_amodal_mask"
    values = [v for k, v in vars(Keys).items() if k.isupper() and k != "PRED_PREFIX"]
    assert len(values) == len(set(values))
