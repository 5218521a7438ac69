"""lrlab.gan2d: the ring data, the mode metric on hand-made samples, the batched MLP and Adam, a short run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import gan2d


def test_ring_centers_are_evenly_spaced_on_the_circle():
    c = gan2d.ring_centers(8, radius=2.0)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0)
    gaps = np.linalg.norm(np.diff(np.vstack([c, c[:1]]), axis=0), axis=1)
    np.testing.assert_allclose(gaps, 2 * 2.0 * np.sin(np.pi / 8))


def test_ring_mixture_moments_and_mode_weights():
    g = torch.Generator().manual_seed(0)
    x = gan2d.ring_mixture(40_000, n_modes=8, radius=2.0, std=0.1, generator=g).double().numpy()
    c = gan2d.ring_centers(8, 2.0)
    nearest = np.linalg.norm(x[:, None] - c[None], axis=-1).argmin(1)
    share = np.bincount(nearest, minlength=8) / len(x)
    # multinomial: sd of a share = sqrt(p (1-p) / n) = 0.0017; 5 sd
    np.testing.assert_allclose(share, 1 / 8, atol=0.0085)
    resid = x - c[nearest]
    # sd of a sample standard deviation of 40000 draws ~ 0.1 / sqrt(80000) = 3.5e-4
    np.testing.assert_allclose(resid.std(axis=0), 0.1, atol=2e-3)
    # same seed, same data
    y = gan2d.ring_mixture(40_000, generator=torch.Generator().manual_seed(0)).double().numpy()
    np.testing.assert_array_equal(x, y)


def test_mode_stats_on_hand_made_samples():
    c = gan2d.ring_centers(8, 2.0)
    # 4 modes well covered, 1 mode with a single sample, 10 far-away samples
    samples = np.vstack([np.repeat(c[:4], 20, axis=0), c[4:5] + 0.05, np.full((10, 2), 10.0)])
    s = gan2d.mode_stats(samples, c, std=0.1)
    assert s["counts"].tolist() == [20, 20, 20, 20, 1, 0, 0, 0]
    assert s["high_quality"] == pytest.approx(81 / 91)
    assert s["coverage"] == pytest.approx(4 / 8)  # 1 sample < 0.25 * 91 / 8 = 2.8: not covered
    # a sample just outside 3 std is not high quality, just inside it is
    edge = np.array([c[0] + [0.31, 0.0], c[1] + [0.0, 0.29]])
    assert gan2d.mode_stats(edge, c, std=0.1)["counts"].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]


def test_mode_stats_of_true_data_is_perfect():
    x = gan2d.ring_mixture(4000, generator=torch.Generator().manual_seed(1))
    s = gan2d.mode_stats(x, gan2d.ring_centers(), std=0.1)
    assert s["coverage"] == 1.0
    # P(|N(0, I_2)| <= 3) = 1 - exp(-4.5) = 0.9889; binomial sd over 4000 samples 0.0017, 5 sd
    assert s["high_quality"] == pytest.approx(1 - np.exp(-4.5), abs=0.0083)


def test_batched_mlp_equals_one_mlp_per_seed():
    g = torch.Generator().manual_seed(0)
    sizes = [3, 5, 4, 2]
    flat = gan2d.init_mlp(sizes, 3, g)
    assert flat.shape == (3, gan2d.mlp_size(sizes))
    x = torch.randn(3, 7, 3, generator=g)
    out = gan2d.mlp(flat, sizes, x)
    for s in range(3):
        p, off, h = flat[s].detach(), 0, x[s]
        for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = p[off:off + i * o].reshape(i, o)
            off += i * o
            h = h @ W + p[off:off + o]
            off += o
            if k < len(sizes) - 2:
                h = torch.relu(h)
        torch.testing.assert_close(out[s].detach(), h, rtol=1e-5, atol=1e-6)


def test_adam_matches_torch_optim_adam():
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(4, 6, generator=g, dtype=torch.float64)
    grads = [torch.randn(4, 6, generator=g, dtype=torch.float64) for _ in range(5)]
    lrs = [0.1, 0.05, 0.2, 0.01, 0.1]
    mine = p0.clone()
    opt = gan2d.Adam(mine, betas=(0.5, 0.999))
    ref = p0.clone().requires_grad_()
    topt = torch.optim.Adam([ref], lr=0.1, betas=(0.5, 0.999))
    for grad, lr in zip(grads, lrs):
        opt.step(grad, lr)
        for group in topt.param_groups:
            group["lr"] = lr
        ref.grad = grad.clone()
        topt.step()
    torch.testing.assert_close(mine, ref.detach(), rtol=1e-12, atol=1e-12)


def test_short_gan_run_is_reproducible_and_well_formed():
    kw = dict(steps=30, n_seeds=2, seed=3, hidden=8, batch_size=16, n_eval=200, eval_every=10, device="cpu")
    a = gan2d.train_gan(1e-3, 4e-3, **kw)
    b = gan2d.train_gan(1e-3, 4e-3, **kw)
    assert a.samples.shape == (2, 200, 2) and np.all(np.isfinite(a.samples))
    assert a.eval_steps.tolist() == [10, 20, 30]
    assert a.coverage_curve.shape == (3, 2)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert np.all((0 <= a.coverage) & (a.coverage <= 1))
    # the seeds differ from one another
    assert not np.allclose(a.samples[0], a.samples[1])


@pytest.mark.slow
def test_a_trained_gan_beats_an_untrained_one():
    # 400 steps of TTUR on the ring: the chapter's claims test measures ~0.9 coverage at 500 steps
    kw = dict(n_seeds=2, seed=0, hidden=64, batch_size=64, n_eval=500, device="cpu")
    trained = gan2d.train_gan(1e-3, 4e-3, steps=400, **kw)
    untrained = gan2d.train_gan(1e-12, 1e-12, steps=1, **kw)
    assert trained.high_quality.mean() > untrained.high_quality.mean() + 0.1
    assert trained.coverage.mean() > untrained.coverage.mean()


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: gan2d.ring_centers(0), "n_modes"),
        (lambda: gan2d.ring_centers(8, radius=-1.0), "radius"),
        (lambda: gan2d.ring_mixture(0, device="cpu"), "n"),
        (lambda: gan2d.ring_mixture(5, std=0.0, device="cpu"), "std"),
        (lambda: gan2d.mode_stats(np.zeros((3, 3)), gan2d.ring_centers(), 0.1), "samples"),
        (lambda: gan2d.mode_stats(np.zeros((3, 2)), gan2d.ring_centers(), 0.1, min_share=1.5), "min_share"),
        (lambda: gan2d.train_gan(0.0, 1e-3, steps=1, device="cpu"), "lr_g"),
        (lambda: gan2d.train_gan(1e-3, 1e-3, steps=0, device="cpu"), "steps"),
    ],
)
def test_bad_arguments_raise_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_adam_takes_one_rate_per_network():
    g = torch.Generator().manual_seed(1)
    p0 = torch.randn(3, 5, generator=g, dtype=torch.float64)
    grads = [torch.randn(3, 5, generator=g, dtype=torch.float64) for _ in range(4)]
    lrs = torch.tensor([[0.1], [0.01], [0.0]], dtype=torch.float64)
    mine = p0.clone()
    opt = gan2d.Adam(mine)
    rows = [p0[i].clone() for i in range(3)]
    opts = [gan2d.Adam(r) for r in rows]
    for grad in grads:
        opt.step(grad, lrs)
        for i in range(3):
            opts[i].step(grad[i], float(lrs[i]))
    torch.testing.assert_close(mine, torch.stack(rows), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mine[2], p0[2])  # rate 0: unchanged


def test_arms_share_random_numbers_and_match_a_single_run():
    kw = dict(steps=20, n_seeds=2, seed=5, hidden=8, batch_size=16, n_eval=100, eval_every=10, device="cpu")
    arms = gan2d.train_gan([1e-3, 2e-3], [4e-3, 4e-3], **kw)
    one = gan2d.train_gan(2e-3, 4e-3, **kw)
    assert arms.samples.shape == (4, 100, 2) and arms.coverage_curve.shape == (2, 4)
    # arm 1 is the single run with its rates: same draws, only round-off of the per-network rate differs
    np.testing.assert_allclose(arms.samples[2:], one.samples, atol=1e-5)
    with pytest.raises(ValueError, match="same length"):
        gan2d.train_gan([1e-3, 1e-3], [1e-3], steps=1, n_seeds=1, device="cpu")
