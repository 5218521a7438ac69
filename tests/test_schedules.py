"""lrlab.schedules: parity with torch.optim.lr_scheduler, properties, input types, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as L

from lrlab import schedules as S
from lrlab.torch_adapter import torch_lr_trace

N = 10_000  # steps compared against torch
PEAK = 0.1


def assert_close(ours, theirs, what, rtol=1e-9, atol=1e-12):
    diff = np.abs(ours - theirs)
    worst = int(np.argmax(diff - rtol * np.abs(theirs)))
    assert np.allclose(ours, theirs, rtol=rtol, atol=atol), (
        f"{what}: first worst mismatch at step {worst}: lrlab={ours[worst]!r}, torch={theirs[worst]!r}"
    )


# (ours, torch factory, tolerance): the same schedule written both ways.
PARITY = {
    "step": (S.step_schedule(PEAK, step_size=700, gamma=0.5), lambda o: L.StepLR(o, 700, 0.5), 1e-12),
    "multistep": (
        S.multistep_schedule(PEAK, [1000, 4000, 8000], gamma=0.3),
        lambda o: L.MultiStepLR(o, [1000, 4000, 8000], 0.3),
        1e-12,
    ),
    "exponential": (S.exponential_schedule(PEAK, 0.9995), lambda o: L.ExponentialLR(o, 0.9995), 1e-9),
    "polynomial": (
        S.polynomial_schedule(PEAK, total_steps=N, power=2.0),
        lambda o: L.PolynomialLR(o, total_iters=N, power=2.0),
        1e-7,
    ),
    "linear-to-zero": (
        S.polynomial_schedule(PEAK, total_steps=N, power=1.0),
        lambda o: L.PolynomialLR(o, total_iters=N, power=1.0),
        1e-7,
    ),
    "cosine": (
        S.cosine_schedule(PEAK, total_steps=N, min_lr=1e-3),
        lambda o: L.CosineAnnealingLR(o, T_max=N, eta_min=1e-3),
        1e-7,
    ),
    "restarts-mult1": (
        S.cosine_restarts_schedule(PEAK, cycle_steps=900, min_lr=1e-4),
        lambda o: L.CosineAnnealingWarmRestarts(o, T_0=900, eta_min=1e-4),
        1e-9,
    ),
    "restarts-mult2": (
        S.cosine_restarts_schedule(PEAK, cycle_steps=300, cycle_mult=2),
        lambda o: L.CosineAnnealingWarmRestarts(o, T_0=300, T_mult=2),
        1e-9,
    ),
    "one-cycle-cos": (
        S.one_cycle_schedule(PEAK, total_steps=N),
        lambda o: L.OneCycleLR(o, max_lr=PEAK, total_steps=N, cycle_momentum=False),
        1e-9,
    ),
    "one-cycle-linear-3phase": (
        S.one_cycle_schedule(PEAK, total_steps=N, pct_start=0.25, anneal="linear", three_phase=True),
        lambda o: L.OneCycleLR(
            o, max_lr=PEAK, total_steps=N, pct_start=0.25, anneal_strategy="linear", three_phase=True, cycle_momentum=False
        ),
        1e-9,
    ),
    "constant": (S.constant_schedule(PEAK), lambda o: L.LambdaLR(o, lambda s: 1.0), 0),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_parity_with_torch_over_10k_steps(name):
    ours, make, tol = PARITY[name]
    theirs = torch_lr_trace(make, N, base_lr=PEAK)
    assert_close(ours(np.arange(N)), theirs, name, rtol=tol, atol=tol * PEAK)


def test_cosine_differs_from_torch_past_total_steps():
    """Documented difference: torch's CosineAnnealingLR climbs back up after T_max; ours holds min_lr."""
    T = 100
    ours = S.cosine_schedule(PEAK, T, min_lr=0.0)(np.arange(2 * T))
    theirs = torch_lr_trace(lambda o: L.CosineAnnealingLR(o, T_max=T), 2 * T, base_lr=PEAK)
    assert np.allclose(ours[: T + 1], theirs[: T + 1], atol=1e-12)
    assert np.all(ours[T:] == 0.0)
    assert theirs[-1] > 0.9 * PEAK  # torch is almost back at the peak after 2T


# --- properties ------------------------------------------------------------------------------

DECAYING = {
    "step": S.step_schedule(PEAK, 10, 0.5),
    "multistep": S.multistep_schedule(PEAK, [10, 50]),
    "exponential": S.exponential_schedule(PEAK, 0.97),
    "polynomial": S.polynomial_schedule(PEAK, 100, power=3.0, min_lr=1e-3),
    "cosine": S.cosine_schedule(PEAK, 100, min_lr=1e-3),
}


def test_inverse_sqrt_rises_during_warmup_then_decays_as_one_over_sqrt_t():
    s = S.inverse_sqrt_schedule(PEAK, warmup_steps=50)
    assert np.all(np.diff(s(np.arange(51))) > 0)
    tail = np.arange(50, 5000)
    assert np.all(np.diff(s(tail)) < 0)
    np.testing.assert_allclose(s(tail) * np.sqrt(tail), PEAK * np.sqrt(50), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(DECAYING))
def test_decaying_schedules_are_monotone_non_increasing(name):
    lr = DECAYING[name](np.arange(300))
    assert np.all(np.diff(lr) <= 1e-15), f"{name} increases at step {int(np.argmax(np.diff(lr)))}"
    assert lr[0] == pytest.approx(PEAK)


@pytest.mark.parametrize(
    "sched, step, expected",
    [
        (S.cosine_schedule(1.0, 10, min_lr=0.1), 0, 1.0),
        (S.cosine_schedule(1.0, 10, min_lr=0.1), 5, 0.55),
        (S.cosine_schedule(1.0, 10, min_lr=0.1), 10, 0.1),
        (S.cosine_schedule(1.0, 10, min_lr=0.1), 10_000, 0.1),
        (S.polynomial_schedule(2.0, 4, power=2.0), 2, 0.5),
        (S.polynomial_schedule(2.0, 4, min_lr=1.0), 4, 1.0),
        (S.linear_schedule(0.2, 0.0, 10), 5, 0.1),
        (S.step_schedule(1.0, 3, 0.5), 3, 0.5),
        (S.exponential_schedule(1.0, 0.5), 10, 0.5**10),
        (S.inverse_sqrt_schedule(1.0, 100), 400, 0.5),
        (S.inverse_sqrt_schedule(1.0, 100), 50, 0.5),
        (S.wsd_schedule(1.0, 100, warmup_steps=10, decay_steps=20, min_lr=0.1), 10, 1.0),
        (S.wsd_schedule(1.0, 100, warmup_steps=10, decay_steps=20, min_lr=0.1), 80, 1.0),
        (S.wsd_schedule(1.0, 100, warmup_steps=10, decay_steps=20, min_lr=0.1), 90, 0.55),
        (S.wsd_schedule(1.0, 100, warmup_steps=10, decay_steps=20, min_lr=0.1), 100, 0.1),
        (S.wsd_schedule(1.0, 100, decay_steps=25, decay="sqrt"), 100, 0.0),
        (S.wsd_schedule(1.0, 100, decay_steps=20, decay="cosine"), 90, 0.5),
        (S.cosine_restarts_schedule(1.0, 10, peak_decay=0.5), 10, 0.5),
        (S.cosine_restarts_schedule(1.0, 10, peak_decay=0.5), 20, 0.25),
    ],
)
def test_boundary_values(sched, step, expected):
    assert sched(step) == pytest.approx(expected, rel=1e-12, abs=1e-15), f"{sched!r} at step {step}"


def test_warmup_ramps_linearly_then_hands_over_local_step():
    base = S.cosine_schedule(1.0, 100)
    s = S.linear_warmup(base, warmup_steps=20, start_lr=0.1)
    assert s(0) == pytest.approx(0.1)
    assert s(10) == pytest.approx(0.55)
    assert s(20) == pytest.approx(base(0))
    assert s(70) == pytest.approx(base(50))  # the wrapped schedule sees step t - warmup_steps
    assert S.linear_warmup(base, 0) is base


def test_warmup_cosine_total_steps_includes_warmup():
    s = S.warmup_cosine_schedule(1.0, total_steps=100, warmup_steps=10, min_lr=0.01)
    assert s(10) == pytest.approx(1.0)
    assert s(100) == pytest.approx(0.01)
    assert s(55) == pytest.approx(0.01 + 0.99 * 0.5)


def test_join_gives_each_piece_its_local_step():
    a, b, c = S.constant_schedule(1.0), S.linear_schedule(1.0, 0.0, 10), S.exponential_schedule(0.5, 0.5)
    s = S.join([a, b, c], [5, 15])
    assert s(4) == 1.0 and s(5) == b(0) and s(10) == b(5) and s(15) == c(0) and s(17) == c(2)


def test_restart_boundaries_exact_with_cycle_mult_3():
    """Cycle starts at 0, T0, T0(1+m), ... are found exactly despite the logarithm."""
    s = S.cosine_restarts_schedule(1.0, cycle_steps=7, cycle_mult=3)
    starts = [0, 7, 7 + 21, 7 + 21 + 63, 7 + 21 + 63 + 189]
    assert np.all(s(starts) == 1.0)
    assert np.all(s([x - 1 for x in starts[1:]]) < 0.1)


def test_one_cycle_peak_and_end_values():
    s = S.one_cycle_schedule(1.0, total_steps=1001, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    lr = s(np.arange(1001))
    assert lr.max() == pytest.approx(1.0, rel=1e-5)
    assert lr[0] == pytest.approx(1 / 25)
    assert lr[-1] == pytest.approx(1 / 25 / 1e4)


# --- input types -------------------------------------------------------------------------------

ALL = {
    **{k: v for k, (v, _, _) in PARITY.items()},
    **DECAYING,
    "wsd": S.wsd_schedule(PEAK, 1000, 100, 200),
    "warmup-cosine": S.warmup_cosine_schedule(PEAK, 1000, 50),
    "inverse_sqrt": S.inverse_sqrt_schedule(PEAK, 100),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_int_numpy_and_torch_inputs_agree(name):
    s = ALL[name]
    steps = np.arange(0, 3000, 37)
    as_numpy = s(steps)
    as_ints = np.array([s(int(t)) for t in steps])
    as_torch = s(torch.arange(0, 3000, 37))
    assert isinstance(s(5), float)
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.float64
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float64
    np.testing.assert_allclose(as_ints, as_numpy, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(as_torch.numpy(), as_numpy, rtol=1e-12, atol=1e-16)


def test_shapes_are_preserved():
    s = S.cosine_schedule(1.0, 10)
    assert s(np.zeros((3, 4), dtype=int)).shape == (3, 4)
    assert s(torch.zeros(2, 5)).shape == (2, 5)
    assert s(np.float64(3.0)) == s(3)


def test_schedules_are_pure():
    s = S.cosine_restarts_schedule(1.0, 10, cycle_mult=2)
    first = s(np.arange(100))
    s(np.arange(1000))
    np.testing.assert_array_equal(first, s(np.arange(100)))


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: S.cosine_schedule(0.1, total_steps=0), "total_steps must be >= 1, got total_steps=0"),
        (lambda: S.cosine_schedule(-0.1, 10), "peak_lr must be > 0, got peak_lr=-0.1"),
        (lambda: S.cosine_schedule(float("nan"), 10), "peak_lr must be finite"),
        (lambda: S.cosine_schedule(0.1, 10, min_lr=0.2), "min_lr must be <= peak_lr"),
        (lambda: S.cosine_schedule(0.1, 10, min_lr=-1e-3), "min_lr must be >= 0"),
        (lambda: S.cosine_schedule(0.1, 10.5), "total_steps must be an integer, got total_steps=10.5"),
        (lambda: S.polynomial_schedule(0.1, 10, power=0), "power must be > 0"),
        (lambda: S.step_schedule(0.1, 0), "step_size must be >= 1"),
        (lambda: S.multistep_schedule(0.1, [5, 3]), "milestones must be strictly increasing"),
        (lambda: S.exponential_schedule(0.1, gamma=0.0), "gamma must be > 0"),
        (lambda: S.warmup_cosine_schedule(0.1, total_steps=10, warmup_steps=20), "warmup_steps must be < total_steps=10"),
        (lambda: S.wsd_schedule(0.1, 100, warmup_steps=200), "warmup_steps must be <= total_steps=100"),
        (lambda: S.wsd_schedule(0.1, 100, warmup_steps=50, decay_steps=60), "warmup_steps + decay_steps"),
        (lambda: S.wsd_schedule(0.1, 100, decay="cubic"), "decay must be one of"),
        (lambda: S.linear_warmup(lambda t: 0.1, 10), "schedule must be a Schedule"),
        (lambda: S.linear_warmup(S.constant_schedule(0.1), -1), "warmup_steps must be >= 0"),
        (lambda: S.join([S.constant_schedule(0.1)], [5]), "len(boundaries) == len(schedules) - 1"),
        (lambda: S.join([], []), "at least one schedule"),
        (lambda: S.cosine_restarts_schedule(0.1, 10, cycle_mult=1.5), "cycle_mult must be an integer"),
        (lambda: S.cosine_restarts_schedule(0.1, 10, peak_decay=0.0), "peak_decay must be in (0, 1]"),
        (lambda: S.one_cycle_schedule(0.1, 10, pct_start=1.0), "pct_start must be in (0, 1)"),
        (lambda: S.one_cycle_schedule(0.1, 10, anneal="cosine"), "anneal must be 'cos' or 'linear'"),
        (lambda: S.inverse_sqrt_schedule(0.1, 0), "warmup_steps must be >= 1"),
        (lambda: S.constant_schedule(True), "peak_lr must be a real number"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(make, fragment):
    with pytest.raises(ValueError) as err:
        make()
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "step, fragment",
    [
        (-1, "step must be >= 0, got step=-1"),
        (2.5, "step must be an integer count of optimizer steps, got step=2.5"),
        (float("nan"), "step must be a number, got step=nan"),
        (np.array([0, 1, -3]), "got step=-3"),
        (torch.tensor([0.0, 1.5]), "got step=1.5"),
        ("ten", "step must be an integer or an array of integers"),
    ],
)
def test_bad_steps_raise_value_error(step, fragment):
    with pytest.raises(ValueError) as err:
        S.cosine_schedule(0.1, 10)(step)
    assert fragment in str(err.value)


def test_repr_names_the_factory_and_arguments():
    assert repr(S.cosine_schedule(0.1, 10)) == "cosine_schedule(peak_lr=0.1, total_steps=10, min_lr=0.0)"
    assert math.isclose(S.cosine_schedule(0.1, 10)(0), 0.1)
