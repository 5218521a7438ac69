"""lrlab.nqm: the exact moment recursion against Monte Carlo and closed forms; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import schedules as S
from lrlab.nqm import NoisyQuadratic, compare_schedules, rates_of, tune_peak_lr


@pytest.fixture(scope="module")
def nqm():
    return NoisyQuadratic.power_law(dim=20, h_max=1.0, batch_size=4)


def test_recursion_matches_closed_form_without_noise():
    """With sigma = 0 and a constant rate the recursion is theta0^2 (1 - eta h)^(2t)."""
    q = NoisyQuadratic(h=[0.5, 2.0], sigma2=[0.0, 0.0], theta0=[1.0, -3.0])
    m = q.second_moments(S.constant_schedule(0.3), total_steps=50)
    t = np.arange(51)[:, None]
    np.testing.assert_allclose(m, q.theta0**2 * (1 - 0.3 * q.h) ** (2 * t), rtol=1e-12)


def test_noise_floor_formula_matches_long_run_recursion(nqm):
    for lr in (0.05, 0.3, 1.0, 1.8):
        floor = nqm.noise_floor(lr)
        # the slowest coordinate contracts like (1 - lr h_min)^2 per step
        steps = int(40 / (lr * nqm.h.min()))
        long_run = nqm.expected_loss(S.constant_schedule(lr), steps)[-1]
        assert long_run == pytest.approx(floor, rel=1e-6), f"lr={lr}"


def test_noise_floor_per_coordinate_formula():
    q = NoisyQuadratic(h=[2.0], sigma2=[3.0], batch_size=5)
    eta = 0.4
    assert q.noise_floor(eta) == pytest.approx(eta * 3.0 / (2 * 5 * (2 - eta * 2.0)))


@pytest.mark.parametrize(
    "schedule",
    [S.constant_schedule(0.5), S.cosine_schedule(1.5, 300), S.linear_warmup(S.step_schedule(1.0, 100, 0.3), 30)],
    ids=["constant", "cosine", "warmup-step"],
)
def test_monte_carlo_agrees_with_exact_recursion_within_sampling_error(nqm, schedule):
    T = 300
    exact = nqm.expected_loss(schedule, T)
    mc = nqm.simulate(schedule, T, n_seeds=3000, seed=1, device="cpu")
    z = (mc.mean[1:] - exact[1:]) / mc.stderr[1:]
    # 300 correlated z-scores: each should be O(1); 4.5 sigma is a generous but meaningful bound
    assert np.max(np.abs(z)) < 4.5, f"max |z| = {np.max(np.abs(z)):.2f} at step {int(np.argmax(np.abs(z))) + 1}"
    assert abs(np.mean(z)) < 1.5
    # and a biased simulation would be caught: a 5% error in the noise is many standard errors away
    assert np.mean(np.abs((1.05 * exact[-50:] - mc.mean[-50:]) / mc.stderr[-50:])) > 3


def test_monte_carlo_is_seeded_and_reports_device(nqm):
    a = nqm.simulate(S.constant_schedule(0.5), 20, n_seeds=100, seed=3, device="cpu")
    b = nqm.simulate(S.constant_schedule(0.5), 20, n_seeds=100, seed=3, device="cpu")
    np.testing.assert_array_equal(a.mean, b.mean)
    assert a.device == "cpu" and a.n_seeds == 100 and a.mean.shape == (21,)


def test_stability_limit_separates_convergence_from_divergence():
    q = NoisyQuadratic(h=[4.0, 1.0], sigma2=[0.0, 0.0])
    assert q.stability_limit == 0.5
    below = q.expected_loss(S.constant_schedule(0.99 * q.stability_limit), 2000)
    above = q.expected_loss(S.constant_schedule(1.01 * q.stability_limit), 2000)
    assert below[-1] < 1e-6 * below[0]
    assert above[-1] > 1e6 * above[0]


def test_decaying_schedules_beat_the_constant_floor(nqm):
    T = 1000
    grid = np.geomspace(0.05, 1.95, 25)
    factories = {
        "constant": S.constant_schedule,
        "cosine": lambda lr: S.cosine_schedule(lr, T),
        "linear": lambda lr: S.polynomial_schedule(lr, T),
        "step": lambda lr: S.multistep_schedule(lr, [T // 2, 3 * T // 4]),
    }
    table = compare_schedules(nqm, factories, T, grid)
    final = dict(zip(table.schedule, table.final_loss))
    for name in ("cosine", "linear", "step"):
        assert final[name] < final["constant"], table
    assert list(table.final_loss) == sorted(table.final_loss)


def test_tune_peak_lr_treats_divergence_as_infinite(nqm):
    best, loss, finals = tune_peak_lr(nqm, S.constant_schedule, 1000, [0.5, 2.5])
    assert best == 0.5 and np.isinf(finals[1]) and np.isfinite(loss)


def test_expected_loss_accepts_a_batch_of_rate_arrays(nqm):
    rates = np.stack([rates_of(S.constant_schedule(lr), 50) for lr in (0.1, 0.2)])
    batch = nqm.expected_loss(rates)
    assert batch.shape == (2, 51)
    np.testing.assert_allclose(batch[1], nqm.expected_loss(S.constant_schedule(0.2), 50))


def test_loss_works_on_numpy_and_torch(nqm):
    theta = np.ones((3, nqm.dim))
    np.testing.assert_allclose(nqm.loss(theta), 0.5 * nqm.h.sum())
    assert torch.allclose(nqm.loss(torch.ones(3, nqm.dim, dtype=torch.float64)), torch.tensor(0.5 * nqm.h.sum(), dtype=torch.float64))


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: NoisyQuadratic(h=[1.0, -1.0], sigma2=[1.0, 1.0]), "every curvature h_i must be finite and > 0"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0, 2.0]), "sigma2 must have the shape of h"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[-1.0]), "sigma2_i must be finite and >= 0"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0], batch_size=0), "batch_size must be >= 1, got batch_size=0"),
        (lambda: NoisyQuadratic(h=[2.0], sigma2=[1.0]).noise_floor(1.0), "at or beyond the stability limit"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0]).expected_loss(S.constant_schedule(0.1)), "total_steps is required"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0]).expected_loss(S.constant_schedule(0.1), 0), "total_steps must be >= 1"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0]).expected_loss([0.1, -0.1]), "rates must be >= 0"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0]).expected_loss([0.1, float("inf")]), "got rate=inf at step 1"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0]).simulate([0.1], n_seeds=1), "n_seeds must be >= 2"),
        (lambda: NoisyQuadratic(h=[1.0], sigma2=[1.0]).simulate([0.1], device="tpu"), "device must be"),
    ],
)
def test_bad_input_raises_value_error(make, fragment):
    with pytest.raises(ValueError) as err:
        make()
    assert fragment in str(err.value)


def test_asking_for_cuda_without_a_gpu_says_so():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the error path cannot be exercised")
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        NoisyQuadratic(h=[1.0], sigma2=[1.0]).simulate([0.1], device="cuda")
