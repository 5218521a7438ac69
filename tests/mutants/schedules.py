"""Plausible wrong answers to assignment 1 (schedules); see tests/mutation.py."""

from mutation import Mutant

MUTANTS = [
    Mutant("step_lr", "step counter starts at 1", says="does your step counter start at 1",
           edits=[("np.floor(t / step_size)", "np.floor((t + 1) / step_size)")]),
    Mutant("step_lr", "exponent not floored", says="completed blocks",
           edits=[("np.floor(t / step_size)", "(t / step_size)")]),
    Mutant("constant_lr", "returns an int-ish", says="peak_lr",
           edits=[("float(peak_lr)", "0.1")]),
]
