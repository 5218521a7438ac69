"""Plausible wrong answers lose the points of the behaviour they get wrong, and only those (assignment ``dp_sgd``).

The same design as ``test_wrong_answers.py``: the *perfect submission* is the source notebook in
``solutions/`` with the nbgrader marker lines removed (solutions and hidden tests kept); a wrong
submission swaps several solution cells at once for plausible mistakes whose failing graded cells do
not overlap. Every cell runs (``allow_errors=True``, as nbgrader's autograder does) and the set of
failing graded cells must be exactly the union of the mistakes' expected failures. One perfect and
one wrong execution.
"""

from __future__ import annotations

from wrong_answers import wrong_answer_tests

ASSIGNMENT = "dp_sgd"

MISTAKES = {
    # Noise of standard deviation sigma instead of sigma * C: the noise is not calibrated to the
    # sensitivity. In part 9 the schedule comparison runs with C = 1 (no difference), but the hidden
    # "only eta C matters" check compares two clipping norms, whose noises now differ.
    "noise not scaled by the clipping norm": (
        "noisy_mean",
        '''
def noisy_mean(clipped, noise_multiplier, max_norm, expected_batch, rng):
    if not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0, got noise_multiplier={noise_multiplier}")
    if not expected_batch > 0:
        raise ValueError(f"expected_batch must be > 0, got expected_batch={expected_batch}")
    clipped = np.asarray(clipped, dtype=np.float64)
    noise = rng.normal(0.0, noise_multiplier, size=clipped.shape[1])
    return (clipped.sum(axis=0) + noise) / expected_batch
''',
        {"test_noisy_mean", "test_dp_sgd_run"},
    ),
    # The factor 2 of alpha / (2 sigma^2) forgotten (the sampled mechanism's own q = 1 branch is separate).
    "Gaussian RDP without the 2": (
        "gaussian_rdp",
        '''
def gaussian_rdp(alpha, noise_multiplier):
    if not noise_multiplier > 0:
        raise ValueError(f"noise_multiplier must be > 0, got noise_multiplier={noise_multiplier}")
    a = np.asarray(alpha, dtype=np.float64)
    if not np.all(a > 1):
        raise ValueError(f"alpha must be > 1, got alpha={alpha}")
    out = a / noise_multiplier**2
    return float(out) if out.ndim == 0 else out
''',
        {"test_gaussian_rdp"},
    ),
    # A fixed-size batch of round(q n) examples (sampling without replacement) instead of coin flips:
    # the accountant's assumption is broken, the batch size never varies.
    "fixed-size batches": (
        "poisson_sample",
        '''
def poisson_sample(n, q, rng):
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got q={q}")
    if not n >= 1:
        raise ValueError(f"n must be >= 1, got n={n}")
    size = int(round(q * n))
    return np.sort(rng.permutation(int(n))[:size]).astype(np.int64)
''',
        {"test_poisson"},
    ),
    # The older RDP -> DP conversion (Mironov 2017, prop. 3): eps = rho + ln(1/delta) / (alpha - 1).
    # Valid but looser; the graded conversion is Balle et al.'s, so the conversion and the composition
    # (checked against Opacus) fail; the noise search is graded against the student's own dp_epsilon,
    # so it keeps its points (it bisects correctly on a looser curve).
    "older, looser conversion": (
        "rdp_to_epsilon",
        '''
def rdp_to_epsilon(rdp, orders, delta):
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got delta={delta}")
    rdp = np.atleast_1d(np.asarray(rdp, dtype=np.float64))
    orders = np.atleast_1d(np.asarray(orders, dtype=np.float64))
    if rdp.shape != orders.shape:
        raise ValueError(f"rdp must have one value per order, got rdp of shape {rdp.shape}")
    eps = rdp + np.log(1 / delta) / (orders - 1)
    best = int(np.argmin(eps))
    return float(eps[best]), float(orders[best])
''',
        {"test_conversion", "test_compose"},
    ),
}


(test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
 test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests({ASSIGNMENT: MISTAKES})
