"""Tests of :mod:`lrlab.population`: the batched MLP population of chapter 5 (its claims live in the chapter's claims test)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab.population import PopulationModule, batch_table, data, evaluate, init_population, train_population
from lrlab.schedule_free import ScheduleFreeSGD

torch.set_num_threads(1)


def _tile(params, groups):
    return [p.repeat((groups,) + (1,) * (p.dim() - 1)) for p in params]


def test_common_batches_give_each_seed_the_same_minibatches_in_every_group():
    """Member i of every group uses row i of the table: a group equals the same seeds trained alone."""
    seeds, steps = 3, 12
    table = batch_table(steps, seeds, 8, seed=1, device="cpu")
    base = init_population(seeds, seed=2, device="cpu")
    rates = np.concatenate([np.full((seeds, steps), 0.3), np.full((seeds, steps), 0.1)])
    both = train_population(rates, 8, batches=table, params=_tile(base, 2), device="cpu")
    alone = train_population(rates[seeds:], 8, batches=table, params=base, device="cpu")
    np.testing.assert_allclose(both["final"]["train_loss"][seeds:], alone["final"]["train_loss"], rtol=1e-5)
    # and the table really is used: another table gives other results
    other = train_population(rates[seeds:], 8, batches=batch_table(steps, seeds, 8, seed=9, device="cpu"),
                             params=base, device="cpu")
    assert not np.allclose(other["final"]["train_loss"], alone["final"]["train_loss"])


def test_schedule_free_population_matches_the_torch_optimizer():
    """optimizer="schedule_free" runs the recursion of lrlab.schedule_free.ScheduleFreeSGD, evaluated at x."""
    seeds, steps, warmup, lr = 3, 40, 10, 0.7
    table = batch_table(steps, seeds, 16, seed=5, device="cpu")
    base = init_population(seeds, seed=4, device="cpu")
    rates = np.tile(lr * np.minimum(1.0, (np.arange(steps) + 1) / warmup), (seeds, 1))
    run = train_population(rates, 16, momentum=0.9, optimizer="schedule_free", batches=table, params=base,
                           device="cpu")
    model = PopulationModule(base)
    split = data("cpu")
    opt = ScheduleFreeSGD(model.parameters(), lr=lr, momentum=0.9, warmup_steps=warmup)
    for t in range(steps):
        opt.zero_grad()
        model.losses(split.x_train[table[t]], split.y_train[table[t]]).sum().backward()
        opt.step()
    opt.eval()
    for a, b in zip(run["average"], model.weights):
        torch.testing.assert_close(a, b.detach(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(run["final"]["train_loss"],
                               evaluate(list(model.weights), split.x_train, split.y_train)["loss"], rtol=1e-4)


def test_zero_rates_leave_every_member_unchanged():
    base = init_population(2, seed=0, device="cpu")
    for opt in ("sgd", "adam", "schedule_free"):
        run = train_population(np.zeros((2, 5)), 8, seed=3, params=base, optimizer=opt,
                               momentum=0.0 if opt == "schedule_free" else 0.9, device="cpu")
        for a, b in zip(run["params"], base):
            assert torch.equal(a, b), opt


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"optimizer": "schedule_free", "momentum": np.full((2, 4), 0.9)}, "interpolation"),
    ({"batches": torch.zeros(4, 3, 8, dtype=torch.long)}, "batches"),
    ({"batches": torch.zeros(2, 2, 8, dtype=torch.long)}, "batches"),
])
def test_train_population_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_population(np.full((2, 4), 0.1), 8, device="cpu", **kwargs)


def test_batch_table_draws_distinct_examples_per_step():
    table = batch_table(6, 4, 32, seed=0, device="cpu")
    assert table.shape == (6, 4, 32)
    assert all(len(set(row.tolist())) == 32 for row in table.reshape(-1, 32))
    assert torch.equal(table, batch_table(6, 4, 32, seed=0, device="cpu"))
