"""Unit tests of lrlab.weight_decay: effective decay, cumulative shrink, L2 versus decoupled decay in torch."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab import weight_decay as wd
from lrlab.schedules import constant_schedule, cosine_schedule, multistep_schedule


@pytest.fixture(scope="module")
def data():
    """A small classification set with one feature that is zero everywhere (its weights get no data gradient)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5))
    x[:, 2] = 0.0
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 3] > 1).astype(int)
    return x, y


def test_effective_decay_is_rate_times_lambda():
    schedule = cosine_schedule(0.2, 10)
    np.testing.assert_allclose(wd.effective_decay(schedule, 0.01, 10), 0.01 * schedule(np.arange(10)))


def test_cumulative_shrink_is_the_running_product():
    rates = np.array([0.3, 0.1, 0.2, 0.05])
    expected = [1.0]
    for r in rates:
        expected.append(expected[-1] * (1 - r * 0.5))
    np.testing.assert_allclose(wd.cumulative_shrink(rates, 0.5), expected, rtol=1e-15)
    assert wd.cumulative_shrink(rates, 0.0).tolist() == [1.0] * 5


@pytest.mark.parametrize("lam, match", [(-0.1, "weight_decay must be >= 0"), (float("inf"), "weight_decay"),
                                        (10.0, "weight_decay=10.0 makes the effective decay")])
def test_cumulative_shrink_rejects_bad_lambda(lam, match):
    with pytest.raises(ValueError, match=match):
        wd.cumulative_shrink([0.1, 0.2], lam)


def test_sgd_l2_and_decoupled_are_the_same_algorithm(data):
    x, y = data
    schedule = multistep_schedule(0.5, [20, 40], gamma=0.3)
    runs = [wd.train_softmax_regression(x, y, schedule, 60, optimizer="sgd", decay=d, weight_decay=0.05,
                                        batch_size=8, device="cpu") for d in wd.DECAY_MODES]
    np.testing.assert_allclose(runs[0].weights, runs[1].weights, rtol=0, atol=1e-13)
    np.testing.assert_allclose(runs[0].rates, schedule(np.arange(60)))


def test_decay_only_weights_follow_the_cumulative_shrink_under_sgd_and_adamw(data):
    x, y = data
    schedule = cosine_schedule(0.3, 50)
    shrink = wd.cumulative_shrink(schedule, 0.2, 50)
    for optimizer in wd.OPTIMIZERS:
        run = wd.train_softmax_regression(x, y, schedule, 50, optimizer=optimizer, decay="decoupled",
                                          weight_decay=0.2, device="cpu")
        dead = run.weights[:, 2, :]
        np.testing.assert_allclose(dead, dead[0] * shrink[:, None], rtol=0, atol=1e-14)


def test_adam_l2_differs_from_adamw_only_through_the_decay(data):
    x, y = data
    schedule = constant_schedule(0.05)

    def run(decay, lam):
        return wd.train_softmax_regression(x, y, schedule, 40, optimizer="adam", decay=decay,
                                           weight_decay=lam, device="cpu").weights

    np.testing.assert_allclose(run("l2", 0.0), run("decoupled", 0.0), rtol=0, atol=1e-14)
    assert np.max(np.abs(run("l2", 0.1) - run("decoupled", 0.1))) > 1e-2
    # under Adam + L2 a decay-only weight first moves by exactly lr (Adam's step is lr * sign at step 1)
    w = run("l2", 0.1)[:, 2, :]
    np.testing.assert_allclose(np.abs(w[1] - w[0]), 0.05, rtol=1e-3)


def test_norms_and_losses_recorded(data):
    x, y = data
    run = wd.train_softmax_regression(x, y, constant_schedule(0.5), 30, device="cpu")
    assert run.weights.shape == (31, 5, 3) and run.losses.shape == (31,) and run.rates.shape == (30,)
    np.testing.assert_allclose(run.norms, np.linalg.norm(run.weights.reshape(31, -1), axis=1))
    assert run.losses[-1] < run.losses[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"optimizer": "rmsprop"}, "optimizer must be one of"), ({"decay": "l1"}, "decay must be one of"),
     ({"weight_decay": -1.0}, "weight_decay"), ({"batch_size": 0}, "batch_size"), ({"init_std": 0.0}, "init_std")],
)
def test_train_rejects_bad_arguments(data, kwargs, match):
    x, y = data
    with pytest.raises(ValueError, match=match):
        wd.train_softmax_regression(x, y, constant_schedule(0.1), 3, device="cpu", **kwargs)
