"""Plausible wrong answers to the assignment implicit_bias; see tests/mutation.py."""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------ logistic_loss_grad
    # ported from the former wrong-answer tests
    Mutant("logistic_loss_grad", "log(1 + exp) instead of logaddexp", says="np.logaddexp(0, -m)",
           edits=[("loss = float(np.mean(np.logaddexp(0.0, -margins)))",
                   "with np.errstate(over='ignore'):\n        loss = float(np.mean(np.log(1.0 + np.exp(-margins))))")]),
    Mutant("logistic_loss_grad", "loss summed over examples", says="mean over examples, not the sum",
           edits=[("loss = float(np.mean(np.logaddexp(0.0, -margins)))",
                   "loss = float(np.sum(np.logaddexp(0.0, -margins)))")]),
    Mutant("logistic_loss_grad", "gradient summed over examples", says="gradient is the mean over examples",
           edits=[("grad = -(X * (y * weights)[:, None]).mean(axis=0)",
                   "grad = -(X * (y * weights)[:, None]).sum(axis=0)")]),
    Mutant("logistic_loss_grad", "gradient sign flipped", says="sign error",
           edits=[("grad = -(X * (y * weights)[:, None]).mean(axis=0)",
                   "grad = (X * (y * weights)[:, None]).mean(axis=0)")]),
    Mutant("logistic_loss_grad", "sigmoid of +m as the example weight", says="1/(1 + e^{m_i}), not 1/(1 + e^{-m_i})",
           edits=[("weights = np.exp(-np.logaddexp(0.0, margins))", "weights = np.exp(-np.logaddexp(0.0, -margins))")]),
    Mutant("logistic_loss_grad", "label left out of the gradient", says="multiply each x_i by its label y_i",
           edits=[("grad = -(X * (y * weights)[:, None]).mean(axis=0)",
                   "grad = -(X * weights[:, None]).mean(axis=0)")]),
    Mutant("logistic_loss_grad", "margin without the label", says="the margin is m_i = y_i x_i.w",
           edits=[("margins = y * (X @ w)", "margins = X @ w")]),
    Mutant("logistic_loss_grad", "weight as e^-m / (1 + e^-m), overflowing", says="overflow",
           edits=[("weights = np.exp(-np.logaddexp(0.0, margins))  # 1 / (1 + e^m), without overflow",
                   "with np.errstate(over='ignore', invalid='ignore'):\n"
                   "        weights = np.exp(-margins) / (1.0 + np.exp(-margins))")]),
    # ------------------------------------------------------------ gradient_descent
    Mutant("gradient_descent", "gradient ascent", says="descend: subtract the gradient",
           edits=[("w = w - lr * grad", "w = w + lr * grad")]),
    Mutant("gradient_descent", "w_0 left out of the iterates", says="2 rates give 3 iterates",
           edits=[("return out", "return out[1:]")]),
    Mutant("gradient_descent", "gradient evaluated once at w_0", says="gradient at the current iterate",
           code='''
def gradient_descent(X, y, lrs, w0=None, normalized=False):
    X = np.asarray(X, dtype=np.float64)
    lrs = np.asarray(lrs, dtype=np.float64)
    w = np.zeros(X.shape[1]) if w0 is None else np.asarray(w0, dtype=np.float64).copy()
    out = np.empty((lrs.shape[0] + 1, w.shape[0]))
    out[0] = w
    _, grad = logistic_loss_grad(w, X, y)
    if normalized:
        grad = grad / np.linalg.norm(grad)
    for t, lr in enumerate(lrs):
        w = w - lr * grad
        out[t + 1] = w
    return out
'''),
    Mutant("gradient_descent", "first rate used at every step", says="step t uses lrs[t]",
           edits=[("w = w - lr * grad", "w = w - lrs[0] * grad")]),
    Mutant("gradient_descent", "normalized flag ignored", says="divide the gradient by its norm",
           edits=[("grad = grad / np.linalg.norm(grad)", "pass")]),
    Mutant("gradient_descent", "w0 updated in place", says="must not modify w0 in place",
           edits=[("np.asarray(w0, dtype=np.float64).copy()", "np.asarray(w0, dtype=np.float64)"),
                  ("w = w - lr * grad", "w -= lr * grad")]),
    Mutant("gradient_descent", "w0 argument ignored", says="start from w0",
           edits=[("w = np.zeros(X.shape[1]) if w0 is None else np.asarray(w0, dtype=np.float64).copy()",
                   "w = np.zeros(X.shape[1])")]),
    # ------------------------------------------------------------ angle_to
    # ported from the former wrong-answer tests
    Mutant("angle_to", "cosine not clipped", says="clip the cosine",
           edits=[("np.arccos(np.clip(cos, -1.0, 1.0))", "np.arccos(cos)")]),
    Mutant("angle_to", "degrees instead of radians", says="return radians, not degrees",
           edits=[("angles = np.arccos(np.clip(cos, -1.0, 1.0))",
                   "angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))")]),
    Mutant("angle_to", "cosine returned instead of the angle", says="not the cosine",
           edits=[("angles = np.arccos(np.clip(cos, -1.0, 1.0))", "angles = np.clip(cos, -1.0, 1.0)")]),
    Mutant("angle_to", "w_ref not normalised", says="divide by both norms",
           edits=[("norms = np.linalg.norm(ws, axis=-1) * np.linalg.norm(w_ref)", "norms = np.linalg.norm(ws, axis=-1)")]),
    Mutant("angle_to", "one norm for the whole matrix", says="each row by its own norm",
           edits=[("np.linalg.norm(ws, axis=-1)", "np.linalg.norm(ws)")]),
    Mutant("angle_to", "absolute value of the cosine", says="do not take the absolute value",
           edits=[("np.clip(cos, -1.0, 1.0)", "np.clip(np.abs(cos), -1.0, 1.0)")]),
    Mutant("angle_to", "zero row gives an angle instead of nan", says="a zero row gives nan",
           edits=[("cos = np.where(norms > 0, (ws @ w_ref) / norms, np.nan)",
                   "cos = np.divide(ws @ w_ref, norms, out=np.zeros_like(norms), where=norms > 0)")]),
    Mutant("angle_to", "difference of polar angles", says="polar angles (arctan2) wraps around",
           code='''
def angle_to(ws, w_ref):
    ws = np.asarray(ws, dtype=np.float64)
    w_ref = np.asarray(w_ref, dtype=np.float64)
    angles = np.abs(np.arctan2(ws[..., 1], ws[..., 0]) - np.arctan2(w_ref[1], w_ref[0]))
    return float(angles) if angles.ndim == 0 else angles
'''),
    # ------------------------------------------------------------ log_slope
    # ported from the former wrong-answer tests
    Mutant("log_slope", "log10 instead of ln", says="natural log",
           edits=[("np.polyfit(np.log(steps)", "np.polyfit(np.log10(steps)")]),
    Mutant("log_slope", "fit against steps, not ln(steps)", says="fit against ln(steps), not steps",
           edits=[("np.polyfit(np.log(steps)", "np.polyfit(steps")]),
    Mutant("log_slope", "intercept returned", says="np.polyfit returns [slope, intercept]",
           edits=[("slope, _ = np.polyfit", "_, slope = np.polyfit")]),
    Mutant("log_slope", "log-log fit", says="values themselves, not ln(values)",
           edits=[("np.asarray(values, dtype=np.float64), 1)", "np.log(np.asarray(values, dtype=np.float64)), 1)")]),
    Mutant("log_slope", "axes swapped", says="regressed ln(steps) on values",
           edits=[("np.polyfit(np.log(steps), np.asarray(values, dtype=np.float64), 1)",
                   "np.polyfit(np.asarray(values, dtype=np.float64), np.log(steps), 1)")]),
    Mutant("log_slope", "slope between the endpoints", says="least-squares fit over all points",
           code='''
def log_slope(steps, values):
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if not np.all(steps > 0):
        raise ValueError(f"steps must be > 0, got steps={steps}")
    return float((values[-1] - values[0]) / (np.log(steps[-1]) - np.log(steps[0])))
'''),
]
