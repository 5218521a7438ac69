"""lrlab.diffusion: noise schedules (formulas, monotonicity, SNR identities), the forward process by simulation,
the energy distance on known cases, the EMA algebra, and a short training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lrlab import diffusion, gan2d


def test_linear_beta_endpoints_and_alpha_bar_product():
    T = 1000
    t = np.arange(1, T + 1)
    beta = diffusion.linear_beta(t, T)
    assert beta[0] == pytest.approx(1e-4) and beta[-1] == pytest.approx(0.02)
    np.testing.assert_allclose(np.diff(beta), (0.02 - 1e-4) / (T - 1))
    ab = diffusion.linear_alpha_bar(np.arange(T + 1), T)
    assert ab[0] == 1.0
    np.testing.assert_allclose(ab[1:], np.cumprod(1 - beta), rtol=1e-12)
    assert diffusion.linear_alpha_bar(3, T) == pytest.approx(np.prod(1 - diffusion.linear_beta([1, 2, 3], T)))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_alpha_bar_is_monotone_from_one_to_almost_zero(kind):
    T = 200
    t = np.arange(T + 1)
    ab = diffusion.linear_alpha_bar(t, T, 1e-3, 0.1) if kind == "linear" else diffusion.cosine_alpha_bar(t, T)
    assert ab[0] == pytest.approx(1.0)
    assert np.all(np.diff(ab) < 0)
    assert ab[-1] < 1e-3


def test_cosine_alpha_bar_formula_values():
    T, s = 1000, 0.008
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    for t in (0, 1, 250, 500, 999):
        assert diffusion.cosine_alpha_bar(t, T) == pytest.approx(f(t) / f(0), rel=1e-12)
    # without the offset, alpha_bar(T/2) = cos^2(pi/4) = 1/2
    assert diffusion.cosine_alpha_bar(50, 100, s=0.0) == pytest.approx(0.5)
    # betas recover alpha_bar by the product (before the 0.999 clip bites at the very end)
    beta = diffusion.cosine_beta(np.arange(1, T), T)
    np.testing.assert_allclose(np.cumprod(1 - beta), diffusion.cosine_alpha_bar(np.arange(1, T), T), rtol=1e-9)
    assert diffusion.cosine_beta(T, T) == pytest.approx(0.999)


def test_schedules_accept_torch_tensors():
    t = torch.arange(0, 11)
    out = diffusion.cosine_alpha_bar(t, 10)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), diffusion.cosine_alpha_bar(np.arange(11), 10))
    lb = diffusion.linear_beta(torch.tensor([1, 10]), 10)
    assert isinstance(lb, torch.Tensor)


def test_snr_identities():
    ab = np.array([0.999, 0.9, 0.5, 0.1, 1e-4])
    s = diffusion.snr(ab)
    np.testing.assert_allclose(s, ab / (1 - ab))
    np.testing.assert_allclose(diffusion.log_snr(ab), np.log(s))
    np.testing.assert_allclose(s / (1 + s), ab)  # alpha_bar = sigmoid(log SNR)
    np.testing.assert_allclose(1 / (1 + np.exp(-diffusion.log_snr(ab))), ab)
    assert diffusion.snr(0.5) == pytest.approx(1.0)
    ls = diffusion.log_snr(torch.tensor([0.5, 0.9], dtype=torch.float64))
    np.testing.assert_allclose(ls.numpy(), [0.0, np.log(9.0)])


def test_forward_process_moments_by_simulation():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.full((n, 2), 1.5, dtype=torch.float64)
    x0[:, 1] = -0.5
    ab = diffusion.cosine_alpha_bar(40, 100)
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    xt = diffusion.q_sample(x0, ab, eps).numpy()
    # the sample mean has sd sqrt((1 - ab)/n) < 0.0023; 5 sd
    np.testing.assert_allclose(xt.mean(0), np.sqrt(ab) * np.array([1.5, -0.5]), atol=0.012)
    # a sample variance of n normal draws has relative sd sqrt(2/n) = 0.0032; 5 sd
    np.testing.assert_allclose(xt.var(0), 1 - ab, rtol=0.016)
    # composing one-step kernels q(x_t | x_{t-1}) gives the same law as q(x_t | x_0)
    T = 100
    x = x0.clone()
    betas = diffusion.cosine_beta(np.arange(1, 41), T)
    for b in betas:
        x = math.sqrt(1 - b) * x + math.sqrt(b) * torch.randn(n, 2, generator=g, dtype=torch.float64)
    np.testing.assert_allclose(x.numpy().mean(0), np.sqrt(ab) * np.array([1.5, -0.5]), atol=0.012)
    np.testing.assert_allclose(x.numpy().var(0), 1 - ab, rtol=0.016)


def test_q_sample_numpy_formula():
    out = diffusion.q_sample(np.array([[1.0, 2.0]]), np.array([[0.36]]), np.array([[0.5, -1.0]]))
    np.testing.assert_allclose(out, [[0.6 + 0.8 * 0.5, 1.2 - 0.8]])


def test_energy_distance_properties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    assert diffusion.energy_distance(x, x) == 0.0
    y = rng.normal(size=(300, 2)) + [1.0, 0.0]
    d = diffusion.energy_distance(x, y)
    assert d > 0
    assert diffusion.energy_distance(y, x) == pytest.approx(d)
    # two point masses at a and b: 2 |a - b|
    assert diffusion.energy_distance([[0.0, 0.0]], [[3.0, 4.0]]) == pytest.approx(10.0)
    # batched: one value per leading index
    xb = np.stack([x, y])
    np.testing.assert_allclose(diffusion.energy_distance(xb, x), [0.0, d], atol=1e-12)


def test_energy_distance_of_two_normals_matches_the_closed_form():
    # X ~ N(0, 1), Y ~ N(mu, 1): E|X - Y| = E|N(mu, 2)|, E|X - X'| = E|Y - Y'| = E|N(0, 2)| = 2 / sqrt(pi)
    mu, s = 1.0, math.sqrt(2.0)
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    e_xy = s * math.sqrt(2 / math.pi) * math.exp(-mu**2 / (2 * s**2)) + mu * (1 - 2 * phi(-mu / s))
    exact = 2 * e_xy - 2 * (2 / math.sqrt(math.pi))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3000, 1, generator=g, dtype=torch.float64)
    y = torch.randn(4, 3000, 1, generator=g, dtype=torch.float64) + mu
    est = diffusion.energy_distance(x, y)
    # V-statistic bias ~ E|X-X'|/n = 4e-4; the spread of 4 estimates of 3000 each, measured ~0.01: allow 0.02
    assert est.mean() == pytest.approx(exact, abs=0.02)


def test_ema_update_algebra():
    assert diffusion.ema_update(2.0, 4.0, 0.5) == pytest.approx(3.0)
    # k updates towards a fixed p: ema_k = decay^k ema_0 + (1 - decay^k) p
    e, p, mu = np.array([1.0, -2.0]), np.array([3.0, 0.5]), 0.9
    e0 = e.copy()
    for _ in range(25):
        e = diffusion.ema_update(e, p, mu)
    np.testing.assert_allclose(e, mu**25 * e0 + (1 - mu**25) * p)
    # torch, nested structures, and purity (inputs unchanged)
    et = {"w": torch.zeros(3), "b": [torch.ones(2)]}
    pt = {"w": torch.ones(3), "b": [torch.zeros(2)]}
    out = diffusion.ema_update(et, pt, 0.75)
    torch.testing.assert_close(out["w"], torch.full((3,), 0.25))
    torch.testing.assert_close(out["b"][0], torch.full((2,), 0.75))
    torch.testing.assert_close(et["w"], torch.zeros(3))
    # decay 0 copies the weights, decay 1 freezes the average
    assert diffusion.ema_update(1.0, 5.0, 0.0) == 5.0 and diffusion.ema_update(1.0, 5.0, 1.0) == 1.0


def test_time_embedding_shape_and_values():
    emb = diffusion.time_embedding(torch.tensor([0.0, 0.5]))
    assert emb.shape == (2, 1 + 2 * diffusion.N_FREQS)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] + [0.0] * 4 + [1.0] * 4))
    assert emb[1, 1].item() == pytest.approx(1.0)  # sin(pi * 0.5)


@pytest.mark.slow
def test_short_training_run_learns_and_tracks_its_ema():
    res = diffusion.train_ddpm(steps=500, n_seeds=2, seed=0, hidden=64, batch_size=128, warmup_steps=50,
                               ema_decay=0.9, device="cpu")
    assert res.rates[0] == 0.0 and res.rates.max() == pytest.approx(3e-3, rel=0.02)
    first, last = res.losses[:30].mean(), res.losses[-30:].mean()
    assert last < first  # the eps-prediction loss falls (it starts near E|eps|^2 = 2)
    # the EMA lags the iterate by a few steps: close (the rate has decayed to ~0), but not equal
    gap = (res.ema_params - res.params).abs().max().item()
    assert 0 < gap < 0.05
    g = torch.Generator().manual_seed(0)
    x = diffusion.sample_ddpm(res.ema_params, res.sizes, res.alpha_bar, 500, g)
    assert x.shape == (2, 500, 2) and torch.isfinite(x).all()
    data = gan2d.ring_mixture(500, generator=g, batch_shape=(2,))
    noise = torch.randn(2, 500, 2, generator=g)
    # a short run already beats pure Gaussian noise clearly (measured 0.09 against 0.26 on CPU)
    assert np.all(diffusion.energy_distance(x, data) < 0.6 * diffusion.energy_distance(noise, data))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: diffusion.linear_beta(0, 10), "step"),
        (lambda: diffusion.linear_beta(1, 1), "total_steps"),
        (lambda: diffusion.linear_alpha_bar(11, 10), "step"),
        (lambda: diffusion.linear_alpha_bar(1, 10, beta_start=0.1, beta_end=0.01), "beta_end"),
        (lambda: diffusion.linear_beta(1, 10, beta_start=1.5), "beta_start"),
        (lambda: diffusion.cosine_alpha_bar(2.5, 10), "step"),
        (lambda: diffusion.cosine_alpha_bar(1, 10, s=-0.1), "s"),
        (lambda: diffusion.q_sample(np.zeros(2), 1.5, np.zeros(2)), "alpha_bar_t"),
        (lambda: diffusion.energy_distance(np.zeros((3, 2)), np.zeros((3, 1))), "x.shape"),
        (lambda: diffusion.ema_update(1.0, 2.0, 1.5), "decay"),
        (lambda: diffusion.betas_from_alpha_bar([0.5, 0.9]), "alpha_bar"),
        (lambda: diffusion.train_ddpm(steps=2, schedule="step", device="cpu"), "schedule"),
        (lambda: diffusion.train_ddpm(steps=2, noise_schedule="sigmoid", device="cpu"), "noise_schedule"),
        (lambda: diffusion.train_ddpm(steps=2, rates=np.zeros((3, 2)), device="cpu"), "rates"),
        (lambda: diffusion.train_ddpm(steps=2, rates=-np.ones(2), device="cpu"), "rates"),
    ],
)
def test_bad_arguments_raise_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_arms_share_draws_and_a_rate_column_matches_its_schedule():
    from lrlab.schedules import warmup_cosine_schedule

    kw = dict(steps=30, n_seeds=2, seed=4, hidden=8, batch_size=16, total_steps=20, device="cpu")
    rates = warmup_cosine_schedule(3e-3, total_steps=30, warmup_steps=5)(np.arange(30))
    one = diffusion.train_ddpm(peak_lr=3e-3, warmup_steps=5, **kw)
    arms = diffusion.train_ddpm(rates=np.stack([rates, rates, 2 * rates], axis=1), **kw)
    assert arms.params.shape[0] == 6 and arms.n_arms == 3 and arms.rates.shape == (30, 3)
    torch.testing.assert_close(arms.params[:2], arms.params[2:4], rtol=0, atol=0)  # same rates: identical
    torch.testing.assert_close(arms.params[:2], one.params, rtol=1e-4, atol=1e-6)  # = the single run, up to round-off
    assert not torch.equal(arms.params[:2], arms.params[4:])
    np.testing.assert_allclose(arms.losses[:, :2], one.losses, rtol=1e-4)


def test_sampler_clip_changes_nothing_when_nothing_is_clipped_and_bounds_the_clean_point():
    res = diffusion.train_ddpm(steps=50, n_seeds=2, seed=1, hidden=8, batch_size=16, total_steps=20, warmup_steps=5,
                               device="cpu")
    a = diffusion.sample_ddpm(res.params, res.sizes, res.alpha_bar, 100, torch.Generator().manual_seed(0))
    b = diffusion.sample_ddpm(res.params, res.sizes, res.alpha_bar, 100, torch.Generator().manual_seed(0),
                              clip_x0=1e9)
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)  # two algebraically equal forms of one step
    c = diffusion.sample_ddpm(res.params, res.sizes, res.alpha_bar, 100, torch.Generator().manual_seed(0),
                              clip_x0=0.5)
    # a clean point clipped to [-0.5, 0.5] pulls the samples in
    assert c.abs().max() < a.abs().max()
    x = diffusion.sample_ddpm(res.params.repeat(2, 1), res.sizes, res.alpha_bar, 10, torch.Generator().manual_seed(0),
                              n_arms=2)
    torch.testing.assert_close(x[:2], x[2:], rtol=0, atol=0)  # seed i of every arm gets the same noise
