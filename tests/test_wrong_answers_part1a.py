"""Plausible wrong answers lose the points of the behaviour they get wrong, and only those (assignments 3-5).

The same design as ``tests/test_wrong_answers.py``, for the assignments ``coupled_forces``,
``heavy_ball`` and ``critical_damping`` (chapters 2 and 3). The *perfect submission* is the source
notebook in ``solutions/`` with the nbgrader marker lines removed (solutions and hidden tests kept).
A wrong submission swaps three solution cells at once for plausible mistakes whose expected failures
do not overlap; the notebook is executed with nbclient and ``allow_errors=True`` (every cell runs,
as in nbgrader's autograder), and the set of failing graded cells must be exactly the union of the
expected ones: each mistake is caught, and no cell that no mistake touches fails. That is two
notebook executions per assignment (the perfect one and the wrong one).
"""

from __future__ import annotations

from wrong_answers import wrong_answer_tests


# ---------------------------------------------------------------------------
# The mistakes: (solution cell, wrong code, graded cells it must fail)
# ---------------------------------------------------------------------------

COUPLED_FORCES_MISTAKES = {
    # Counting the milestones < t instead of <= t: the batch grows one step late.
    "batch grows one step after the milestone": (
        "batch_size_schedule",
        '''
def batch_size_schedule(step, base_batch, milestones, factor):
    for name, value in (("base_batch", base_batch), ("factor", factor)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {name}={value}")
    t = np.asarray(step)
    passed = np.searchsorted(np.asarray(milestones, dtype=np.int64), t, side="left")
    batch = int(base_batch) * int(factor) ** passed.astype(np.int64)
    return int(batch) if batch.ndim == 0 else batch
''',
        {"test_batch_schedule"},
    ),
    # The cumulative product without s_0 = 1: one value short, every value one step early.
    "cumulative shrink without s_0 = 1": (
        "cumulative_shrink",
        '''
def cumulative_shrink(lrs, weight_decay):
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got weight_decay={weight_decay}")
    return np.cumprod(1.0 - np.asarray(lrs, dtype=np.float64) * weight_decay)
''',
        {"test_cumulative_shrink"},
    ),
    # Adam's weight_decay treated as decoupled in both modes: the AdamW update where Adam's L2 belongs.
    "Adam's L2 done as decoupled decay": (
        "adam_step",
        '''
def adam_step(theta, grad, m, v, step, lr, weight_decay, decoupled=False, betas=(0.9, 0.999), eps=1e-8):
    beta1, beta2 = betas
    theta = (1.0 - lr * weight_decay) * theta
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad**2
    m_hat = m / (1.0 - beta1 ** (step + 1))
    v_hat = v / (1.0 - beta2 ** (step + 1))
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
''',
        {"test_adam_l2"},
    ),
}

HEAVY_BALL_MISTAKES = {
    # The wrong velocity convention: PyTorch's buffer (times the current rate) in the heavy-ball step.
    # Whole runs at a constant rate agree with torch either way; the one-step check of the returned
    # velocity and the run under a step decay (hidden) catch it.
    "PyTorch convention in the heavy-ball step": (
        "heavy_ball_step",
        '''
def heavy_ball_step(theta, velocity, grad, lr, momentum):
    buf = momentum * velocity + grad
    return theta - lr * buf, buf
''',
        {"test_heavy_ball_step"},
    ),
    # Kinetic energy |v|^2 / eta: the 1/2 of 1/2 m v^2 is missing.
    "kinetic energy without the 1/2": (
        "energy",
        '''
def energy(theta, velocity, h, lr):
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got lr={lr}")
    theta, velocity, h = (np.asarray(a, dtype=np.float64) for a in (theta, velocity, h))
    e = 0.5 * (h * theta**2).sum(-1) + (velocity**2).sum(-1) / lr
    return float(e) if e.ndim == 0 else e
''',
        {"test_energy"},
    ),
    # L(theta_0) = h d^2 without the 1/2: the kick is too small by a factor sqrt(2) on its barrier part.
    "start loss without the 1/2": (
        "min_kick_lr",
        '''
def min_kick_lr(barrier_height, h, displacement):
    if not barrier_height > 0:
        raise ValueError(f"barrier_height must be > 0, got barrier_height={barrier_height}")
    if not h > 0:
        raise ValueError(f"h must be > 0, got h={h}")
    if displacement == 0:
        raise ValueError(f"displacement must be nonzero, got displacement={displacement}")
    return float((1.0 + np.sqrt(barrier_height / (h * displacement**2))) / h)
''',
        {"test_min_kick"},
    ),
}

CRITICAL_DAMPING_MISTAKES = {
    # Sign error: the gradient term enters the middle coefficient with a plus.
    "sign error in the characteristic polynomial": (
        "char_roots",
        '''
def char_roots(lr, momentum, h):
    b = 1.0 + momentum + lr * h
    root = np.sqrt(complex(b * b - 4.0 * momentum))
    return np.array([(b + root) / 2, (b - root) / 2], dtype=np.complex128)
''',
        {"test_char_roots"},
    ),
    # beta = 1 - sqrt(eta h): the double root, not its square; the co-schedule inherits the mistake.
    "critical momentum not squared": (
        "critical_momentum",
        '''
def critical_momentum(lr, h):
    if not h > 0:
        raise ValueError(f"h must be > 0, got h={h}")
    x = np.asarray(lr, dtype=np.float64) * h
    if np.any(x < 0) or np.any(x > 1):
        raise ValueError(f"lr * h must be in [0, 1], got lr={lr} with h={h}")
    beta = 1.0 - np.sqrt(x)
    return float(beta) if beta.ndim == 0 else beta
''',
        {"test_critical_momentum", "test_co_schedule"},
    ),
    # Polyak's momentum without the square: the rate sqrt(beta) instead of beta.
    "Polyak's momentum not squared": (
        "polyak_parameters",
        '''
def polyak_parameters(mu, L):
    if not 0 < mu <= L:
        raise ValueError(f"mu must satisfy 0 < mu <= L={L}, got mu={mu}")
    sl, sm = np.sqrt(L), np.sqrt(mu)
    return float(4.0 / (sl + sm) ** 2), float((sl - sm) / (sl + sm))
''',
        {"test_polyak"},
    ),
}

MISTAKES = {
    "coupled_forces": COUPLED_FORCES_MISTAKES,
    "heavy_ball": HEAVY_BALL_MISTAKES,
    "critical_damping": CRITICAL_DAMPING_MISTAKES,
}


(test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
 test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests(MISTAKES)
