"""Plausible wrong answers to the assignment sde_annealing; see tests/mutation.py."""

from mutation import Mutant

GEN = "gen = torch.Generator(device=device).manual_seed(int(seed))"

MUTANTS = [
    # ------------------------------------------------------------------ stationary_variance
    # ported from the former wrong-answer tests
    Mutant("stationary_variance", "stationary variance without the 2", says="missing the factor 2",
           edits=[("out = lr_arr * sigma2 / (2.0 * h * batch_size)", "out = lr_arr * sigma2 / (h * batch_size)")]),
    Mutant("stationary_variance", "noise variance not divided by B", says="divide by B",
           edits=[("out = lr_arr * sigma2 / (2.0 * h * batch_size)", "out = lr_arr * sigma2 / (2.0 * h)")]),
    Mutant("stationary_variance", "divided by B^2", says="not by B^2",
           edits=[("out = lr_arr * sigma2 / (2.0 * h * batch_size)", "out = lr_arr * sigma2 / (2.0 * h * batch_size**2)")]),
    Mutant("stationary_variance", "the discrete fixed point instead of the ODE's", says="discrete recursion's fixed point",
           edits=[("out = lr_arr * sigma2 / (2.0 * h * batch_size)", "out = lr_arr * sigma2 / (h * batch_size * (2.0 - lr_arr * h))")]),
    Mutant("stationary_variance", "h not checked", says="naming 'h'",
           edits=[("if not h > 0:", "if False:")]),
    Mutant("stationary_variance", "only the first rate checked", says="naming 'lr'",
           edits=[("if not np.all(lr_arr > 0):", "if not lr_arr.ravel()[0] > 0:")]),
    Mutant("stationary_variance", "error message without the value", says="and its value",
           edits=[('raise ValueError(f"lr must be > 0, got lr={lr}")', 'raise ValueError("lr must be > 0")'),
                  ('raise ValueError(f"h must be > 0, got h={h}")', 'raise ValueError("h must be > 0")')]),
    # ------------------------------------------------------------------ variance_ode
    # ported from the former wrong-answer tests
    Mutant("variance_ode", "ODE decay without the factor 2", says="missing the factor 2",
           edits=[("target = lr * sigma2 / (2.0 * h * batch_size)", "target = lr * sigma2 / (h * batch_size)"),
                  ("np.exp(-2.0 * h * lr)", "np.exp(-h * lr)")]),
    Mutant("variance_ode", "one forward Euler step per interval", says="one Euler step",
           edits=[("v = target + (v - target) * np.exp(-2.0 * h * lr)", "v = v + (-2.0 * h * lr * v + lr**2 * sigma2 / batch_size)")]),
    Mutant("variance_ode", "the discrete recursion instead of the ODE", says="that is the discrete recursion",
           edits=[("v = target + (v - target) * np.exp(-2.0 * h * lr)", "v = (1.0 - lr * h) ** 2 * v + lr**2 * sigma2 / batch_size")]),
    Mutant("variance_ode", "noise term eta sigma^2 / B (rate not squared)", says="eta squared",
           edits=[("target = lr * sigma2 / (2.0 * h * batch_size)", "target = sigma2 / (2.0 * h * batch_size)")]),
    Mutant("variance_ode", "rates read one interval late", says="shifted by one step",
           code='''
def variance_ode(lrs, h, sigma2, batch_size=1, v0=1.0):
    lrs = np.asarray(lrs, dtype=np.float64)
    out = np.empty(lrs.shape[0] + 1)
    out[0] = v = float(v0)
    for k in range(lrs.shape[0]):
        lr = lrs[min(k + 1, lrs.shape[0] - 1)]
        target = lr * sigma2 / (2.0 * h * batch_size)
        v = target + (v - target) * np.exp(-2.0 * h * lr)
        out[k + 1] = v
    return out
'''),
    Mutant("variance_ode", "noise not divided by B", says="divide by B",
           edits=[("target = lr * sigma2 / (2.0 * h * batch_size)", "target = lr * sigma2 / (2.0 * h)")]),
    # ------------------------------------------------------------------ sgd_second_moment_mc
    Mutant("sgd_second_moment_mc", "noise variance sigma^2, not sigma^2 / B", says="noise variance is sigma^2 / B",
           edits=[("std = (sigma2 / batch_size) ** 0.5", "std = sigma2**0.5")]),
    Mutant("sgd_second_moment_mc", "reports theta, not theta^2", says="report theta^2, not theta",
           edits=[("squares[0] = theta**2", "squares[0] = theta"), ("squares[t + 1] = theta**2", "squares[t + 1] = theta")]),
    Mutant("sgd_second_moment_mc", "stderr is the standard deviation (no 1/sqrt(n))", says="divide the standard deviation by sqrt(n_seeds)",
           edits=[("stderr = squares.std(dim=1) / n_seeds**0.5", "stderr = squares.std(dim=1)")]),
    Mutant("sgd_second_moment_mc", "stderr divided by n, not sqrt(n)", says="not by n_seeds",
           edits=[("stderr = squares.std(dim=1) / n_seeds**0.5", "stderr = squares.std(dim=1) / n_seeds")]),
    Mutant("sgd_second_moment_mc", "stderr with ddof=0", says="ddof=1",
           edits=[("stderr = squares.std(dim=1) / n_seeds**0.5", "stderr = squares.std(dim=1, unbiased=False) / n_seeds**0.5")]),
    Mutant("sgd_second_moment_mc", "one noise draw shared by all runs", says="all runs start together",
           edits=[("noise = torch.randn(n_seeds,", "noise = torch.randn(1,")]),
    Mutant("sgd_second_moment_mc", "float32 simulation", says="float64",
           edits=[("theta = torch.full((n_seeds,), float(theta0), dtype=torch.float64, device=device)",
                   "theta = torch.full((n_seeds,), float(theta0), dtype=torch.float32, device=device)"),
                  ("squares = torch.empty(lrs.shape[0] + 1, n_seeds, dtype=torch.float64, device=device)",
                   "squares = torch.empty(lrs.shape[0] + 1, n_seeds, dtype=torch.float32, device=device)"),
                  ("noise = torch.randn(n_seeds, generator=gen, dtype=torch.float64, device=device) * std",
                   "noise = torch.randn(n_seeds, generator=gen, dtype=torch.float32, device=device) * std")]),
    # the global-generator mistake of tests/test_assignments.py (PROCESS_STATE_MUTANTS), caught by its own cell's isolation check
    Mutant("sgd_second_moment_mc", "Monte Carlo seeds torch's global generator", says="changed torch's global random state",
           edits=[(GEN, "torch.manual_seed(int(seed))\n    gen = None  # draws from torch's global generator")]),
    # ------------------------------------------------------------------ anneal
    # ported from the former wrong-answer tests
    Mutant("anneal", "Langevin kick without the 2", says="missing the factor 2",
           edits=[("(2.0 * lr * temp) ** 0.5", "(lr * temp) ** 0.5")]),
    Mutant("anneal", "kick with standard deviation 2 lr T", says="its variance 2 lr T",
           edits=[("(2.0 * lr * temp) ** 0.5", "(2.0 * lr * temp)")]),
    Mutant("anneal", "temperature outside the square root", says="under the square root",
           edits=[("(2.0 * lr * temp) ** 0.5", "(2.0 * lr) ** 0.5 * temp")]),
    Mutant("anneal", "ascends the landscape", says="sign error",
           edits=[("x = x - lr * grad_fn(x) + kick", "x = x + lr * grad_fn(x) + kick")]),
    Mutant("anneal", "one step short", says="one step per entry of temperatures",
           edits=[("for temp in np.asarray(temperatures, dtype=np.float64).tolist():",
                   "for temp in np.asarray(temperatures, dtype=np.float64).tolist()[:-1]:")]),
    Mutant("anneal", "one kick shared by all runs", says="the same kicks",
           edits=[("kick = torch.randn(n_runs,", "kick = torch.randn(1,")]),
    # the same mistake in anneal (the second line of PROCESS_STATE_MUTANTS)
    Mutant("anneal", "annealing seeds torch's global generator", says="changed torch's global random state",
           edits=[(GEN, "torch.manual_seed(int(seed))\n    gen = None  # draws from torch's global generator")]),
    # ------------------------------------------------------------------ basin_fraction
    Mutant("basin_fraction", "half-width without 1.96", says="1.96 standard errors",
           edits=[("float(1.96 * np.sqrt(p * (1 - p) / x.size))", "float(np.sqrt(p * (1 - p) / x.size))")]),
    Mutant("basin_fraction", "half-width without the square root", says="square root",
           edits=[("float(1.96 * np.sqrt(p * (1 - p) / x.size))", "float(1.96 * p * (1 - p) / x.size)")]),
    Mutant("basin_fraction", "ends included", says="strictly inside",
           edits=[("(x > low) & (x < high)", "(x >= low) & (x <= high)")]),
    Mutant("basin_fraction", "symmetric basin assumed (|x| < high)", says="between low and high",
           edits=[("(x > low) & (x < high)", "(np.abs(x) < high)")]),
    Mutant("basin_fraction", "half-width with n - 1", says="divide by n",
           edits=[("float(1.96 * np.sqrt(p * (1 - p) / x.size))", "float(1.96 * np.sqrt(p * (1 - p) / (x.size - 1)))")]),
    Mutant("basin_fraction", "integer division for the fraction", says="integer division",
           edits=[("p = float(np.mean((x > low) & (x < high)))", "p = float(np.sum((x > low) & (x < high)) // x.size)")]),
    # ------------------------------------------------------------------ cooling_experiment
    Mutant("cooling_experiment", "a different seed for each cooling length", says="same seed",
           edits=[("n_runs=n_runs, seed=seed)", "n_runs=n_runs, seed=seed + len(fractions))")]),
    Mutant("cooling_experiment", "t0 ignored", says="t0 is not passed on",
           edits=[("S.linear_schedule(t0, 0.0, int(n))", "S.linear_schedule(1.0, 0.0, int(n))")]),
    Mutant("cooling_experiment", "lr ignored", says="lr is not passed on to anneal",
           edits=[("anneal(landscape_grad, X0, lr, temps,", "anneal(landscape_grad, X0, 0.01, temps,")]),
    Mutant("cooling_experiment", "n_runs ignored", says="n_runs is not passed on to anneal",
           edits=[("n_runs=n_runs, seed=seed)", "seed=seed)")]),
    Mutant("cooling_experiment", "temperatures at steps 1 .. n", says="steps 0 .. n - 1",
           edits=[("(np.arange(int(n)))", "(np.arange(1, int(n) + 1))")]),
    Mutant("cooling_experiment", "lists instead of arrays", says="return two arrays",
           edits=[("return np.array(fractions), np.array(widths)", "return fractions, widths")]),
]
