"""Tests of :mod:`lrlab.training`: the tiny torch loop chapter 1 shows (its claim lives in the chapter's claims test)."""

from __future__ import annotations

import pytest
import torch

from lrlab import schedules as S
from lrlab.training import tiny_mlp, tiny_regression, train_with_schedule


def test_train_with_schedule_rejects_bad_arguments():
    inputs, targets = tiny_regression(n=8, dim=2)
    with pytest.raises(ValueError, match="total_steps"):
        train_with_schedule(tiny_mlp(dim=2), inputs, targets, S.constant_schedule(0.1), total_steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_with_schedule(tiny_mlp(dim=2), inputs, targets, S.constant_schedule(0.1), 3, batch_size=0)


def test_tiny_mlp_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_mlp(seed=7)
    assert torch.equal(torch.rand(3), expected)
