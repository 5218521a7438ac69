"""Plausible wrong answers lose the points of the behaviour they get wrong, and only those.

For each assignment the *perfect submission* is built from the source notebook in
``solutions/``: every cell as written, with the nbgrader marker lines removed (so the
solutions stay and the hidden tests run). A wrong submission swaps single solution cells
for plausible mistakes. Each notebook is executed with nbclient with ``allow_errors=True``,
so every cell runs, like nbgrader's autograder, and each graded cell passes or fails on
its own. The test then compares the set of failing graded cells with the expected one.

Each wrong submission swaps three solution cells at once, chosen so that the cells they
break do not overlap: each mistake has its own expected failures, and the cells that no
mistake touches must still pass. That keeps this file to four notebook executions.
"""

from __future__ import annotations

from wrong_answers import wrong_answer_tests


# ---------------------------------------------------------------------------
# The mistakes: (solution cell, wrong code, graded cells it must fail)
# ---------------------------------------------------------------------------

SCHEDULES_MISTAKES = {
    # The step counter starts at 1: the first decay comes one step early.
    "step counter starts at 1": (
        "step_lr",
        '''
def step_lr(step, peak_lr, step_size, gamma=0.1):
    t = as_steps(step)
    return like_input(step, peak_lr * gamma ** np.floor((t + 1) / step_size))
''',
        {"test_step"},
    ),
    # step / total instead of min(step, total) / total: right up to total_steps, wrong after.
    "no clamp at total_steps": (
        "polynomial_lr",
        '''
def polynomial_lr(step, peak_lr, total_steps, power=1.0, min_lr=0.0):
    if not peak_lr > 0:
        raise ValueError(f"peak_lr must be > 0, got peak_lr={peak_lr}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got total_steps={total_steps}")
    if not 0 <= min_lr <= peak_lr:
        raise ValueError(f"min_lr must be in [0, peak_lr={peak_lr}], got min_lr={min_lr}")
    t = as_steps(step)
    return like_input(step, min_lr + (peak_lr - min_lr) * (1.0 - t / total_steps) ** power)
''',
        {"test_polynomial"},
    ),
    # The floor is forgotten: the cosine goes from peak_lr to 0.
    "cosine without min_lr": (
        "cosine_lr",
        '''
def cosine_lr(step, peak_lr, total_steps, min_lr=0.0):
    if not peak_lr > 0:
        raise ValueError(f"peak_lr must be > 0, got peak_lr={peak_lr}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got total_steps={total_steps}")
    if not 0 <= min_lr <= peak_lr:
        raise ValueError(f"min_lr must be in [0, peak_lr={peak_lr}], got min_lr={min_lr}")
    t = as_steps(step)
    return like_input(step, 0.5 * peak_lr * (1.0 + np.cos(np.pi * np.minimum(t, total_steps) / total_steps)))
''',
        {"test_cosine"},
    ),
}

NOISY_QUADRATIC_MISTAKES = {
    # The loss without its 1/2: the exact curve is twice too high, so the tuned final losses are too.
    "loss without 1/2": (
        "expected_loss",
        '''
def expected_loss(lrs, h, sigma2, batch_size=1, theta0=1.0):
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    return (second_moments(lrs, h, sigma2, batch_size, theta0) * h).sum(-1)
''',
        {"test_expected_loss", "test_tune_peak_lr", "test_decay_beats_floor"},
    ),
    # sigma^2 instead of sigma^2 / B in the floor: the visible test (B = 1) passes, a hidden one (B = 8) fails.
    "floor with sigma^2, not sigma^2 / B": (
        "noise_floor",
        '''
def noise_floor(lr, h, sigma2, batch_size=1):
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    sigma2 = np.atleast_1d(np.asarray(sigma2, dtype=np.float64))
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got lr={lr}")
    limit = 2.0 / h.max()
    if lr >= limit:
        raise ValueError(f"lr={lr} is at or beyond the stability limit 2/h_max={limit:g}")
    return lr * sigma2 / (2 * (2 - lr * h))
''',
        {"test_noise_floor"},
    ),
    # Monte Carlo noise with variance sigma^2 instead of sigma^2 / B: a right interface, a wrong curve.
    "Monte Carlo with sigma^2, not sigma^2 / B": (
        "monte_carlo_loss",
        '''
def monte_carlo_loss(lrs, h, sigma2, batch_size=1, theta0=1.0, n_seeds=1000, seed=0, device=None):
    device = default_device() if device is None else torch.device(device)
    lrs = np.asarray(lrs, dtype=np.float64)
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    gen = torch.Generator(device=device).manual_seed(int(seed))
    h_t = torch.as_tensor(h, dtype=torch.float64, device=device)
    noise_std = torch.as_tensor(np.sqrt(np.asarray(sigma2, dtype=np.float64)), device=device)
    start = torch.as_tensor(np.broadcast_to(np.asarray(theta0, dtype=np.float64), h.shape).copy(), device=device)
    theta = start.expand(n_seeds, -1).clone()
    losses = torch.empty(lrs.shape[0] + 1, n_seeds, dtype=torch.float64, device=device)
    losses[0] = 0.5 * (theta**2 * h_t).sum(-1)
    for t, lr in enumerate(lrs.tolist()):
        noise = torch.randn(theta.shape, generator=gen, dtype=torch.float64, device=device) * noise_std
        theta = (1.0 - lr * h_t) * theta - lr * noise
        losses[t + 1] = 0.5 * (theta**2 * h_t).sum(-1)
    return losses.mean(dim=1).cpu().numpy(), (losses.std(dim=1) / n_seeds**0.5).cpu().numpy()
''',
        {"test_mc_matches_exact"},
    ),
}

MISTAKES = {"schedules": SCHEDULES_MISTAKES, "noisy_quadratic": NOISY_QUADRATIC_MISTAKES}


(test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
 test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests(MISTAKES)
