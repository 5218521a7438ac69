"""Plausible wrong answers to assignment 1 (schedules); see tests/mutation.py.

Ported from the former wrong-answer tests: "step counter starts at 1" (step_lr), "no clamp at
total_steps" (polynomial_lr), "cosine without min_lr" (cosine_lr).
"""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ constant_lr
    Mutant("constant_lr", "constant: returns an int-ish", says="peak_lr",
           edits=[("float(peak_lr)", "0.1")]),
    Mutant("constant_lr", "constant: returns the bare peak_lr (no array for array steps)", says="array of steps",
           edits=[("return like_input(step, np.full(t.shape, float(peak_lr)))", "return float(peak_lr)")]),
    Mutant("constant_lr", "constant: returns a 0-d array for an int step", says="Python float",
           edits=[("return like_input(step, np.full(t.shape, float(peak_lr)))",
                   "return np.full(t.shape, float(peak_lr))")]),
    Mutant("constant_lr", "constant: full_like on the int step (integer dtype)", says="integer dtype",
           edits=[("np.full(t.shape, float(peak_lr))", "np.full_like(step, peak_lr)")]),
    Mutant("constant_lr", "constant: computed in float32 with torch", says="float32",
           edits=[("np.full(t.shape, float(peak_lr))", "torch.full(t.shape, float(peak_lr))")]),
    # ------------------------------------------------------------------ step_lr
    Mutant("step_lr", "step: step counter starts at 1", says="does your step counter start at 1",
           edits=[("np.floor(t / step_size)", "np.floor((t + 1) / step_size)")]),
    Mutant("step_lr", "step: exponent not floored", says="completed blocks",
           edits=[("np.floor(t / step_size)", "(t / step_size)")]),
    Mutant("step_lr", "step: ceil instead of floor", says="floor(t / step_size)",
           edits=[("np.floor(t / step_size)", "np.ceil(t / step_size)")]),
    Mutant("step_lr", "step: first decay one step after step_size", says="lag one step behind",
           edits=[("np.floor(t / step_size)", "np.floor(np.maximum(t - 1, 0) / step_size)")]),
    Mutant("step_lr", "step: gamma read as the fraction removed", says="factor kept",
           edits=[("like_input(step, peak_lr * gamma **", "like_input(step, peak_lr * (1 - gamma) **")]),
    Mutant("step_lr", "step: round instead of floor", says="floor(t / step_size)",
           edits=[("np.floor(t / step_size)", "np.round(t / step_size)")]),
    # ------------------------------------------------------------------ multistep_lr
    Mutant("multistep_lr", "multistep: milestone counted with m < t", says="m <= t",
           edits=[("(t >= m)", "(t > m)")]),
    Mutant("multistep_lr", "multistep: searchsorted with side='left'", says="m <= t",
           code='''
def multistep_lr(step, peak_lr, milestones, gamma=0.1):
    t = as_steps(step)
    passed = np.searchsorted(np.asarray(milestones, dtype=np.float64), t)
    return like_input(step, peak_lr * gamma**passed)
'''),
    Mutant("multistep_lr", "multistep: only the last milestone counted (overwritten in the loop)", says="every milestone",
           edits=[("passed = passed + (t >= m)", "passed = (t >= m) * 1.0")]),
    Mutant("multistep_lr", "multistep: only the first milestone counted", says="every milestone",
           code='''
def multistep_lr(step, peak_lr, milestones, gamma=0.1):
    t = as_steps(step)
    return like_input(step, peak_lr * gamma ** (t >= milestones[0]))
'''),
    Mutant("multistep_lr", "multistep: first milestone used as a step size", says="not a step size",
           code='''
def multistep_lr(step, peak_lr, milestones, gamma=0.1):
    t = as_steps(step)
    return like_input(step, peak_lr * gamma ** np.floor(t / milestones[0]))
'''),
    # ------------------------------------------------------------------ exponential_lr
    Mutant("exponential_lr", "exponential: step counter starts at 1", says="does your step counter start at 1",
           edits=[("gamma**t", "gamma ** (t + 1)")]),
    Mutant("exponential_lr", "exponential: exp(-gamma t) instead of gamma ** t", says="gamma ** t",
           edits=[("peak_lr * gamma**t", "peak_lr * np.exp(-gamma * t)")]),
    Mutant("exponential_lr", "exponential: gamma read as the fraction removed", says="factor kept",
           edits=[("peak_lr * gamma**t", "peak_lr * (1 - gamma) ** t")]),
    Mutant("exponential_lr", "exponential: rate capped at peak_lr (gamma > 1 cannot grow)", says="gamma > 1",
           edits=[("peak_lr * gamma**t", "np.minimum(peak_lr * gamma**t, peak_lr)")]),
    Mutant("exponential_lr", "exponential: computed in float32 with torch", says="float32",
           edits=[("peak_lr * gamma**t", "peak_lr * torch.tensor(gamma) ** torch.tensor(t)")]),
    # ------------------------------------------------------------------ polynomial_lr
    Mutant("polynomial_lr", "polynomial: no clamp at total_steps", says="np.minimum",
           edits=[("np.minimum(t, total_steps) / total_steps", "t / total_steps")]),
    Mutant("polynomial_lr", "polynomial: floor min_lr forgotten", says="floor min_lr",
           edits=[("min_lr + (peak_lr - min_lr) * remaining**power", "peak_lr * remaining**power")]),
    Mutant("polynomial_lr", "polynomial: min_lr added on top of peak_lr", says="peak_lr - min_lr",
           edits=[("min_lr + (peak_lr - min_lr) * remaining**power", "min_lr + peak_lr * remaining**power")]),
    Mutant("polynomial_lr", "polynomial: power on t / T instead of on 1 - t / T", says="not 1 - (t / T) ** power",
           edits=[("remaining = 1.0 - np.minimum(t, total_steps) / total_steps",
                   "remaining = (1.0 - (np.minimum(t, total_steps) / total_steps) ** power) ** (1 / power)")]),
    Mutant("polynomial_lr", "polynomial: divides by total_steps - 1", says="total_steps - 1",
           edits=[("np.minimum(t, total_steps) / total_steps", "np.minimum(t, total_steps - 1) / (total_steps - 1)")]),
    Mutant("polynomial_lr", "polynomial: integer division", says="integer division",
           edits=[("np.minimum(t, total_steps) / total_steps", "np.minimum(t, total_steps) // total_steps")]),
    Mutant("polynomial_lr", "polynomial: min_lr == peak_lr rejected", says="min_lr == peak_lr",
           edits=[("if not 0 <= min_lr <= peak_lr:", "if not 0 <= min_lr < peak_lr:")]),
    # ------------------------------------------------------------------ cosine_lr
    Mutant("cosine_lr", "cosine: cosine without min_lr", says="min_lr",
           edits=[("min_lr + 0.5 * (peak_lr - min_lr) * (1.0 + np.cos(phase))", "0.5 * peak_lr * (1.0 + np.cos(phase))")]),
    Mutant("cosine_lr", "cosine: no clamp at total_steps", says="np.minimum",
           edits=[("np.pi * np.minimum(t, total_steps) / total_steps", "np.pi * t / total_steps")]),
    Mutant("cosine_lr", "cosine: the 1/2 is missing", says="factor 1/2",
           edits=[("min_lr + 0.5 * (peak_lr - min_lr)", "min_lr + (peak_lr - min_lr)")]),
    Mutant("cosine_lr", "cosine: cos without the 1 +", says="1 + cos",
           edits=[("(1.0 + np.cos(phase))", "np.cos(phase)")]),
    Mutant("cosine_lr", "cosine: divides by total_steps - 1", says="total_steps - 1",
           edits=[("np.pi * np.minimum(t, total_steps) / total_steps",
                   "np.pi * np.minimum(t, total_steps - 1) / max(total_steps - 1, 1)")]),
    Mutant("cosine_lr", "cosine: negative min_lr accepted", says="min_lr",
           edits=[("if not 0 <= min_lr <= peak_lr:", "if not min_lr <= peak_lr:")]),
    # ------------------------------------------------------------------ linear_warmup
    Mutant("linear_warmup", "warmup: ramp uses t + 1", says="t + 1",
           edits=[("float(schedule(0)) * t / warmup_steps", "float(schedule(0)) * (t + 1) / warmup_steps")]),
    Mutant("linear_warmup", "warmup: ramp divides by warmup_steps - 1", says="W - 1",
           edits=[("float(schedule(0)) * t / warmup_steps", "float(schedule(0)) * np.minimum(t / max(warmup_steps - 1, 1), 1)")]),
    Mutant("linear_warmup", "warmup: schedule run at the global step", says="t - warmup_steps",
           edits=[("schedule(np.maximum(t - warmup_steps, 0.0))", "schedule(t)")]),
    Mutant("linear_warmup", "warmup: ramp towards schedule(warmup_steps)", says="schedule(0)",
           edits=[("float(schedule(0)) * t", "float(schedule(warmup_steps)) * t")]),
    Mutant("linear_warmup", "warmup: schedule called at negative steps", says="np.maximum",
           edits=[("schedule(np.maximum(t - warmup_steps, 0.0))", "schedule(t - warmup_steps)")]),
    Mutant("linear_warmup", "warmup: Python if on the step", says="np.where",
           code='''
def linear_warmup(schedule, warmup_steps):
    def warmed(step):
        t = as_steps(step)
        if t < warmup_steps:
            return like_input(step, float(schedule(0)) * t / warmup_steps)
        return like_input(step, schedule(t - warmup_steps))

    return warmed
'''),
    # ------------------------------------------------------------------ cosine_restarts_lr
    Mutant("cosine_restarts_lr", "cosine_restarts: cycle_mult ignored", says="cycles last",
           edits=[("if cycle_mult == 1:", "if True:")]),
    Mutant("cosine_restarts_lr", "cosine_restarts: restart one step late (t > end of cycle)", says="restart",
           edits=[("later = t >= start + length", "later = t > start + length")]),
    Mutant("cosine_restarts_lr", "cosine_restarts: cycle length grown before the start advances", says="cycles last",
           edits=[("            start = np.where(later, start + length, start)\n"
                   "            length = np.where(later, length * cycle_mult, length)\n",
                   "            length = np.where(later, length * cycle_mult, length)\n"
                   "            start = np.where(later, start + length, start)\n")]),
    Mutant("cosine_restarts_lr", "cosine_restarts: cosine over cycle_steps in every cycle", says="cycles last",
           edits=[("np.cos(np.pi * t_cur / length)", "np.cos(np.pi * t_cur / cycle_steps)")]),
    Mutant("cosine_restarts_lr", "cosine_restarts: min_lr ignored", says="min_lr",
           edits=[("min_lr + 0.5 * (peak_lr - min_lr)", "0.5 * peak_lr")]),
    Mutant("cosine_restarts_lr", "cosine_restarts: unguarded logarithm for the cycle index", says="rounding",
           code='''
def cosine_restarts_lr(step, peak_lr, cycle_steps, cycle_mult=1, min_lr=0.0):
    t = as_steps(step)
    if cycle_mult == 1:
        n = np.floor(t / cycle_steps)
        start = n * cycle_steps
        length = np.full_like(t, float(cycle_steps))
    else:
        n = np.floor(np.log(t / cycle_steps * (cycle_mult - 1) + 1) / np.log(cycle_mult))
        start = cycle_steps * (cycle_mult**n - 1) / (cycle_mult - 1)
        length = cycle_steps * cycle_mult**n
    t_cur = t - start
    return like_input(step, min_lr + 0.5 * (peak_lr - min_lr) * (1.0 + np.cos(np.pi * t_cur / length)))
'''),
]
