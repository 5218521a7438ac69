"""lrlab.dp_sgd: per-example gradients, clipping, noise, Poisson sampling, the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import dp_sgd
from lrlab.data import digits
from lrlab.schedules import constant_schedule, cosine_schedule

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small():
    model = dp_sgd.mlp(64, 8, 3)
    params = {k: v[0] for k, v in dp_sgd.init_params(model, 1, torch.Generator().manual_seed(1), "cpu").items()}
    data = digits(classes=[0, 1, 2], device="cpu")
    return model, params, data


def test_per_example_grads_equal_a_loop_of_single_backward_passes(small):
    model, params, data = small
    x, y = data.x_train[:7], data.y_train[:7]
    got = dp_sgd.per_example_grads(model, params, x, y)
    for i in range(7):
        p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        logits = torch.func.functional_call(model, p, (x[i:i + 1],))
        torch.nn.functional.cross_entropy(logits, y[i:i + 1]).backward()
        for k in p:
            # float32: the two paths order the sums differently; measured gaps <= 1e-7
            torch.testing.assert_close(got[k][i], p[k].grad, rtol=1e-5, atol=1e-6)
    flat = dp_sgd.flatten_per_example(got)
    assert flat.shape == (7, sum(v.numel() for v in params.values()))
    # the mean of the per-example gradients is the batch gradient
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    torch.nn.functional.cross_entropy(torch.func.functional_call(model, p, (x,)), y).backward()
    torch.testing.assert_close(got["0.weight"].mean(0), p["0.weight"].grad, rtol=1e-5, atol=1e-6)



@pytest.mark.parametrize("hidden", [0, 8])
def test_mlp_clipped_sum_equals_per_example_clipping_summed(hidden):
    """The closed form (outer products, no per-example tensors) against vmap(grad), clip_per_example and a masked sum."""
    data = digits(classes=[0, 1, 2], device="cpu")
    model = dp_sgd.mlp(64, hidden, 3)
    runs, n = 3, 11
    stacked = dp_sgd.init_params(model, runs, torch.Generator().manual_seed(4), "cpu")
    idx = torch.randint(0, len(data.y_train), (runs, n), generator=torch.Generator().manual_seed(5))
    valid = torch.rand(runs, n, generator=torch.Generator().manual_seed(6)) < 0.7
    _, norms = dp_sgd.mlp_clipped_sum(stacked, data.x_train[idx], data.y_train[idx], 1e9, valid)
    c = float(norms[valid].median())  # half the examples clipped, half not
    sums, norms = dp_sgd.mlp_clipped_sum(stacked, data.x_train[idx], data.y_train[idx], c, valid)
    clipped_any = unclipped_any = False
    for r in range(runs):
        params = {k: v[r] for k, v in stacked.items()}
        grads = dp_sgd.per_example_grads(model, params, data.x_train[idx[r]], data.y_train[idx[r]])
        flat, ref_norms = dp_sgd.clip_per_example(dp_sgd.flatten_per_example(grads), c)
        torch.testing.assert_close(norms[r], ref_norms, rtol=1e-5, atol=1e-6)  # float32, other summation order
        expected = (flat * valid[r].unsqueeze(1)).sum(0)
        got = torch.cat([sums[k][r].reshape(-1) for k in stacked])
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        clipped_any |= bool((ref_norms[valid[r]] > c).any())
        unclipped_any |= bool((ref_norms[valid[r]] <= c).any())
    assert clipped_any and unclipped_any  # both branches of min(1, C/|g|) are compared


def test_clipping_caps_the_norm_and_keeps_small_gradients():
    g = torch.Generator().manual_seed(0)
    grads = torch.randn(200, 30, generator=g, dtype=torch.float64) * torch.logspace(-2, 1, 200, dtype=torch.float64)[:, None]
    clipped, norms = dp_sgd.clip_per_example(grads, max_norm=1.5)
    new = clipped.norm(dim=1)
    assert torch.all(new <= 1.5 * (1 + 1e-12))
    big = norms > 1.5
    assert big.any() and (~big).any()
    torch.testing.assert_close(new[big], torch.full_like(new[big], 1.5))
    torch.testing.assert_close(clipped[~big], grads[~big], rtol=0, atol=0)  # unchanged below C
    # the direction is kept
    cos = (clipped * grads).sum(1) / (new * norms)
    torch.testing.assert_close(cos, torch.ones_like(cos))
    # batched over runs, and zero gradients stay zero
    batched, _ = dp_sgd.clip_per_example(torch.zeros(2, 3, 4), 1.0)
    assert torch.all(batched == 0)


def test_noise_standard_deviation_by_simulation():
    """Each coordinate of the privatized mean has std sigma C / (q N) around sum / (q N)."""
    g = torch.Generator().manual_seed(3)
    total = torch.zeros(20_000, 8, dtype=torch.float64) + 2.0
    out = dp_sgd.noisy_mean(total, noise_multiplier=1.3, max_norm=0.7, expected_batch=25.0, generator=g)
    sd = 1.3 * 0.7 / 25.0
    # 160000 draws: the sample mean is within 5 standard errors (sd / 400), the sample std within 1 %
    assert abs(float(out.mean()) - 2.0 / 25.0) < 5 * sd / 400
    assert float(out.std()) == pytest.approx(sd, rel=0.01)
    assert torch.all(dp_sgd.noisy_mean(total[:2], 0.0, 0.7, 25.0, g) == 2.0 / 25.0)


def test_poisson_batch_size_mean_and_variance():
    """Batch sizes are Binomial(n, q): mean q n, variance q n (1 - q)."""
    g = torch.Generator().manual_seed(7)
    n, q = 500, 0.04
    masks = dp_sgd.poisson_masks(4000, n, q, g)
    sizes = masks.sum(1).double()
    mean, var = q * n, q * n * (1 - q)
    # 4000 batches: mean within 5 standard errors; variance within 8 % (its relative se is ~ sqrt(2/4000) = 2.2 %)
    assert abs(float(sizes.mean()) - mean) < 5 * np.sqrt(var / 4000)
    assert float(sizes.var()) == pytest.approx(var, rel=0.08)
    # every example equally likely (no position bias): per-example frequency within 6 se
    freq = masks.double().mean(0)
    assert float((freq - q).abs().max()) < 6 * np.sqrt(q * (1 - q) / 4000)
    idx = dp_sgd.poisson_sample(n, q, torch.Generator().manual_seed(1))
    assert idx.dtype == torch.long and idx.ndim == 1 and torch.all(idx[1:] > idx[:-1])


def test_training_runs_learn_and_report_shapes():
    data = digits(classes=[0, 1, 2], device="cpu")
    run = dp_sgd.train_dp_sgd(data, [constant_schedule(0.5), cosine_schedule(0.5, 40)], 40, sample_rate=0.1,
                              noise_multiplier=1.0, max_norm=1.0, hidden=8, n_seeds=3, seed=0, device="cpu")
    assert run.test_accuracy.shape == (2, 3) and run.clip_fraction.shape == (2, 40) and run.batch_sizes.shape == (40, 3)
    # three well-separated classes: far above chance (1/3) after 40 noisy steps (measured 0.94 .. 0.99)
    assert np.all(run.test_accuracy > 0.7)
    assert np.all((run.clip_fraction >= 0) & (run.clip_fraction <= 1))
    # common random numbers: both schedules saw the same batches; seeds differ from each other
    assert abs(run.batch_sizes.mean() - 0.1 * len(data.y_train)) < 5
    assert not torch.equal(run.params["0.weight"][0, 0], run.params["0.weight"][0, 1])
    # the same seed gives the same run
    again = dp_sgd.train_dp_sgd(data, [constant_schedule(0.5)], 40, 0.1, 1.0, 1.0, hidden=8, n_seeds=3, seed=0, device="cpu")
    torch.testing.assert_close(again.params["0.weight"][0], run.params["0.weight"][0])


def test_zero_rate_leaves_the_initialization():
    data = digits(classes=[3, 4], device="cpu")
    run = dp_sgd.train_dp_sgd(data, lambda t: np.zeros(len(t)), 5, 0.2, 1.0,
                              1.0, hidden=0, n_seeds=2, seed=4, device="cpu")
    init = dp_sgd.init_params(dp_sgd.mlp(64, 0, 2), 2, torch.Generator().manual_seed(4), "cpu")
    torch.testing.assert_close(run.params["0.weight"][0], init["0.weight"])


def test_bad_arguments_name_themselves():
    data = digits(classes=[0, 1], device="cpu")
    sched = constant_schedule(0.1)
    with pytest.raises(ValueError, match="max_norm="):
        dp_sgd.clip_per_example(torch.ones(2, 2), 0.0)
    with pytest.raises(ValueError, match="grads"):
        dp_sgd.clip_per_example(torch.ones(2), 1.0)
    with pytest.raises(ValueError, match="noise_multiplier="):
        dp_sgd.noisy_mean(torch.ones(2), -1.0, 1.0, 5.0, torch.Generator())
    with pytest.raises(ValueError, match="expected_batch="):
        dp_sgd.noisy_mean(torch.ones(2), 1.0, 1.0, 0.0, torch.Generator())
    with pytest.raises(ValueError, match="q="):
        dp_sgd.poisson_sample(10, 0.0, torch.Generator())
    with pytest.raises(ValueError, match="n="):
        dp_sgd.poisson_sample(0, 0.5, torch.Generator())
    with pytest.raises(ValueError, match="sample_rate="):
        dp_sgd.train_dp_sgd(data, sched, 5, 1.5, 1.0, 1.0, device="cpu")
    with pytest.raises(ValueError, match="total_steps="):
        dp_sgd.train_dp_sgd(data, sched, 0, 0.1, 1.0, 1.0, device="cpu")
    with pytest.raises(ValueError, match="schedules"):
        dp_sgd.train_dp_sgd(data, [], 5, 0.1, 1.0, 1.0, device="cpu")
    with pytest.raises(ValueError, match="rate="):
        dp_sgd.train_dp_sgd(data, lambda t: -np.ones(len(t)), 5, 0.1, 1.0, 1.0, device="cpu")


def test_one_training_step_is_clip_sum_scale():
    """The loop's fused clipping (a weighted sum) equals clip_per_example, summed, over q N, times the rate."""
    data = digits(classes=[0, 1, 2], device="cpu")
    run = dp_sgd.train_dp_sgd(data, lambda t: np.full(len(t), 0.3), 1, sample_rate=1.0, noise_multiplier=0.0,
                              max_norm=2.3, hidden=4, n_seeds=1, seed=2, device="cpu")
    model = dp_sgd.mlp(64, 4, 3)
    p0 = {k: v[0] for k, v in dp_sgd.init_params(model, 1, torch.Generator().manual_seed(2), "cpu").items()}
    g = dp_sgd.flatten_per_example(dp_sgd.per_example_grads(model, p0, data.x_train, data.y_train))
    clipped, norms = dp_sgd.clip_per_example(g, 2.3)
    assert (norms > 2.3).any() and (norms <= 2.3).any()  # both regimes present (norms 1.8 .. 2.8)
    expected = torch.cat([v.reshape(-1) for v in p0.values()]) - 0.3 * clipped.sum(0) / len(data.y_train)
    got = torch.cat([v[0, 0].reshape(-1) for v in run.params.values()])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)  # float32, sums in another order


def test_training_step_noise_has_std_sigma_c_over_qn():
    """In the loop, the privatized gradient minus the clipped mean has std sigma C / (q N) per coordinate."""
    data = digits(classes=[0, 1, 2], device="cpu")
    sigma, c, lr = 1.7, 0.8, 1.0
    kw = dict(sample_rate=1.0, max_norm=c, hidden=32, n_seeds=1, seed=9, device="cpu")
    noisy = dp_sgd.train_dp_sgd(data, lambda t: np.full(len(t), lr), 1, noise_multiplier=sigma, **kw)
    clean = dp_sgd.train_dp_sgd(data, lambda t: np.full(len(t), lr), 1, noise_multiplier=0.0, **kw)
    diff = torch.cat([(noisy.params[k] - clean.params[k]).reshape(-1) for k in noisy.params]).double()
    sd = sigma * c / len(data.y_train)
    # 2211 coordinates: the sample std has a relative standard error of 1.5 %; allow 6 %
    assert float(diff.std()) == pytest.approx(lr * sd, rel=0.06)
    assert abs(float(diff.mean())) < 5 * lr * sd / np.sqrt(diff.numel())
