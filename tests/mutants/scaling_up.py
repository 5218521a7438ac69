"""Plausible wrong answers to assignment scaling_up (chapter 5); see tests/mutation.py."""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ warmup_rate
    Mutant("warmup_rate", "ramp counted from step 1", says="not (t + 1) / W",
           edits=[("t / warmup_steps)", "(t + 1) / warmup_steps)")]),
    Mutant("warmup_rate", "peak reached at step W - 1", says="the peak is reached at step W, not W - 1",
           edits=[("t / warmup_steps)", "t / (warmup_steps - 1))")]),
    Mutant("warmup_rate", "integer division in the ramp", says="true division",
           edits=[("t / warmup_steps)", "t // warmup_steps)")]),
    Mutant("warmup_rate", "W = 0 divides by zero", says="warmup_steps = 0 means no warmup",
           edits=[("np.full_like(t, float(peak_lr)) if warmup_steps == 0 else peak_lr", "peak_lr")]),
    Mutant("warmup_rate", "int dtype kept from the steps", says="truncated to integers",
           edits=[("t = np.asarray(step, dtype=np.float64)", "t = np.asarray(step)")]),
    # ------------------------------------------------------------------ scaled_lr
    # ported from the former wrong-answer tests
    Mutant("scaled_lr", "square-root scaling", says="square-root rule",
           edits=[("float(base_lr * batch / base_batch)", "float(base_lr * (batch / base_batch) ** 0.5)")]),
    Mutant("scaled_lr", "ratio upside down", says="upside down",
           edits=[("float(base_lr * batch / base_batch)", "float(base_lr * base_batch / batch)")]),
    Mutant("scaled_lr", "integer division of the batch sizes", says="integer division",
           edits=[("float(base_lr * batch / base_batch)", "float(base_lr * (batch // base_batch))")]),
    Mutant("scaled_lr", "ratio rounded to a whole factor", says="do not round",
           edits=[("float(base_lr * batch / base_batch)", "float(base_lr * round(batch / base_batch))")]),
    Mutant("scaled_lr", "base batch forgotten", says="divide by base_batch",
           edits=[("float(base_lr * batch / base_batch)", "float(base_lr * batch)")]),
    Mutant("scaled_lr", "only the batch sizes checked", says="naming 'base_lr'",
           edits=[('(("base_lr", base_lr), ("base_batch", base_batch), ("batch", batch))',
                   '(("base_batch", base_batch), ("batch", batch))')]),
    # ------------------------------------------------------------------ wsd_rate
    # ported from the former wrong-answer tests
    Mutant("wsd_rate", "WSD decays to zero whatever min_lr", says="the decay ends at min_lr",
           code='''
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
'''),
    Mutant("wsd_rate", "decay starts one step late", says="the decay ends at step T",
           edits=[("start = total_steps - decay_steps", "start = total_steps - decay_steps + 1")]),
    Mutant("wsd_rate", "decay starts one step early", says="not one step earlier",
           edits=[("start = total_steps - decay_steps", "start = total_steps - decay_steps - 1")]),
    Mutant("wsd_rate", "decay not clipped after T", says="stays at min_lr",
           edits=[("np.clip(t - start, 0, decay_steps)", "np.maximum(t - start, 0)")]),
    Mutant("wsd_rate", "warmup forgotten", says="starts with the warmup",
           edits=[("rate = np.asarray(warmup_rate(t, peak_lr, warmup_steps), dtype=np.float64)",
                   "rate = np.full_like(t, float(peak_lr))")]),
    Mutant("wsd_rate", "min_lr added on top of the decay", says="not peak * (1 - progress) + min_lr",
           edits=[("decayed = peak_lr + (min_lr - peak_lr) * np.clip(t - start, 0, decay_steps) / decay_steps",
                   "decayed = peak_lr * (1 - np.clip(t - start, 0, decay_steps) / decay_steps) + min_lr")]),
    # ------------------------------------------------------------------ wsd_branches
    Mutant("wsd_branches", "warmup not passed on", says="pass warmup_steps on to wsd_rate",
           edits=[("peak_lr, total, warmup_steps, int(d))", "peak_lr, total, 0, int(d))")]),
    Mutant("wsd_branches", "decay ends at the branch point", says="not T = S_k",
           edits=[("peak_lr, total, warmup_steps, int(d))", "peak_lr, int(s), warmup_steps, int(d))")]),
    Mutant("wsd_branches", "first decay length for every branch", says="its own decay_steps[k]",
           edits=[("peak_lr, total, warmup_steps, int(d))", "peak_lr, total, warmup_steps, int(decay_steps[0]))")]),
    Mutant("wsd_branches", "branches sorted", says="in the order given",
           edits=[("zip(branch_steps, decay_steps)", "sorted(zip(branch_steps, decay_steps))")]),
    Mutant("wsd_branches", "branch stops at its branch point", says="branch k has S_k + D_k rates",
           edits=[("wsd_rate(np.arange(total),", "wsd_rate(np.arange(int(s)),")]),
    # ------------------------------------------------------------------ schedule_free_quadratic
    # ported from the former wrong-answer tests
    Mutant("schedule_free_quadratic", "schedule-free with uniform averaging weights", says="uniform average",
           code='''
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
'''),
    Mutant("schedule_free_quadratic", "weights gamma, not gamma squared", says="not gamma_t",
           edits=[("weight_sum += gamma**2", "weight_sum += gamma"), ("c = gamma**2 / weight_sum", "c = gamma / weight_sum")]),
    Mutant("schedule_free_quadratic", "gradient at z", says="not at z_t",
           edits=[("g = h * y +", "g = h * z +")]),
    Mutant("schedule_free_quadratic", "y mixes the old average", says="update x before y",
           edits=[("""        x = (1 - c) * x + c * z
        y = (1 - momentum) * z + momentum * x""", """        y = (1 - momentum) * z + momentum * x
        x = (1 - c) * x + c * z""")]),
    Mutant("schedule_free_quadratic", "beta weights z", says="beta weights the average x",
           edits=[("y = (1 - momentum) * z + momentum * x", "y = momentum * z + (1 - momentum) * x")]),
    Mutant("schedule_free_quadratic", "average includes z_0", says="z_0 is not in it",
           edits=[("c = gamma**2 / weight_sum", "c = 1.0 / (t + 2)")]),
    Mutant("schedule_free_quadratic", "warmup ignored", says="warmup_steps is ignored",
           edits=[("gamma = lr * (min(1.0, (t + 1) / warmup_steps) if warmup_steps > 0 else 1.0)", "gamma = lr")]),
    # ------------------------------------------------------------------ range_test_quadratic
    # ported from the former wrong-answer tests
    Mutant("range_test_quadratic", "range test records the loss after the step", says="BEFORE the update",
           code='''
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
'''),
    Mutant("range_test_quadratic", "linear sweep", says="not linear",
           edits=[("lr = start_lr * (end_lr / start_lr) ** (k / (num_steps - 1))",
                   "lr = start_lr + (end_lr - start_lr) * k / (num_steps - 1)")]),
    Mutant("range_test_quadratic", "exponent k / K", says="not k / K",
           edits=[("(k / (num_steps - 1))", "(k / num_steps)")]),
    Mutant("range_test_quadratic", "loss without the 1/2", says="the 1/2 is missing",
           edits=[("float(0.5 * torch.sum(h_t * theta**2))", "float(torch.sum(h_t * theta**2))")]),
    Mutant("range_test_quadratic", "step without the curvature", says="the step is theta - lr * h * theta",
           edits=[("theta = theta - lr * h_t * theta", "theta = theta - lr * theta")]),
    Mutant("range_test_quadratic", "stop rule against the first loss", says="stop as soon as a loss exceeds",
           edits=[("loss > diverge_factor * best", "loss > diverge_factor * losses[0]")]),
    Mutant("range_test_quadratic", "diverge_factor hard-coded", says="must be used",
           edits=[("loss > diverge_factor * best", "loss > 4.0 * best")]),
    Mutant("range_test_quadratic", "diverging step not recorded", says="record the rate and the loss of the step that diverges",
           code='''
def range_test_quadratic(h, theta0, start_lr, end_lr, num_steps, diverge_factor=4.0, device=None):
    device = DEVICE if device is None else torch.device(device)
    h_t = torch.as_tensor(np.asarray(h, dtype=np.float64), device=device)
    theta = torch.as_tensor(np.asarray(theta0, dtype=np.float64), device=device).clone()
    rates, losses, best = [], [], np.inf
    for k in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (k / (num_steps - 1))
        loss = float(0.5 * torch.sum(h_t * theta**2))
        best = min(best, loss)
        if not np.isfinite(loss) or loss > diverge_factor * best:
            break
        rates.append(lr)
        losses.append(loss)
        theta = theta - lr * h_t * theta
    return np.array(rates, dtype=np.float64), np.array(losses, dtype=np.float64)
'''),
    # ------------------------------------------------------------------ suggest_lr
    # ported from the former wrong-answer tests
    Mutant("suggest_lr", "steepest descent against the rate, not ln(rate)", says="not against the rate",
           edits=[("np.gradient(losses[: best + 1], np.log(rates[: best + 1]))", "np.gradient(losses[: best + 1], rates[: best + 1])")]),
    Mutant("suggest_lr", "minimum of the loss", says="that is the minimum of the loss",
           edits=[("return float(rates[int(np.argmin(slope))])", "return float(rates[best])")]),
    Mutant("suggest_lr", "steepest ascent", says="argmin of the slope",
           edits=[("return float(rates[int(np.argmin(slope))])", "return float(rates[int(np.argmax(slope))])")]),
    Mutant("suggest_lr", "searches the whole curve", says="search only up to the minimum",
           edits=[("np.gradient(losses[: best + 1], np.log(rates[: best + 1]))", "np.gradient(losses, np.log(rates))")]),
    Mutant("suggest_lr", "forward differences", says="not np.diff",
           edits=[("np.gradient(losses[: best + 1], np.log(rates[: best + 1]))",
                   "np.diff(losses[: best + 1]) / np.diff(np.log(rates[: best + 1]))")]),
    Mutant("suggest_lr", "minimum at index 1 accepted", says="naming 'losses'",
           edits=[("if best < 2:", "if best < 1:")]),
]
