"""Plausible wrong answers to assignment 5 (critical_damping); see tests/mutation.py."""

from mutation import Mutant

_MEASURED_RUN = '''
def measured_rate(lr, momentum, h, total_steps):
    if total_steps < 4:
        raise ValueError(f"total_steps must be >= 4, got total_steps={total_steps}")
    theta = np.empty(total_steps + 1)
    theta[0], v = 1.0, 0.0
    for t in range(total_steps):
'''

MUTANTS = [
    # ------------------------------------------------------------------ char_roots
    # ported from the former wrong-answer tests
    Mutant("char_roots", "sign error in the characteristic polynomial", says="sign error",
           edits=[("b = 1.0 + momentum - lr * h", "b = 1.0 + momentum + lr * h")]),
    Mutant("char_roots", "real square root of a negative discriminant", says="square root of a complex number",
           edits=[("np.sqrt(complex(b * b - 4.0 * momentum))", "np.sqrt(b * b - 4.0 * momentum)")]),
    Mutant("char_roots", "roots not halved", says="the 1/2",
           edits=[("[(b + root) / 2, (b - root) / 2]", "[b + root, b - root]")]),
    Mutant("char_roots", "discriminant without the 4", says="b^2 - 4 beta",
           edits=[("complex(b * b - 4.0 * momentum)", "complex(b * b - momentum)")]),
    Mutant("char_roots", "the same root twice", says="minus the square root",
           edits=[("[(b + root) / 2, (b - root) / 2]", "[(b + root) / 2, (b + root) / 2]")]),
    Mutant("char_roots", "curvature h left out of b", says="eta * h",
           edits=[("b = 1.0 + momentum - lr * h", "b = 1.0 + momentum - lr")]),
    Mutant("char_roots", "real roots returned as floats", says="complex128",
           edits=[("return np.array([(b + root) / 2, (b - root) / 2], dtype=np.complex128)",
                   "return np.real_if_close(np.array([(b + root) / 2, (b - root) / 2]))")]),
    # ------------------------------------------------------------------ damping_regime
    Mutant("damping_regime", "tolerance ignored", says="use the tolerance tol",
           edits=[("if disc < -tol:", "if disc < 0:"), ("if disc > tol:", "if disc > 0:")]),
    Mutant("damping_regime", "regimes swapped", says="complex roots",
           edits=[('if disc < -tol:\n        return "underdamped"', 'if disc < -tol:\n        return "overdamped"'),
                  ('if disc > tol:\n        return "overdamped"', 'if disc > tol:\n        return "underdamped"')]),
    Mutant("damping_regime", "sign error in the discriminant", says="(1 + beta - eta h)^2 - 4 beta",
           edits=[("disc = (1.0 + momentum - lr * h) ** 2", "disc = (1.0 + momentum + lr * h) ** 2")]),
    Mutant("damping_regime", "curvature h left out of the discriminant", says="eta * h",
           edits=[("disc = (1.0 + momentum - lr * h) ** 2", "disc = (1.0 + momentum - lr) ** 2")]),
    Mutant("damping_regime", "momentum = 1 accepted", says="bad 'momentum'",
           edits=[("if not 0 <= momentum < 1:", "if not 0 <= momentum <= 1:")]),
    Mutant("damping_regime", "lr = 0 accepted", says="bad 'lr'",
           edits=[("if not lr > 0:", "if lr < 0:")]),
    Mutant("damping_regime", "|disc| = tol counted as underdamped or overdamped", says="|discriminant| <= tol",
           edits=[("if disc < -tol:", "if disc <= -tol:"), ("if disc > tol:", "if disc >= tol:")]),
    # ------------------------------------------------------------------ critical_momentum
    # ported from the former wrong-answer tests
    Mutant("critical_momentum", "critical momentum not squared", says="squared",
           edits=[("beta = (1.0 - np.sqrt(x)) ** 2", "beta = 1.0 - np.sqrt(x)")]),
    Mutant("critical_momentum", "sqrt of eta h forgotten", says="square root of eta h",
           edits=[("beta = (1.0 - np.sqrt(x)) ** 2", "beta = (1.0 - x) ** 2")]),
    Mutant("critical_momentum", "sign error (1 + sqrt)", says="sign error",
           edits=[("beta = (1.0 - np.sqrt(x)) ** 2", "beta = (1.0 + np.sqrt(x)) ** 2")]),
    Mutant("critical_momentum", "curvature h left out of eta h", says="eta * h",
           edits=[("beta = (1.0 - np.sqrt(x)) ** 2", "beta = (1.0 - np.sqrt(np.asarray(lr, dtype=np.float64))) ** 2")]),
    Mutant("critical_momentum", "eta h = 1 rejected", says="eta h = 1 is allowed",
           edits=[("np.any(x > 1)", "np.any(x >= 1)")]),
    Mutant("critical_momentum", "h = 0 accepted", says="bad 'h'",
           edits=[("if not h > 0:", "if h < 0:")]),
    Mutant("critical_momentum", "scalar-only code", says="numpy array of rates",
           code='''
def critical_momentum(lr, h):
    if not h > 0:
        raise ValueError(f"h must be > 0, got h={h}")
    if not 0 <= lr * h <= 1:
        raise ValueError(f"lr * h must be in [0, 1], got lr={lr} with h={h}")
    return float((1.0 - np.sqrt(lr * h)) ** 2)
'''),
    # ------------------------------------------------------------------ critical_co_schedule
    Mutant("critical_co_schedule", "steps 1 .. T instead of 0 .. T - 1", says="off by one step",
           edits=[("schedule(np.arange(total_steps))", "schedule(np.arange(1, total_steps + 1))")]),
    Mutant("critical_co_schedule", "T + 1 momenta", says="t = 0 .. 99",
           edits=[("schedule(np.arange(total_steps))", "schedule(np.arange(total_steps + 1))")]),
    Mutant("critical_co_schedule", "co-schedule not squared (inline formula)", says="square it",
           edits=[("return np.asarray(critical_momentum(rates, h), dtype=np.float64)",
                   "return 1.0 - np.sqrt(rates * h)")]),
    Mutant("critical_co_schedule", "momentum of the peak rate at every step", says="every step",
           edits=[("rates = np.asarray(schedule(np.arange(total_steps)), dtype=np.float64)",
                   "rates = np.full(total_steps, float(schedule(0)))")]),
    Mutant("critical_co_schedule", "curvature h not passed on", says="pass h",
           edits=[("critical_momentum(rates, h)", "critical_momentum(rates, 1.0)")]),
    Mutant("critical_co_schedule", "a list instead of an array", says="numpy array",
           code='''
def critical_co_schedule(schedule, h, total_steps):
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got total_steps={total_steps}")
    return [critical_momentum(float(schedule(t)), h) for t in range(total_steps)]
'''),
    # ------------------------------------------------------------------ polyak_parameters
    # ported from the former wrong-answer tests
    Mutant("polyak_parameters", "Polyak's momentum not squared", says="squared",
           edits=[("float(((sl - sm) / (sl + sm)) ** 2)", "float((sl - sm) / (sl + sm))")]),
    Mutant("polyak_parameters", "gradient descent's rate 2 / (L + mu)", says="4 / (sqrt L + sqrt mu)^2",
           edits=[("float(4.0 / (sl + sm) ** 2)", "float(2.0 / (L + mu))")]),
    Mutant("polyak_parameters", "rate without square roots 4 / (L + mu)", says="4 / (sqrt L + sqrt mu)^2",
           edits=[("float(4.0 / (sl + sm) ** 2)", "float(4.0 / (L + mu))")]),
    Mutant("polyak_parameters", "returns (momentum, lr)", says="(lr, momentum)",
           edits=[("return float(4.0 / (sl + sm) ** 2), float(((sl - sm) / (sl + sm)) ** 2)",
                   "return float(((sl - sm) / (sl + sm)) ** 2), float(4.0 / (sl + sm) ** 2)")]),
    Mutant("polyak_parameters", "momentum from kappa without square roots", says="square roots of L and mu",
           edits=[("float(((sl - sm) / (sl + sm)) ** 2)", "float(((L - mu) / (L + mu)) ** 2)")]),
    Mutant("polyak_parameters", "mu = L rejected", says="mu = L is allowed",
           edits=[("if not 0 < mu <= L:", "if not 0 < mu < L:")]),
    # ------------------------------------------------------------------ measured_rate
    Mutant("measured_rate", "T0 rounded up", says="T0 = floor(T / 2)",
           edits=[("t0 = total_steps // 2", "t0 = (total_steps + 1) // 2")]),
    Mutant("measured_rate", "exponent 1 / T0", says="1 / (T - T0)",
           edits=[("** (1.0 / (total_steps - t0))", "** (1.0 / t0)")]),
    Mutant("measured_rate", "exponent 1 / T", says="1 / (T - T0)",
           edits=[("** (1.0 / (total_steps - t0))", "** (1.0 / total_steps)")]),
    Mutant("measured_rate", "size |theta_t| alone", says="two consecutive iterates",
           edits=[("size = lambda t: np.hypot(theta[t], theta[t - 1])", "size = lambda t: abs(theta[t])")]),
    Mutant("measured_rate", "theta moves by the old velocity", says="new velocity",
           code=_MEASURED_RUN + '''
        theta[t + 1] = theta[t] + v
        v = momentum * v - lr * h * theta[t]
    t0 = total_steps // 2
    size = lambda t: np.hypot(theta[t], theta[t - 1])
    return float((size(total_steps) / size(t0)) ** (1.0 / (total_steps - t0)))
'''),
    Mutant("measured_rate", "momentum term forgotten", says="is the momentum term beta * v",
           edits=[("v = momentum * v - lr * h * theta[t]", "v = -lr * h * theta[t]")]),
]
