"""Plausible wrong answers to assignment 2 (noisy_quadratic); see tests/mutation.py."""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ second_moments
    Mutant("second_moments", "contraction not squared", says="(1 - eta_t h_i) squared",
           edits=[("m = (1.0 - eta * h) ** 2 * m", "m = (1.0 - eta * h) * m")]),
    Mutant("second_moments", "noise variance not divided by B", says="sigma^2 instead of sigma^2 / B",
           edits=[("np.asarray(sigma2, dtype=np.float64)) / batch_size", "np.asarray(sigma2, dtype=np.float64))")]),
    Mutant("second_moments", "noise variance divided by B^2", says="not by B^2",
           edits=[("np.asarray(sigma2, dtype=np.float64)) / batch_size", "np.asarray(sigma2, dtype=np.float64)) / batch_size**2")]),
    Mutant("second_moments", "noise term eta instead of eta^2", says="eta_t squared",
           edits=[("+ eta**2 * noise", "+ eta * noise")]),
    Mutant("second_moments", "row t stores the moments before step t", says="row t + 1 holds the moments after",
           code='''
def second_moments(lrs, h, sigma2, batch_size=1, theta0=1.0):
    lrs = np.asarray(lrs, dtype=np.float64)
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    noise = np.atleast_1d(np.asarray(sigma2, dtype=np.float64)) / batch_size
    runs, steps = lrs.shape[:-1], lrs.shape[-1]
    m = np.broadcast_to(np.asarray(theta0, dtype=np.float64) ** 2, runs + h.shape).copy()
    out = np.empty(runs + (steps + 1,) + h.shape)
    out[..., 0, :] = m
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            eta = lrs[..., t, None]
            out[..., t + 1, :] = m
            m = (1.0 - eta * h) ** 2 * m + eta**2 * noise
    return out
'''),
    Mutant("second_moments", "noise added before the contraction", says="noise of step t is added after",
           edits=[("m = (1.0 - eta * h) ** 2 * m + eta**2 * noise", "m = (1.0 - eta * h) ** 2 * (m + eta**2 * noise)")]),
    Mutant("second_moments", "row 0 is theta0, not its square", says="row 0 is theta0 ** 2",
           edits=[("np.asarray(theta0, dtype=np.float64) ** 2", "np.abs(np.asarray(theta0, dtype=np.float64))")]),
    Mutant("second_moments", "rates read one step late", says="rates are shifted by one step",
           edits=[("eta = lrs[..., t, None]", "eta = lrs[..., min(t + 1, steps - 1), None]")]),
    Mutant("second_moments", "batched rates indexed as lrs[t]", says="one run per row",
           code='''
def second_moments(lrs, h, sigma2, batch_size=1, theta0=1.0):
    lrs = np.asarray(lrs, dtype=np.float64)
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    noise = np.atleast_1d(np.asarray(sigma2, dtype=np.float64)) / batch_size
    steps = lrs.shape[-1]
    lrs = lrs.reshape(-1, steps)[0]
    m = np.broadcast_to(np.asarray(theta0, dtype=np.float64) ** 2, h.shape).copy()
    out = np.empty((steps + 1,) + h.shape)
    out[0] = m
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            m = (1.0 - lrs[t] * h) ** 2 * m + lrs[t] ** 2 * noise
            out[t + 1] = m
    return out
'''),
    # ------------------------------------------------------------------ expected_loss
    # ported from the former wrong-answer tests
    Mutant("expected_loss", "loss without 1/2", says="missing the 1/2",
           edits=[("return 0.5 * (second_moments", "return (second_moments")]),
    Mutant("expected_loss", "coordinates not weighted by curvature", says="weight each coordinate by its curvature",
           edits=[("return 0.5 * (second_moments(lrs, h, sigma2, batch_size, theta0) * h).sum(-1)",
                   "return 0.5 * second_moments(lrs, h, sigma2, batch_size, theta0).sum(-1)")]),
    Mutant("expected_loss", "mean over coordinates instead of sum", says="sum over the coordinates, not the mean",
           edits=[("* h).sum(-1)", "* h).mean(-1)")]),
    Mutant("expected_loss", "sums over axis 1 (wrong for batched rates)", says="sum over the last axis",
           edits=[("* h).sum(-1)", "* h).sum(axis=1)")]),
    Mutant("expected_loss", "batch_size not passed on", says="batch_size is not passed on",
           edits=[("second_moments(lrs, h, sigma2, batch_size, theta0)", "second_moments(lrs, h, sigma2, theta0=theta0)")]),
    Mutant("expected_loss", "theta0 not passed on", says="theta0 is not passed on",
           edits=[("second_moments(lrs, h, sigma2, batch_size, theta0)", "second_moments(lrs, h, sigma2, batch_size)")]),
    # ------------------------------------------------------------------ noise_floor
    # ported from the former wrong-answer tests
    Mutant("noise_floor", "floor with sigma^2, not sigma^2 / B", says="sigma^2 / B, not sigma^2",
           edits=[("return lr * sigma2 / (2 * batch_size * (2 - lr * h))", "return lr * sigma2 / (2 * (2 - lr * h))")]),
    Mutant("noise_floor", "floor without the 1/2 of the loss", says="one more factor 1/2",
           edits=[("return lr * sigma2 / (2 * batch_size * (2 - lr * h))", "return lr * sigma2 / (batch_size * (2 - lr * h))")]),
    Mutant("noise_floor", "denominator 2 + lr h", says="the denominator is 2 - lr h",
           edits=[("(2 - lr * h))", "(2 + lr * h))")]),
    Mutant("noise_floor", "floor multiplied by h (m_i without its 1/h_i)", says="1 / h_i",
           edits=[("return lr * sigma2 / (2", "return lr * sigma2 * h / (2")]),
    Mutant("noise_floor", "stability limit from the smallest curvature", says="largest curvature",
           edits=[("limit = 2.0 / h.max()", "limit = 2.0 / h.min()")]),
    Mutant("noise_floor", "the limit itself accepted", says="at or beyond",
           edits=[("if lr >= limit:", "if lr > limit:")]),
    Mutant("noise_floor", "no check of lr <= 0", says="lr <= 0",
           edits=[("if not lr > 0:", "if False:")]),
    Mutant("noise_floor", "error message without the value", says="naming lr and its value",
           edits=[('raise ValueError(f"lr={lr} is at or beyond the stability limit 2/h_max={limit:g}: there is no noise floor")',
                   'raise ValueError("the learning rate is beyond the stability limit: there is no noise floor")')]),
    # ------------------------------------------------------------------ monte_carlo_loss
    # ported from the former wrong-answer tests
    Mutant("monte_carlo_loss", "Monte Carlo with sigma^2, not sigma^2 / B", says="B=4 times too large",
           edits=[("np.asarray(sigma2, dtype=np.float64) / batch_size)", "np.asarray(sigma2, dtype=np.float64))")]),
    Mutant("monte_carlo_loss", "noise std divided by B, not sqrt(B)", says="not by B",
           edits=[("np.sqrt(np.asarray(sigma2, dtype=np.float64) / batch_size)", "np.sqrt(np.asarray(sigma2, dtype=np.float64)) / batch_size")]),
    Mutant("monte_carlo_loss", "stderr is the standard deviation (no 1/sqrt(n))", says="this is the variance of one run: divide the standard deviation by sqrt(n_seeds)",
           edits=[("stderr = losses.std(dim=1) / n_seeds**0.5", "stderr = losses.std(dim=1)")]),
    Mutant("monte_carlo_loss", "stderr divided by n, not sqrt(n)", says="by sqrt(n_seeds), not by n_seeds",
           edits=[("stderr = losses.std(dim=1) / n_seeds**0.5", "stderr = losses.std(dim=1) / n_seeds")]),
    Mutant("monte_carlo_loss", "stderr with ddof=0", says="ddof=1",
           edits=[("stderr = losses.std(dim=1) / n_seeds**0.5", "stderr = losses.std(dim=1, unbiased=False) / n_seeds**0.5")]),
    Mutant("monte_carlo_loss", "one noise draw shared by all runs", says="is there any noise in your runs",
           edits=[("noise = torch.randn(theta.shape,", "noise = torch.randn(theta.shape[1:],")]),
    Mutant("monte_carlo_loss", "loss without 1/2 in the simulation", says="the loss is 1/2 sum h",
           edits=[("losses[t + 1] = 0.5 * (theta**2 * h_t).sum(-1)", "losses[t + 1] = (theta**2 * h_t).sum(-1)"),
                  ("losses[0] = 0.5 * (theta**2 * h_t).sum(-1)", "losses[0] = (theta**2 * h_t).sum(-1)")]),
    Mutant("monte_carlo_loss", "float32 simulation", says="should be float64",
           edits=[("losses.mean(dim=1)", "losses.float().mean(dim=1)"), ("losses.std(dim=1)", "losses.float().std(dim=1)")]),
    # the global-generator mistake of tests/test_assignments.py (PROCESS_STATE_MUTANTS), caught by its own cell's isolation check
    Mutant("monte_carlo_loss", "seeds torch's global generator", says="changed torch's global random state",
           edits=[("gen = torch.Generator(device=device).manual_seed(int(seed))",
                   "torch.manual_seed(int(seed))\n    gen = None  # draws from torch's global generator")]),
    # ------------------------------------------------------------------ tune_peak_lr
    Mutant("tune_peak_lr", "final loss at t = T - 1", says="not t = T - 1",
           edits=[("[:, -1]", "[:, -2]")]),
    Mutant("tune_peak_lr", "schedule evaluated at steps 1 .. T", says="steps 0 .. T - 1",
           edits=[("steps = np.arange(total_steps)", "steps = np.arange(1, total_steps + 1)")]),
    Mutant("tune_peak_lr", "nan losses not replaced by inf", says="replace every non-finite final loss",
           edits=[("finals = np.where(np.isfinite(finals), finals, np.inf)\n", "")]),
    Mutant("tune_peak_lr", "batch_size and theta0 not passed to expected_loss", says="pass batch_size and theta0 on to expected_loss",
           edits=[("expected_loss(rates, h, sigma2, batch_size, theta0)", "expected_loss(rates, h, sigma2)")]),
    Mutant("tune_peak_lr", "argmax instead of argmin", says="smallest final loss",
           edits=[("best = int(np.argmin(finals))", "best = int(np.argmax(np.where(np.isfinite(finals), finals, -np.inf)))")]),
    Mutant("tune_peak_lr", "loss averaged over the run, not the final one", says="not the loss averaged over the run",
           edits=[("[:, -1]", ".mean(axis=-1)")]),
    # ------------------------------------------------------------------ compare_schedules
    Mutant("compare_schedules", "rows not sorted", says="sort the rows by final_loss",
           edits=[('.sort_values("final_loss")', "")]),
    Mutant("compare_schedules", "sorted largest first", says="smallest first",
           edits=[('.sort_values("final_loss")', '.sort_values("final_loss", ascending=False)')]),
    Mutant("compare_schedules", "index not reset", says="reset the index",
           edits=[(".reset_index(drop=True)", "")]),
    Mutant("compare_schedules", "old index kept as a column", says="the columns should be",
           edits=[(".reset_index(drop=True)", ".reset_index()")]),
    Mutant("compare_schedules", "peak rate and loss swapped when unpacking", says="swapped",
           edits=[("lr, final, _ = tune_peak_lr", "final, lr, _ = tune_peak_lr")]),
    Mutant("compare_schedules", "batch_size and theta0 not passed to tune_peak_lr", says="pass batch_size and theta0 on to tune_peak_lr",
           edits=[("tune_peak_lr(make_schedule, lr_grid, total_steps, h, sigma2, batch_size, theta0)",
                   "tune_peak_lr(make_schedule, lr_grid, total_steps, h, sigma2)")]),
]
