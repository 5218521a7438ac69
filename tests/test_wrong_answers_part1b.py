"""Plausible wrong answers lose the points of the behaviour they get wrong, and only those (chapter 4 assignments).

The same design as ``test_wrong_answers.py``, for the assignments ``sde_annealing``, ``pac_bayes``
and ``implicit_bias``: the *perfect submission* is the source notebook in ``solutions/`` with the
nbgrader marker lines removed (solutions and hidden tests kept); a wrong submission swaps several
solution cells at once for plausible mistakes whose failing graded cells do not overlap. Every cell
runs (``allow_errors=True``, as nbgrader's autograder does) and the set of failing graded cells must
be exactly the union of the mistakes' expected failures. One perfect and one wrong execution per
assignment.
"""

from __future__ import annotations

from wrong_answers import wrong_answer_tests


# ---------------------------------------------------------------------------
# The mistakes: (solution cell, wrong code, graded cells it must fail)
# ---------------------------------------------------------------------------

SDE_ANNEALING_MISTAKES = {
    # The 1/2 of v = eta sigma^2 / (2 h B) forgotten.
    "stationary variance without the 2": (
        "stationary_variance",
        '''
def stationary_variance(lr, h, sigma2, batch_size=1):
    lr_arr = np.asarray(lr, dtype=np.float64)
    if not np.all(lr_arr > 0):
        raise ValueError(f"lr must be > 0, got lr={lr}")
    if not h > 0:
        raise ValueError(f"h must be > 0, got h={h}")
    out = lr_arr * sigma2 / (h * batch_size)
    return float(out) if out.ndim == 0 else out
''',
        {"test_stationary"},
    ),
    # dv/dt = -h eta v + ...: the factor 2 of d(theta^2) = 2 theta d(theta) missing in the ODE.
    "ODE decay without the factor 2": (
        "variance_ode",
        '''
def variance_ode(lrs, h, sigma2, batch_size=1, v0=1.0):
    lrs = np.asarray(lrs, dtype=np.float64)
    out = np.empty(lrs.shape[0] + 1)
    out[0] = v = float(v0)
    for k, lr in enumerate(lrs):
        target = lr * sigma2 / (h * batch_size)
        v = target + (v - target) * np.exp(-h * lr)
        out[k + 1] = v
    return out
''',
        {"test_ode_constant", "test_ode_schedule", "test_ode_tracks_sgd"},
    ),
    # Langevin kick sqrt(lr T) instead of sqrt(2 lr T): the runs are half as hot.
    "Langevin kick without the 2": (
        "anneal",
        '''
def anneal(grad_fn, x0, lr, temperatures, n_runs=1000, seed=0, device=None):
    device = DEVICE if device is None else torch.device(device)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    x = torch.full((n_runs,), float(x0), dtype=torch.float64, device=device)
    for temp in np.asarray(temperatures, dtype=np.float64).tolist():
        kick = torch.randn(n_runs, generator=gen, dtype=torch.float64, device=device) * (lr * temp) ** 0.5
        x = x - lr * grad_fn(x) + kick
    return x.cpu().numpy()
''',
        {"test_anneal_noise", "test_slow_cooling_wins"},
    ),
}

PAC_BAYES_MISTAKES = {
    # ln(delta) for ln(1/delta): a constant shift, so the optimum does not move (the grid still agrees).
    "confidence term ln(delta)": (
        "linear_bound",
        '''
def linear_bound(train_loss, kl, lam, n, delta, loss_range=1.0):
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got lam={lam}")
    if not n >= 1:
        raise ValueError(f"n must be >= 1, got n={n}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got delta={delta}")
    if not kl >= 0:
        raise ValueError(f"kl must be >= 0, got kl={kl}")
    return float(train_loss + (kl + np.log(delta)) / lam + lam * loss_range**2 / (8.0 * n))
''',
        {"test_linear_bound", "test_variance_bound"},
    ),
    # The curvature dropped from the closed form: wrong v*, hence a wrong eta* as well.
    "optimal variance without h": (
        "optimal_variance",
        '''
def optimal_variance(h, prior_var, lam):
    return float(prior_var / (1.0 + lam * prior_var))
''',
        {"test_optimal_variance", "test_optimal_rate"},
    ),
    # The stationary variance without its 2 inside the grid search: the grid optimum is off by a factor 2.
    "grid search with v = eta sigma^2 / (h B)": (
        "grid_search_rate",
        '''
def grid_search_rate(lr_grid, h, prior_var, lam, sigma2, batch_size, n, delta, min_loss=0.0, loss_range=1.0):
    grid = np.asarray(lr_grid, dtype=np.float64)
    variances = grid * sigma2 / (h * batch_size)
    bounds = np.array([variance_bound(v, h, prior_var, lam, n, delta, min_loss, loss_range) for v in variances])
    return float(grid[int(np.argmin(bounds))]), bounds
''',
        {"test_grid_agrees"},
    ),
}

IMPLICIT_BIAS_MISTAKES = {
    # log(1 + exp(-m)) as written: 0 at large margins, inf at very negative ones.
    "log(1 + exp) instead of logaddexp": (
        "logistic_loss_grad",
        '''
def logistic_loss_grad(w, X, y):
    w, X, y = (np.asarray(a, dtype=np.float64) for a in (w, X, y))
    margins = y * (X @ w)
    with np.errstate(over="ignore"):
        loss = float(np.mean(np.log(1.0 + np.exp(-margins))))
    weights = np.exp(-np.logaddexp(0.0, margins))
    grad = -(X * (y * weights)[:, None]).mean(axis=0)
    return loss, grad
''',
        {"test_loss"},
    ),
    # arccos of an unclipped cosine: nan for (numerically) parallel vectors.
    "cosine not clipped": (
        "angle_to",
        '''
def angle_to(ws, w_ref):
    ws = np.asarray(ws, dtype=np.float64)
    w_ref = np.asarray(w_ref, dtype=np.float64)
    norms = np.linalg.norm(ws, axis=-1) * np.linalg.norm(w_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        angles = np.arccos((ws @ w_ref) / norms)
    return float(angles) if angles.ndim == 0 else angles
''',
        {"test_angle"},
    ),
    # log10 instead of the natural log: the slope is ln(10) times too large.
    "log10 instead of ln": (
        "log_slope",
        '''
def log_slope(steps, values):
    slope, _ = np.polyfit(np.log10(np.asarray(steps, dtype=np.float64)), np.asarray(values, dtype=np.float64), 1)
    return float(slope)
''',
        {"test_norm_growth"},
    ),
}

MISTAKES = {
    "sde_annealing": SDE_ANNEALING_MISTAKES,
    "pac_bayes": PAC_BAYES_MISTAKES,
    "implicit_bias": IMPLICIT_BIAS_MISTAKES,
}


(test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
 test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests(MISTAKES)
