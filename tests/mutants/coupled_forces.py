"""Plausible wrong answers to assignment 3 (coupled_forces); see tests/mutation.py.

Ported from the former wrong-answer tests: "batch grows one step after the milestone"
(batch_size_schedule), "cumulative shrink without s_0 = 1" (cumulative_shrink), "Adam's L2 done as
decoupled decay" (adam_step).
"""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ batch_size_schedule
    Mutant("batch_size_schedule", "batch: grows one step after the milestone", says="off by one",
           edits=[('side="right"', 'side="left"')]),
    Mutant("batch_size_schedule", "batch: batch sizes as floats", says="integer array",
           edits=[("int(base_batch) * int(factor) ** passed.astype(np.int64)",
                   "base_batch * float(factor) ** passed")]),
    Mutant("batch_size_schedule", "batch: a 1-element array for an int step (np.atleast_1d)", says="a Python int",
           edits=[("t = np.asarray(step)", "t = np.atleast_1d(step)")]),
    Mutant("batch_size_schedule", "batch: factor=1 rejected", says="factor=1 is allowed",
           edits=[("if int(value) != value or value < 1:", "if int(value) != value or value <= 1:")]),
    Mutant("batch_size_schedule", "batch: no check that factor is an integer", says="bad 'factor'",
           edits=[("if int(value) != value or value < 1:", "if value < 1:")]),
    Mutant("batch_size_schedule", "batch: base_batch not checked", says="bad 'base_batch'",
           edits=[('(("base_batch", base_batch), ("factor", factor))', '(("factor", factor),)')]),
    # ------------------------------------------------------------------ ramp_lr
    Mutant("ramp_lr", "ramp: square-root rule", says="square-root rule",
           edits=[("return base_lr * np.asarray(batch_sizes, dtype=np.float64) / base_batch",
                   "return base_lr * np.sqrt(np.asarray(batch_sizes, dtype=np.float64) / base_batch)")]),
    Mutant("ramp_lr", "ramp: upside down (rate shrinks with the batch)", says="upside down",
           edits=[("return base_lr * np.asarray(batch_sizes, dtype=np.float64) / base_batch",
                   "return base_lr * base_batch / np.asarray(batch_sizes, dtype=np.float64)")]),
    Mutant("ramp_lr", "ramp: integer division B // B_0", says="integer division",
           edits=[("return base_lr * np.asarray(batch_sizes, dtype=np.float64) / base_batch",
                   "return base_lr * (np.asarray(batch_sizes) // base_batch).astype(np.float64)")]),
    Mutant("ramp_lr", "ramp: first batch size used as B_0", says="not by the first batch size",
           edits=[("return base_lr * np.asarray(batch_sizes, dtype=np.float64) / base_batch",
                   "b = np.asarray(batch_sizes, dtype=np.float64)\n    return base_lr * b / b.flat[0]")]),
    Mutant("ramp_lr", "ramp: computed in float32", says="float32",
           edits=[("np.asarray(batch_sizes, dtype=np.float64)", "np.asarray(batch_sizes, dtype=np.float32)")]),
    Mutant("ramp_lr", "ramp: returns a list", says="numpy array",
           edits=[("return base_lr * np.asarray(batch_sizes, dtype=np.float64) / base_batch",
                   "return [base_lr * b / base_batch for b in batch_sizes]")]),
    Mutant("ramp_lr", "ramp: base_lr not checked", says="bad 'base_lr'",
           edits=[("if not base_lr > 0:", "if base_lr < 0:")]),
    # ------------------------------------------------------------------ cumulative_shrink
    Mutant("cumulative_shrink", "shrink: without s_0 = 1", says="s_0 = 1",
           edits=[("return np.concatenate([[1.0], np.cumprod(factors)])", "return np.cumprod(factors)")]),
    Mutant("cumulative_shrink", "shrink: factor 1 - lambda (rate forgotten)", says="not 1 - lambda",
           edits=[("1.0 - np.asarray(lrs, dtype=np.float64) * weight_decay",
                   "1.0 - np.ones_like(np.asarray(lrs, dtype=np.float64)) * weight_decay")]),
    Mutant("cumulative_shrink", "shrink: exp(-lambda * cumulative rate) instead of the product", says="small-rate approximation",
           edits=[("return np.concatenate([[1.0], np.cumprod(factors)])",
                   "return np.exp(-weight_decay * np.concatenate([[0.0], np.cumsum(lrs)]))")]),
    Mutant("cumulative_shrink", "shrink: 1 - lambda * sum of rates (a sum, not a product)", says="not the product",
           edits=[("return np.concatenate([[1.0], np.cumprod(factors)])",
                   "return 1.0 - weight_decay * np.concatenate([[0.0], np.cumsum(lrs)])")]),
    Mutant("cumulative_shrink", "shrink: last value s_T dropped", says="keep the last one, s_T",
           edits=[("return np.concatenate([[1.0], np.cumprod(factors)])",
                   "return np.concatenate([[1.0], np.cumprod(factors)[:-1]])")]),
    Mutant("cumulative_shrink", "shrink: rates modified in place", says="in place",
           code='''
def cumulative_shrink(lrs, weight_decay):
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got weight_decay={weight_decay}")
    factors = np.asarray(lrs, dtype=np.float64)
    factors *= -weight_decay
    factors += 1.0
    return np.concatenate([[1.0], np.cumprod(factors)])
'''),
    Mutant("cumulative_shrink", "shrink: weight_decay=0 rejected", says="weight_decay=0 is allowed",
           edits=[("if not weight_decay >= 0:", "if not weight_decay > 0:")]),
    # ------------------------------------------------------------------ sgd_step
    Mutant("sgd_step", "sgd: decay term not multiplied by the rate", says="also multiplied by the rate",
           edits=[("return theta - lr * (grad + weight_decay * theta)", "return theta - lr * grad - weight_decay * theta")]),
    Mutant("sgd_step", "sgd: sign error on the decay", says="sign error",
           edits=[("return theta - lr * (grad + weight_decay * theta)", "return theta - lr * (grad - weight_decay * theta)")]),
    Mutant("sgd_step", "sgd: decoupled shrink without the rate", says="1 - lr * weight_decay",
           edits=[("return (1.0 - lr * weight_decay) * theta - lr * grad", "return (1.0 - weight_decay) * theta - lr * grad")]),
    Mutant("sgd_step", "sgd: decoupled decay applied twice", says="twice",
           edits=[("return (1.0 - lr * weight_decay) * theta - lr * grad",
                   "return (1.0 - lr * weight_decay) * theta - lr * (grad + weight_decay * theta)")]),
    Mutant("sgd_step", "sgd: L2 gradient with a 1/2 (lambda/2 theta)", says="no 1/2",
           edits=[("return theta - lr * (grad + weight_decay * theta)", "return theta - lr * (grad + 0.5 * weight_decay * theta)")]),
    Mutant("sgd_step", "sgd: theta updated in place", says="in place",
           edits=[("return theta - lr * (grad + weight_decay * theta)",
                   "theta -= lr * (grad + weight_decay * theta)\n    return theta")]),
    # ------------------------------------------------------------------ adam_step
    Mutant("adam_step", "adam: L2 done as decoupled decay", says="that is AdamW",
           edits=[("    if decoupled:\n        theta = (1.0 - lr * weight_decay) * theta\n    else:\n        grad = grad + weight_decay * theta\n",
                   "    theta = (1.0 - lr * weight_decay) * theta\n")]),
    Mutant("adam_step", "adam: decoupled done as L2", says="that is Adam with L2",
           edits=[("    if decoupled:\n        theta = (1.0 - lr * weight_decay) * theta\n    else:\n        grad = grad + weight_decay * theta\n",
                   "    grad = grad + weight_decay * theta\n")]),
    Mutant("adam_step", "adam: no bias correction", says="without bias correction",
           edits=[("m_hat = m / (1.0 - beta1 ** (step + 1))", "m_hat = m"),
                  ("v_hat = v / (1.0 - beta2 ** (step + 1))", "v_hat = v")]),
    Mutant("adam_step", "adam: bias correction with beta ** step", says="1 - beta^(t + 1)",
           edits=[("m_hat = m / (1.0 - beta1 ** (step + 1))", "m_hat = m / (1.0 - beta1**step)"),
                  ("v_hat = v / (1.0 - beta2 ** (step + 1))", "v_hat = v / (1.0 - beta2**step)")]),
    Mutant("adam_step", "adam: eps inside the square root", says="outside the square root",
           edits=[("np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")]),
    Mutant("adam_step", "adam: moments updated in place", says="in place",
           edits=[("    m = beta1 * m + (1.0 - beta1) * grad\n    v = beta2 * v + (1.0 - beta2) * grad**2\n",
                   "    m *= beta1\n    m += (1.0 - beta1) * grad\n    v *= beta2\n    v += (1.0 - beta2) * grad**2\n")]),
    Mutant("adam_step", "adam: decoupled shrink without the rate", says="1 - lr * lambda",
           edits=[("theta = (1.0 - lr * weight_decay) * theta", "theta = (1.0 - weight_decay) * theta")]),
]
