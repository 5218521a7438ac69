"""Plausible wrong answers lose the points of the behaviour they get wrong, and only those (assignment ``scaling_up``).

The same design as ``test_wrong_answers_part1b.py``: the *perfect submission* is the source notebook in
``solutions/`` with the nbgrader marker lines removed (solutions and hidden tests kept); a wrong
submission swaps several solution cells at once for plausible mistakes whose failing graded cells do
not overlap. Every cell runs (``allow_errors=True``, as nbgrader's autograder does) and the set of
failing graded cells must be exactly the union of the mistakes' expected failures.
"""

from __future__ import annotations

from wrong_answers import wrong_answer_tests

ASSIGNMENT = "scaling_up"

MISTAKES = {
    # The square-root rule (right for Adam-like optimizers, some say) where the linear rule is asked.
    "square-root scaling": (
        "scaled_lr",
        '''
def scaled_lr(base_lr, base_batch, batch):
    for name, value in (("base_lr", base_lr), ("base_batch", base_batch), ("batch", batch)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {name}={value}")
    return float(base_lr * (batch / base_batch) ** 0.5)
''',
        {"test_scaled_lr"},
    ),
    # min_lr forgotten: the decay always ends at 0 (the branches, with min_lr = 0, are still right).
    "WSD decays to zero whatever min_lr": (
        "wsd_rate",
        '''
def wsd_rate(step, peak_lr, total_steps, warmup_steps, decay_steps, min_lr=0.0):
    if not decay_steps >= 1:
        raise ValueError(f"decay_steps must be >= 1, got decay_steps={decay_steps}")
    if warmup_steps + decay_steps > total_steps:
        raise ValueError(f"warmup_steps + decay_steps must be <= total_steps, got decay_steps={decay_steps}")
    t = np.asarray(step, dtype=np.float64)
    rate = np.asarray(warmup_rate(t, peak_lr, warmup_steps), dtype=np.float64)
    start = total_steps - decay_steps
    decayed = peak_lr * (1 - np.clip(t - start, 0, decay_steps) / decay_steps)
    out = np.where(t >= start, decayed, rate)
    return float(out) if out.ndim == 0 else out
''',
        {"test_wsd"},
    ),
    # The uniform average c = 1/(t+1): right without warmup, wrong with it.
    "schedule-free with uniform averaging weights": (
        "schedule_free_quadratic",
        '''
def schedule_free_quadratic(h, x0, lr, momentum, steps, warmup_steps=0, noise=None):
    h = np.asarray(h, dtype=np.float64)
    x = np.array(x0, dtype=np.float64)
    z, y = x.copy(), x.copy()
    xs, ys, zs = [x.copy()], [y.copy()], [z.copy()]
    for t in range(steps):
        gamma = lr * (min(1.0, (t + 1) / warmup_steps) if warmup_steps > 0 else 1.0)
        g = h * y + (0.0 if noise is None else np.asarray(noise[t], dtype=np.float64))
        c = 1.0 / (t + 1)
        z = z - gamma * g
        x = (1 - c) * x + c * z
        y = (1 - momentum) * z + momentum * x
        xs.append(x.copy()), ys.append(y.copy()), zs.append(z.copy())
    return np.array(xs), np.array(ys), np.array(zs)
''',
        {"test_sf_warmup"},
    ),
    # The loss recorded after the update instead of before: every loss is one step late.
    "range test records the loss after the step": (
        "range_test_quadratic",
        '''
def range_test_quadratic(h, theta0, start_lr, end_lr, num_steps, diverge_factor=4.0, device=None):
    device = DEVICE if device is None else torch.device(device)
    h_t = torch.as_tensor(np.asarray(h, dtype=np.float64), device=device)
    theta = torch.as_tensor(np.asarray(theta0, dtype=np.float64), device=device).clone()
    rates, losses, best = [], [], np.inf
    for k in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (k / (num_steps - 1))
        theta = theta - lr * h_t * theta
        loss = float(0.5 * torch.sum(h_t * theta**2))
        rates.append(lr)
        losses.append(loss)
        best = min(best, loss)
        if not np.isfinite(loss) or loss > diverge_factor * best:
            break
    return np.array(rates, dtype=np.float64), np.array(losses, dtype=np.float64)
''',
        {"test_range_sweep"},
    ),
    # Slope against the rate instead of its logarithm: favours the large rates of the sweep.
    "steepest descent against the rate, not ln(rate)": (
        "suggest_lr",
        '''
def suggest_lr(rates, losses):
    rates = np.asarray(rates, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    best = int(np.argmin(losses))
    if best < 2:
        raise ValueError(f"losses must fall before their minimum, got the minimum at index {best}")
    slope = np.gradient(losses[: best + 1], rates[: best + 1])
    return float(rates[int(np.argmin(slope))])
''',
        {"test_suggest"},
    ),
}


(test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
 test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests({ASSIGNMENT: MISTAKES})
