"""lrlab.data: the bundled digits, split the same way everywhere, and minibatch indices."""

from __future__ import annotations

import pytest
import torch

from lrlab.data import batches, digits


def test_split_is_stratified_disjoint_and_reproducible():
    a, b = digits(device="cpu"), digits(device="cpu")
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape[1] == 64 and a.n_classes == 10
    assert len(a.y_train) + len(a.y_test) == 1797  # every bundled image, once
    counts = torch.bincount(a.y_test, minlength=10).float()
    totals = counts + torch.bincount(a.y_train, minlength=10).float()
    assert torch.allclose(counts / totals, torch.full((10,), 0.3), atol=0.01)  # 30 % of each class
    rows = {tuple(r.tolist()) for r in a.x_test}
    assert 0.0 <= float(a.x_train.min()) and float(a.x_train.max()) <= 1.0
    assert len(rows) > 500


def test_other_split_seed_gives_another_split():
    assert not torch.equal(digits(device="cpu", split_seed=1).y_train, digits(device="cpu").y_train)


def test_relabel_maps_kept_digits_to_their_position():
    kept = digits(classes=[5, 6, 7, 8, 9], device="cpu")
    raw = digits(classes=[5, 6, 7, 8, 9], relabel=False, device="cpu")
    assert sorted(set(kept.y_train.tolist())) == [0, 1, 2, 3, 4]
    assert torch.equal(raw.y_train - 5, kept.y_train)


@pytest.mark.parametrize(
    "kwargs, word",
    [({"classes": [3, 10]}, "classes"), ({"classes": [1, 1]}, "repeat"), ({"test_fraction": 1.0}, "test_fraction")],
)
def test_bad_arguments_name_the_problem(kwargs, word):
    with pytest.raises(ValueError, match=word):
        digits(device="cpu", **kwargs)


def test_batches_cover_each_epoch_without_repeats():
    g = torch.Generator().manual_seed(3)
    out = list(batches(10, 5, 4, generator=g, device="cpu"))
    assert [len(b) for b in out] == [5, 5, 5, 5]
    assert sorted(torch.cat(out[:2]).tolist()) == list(range(10))  # one epoch: every example once
    assert sorted(torch.cat(out[2:]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(4, 5, 1, device="cpu"))
