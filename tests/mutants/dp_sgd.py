"""Plausible wrong answers to the assignment dp_sgd (DP-SGD and its privacy accountant); see tests/mutation.py.

The four mistakes of the former wrong-answer tests are ported here (marked "ported").
"""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ 1. clip_per_example
    Mutant("clip_per_example", "short rows scaled up to C (no min(1, .))", says="do not normalize them to length C",
           edits=[("np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))", "max_norm / np.maximum(norms, 1e-300)")]),
    Mutant("clip_per_example", "L1 norm instead of the Euclidean norm", says="not the sum of |g|",
           edits=[("np.linalg.norm(grads, axis=1, keepdims=True)", "np.abs(grads).sum(axis=1, keepdims=True)")]),
    Mutant("clip_per_example", "one norm for the whole matrix (clips the batch, not each example)", says="each row",
           edits=[("np.linalg.norm(grads, axis=1, keepdims=True)", "np.linalg.norm(grads)")]),
    Mutant("clip_per_example", "per-coordinate clipping (np.clip)", says="not each entry",
           code='''
def clip_per_example(grads, max_norm):
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got max_norm={max_norm}")
    grads = np.array(grads, dtype=np.float64)
    if grads.ndim != 2:
        raise ValueError(f"grads must be a 2-D array (n, d), got grads of shape {grads.shape}")
    return np.clip(grads, -max_norm, max_norm)
'''),
    Mutant("clip_per_example", "max instead of min in the clipping factor", says="not max(1, C/|g|)",
           edits=[("np.minimum(1.0,", "np.maximum(1.0,")]),
    Mutant("clip_per_example", "column norms (axis=0) instead of row norms", says="each row",
           edits=[("np.linalg.norm(grads, axis=1, keepdims=True)", "np.linalg.norm(grads, axis=0, keepdims=True)")]),
    Mutant("clip_per_example", "clips in place (modifies the caller's array)", says="must not modify its input",
           edits=[("grads = np.array(grads, dtype=np.float64)", "grads = np.asarray(grads, dtype=np.float64)"),
                  ("return grads * factor", "grads *= factor\n    return grads")]),
    Mutant("clip_per_example", "g / |g| * min(|g|, C): a zero row gives 0 / 0", says="a zero gradient must stay zero",
           edits=[("return grads * factor", "return grads / norms * np.minimum(norms, max_norm)")]),

    # ------------------------------------------------------------------ 2. noisy_mean
    Mutant("noisy_mean", "noise std sigma instead of sigma * C (ported)", says="times max_norm",
           edits=[("rng.normal(0.0, noise_multiplier * max_norm, size=d)", "rng.normal(0.0, noise_multiplier, size=d)")]),
    Mutant("noisy_mean", "divides by the number of rows (realized batch)", says="expected batch size q N, not by the number of rows",
           edits=[("+ noise) / expected_batch", "+ noise) / max(len(clipped), 1)")]),
    Mutant("noisy_mean", "noise not divided by the expected batch", says="the noise is divided by expected_batch too",
           edits=[("return (clipped.sum(axis=0) + noise) / expected_batch", "return clipped.sum(axis=0) / expected_batch + noise")]),
    Mutant("noisy_mean", "noise added to each example (none for an empty batch)", says="add one noise vector to the sum",
           edits=[("noise = rng.normal(0.0, noise_multiplier * max_norm, size=d)",
                   "noise = rng.normal(0.0, noise_multiplier * max_norm, size=clipped.shape).sum(axis=0)")]),
    Mutant("noisy_mean", "variance passed as rng.normal's scale", says="not the variance",
           edits=[("rng.normal(0.0, noise_multiplier * max_norm, size=d)", "rng.normal(0.0, (noise_multiplier * max_norm) ** 2, size=d)")]),
    Mutant("noisy_mean", "mean of the clipped rows plus the noise over qN", says="expected batch size q N, not by the number of rows",
           edits=[("return (clipped.sum(axis=0) + noise) / expected_batch",
                   "return (clipped.mean(axis=0) if len(clipped) else np.zeros(d)) + noise / expected_batch")]),

    # ------------------------------------------------------------------ 3. poisson_sample
    Mutant("poisson_sample", "fixed-size batches (ported)", says="fixed-size batch",
           code='''
def poisson_sample(n, q, rng):
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got q={q}")
    if not n >= 1:
        raise ValueError(f"n must be >= 1, got n={n}")
    size = int(round(q * n))
    return np.sort(rng.permutation(int(n))[:size]).astype(np.int64)
'''),
    Mutant("poisson_sample", "keeps the examples with random >= q (probability 1 - q)", says="probability 1 - q",
           edits=[("rng.random(int(n)) < q", "rng.random(int(n)) >= q")]),
    Mutant("poisson_sample", "indices drawn with replacement", says="without repeats",
           edits=[("return np.flatnonzero(rng.random(int(n)) < q).astype(np.int64)",
                   "return np.sort(rng.integers(0, int(n), size=rng.binomial(int(n), q))).astype(np.int64)")]),
    Mutant("poisson_sample", "returns the boolean mask, not the indices", says="not a boolean mask",
           edits=[("return np.flatnonzero(rng.random(int(n)) < q).astype(np.int64)", "return rng.random(int(n)) < q")]),
    Mutant("poisson_sample", "indices start at 1", says="indices start at 0",
           edits=[("np.flatnonzero(rng.random(int(n)) < q)", "(np.flatnonzero(rng.random(int(n)) < q) + 1)")]),
    Mutant("poisson_sample", "binomial size, then a random subset (not rng.random(n) once)", says="rng.random(n) once",
           edits=[("return np.flatnonzero(rng.random(int(n)) < q).astype(np.int64)",
                   "return np.sort(rng.choice(int(n), size=rng.binomial(int(n), q), replace=False)).astype(np.int64)")]),

    # ------------------------------------------------------------------ 4. gaussian_rdp
    Mutant("gaussian_rdp", "Gaussian RDP without the 2 (ported)", says="missing the 2",
           edits=[("a / (2.0 * noise_multiplier**2)", "a / noise_multiplier**2")]),
    Mutant("gaussian_rdp", "sigma not squared", says="with sigma squared",
           edits=[("a / (2.0 * noise_multiplier**2)", "a / (2.0 * noise_multiplier)")]),
    Mutant("gaussian_rdp", "alpha - 1 in the numerator", says="not alpha - 1",
           edits=[("a / (2.0 * noise_multiplier**2)", "(a - 1) / (2.0 * noise_multiplier**2)")]),
    Mutant("gaussian_rdp", "sigma^2 multiplies instead of divides", says="more noise must give a smaller",
           edits=[("a / (2.0 * noise_multiplier**2)", "a * noise_multiplier**2 / 2.0")]),
    Mutant("gaussian_rdp", "order 1 accepted", says="should raise a ValueError naming 'alpha'",
           edits=[("np.all(a > 1)", "np.all(a >= 1)")]),
    Mutant("gaussian_rdp", "sigma = 0 not rejected", says="should raise a ValueError naming 'noise_multiplier'",
           edits=[("if not noise_multiplier > 0:", "if noise_multiplier < 0:")]),

    # ------------------------------------------------------------------ 5. sampled_gaussian_rdp
    Mutant("sampled_gaussian_rdp", "divides ln A by alpha", says="not by alpha",
           edits=[("/ (alpha - 1))", "/ alpha)")]),
    Mutant("sampled_gaussian_rdp", "ln A not divided by alpha - 1", says="divide ln A by alpha - 1",
           edits=[("float(special.logsumexp(terms) / (alpha - 1))", "float(special.logsumexp(terms))")]),
    Mutant("sampled_gaussian_rdp", "exponent k^2 / (2 sigma^2) (missing -k)", says="(k^2 - k)",
           edits=[("(k * k - k) / (2.0 * sigma2)", "(k * k) / (2.0 * sigma2)")]),
    Mutant("sampled_gaussian_rdp", "sigma not squared in the exponent", says="with sigma squared",
           edits=[("sigma2 = noise_multiplier**2", "sigma2 = noise_multiplier")]),
    Mutant("sampled_gaussian_rdp", "q and 1 - q swapped", says="not q^(alpha-k)",
           edits=[("(alpha - k) * np.log1p(-q) + k * np.log(q)", "k * np.log1p(-q) + (alpha - k) * np.log(q)")]),
    Mutant("sampled_gaussian_rdp", "sum stops at k = alpha - 1", says="k = 0..alpha",
           edits=[("k = np.arange(alpha + 1, dtype=np.float64)", "k = np.arange(alpha, dtype=np.float64)")]),
    Mutant("sampled_gaussian_rdp", "ln binom with gammaln(alpha) (off by one)", says="gammaln(alpha + 1)",
           edits=[("special.gammaln(alpha + 1) - special.gammaln(k + 1)", "special.gammaln(alpha) - special.gammaln(k + 1)")]),
    Mutant("sampled_gaussian_rdp", "no q = 1 branch (ln 0 gives nan)", says="at q = 1",
           edits=[("    if q == 1:\n        return alpha / (2.0 * sigma2)\n", "")]),
    Mutant("sampled_gaussian_rdp", "direct sum, not in log space (overflows)", says="log space",
           edits=[("return float(special.logsumexp(terms) / (alpha - 1))",
                   "with np.errstate(over='ignore'):\n"
                   "        a_sum = np.sum(special.comb(alpha, k) * (1 - q) ** (alpha - k) * q**k * np.exp((k * k - k) / (2.0 * sigma2)))\n"
                   "    return float(np.log(a_sum) / (alpha - 1))")]),

    # ------------------------------------------------------------------ 6. rdp_to_epsilon
    Mutant("rdp_to_epsilon", "older, looser conversion (ported)", says="older conversion",
           edits=[("eps = rdp - (np.log(delta) + np.log(orders)) / (orders - 1) + np.log((orders - 1) / orders)",
                   "eps = rdp + np.log(1 / delta) / (orders - 1)")]),
    Mutant("rdp_to_epsilon", "maximum over the orders", says="not the maximum",
           edits=[("best = int(np.argmin(eps))", "best = int(np.argmax(eps))")]),
    Mutant("rdp_to_epsilon", "returns the index of the best order", says="not its index",
           edits=[("float(orders[best])", "float(best)")]),
    Mutant("rdp_to_epsilon", "best order where rdp is smallest", says="not where rdp is smallest",
           edits=[("best = int(np.argmin(eps))", "best = int(np.argmin(rdp))")]),
    Mutant("rdp_to_epsilon", "sign of the delta term", says="check the signs",
           edits=[("eps = rdp - (np.log(delta)", "eps = rdp + (np.log(delta)")]),
    Mutant("rdp_to_epsilon", "last term ln(alpha / (alpha - 1))", says="ln((alpha-1)/alpha)",
           edits=[("np.log((orders - 1) / orders)", "np.log(orders / (orders - 1))")]),
    Mutant("rdp_to_epsilon", "ln alpha term forgotten", says="-(ln delta + ln alpha)/(alpha - 1)",
           edits=[("(np.log(delta) + np.log(orders)) / (orders - 1)", "np.log(delta) / (orders - 1)")]),
    Mutant("rdp_to_epsilon", "delta = 1 accepted", says="should raise a ValueError naming 'delta'",
           edits=[("if not 0 < delta < 1:", "if not 0 < delta <= 1:")]),

    # ------------------------------------------------------------------ 7. dp_epsilon
    Mutant("dp_epsilon", "RDP of one step (steps forgotten)", says="multiply the per-step RDP by the number of steps",
           edits=[("rdp = [steps * sampled_gaussian_rdp(", "rdp = [sampled_gaussian_rdp(")]),
    Mutant("dp_epsilon", "sqrt(steps) composition", says="not sqrt(T) rho",
           edits=[("rdp = [steps * sampled_gaussian_rdp(", "rdp = [np.sqrt(steps) * sampled_gaussian_rdp(")]),
    Mutant("dp_epsilon", "returns the best order", says="not the order",
           edits=[("return rdp_to_epsilon(rdp, orders, delta)[0]", "return rdp_to_epsilon(rdp, orders, delta)[1]")]),
    Mutant("dp_epsilon", "epsilons of the steps added (compose after converting)", says="epsilons do not add up",
           edits=[("rdp = [steps * sampled_gaussian_rdp(", "rdp = [sampled_gaussian_rdp("),
                  ("return rdp_to_epsilon(rdp, orders, delta)[0]", "return steps * rdp_to_epsilon(rdp, orders, delta)[0]")]),
    Mutant("dp_epsilon", "Gaussian mechanism without sampling (q ignored)", says="ignores the sampling rate q",
           edits=[("sampled_gaussian_rdp(q, noise_multiplier, a)", "gaussian_rdp(a, noise_multiplier)")]),
    Mutant("dp_epsilon", "the orders argument ignored (2..63 hard-coded)", says="use the orders argument",
           edits=[("for a in orders]", "for a in range(2, 64)]"), ("rdp_to_epsilon(rdp, orders, delta)", "rdp_to_epsilon(rdp, range(2, 64), delta)")]),
    Mutant("dp_epsilon", "delta split over the steps", says="delta is for the whole run",
           edits=[("rdp_to_epsilon(rdp, orders, delta)", "rdp_to_epsilon(rdp, orders, delta / steps)")]),

    # ------------------------------------------------------------------ 8. noise_for_epsilon
    Mutant("noise_for_epsilon", "returns the lower end of the bracket", says="upper end of the bracket",
           edits=[("return float(hi)", "return float(lo)")]),
    Mutant("noise_for_epsilon", "bisection moves the wrong end", says="keep the bisection invariant",
           edits=[("lo = mid\n        else:\n            hi = mid", "hi = mid\n        else:\n            lo = mid")]),
    Mutant("noise_for_epsilon", "bracket not widened (fixed [0.5, 1])", says="widen the bracket",
           edits=[("    while eps(hi) > target_eps:\n        lo, hi = hi, 2 * hi\n    while eps(lo) <= target_eps:\n        lo, hi = lo / 2, lo\n", "")]),
    Mutant("noise_for_epsilon", "delta hard-coded to 1e-5", says="use the delta argument",
           edits=[("dp_epsilon(q, s, steps, delta)", "dp_epsilon(q, s, steps, 1e-5)")]),
    Mutant("noise_for_epsilon", "stops bisecting at 1e-3 (rtol ignored)", says="until hi / lo - 1 <= rtol",
           edits=[("while hi / lo - 1 > rtol:", "while hi / lo - 1 > 1e-3:")]),
    Mutant("noise_for_epsilon", "steps forgotten in the epsilon (one step)", says="pass steps to dp_epsilon",
           edits=[("dp_epsilon(q, s, steps, delta)", "dp_epsilon(q, s, 1, delta)")]),

    # ------------------------------------------------------------------ 9. dp_sgd_linear
    Mutant("dp_sgd_linear", "passes the realized batch size as expected_batch", says="not by the realized batch size",
           edits=[("max_norm, q * n, rng)", "max_norm, max(len(batch), 1), rng)")]),
    Mutant("dp_sgd_linear", "losses only after each step", says="before every step",
           edits=[("losses = [loss(w)]", "losses = []")]),
    Mutant("dp_sgd_linear", "schedule ignored (first rate at every step)", says="use rates[t] at step t",
           edits=[("w = w - lr * noisy_mean(", "w = w - float(rates[0]) * noisy_mean(")]),
    Mutant("dp_sgd_linear", "gradients not clipped", says="clip each per-example gradient (clip_per_example)",
           edits=[("clipped = clip_per_example(grads.reshape(len(batch), d), max_norm)", "clipped = grads.reshape(len(batch), d)")]),
    Mutant("dp_sgd_linear", "the batch's summed gradient clipped, not each example", says="not the batch's summed gradient",
           edits=[("clipped = clip_per_example(grads.reshape(len(batch), d), max_norm)",
                   "clipped = clip_per_example(grads.reshape(len(batch), d).sum(axis=0, keepdims=True), max_norm)")]),
    Mutant("dp_sgd_linear", "a fresh generator every step", says="not a new one every step",
           edits=[("        batch = poisson_sample(n, q, rng)", "        rng = np.random.default_rng(seed)\n        batch = poisson_sample(n, q, rng)")]),
    Mutant("dp_sgd_linear", "gradient ascent (sign)", says="w - eta g (descent)",
           edits=[("w = w - lr * noisy_mean(", "w = w + lr * noisy_mean(")]),
    Mutant("dp_sgd_linear", "divides by q instead of q * N", says="not by q",
           edits=[("max_norm, q * n, rng)", "max_norm, q, rng)")]),
]
