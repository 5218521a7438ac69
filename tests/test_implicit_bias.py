"""Unit tests of lrlab.implicit_bias: data, the homogeneous SVM, gradient descent (numpy and torch), angles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import implicit_bias as ib


@pytest.fixture(scope="module")
def data():
    return ib.separable_data(n=30, seed=3)


def test_data_are_separable_through_the_origin_and_mirrored(data):
    X, y = data
    assert X.shape == (30, 2)
    np.testing.assert_allclose(X[:15], -X[15:])
    w = ib.hard_margin_svm(X, y)
    assert np.all(y * (X @ w) >= 1 - 1e-8)


def test_svm_satisfies_kkt_conditions(data):
    """w = sum_n alpha_n y_n x_n with alpha >= 0 supported on the margin-1 examples."""
    X, y = data
    w = ib.hard_margin_svm(X, y)
    margins = y * (X @ w)
    support = np.isclose(margins, 1.0, atol=1e-6)
    assert 2 <= support.sum() < len(y) // 2  # mirrored data: support vectors come in pairs +-x
    from scipy.optimize import nnls

    alpha, residual = nnls((y[:, None] * X)[support].T, w)  # alpha >= 0 by construction
    assert residual < 1e-7


def test_svm_scipy_and_sklearn_agree(data):
    X, y = data
    np.testing.assert_allclose(ib.hard_margin_svm(X, y), ib.hard_margin_svm_sklearn(X, y), rtol=1e-5, atol=1e-7)


def test_svm_rejects_non_separable_data():
    X = np.array([[1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="separable"):
        ib.hard_margin_svm(X, [1.0, -1.0])


def test_gradient_matches_finite_differences(data):
    """One step of logistic_gd equals w - eta * numerical gradient of the mean logistic loss."""
    X, y = data
    w0 = np.array([0.3, -0.2])
    loss = lambda w: np.mean(np.logaddexp(0.0, -y * (X @ w)))
    eps = 1e-6
    grad = np.array([(loss(w0 + eps * e) - loss(w0 - eps * e)) / (2 * eps) for e in np.eye(2)])
    _, W = ib.logistic_gd(X, y, [0.5], 1, record=[1], w0=w0)
    np.testing.assert_allclose(W[0], w0 - 0.5 * grad, atol=1e-8)


def test_normalized_step_has_length_eta_even_when_the_gradient_underflows(data):
    X, y = data
    w_far = 1e4 * ib.hard_margin_svm(X, y)  # margins ~ 1e4: exp(-margin) underflows to 0
    _, W = ib.logistic_gd(X, y, [0.1], 1, normalize=True, record=[1], w0=w_far)
    assert np.linalg.norm(W[0] - w_far) == pytest.approx(0.1, rel=1e-12)
    _, Wt = ib.logistic_gd_torch(X, y, [0.1], 1, normalize=True, record=[1], w0=w_far, device="cpu")
    np.testing.assert_allclose(Wt, W, rtol=1e-12)


def test_numpy_and_torch_agree_for_all_rate_kinds(data):
    X, y = data
    rates = 1 / np.sqrt(np.arange(300) + 1.0)
    for normalize in (False, True):
        sa, a = ib.logistic_gd(X, y, rates, 300, normalize=normalize)
        sb, b = ib.logistic_gd_torch(X, y, rates, 300, normalize=normalize, device="cpu")
        np.testing.assert_array_equal(sa, sb)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_loss_decreases_and_norm_grows(data):
    X, y = data
    steps, W = ib.logistic_gd(X, y, np.ones(2000), 2000)
    losses = np.mean(np.logaddexp(0.0, -(y[None, :] * (W @ X.T))), axis=1)
    assert np.all(np.diff(losses) < 0)
    assert np.all(np.diff(np.linalg.norm(W, axis=1)) > 0)


def test_direction_approaches_the_svm(data):
    X, y = data
    w_svm = ib.hard_margin_svm(X, y)
    steps, W = ib.logistic_gd(X, y, np.ones(5000), 5000, record=[10, 5000])
    angles = ib.angle_to(W, w_svm)
    assert angles[1] < angles[0]


def test_record_steps_and_angle():
    steps = ib.record_steps(1000, 30)
    assert steps[0] == 1 and steps[-1] == 1000 and np.all(np.diff(steps) > 0)
    assert ib.angle_to([[1.0, 1.0]], [1.0, 0.0])[0] == pytest.approx(np.pi / 4)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ib.separable_data(n=5), "n"),
        (lambda: ib.separable_data(spread=0.0), "spread"),
        (lambda: ib.hard_margin_svm([[1.0, 0.0]], [2.0]), "y"),
        (lambda: ib.hard_margin_svm([1.0, 0.0], [1.0]), "X"),
        (lambda: ib.logistic_gd([[1.0, 0.0]], [1.0], [0.1], 1, record=[2]), "record"),
        (lambda: ib.logistic_gd([[1.0, 0.0]], [1.0], [0.1], 0), "total_steps"),
        (lambda: ib.hard_margin_svm_sklearn([[1.0, 0.0]], [1.0], C=-1.0), "C"),
        (lambda: ib.angle_to([[0.0, 0.0]], [1.0, 0.0]), "zero"),
        (lambda: ib.logistic_gd_torch([[1.0, 0.0]], [1.0], [0.1], 1, device="nonsense"), "device"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_torch_on_gpu_matches_numpy(data):
    X, y = data
    _, a = ib.logistic_gd(X, y, np.ones(200), 200, record=[200])
    _, b = ib.logistic_gd_torch(X, y, np.ones(200), 200, record=[200], device="cuda")
    np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.parametrize("gap, seed", [(1.5, 0), (2.0, 1), (3.0, 2)])
def test_gap_data_have_the_closed_form_svm_and_the_gap(gap, seed):
    X, y = ib.separable_data_with_gap(n=16, gap=gap, support=(0.5, 0.25), seed=seed)
    np.testing.assert_allclose(X[:8], -X[8:])
    w = ib.hard_margin_svm(X, y)
    np.testing.assert_allclose(w, np.array([0.5, 0.25]) / 0.3125, rtol=1e-6)
    r = np.sort(ib.margin_ratios(X, y, w))
    assert r[:2] == pytest.approx([1.0, 1.0], abs=1e-6) and r[2] >= gap - 1e-9


def test_gap_data_reject_bad_arguments():
    with pytest.raises(ValueError, match="gap"):
        ib.separable_data_with_gap(gap=1.0)
    with pytest.raises(ValueError, match="support"):
        ib.separable_data_with_gap(support=(0.0, 0.0))
    with pytest.raises(ValueError, match="lower gap"):
        ib.separable_data_with_gap(gap=50.0)
    with pytest.raises(ValueError, match="separate"):
        ib.margin_ratios([[1.0, 0.0], [-1.0, 0.0]], [1.0, -1.0], [-1.0, 0.0])
