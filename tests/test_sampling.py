"""Training data: fresh every epoch, reproducible for a given (seed, epoch) whatever the number of
workers or DDP ranks, and indexed by instance (every instance once per epoch)."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import torch
from conftest import FIXTURES

from amodal_compose.data.datamodules import CompositionDataModule, ContentDataModule, ShapeDataModule
from amodal_compose.data.readers import CocoaAmodal
from amodal_compose.data.sampling import EpochSampler, ItemDraws, split_key
from amodal_compose.structures import Keys

DM = dict(image_size=32, crop_size=32, train_scenes=12, val_scenes=4, test_scenes=4, batch_size=4, num_workers=0)
#: per DataModule, the item entries that hold its random draws (edits, erasers, dilations, colour)
DRAWN = {
    ShapeDataModule: Keys.EDIT_MASK,
    CompositionDataModule: Keys.OBJECT_IMAGE,
    ContentDataModule: Keys.INVISIBLE_MASK,
}


def test_item_draws_are_hashed_so_no_two_streams_coincide():
    seeds = {
        ItemDraws(seed, epoch, index, stream).seed(purpose)
        for seed in (0, 1) for epoch in (0, 1, 7) for index in range(20) for stream in ("train", "eval")
        for purpose in ("edit", "eraser", "augment")
    }  # fmt: skip
    assert len(seeds) == 2 * 3 * 20 * 2 * 3
    # the collision of an offset scheme: (index i, stream 7) vs (index i + 7, stream 0)
    assert ItemDraws(0, 0, 3).seed("a") != ItemDraws(0, 0, 10).seed("a")
    assert split_key((2, 5)) == (2, 5) and split_key(5) == (0, 5) and split_key(torch.tensor([3, 4])) == (3, 4)


def test_epoch_sampler_permutes_every_index_once_per_epoch_and_splits_ranks():
    s = EpochSampler(range(10), seed=0)
    epochs = []
    for e in (0, 1):
        s.set_epoch(e)
        keys = list(s)
        assert {k[0] for k in keys} == {e} and sorted(k[1] for k in keys) == list(range(10))
        epochs.append([k[1] for k in keys])
    assert epochs[0] != epochs[1]
    ranks = [EpochSampler(range(10), seed=0, num_replicas=2, rank=r) for r in (0, 1)]
    for r in ranks:
        r.set_epoch(1)
    a, b = ([i for _, i in r] for r in ranks)
    assert sorted(a + b) == list(range(10)) and a + b != list(range(10))
    odd = [EpochSampler(range(7), seed=0, num_replicas=2, rank=r) for r in (0, 1)]
    counts = Counter(i for r in odd for _, i in r)
    assert set(counts) == set(range(7)) and sum(counts.values()) == 8  # one pad, as DistributedSampler


@pytest.mark.parametrize("dm_cls", list(DRAWN))
def test_a_new_epoch_draws_new_items_and_an_epoch_repeats_exactly(dm_cls):
    dm = dm_cls(**DM)
    train, val = dm.dataset("train"), dm.dataset("val")
    key = DRAWN[dm_cls]
    changed = sum(not torch.equal(train[(0, i)][key], train[(1, i)][key]) for i in range(len(train)))
    assert changed > len(train) // 2  # edits, erasers, dilations, colours and augmentations change
    for i in range(3):
        a, b = train[(4, i)], train[(4, i)]
        assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
        assert torch.equal(val[(0, i)][key], val[(9, i)][key])  # evaluation items are fixed
    # the evaluation items follow data_seed, not the training seed
    other = dm_cls(**{**DM, "seed": 5}).dataset("val")
    assert torch.equal(other[0][key], val[0][key])
    assert not torch.equal(dm_cls(**{**DM, "seed": 5}).dataset("train")[(0, 0)][key], train[(0, 0)][key])


def _epoch(dm, epoch):
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)  # what Lightning's fit loop calls at the start of an epoch
    return list(loader)


def test_an_epoch_is_the_same_with_any_number_of_workers():
    serial = ShapeDataModule(**DM)
    parallel = ShapeDataModule(**{**DM, "num_workers": 2})
    for epoch in (0, 3):
        a, b = _epoch(serial, epoch), _epoch(parallel, epoch)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            for k in (Keys.IMAGE, Keys.EDIT_MASK, Keys.INSTANCE, Keys.SCENE_ID):
                assert torch.equal(x[k], y[k]), k


def test_real_data_is_indexed_by_instance_and_an_epoch_visits_each_once():
    ann = FIXTURES / "cocoa" / "COCO_amodal_val2014_fixture.json"
    reader = CocoaAmodal(ann, FIXTURES / "cocoa")
    eligible = {(s.scene_id, k) for s in reader for k, i in enumerate(s.instances) if i.modal_mask.sum() >= 4}
    assert len(eligible) > len(reader)  # several instances per image
    files = {f"{split}_{kind}": str(p) for split in ("train", "val") for kind, p in
             (("annotation_file", ann), ("image_root", FIXTURES / "cocoa"))}  # fmt: skip
    dm = ShapeDataModule(source="cocoa", crop_size=32, batch_size=3, num_workers=0, **files)
    assert len(dm.dataset("train")) == len(eligible)
    for epoch in (0, 1):
        seen = [
            (int(sid), int(k))
            for batch in _epoch(dm, epoch)
            for sid, k in zip(batch[Keys.SCENE_ID], batch[Keys.INSTANCE])
        ]
        assert Counter(seen) == Counter(eligible)  # each instance exactly once


DDP_SCRIPT = """
import json, sys, torch, pytorch_lightning as pl
from amodal_compose.data.datamodules import ShapeDataModule
from amodal_compose.structures import Keys
torch.set_num_threads(1)

class Recorder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen = []
    def training_step(self, batch, batch_idx):
        for sid, k in zip(batch[Keys.SCENE_ID].tolist(), batch[Keys.INSTANCE].tolist()):
            self.seen.append([self.current_epoch, sid, k])
        return (self.w * batch[Keys.IMAGE].mean()) ** 2
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

dm = ShapeDataModule(image_size=32, crop_size=32, train_scenes=int(sys.argv[2]), val_scenes=2, test_scenes=2,
                     batch_size=3, num_workers=1)
model = Recorder()
t = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, limit_val_batches=0, logger=False,
               enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
t.fit(model, dm)
with open(f"{sys.argv[1]}/rank{t.global_rank}.json", "w") as f:  # one file per rank: nothing interleaves
    json.dump({"seen": model.seen, "items": [[int(s), int(k)] for s, k in
               ((dm.train_dataset[i][Keys.SCENE_ID], dm.train_dataset[i][Keys.INSTANCE])
                for i in range(len(dm.train_dataset)))]}, f)
"""


def test_two_ddp_ranks_cover_every_item_once_per_epoch(tmp_path):
    """Lightning keeps the package's sampler under DDP (gloo) and sets its epoch: per epoch the two
    ranks see disjoint halves that together hold every instance exactly once (plus DistributedSampler's
    one pad when the count is odd), and the second epoch is a new permutation."""
    script = tmp_path / "ddp_items.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(script), str(tmp_path), "6"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    items = Counter(map(tuple, ranks[0]["items"]))
    orders = []
    for epoch in (0, 1):
        per_rank = [[(s, k) for e, s, k in r["seen"] if e == epoch] for r in ranks]
        seen = Counter(per_rank[0] + per_rank[1])
        assert set(seen) == set(items)
        assert sum(seen.values()) == len(items) + len(items) % 2
        assert len(per_rank[0]) == len(per_rank[1])
        orders.append(per_rank[0])
    assert orders[0] != orders[1]


def test_the_test_split_follows_its_own_seed_and_leaves_train_and_val_alone():
    """A fresh test draw (``test_seed``) changes the test scenes only: every choice made on val, and the
    training data, stay as they were."""
    a, b = ShapeDataModule(**DM), ShapeDataModule(**{**DM, "test_seed": 7})
    assert a.test_seed == 1  # the default draw
    assert [s.scene_id for s in a.scenes("val")] == [s.scene_id for s in b.scenes("val")]
    assert [s.scene_id for s in a.scenes("train")] == [s.scene_id for s in b.scenes("train")]
    assert not {s.scene_id for s in a.scenes("test")} & {s.scene_id for s in b.scenes("test")}
    # and the test scenes are none of the train or val scenes
    assert not {s.scene_id for s in b.scenes("test")} & {s.scene_id for s in b.scenes("val")}
    with pytest.raises(ValueError, match="test_seed"):
        ShapeDataModule(**{**DM, "test_seed": -1})
