"""Plausible wrong answers to the assignment pac_bayes; see tests/mutation.py."""

from mutation import Mutant

_KL = "kl = 0.5 * (var_q / var_p + (mean_q - mean_p) ** 2 / var_p - 1.0 + np.log(var_p / var_q))"
_BOUND = "return float(train_loss + (kl + np.log(1.0 / delta)) / lam + lam * loss_range**2 / (8.0 * n))"

MUTANTS = [
    # ------------------------------------------------------------ gaussian_kl
    Mutant("gaussian_kl", "missing the 1/2", says="missing the 1/2",
           edits=[(_KL, "kl = (var_q / var_p + (mean_q - mean_p) ** 2 / var_p - 1.0 + np.log(var_p / var_q))")]),
    Mutant("gaussian_kl", "KL(P || Q) instead of KL(Q || P)", says="the arguments are swapped",
           edits=[(_KL, "kl = 0.5 * (var_p / var_q + (mean_q - mean_p) ** 2 / var_q - 1.0 + np.log(var_q / var_p))")]),
    Mutant("gaussian_kl", "log ratio upside down", says="not ln(var_q / var_p)",
           edits=[("np.log(var_p / var_q))", "np.log(var_q / var_p))")]),
    Mutant("gaussian_kl", "log of the variance ratio where the std ratio belongs", says="log of the standard deviation ratio",
           edits=[(_KL, "kl = np.log(var_p / var_q) + (var_q + (mean_q - mean_p) ** 2) / (2.0 * var_p) - 0.5")]),
    Mutant("gaussian_kl", "variances taken for standard deviations (squared)", says="variances, not standard deviations",
           edits=[(_KL, "var_q, var_p = var_q**2, var_p**2\n    " + _KL)]),
    Mutant("gaussian_kl", "mean over coordinates", says="sum the coordinates' kls, not their mean",
           edits=[("return float(np.sum(kl))", "return float(np.mean(kl))")]),
    Mutant("gaussian_kl", "the -1 left out", says="the -1 inside the bracket",
           edits=[("- 1.0 + np.log(var_p / var_q))", "+ np.log(var_p / var_q))")]),
    Mutant("gaussian_kl", "mean term over the posterior's variance", says="over var_p (the prior's variance)",
           edits=[("(mean_q - mean_p) ** 2 / var_p", "(mean_q - mean_p) ** 2 / var_q")]),
    # ------------------------------------------------------------ linear_bound
    # ported from the former wrong-answer tests
    Mutant("linear_bound", "confidence term ln(delta)", says="not ln(delta)",
           edits=[("np.log(1.0 / delta)", "np.log(delta)")]),
    Mutant("linear_bound", "lambda inverted", says="lambda divides the kl term and multiplies the last one",
           edits=[(_BOUND, "return float(train_loss + (kl + np.log(1.0 / delta)) * lam + loss_range**2 / (8.0 * lam * n))")]),
    Mutant("linear_bound", "missing the 8", says="missing the 8",
           edits=[("(8.0 * n)", "n")]),
    Mutant("linear_bound", "loss range not squared", says="c squared",
           edits=[("lam * loss_range**2 / (8.0 * n)", "lam * loss_range / (8.0 * n)")]),
    Mutant("linear_bound", "loss range forgotten", says="loss_range c is missing",
           edits=[("lam * loss_range**2 / (8.0 * n)", "lam / (8.0 * n)")]),
    Mutant("linear_bound", "negative kl accepted", says="naming 'kl'",
           edits=[('    if not kl >= 0:\n        raise ValueError(f"kl must be >= 0, got kl={kl}")\n', "")]),
    Mutant("linear_bound", "delta range closed", says="naming 'delta'",
           edits=[("if not 0 < delta < 1:", "if not 0 <= delta <= 1:")]),
    # ------------------------------------------------------------ variance_bound
    Mutant("variance_bound", "training loss without the 1/2", says="missing the 1/2",
           edits=[("train = min_loss + 0.5 * h * v", "train = min_loss + h * v")]),
    Mutant("variance_bound", "KL(prior || posterior)", says="kl(posterior || prior)",
           edits=[("gaussian_kl(0.0, v, 0.0, prior_var)", "gaussian_kl(0.0, prior_var, 0.0, v)")]),
    Mutant("variance_bound", "prior standard deviation for its variance", says="prior_var is already a variance",
           edits=[("gaussian_kl(0.0, v, 0.0, prior_var)", "gaussian_kl(0.0, v, 0.0, np.sqrt(prior_var))")]),
    Mutant("variance_bound", "min_loss forgotten", says="add min_loss",
           edits=[("train = min_loss + 0.5 * h * v", "train = 0.5 * h * v")]),
    Mutant("variance_bound", "loss_range not passed on", says="pass loss_range on",
           edits=[("prior_var), lam, n, delta, loss_range)", "prior_var), lam, n, delta)")]),
    # ------------------------------------------------------------ optimal_variance
    # ported from the former wrong-answer tests
    Mutant("optimal_variance", "optimal variance without h", says="lam * h * s^2 (all three)",
           edits=[("lam * h * prior_var", "lam * prior_var")]),
    Mutant("optimal_variance", "fraction upside down", says="upside down",
           edits=[("float(prior_var / (1.0 + lam * h * prior_var))", "float((1.0 + lam * h * prior_var) / prior_var)")]),
    Mutant("optimal_variance", "optimal variance without lambda", says="lam * h * s^2 (all three)",
           edits=[("lam * h * prior_var", "h * prior_var")]),
    Mutant("optimal_variance", "prior variance squared (taken for a std)", says="prior_var is already the variance s^2",
           edits=[("float(prior_var / (1.0 + lam * h * prior_var))", "float(prior_var**2 / (1.0 + lam * h * prior_var**2))")]),
    Mutant("optimal_variance", "wide-prior limit 1 / (lam h)", says="only the wide-prior limit",
           edits=[("float(prior_var / (1.0 + lam * h * prior_var))", "float(1.0 / (lam * h))")]),
    Mutant("optimal_variance", "derivative of h v / 2 taken as h", says="gives 1 + lam h s^2",
           edits=[("lam * h * prior_var", "2.0 * lam * h * prior_var")]),
    # ------------------------------------------------------------ optimal_rate
    Mutant("optimal_rate", "rate without the factor 2", says="a factor 2",
           edits=[("2.0 * h * batch_size", "h * batch_size")]),
    Mutant("optimal_rate", "rate without the curvature", says="the curvature h",
           edits=[("2.0 * h * batch_size", "2.0 * batch_size")]),
    Mutant("optimal_rate", "batch size ignored", says="the batch size b multiplies",
           edits=[("2.0 * h * batch_size", "2.0 * h")]),
    Mutant("optimal_rate", "batch size divides", says="the batch size b multiplies",
           edits=[("2.0 * h * batch_size * optimal_variance(h, prior_var, lam) / sigma2",
                   "2.0 * h * optimal_variance(h, prior_var, lam) / (sigma2 * batch_size)")]),
    Mutant("optimal_rate", "divides by sigma instead of sigma^2", says="sigma2 is already the variance",
           edits=[("/ sigma2)", "/ np.sqrt(sigma2))")]),
    Mutant("optimal_rate", "rate formula upside down", says="solve v* = eta sigma^2 / (2 h b) for eta",
           edits=[("float(2.0 * h * batch_size * optimal_variance(h, prior_var, lam) / sigma2)",
                   "float(sigma2 / (2.0 * h * batch_size * optimal_variance(h, prior_var, lam)))")]),
    # ------------------------------------------------------------ grid_search_rate
    # ported from the former wrong-answer tests
    Mutant("grid_search_rate", "grid search with v = eta sigma^2 / (h B)", says="stationary variance eta sigma^2 / (2 h b)",
           edits=[("grid * sigma2 / (2.0 * h * batch_size)", "grid * sigma2 / (h * batch_size)")]),
    Mutant("grid_search_rate", "batch size left out of v", says="stationary variance eta sigma^2 / (2 h b)",
           edits=[("grid * sigma2 / (2.0 * h * batch_size)", "grid * sigma2 / (2.0 * h)")]),
    Mutant("grid_search_rate", "smallest bound returned instead of its rate", says="not the smallest bound",
           edits=[("float(grid[int(np.argmin(bounds))])", "float(np.min(bounds))")]),
    Mutant("grid_search_rate", "index returned instead of the rate", says="not its index",
           edits=[("float(grid[int(np.argmin(bounds))])", "float(np.argmin(bounds))")]),
    Mutant("grid_search_rate", "argmax instead of argmin", says="grid rate of the smallest bound",
           edits=[("np.argmin(bounds)", "np.argmax(bounds)")]),
    Mutant("grid_search_rate", "running minimum not updated", says="grid rate of the smallest bound",
           code='''
def grid_search_rate(lr_grid, h, prior_var, lam, sigma2, batch_size, n, delta, min_loss=0.0, loss_range=1.0):
    grid = np.asarray(lr_grid, dtype=np.float64)
    variances = grid * sigma2 / (2.0 * h * batch_size)
    bounds = np.array([variance_bound(v, h, prior_var, lam, n, delta, min_loss, loss_range) for v in variances])
    best_lr, best = float(grid[0]), bounds[0]
    for lr, b in zip(grid, bounds):
        if b < best:
            best_lr = float(lr)
    return best_lr, bounds
'''),
]
