"""Unit tests of lrlab.batch_size: noise scale, batch ramps, the per-step-batch recursion, the gradient noise scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import batch_size as bs
from lrlab.stats import max_abs_z
from lrlab.nqm import NoisyQuadratic
from lrlab.schedules import constant_schedule, cosine_schedule


@pytest.fixture(scope="module")
def nqm():
    return NoisyQuadratic.power_law(dim=6, batch_size=4)


def test_noise_scale_is_rate_over_batch():
    assert bs.noise_scale(0.3, 6) == pytest.approx(0.05)
    np.testing.assert_allclose(bs.noise_scale([0.1, 0.2], [10, 40]), [0.01, 0.005])


@pytest.mark.parametrize("lr, batch, name", [(-0.1, 8, "lr"), (0.1, 0, "batch_size"), (float("nan"), 8, "lr")])
def test_noise_scale_rejects_bad_input_naming_it(lr, batch, name):
    with pytest.raises(ValueError, match=name):
        bs.noise_scale(lr, batch)


def test_batch_ramp_multiplies_at_milestones_on_numpy_int_and_torch():
    ramp = bs.BatchRamp(2, [3, 5], 3)
    assert ramp(np.arange(7)).tolist() == [2, 2, 2, 6, 6, 18, 18]
    assert ramp(4) == 6 and isinstance(ramp(4), int)
    assert ramp(torch.tensor([0, 5])).tolist() == [2, 18]


@pytest.mark.parametrize(
    "kwargs, name",
    [({"batch_size": 0, "milestones": [1], "factor": 2}, "batch_size"),
     ({"batch_size": 4, "milestones": [5, 5], "factor": 2}, "milestones"),
     ({"batch_size": 4, "milestones": [2], "factor": 1.5}, "factor"),
     ({"batch_size": 4, "milestones": [0], "factor": 2}, r"milestones\[0\]")],
)
def test_batch_ramp_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        bs.BatchRamp(**kwargs)


def test_noise_matched_schedule_keeps_rate_over_batch_constant():
    ramp = bs.BatchRamp(16, [50, 120, 300], 2)
    schedule = bs.noise_matched_schedule(ramp, lr_per_example=0.002)
    steps = np.arange(400)
    np.testing.assert_allclose(schedule(steps) / ramp(steps), 0.002, rtol=1e-15)
    assert schedule(0) == pytest.approx(0.032) and schedule(399) == pytest.approx(0.256)
    np.testing.assert_allclose(schedule(torch.tensor([0, 120])).numpy(), [0.032, 0.128])
    with pytest.raises(ValueError, match="lr_per_example"):
        bs.noise_matched_schedule(ramp, lr_per_example=0.0)


def test_samples_seen_and_batches_of():
    assert bs.samples_seen([3, 3, 6]).tolist() == [0, 3, 6, 12]
    assert bs.batches_of(bs.BatchRamp(1, [2], 5), 4).tolist() == [1, 1, 5, 5]
    with pytest.raises(ValueError, match="one batch size per step"):
        bs.batches_of([1, 2], 3)
    with pytest.raises(ValueError, match="integer >= 1"):
        bs.batches_of([1.5, 2.0], 2)


def test_recursion_with_constant_batch_is_the_nqm_recursion(nqm):
    schedule = cosine_schedule(0.8, 200, min_lr=0.01)
    ours = bs.expected_loss_with_batches(nqm, schedule, nqm.batch_size, 200)
    np.testing.assert_allclose(ours, nqm.expected_loss(schedule, 200), rtol=1e-13)


def test_recursion_with_a_ramp_matches_piecewise_nqm_runs(nqm):
    """Phase 2 of a ramp starts where phase 1 ended; each phase alone is the NQM recursion with that batch."""
    ramp = bs.BatchRamp(4, [30], 8)
    loss = bs.expected_loss_with_batches(nqm, constant_schedule(0.3), ramp, 60)
    first = NoisyQuadratic(nqm.h, nqm.sigma2, batch_size=4, theta0=nqm.theta0)
    m30 = first.second_moments(constant_schedule(0.3), 30)[-1]
    second = NoisyQuadratic(nqm.h, nqm.sigma2, batch_size=32, theta0=np.sqrt(m30))
    np.testing.assert_allclose(loss[:31], first.expected_loss(constant_schedule(0.3), 30), rtol=1e-13)
    np.testing.assert_allclose(loss[30:], second.expected_loss(constant_schedule(0.3), 30), rtol=1e-12)


def test_recursion_with_a_ramp_matches_monte_carlo(nqm):
    ramp = bs.BatchRamp(1, [40, 80], 4)
    schedule = constant_schedule(0.5)
    exact = bs.expected_loss_with_batches(nqm, schedule, ramp, 120)
    mc = bs.simulate_with_batches(nqm, schedule, ramp, 120, n_seeds=4000, seed=3, device="cpu")
    assert mc.device == "cpu"
    assert max_abs_z(mc, exact) < 4.5
    # and a wrong recursion (batch ignored after the first phase) is rejected by the same check
    wrong = bs.expected_loss_with_batches(nqm, schedule, 1, 120)
    assert max_abs_z(mc, wrong) > 10


def test_loss_at_samples_interpolates_and_refuses_extrapolation():
    np.testing.assert_allclose(bs.loss_at_samples([0, 4], [1.0, 0.01], [2]), [0.1])
    with pytest.raises(ValueError, match="at must lie within"):
        bs.loss_at_samples([0, 4], [1.0, 0.01], [5])


def test_gradient_noise_scale_is_scale_invariant_and_rejects_bad_shapes():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(500, 7)) + 0.5
    assert bs.gradient_noise_scale(3.0 * g) == pytest.approx(bs.gradient_noise_scale(g), rel=1e-12)
    assert bs.gradient_noise_scale(torch.tensor(g)) == pytest.approx(bs.gradient_noise_scale(g), rel=1e-12)
    with pytest.raises(ValueError, match="per_example_grads"):
        bs.gradient_noise_scale(g[:1])
    with pytest.raises(ValueError, match="not positive"):
        bs.gradient_noise_scale(rng.normal(size=(10, 50)))


def test_gradient_noise_scale_matches_the_nqm_closed_form(nqm):
    """Per-example NQM gradients h*theta + xi with Var(xi_i) = sigma_i^2: the estimate is unbiased."""
    theta = np.linspace(0.2, 1.0, nqm.dim)
    exact = bs.nqm_noise_scale(nqm, theta)
    rng = np.random.default_rng(1)
    estimates = [
        bs.gradient_noise_scale(nqm.h * theta + rng.normal(size=(4000, nqm.dim)) * np.sqrt(nqm.sigma2))
        for _ in range(10)
    ]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.03)


def test_linear_regression_noise_scale_formula_and_errors():
    assert bs.linear_regression_noise_scale(4, 2.0, 1.0) == pytest.approx(4 + 1 + 4 * 1 / 4)
    with pytest.raises(ValueError, match="distance"):
        bs.linear_regression_noise_scale(4, 0.0, 1.0)
    with pytest.raises(ValueError, match="noise_std"):
        bs.linear_regression_noise_scale(4, 1.0, -1.0)


def test_per_example_gradients_match_a_loop_of_backward_calls():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(2, (6,))
    fast = bs.per_example_gradients(model, torch.nn.functional.cross_entropy, x, y)
    rows = []
    for i in range(6):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(fast, torch.stack(rows), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="same, non-zero number"):
        bs.per_example_gradients(model, torch.nn.functional.cross_entropy, x, y[:3])
