"""Plausible wrong answers lose the points of the behaviour they get wrong, and only those (chapter 7's ``gans_diffusion``).

The same design as ``test_wrong_answers_part1b.py``: the *perfect submission* is the source notebook
in ``solutions/`` with the nbgrader marker lines removed (solutions and hidden tests kept); a wrong
submission swaps several solution cells at once for plausible mistakes whose failing graded cells do
not overlap. Every cell runs (``allow_errors=True``, as nbgrader's autograder does) and the set of
failing graded cells must be exactly the union of the mistakes' expected failures. One perfect and
one wrong execution.
"""

from __future__ import annotations

import pytest

from wrong_answers import wrong_answer_tests

pytestmark = pytest.mark.slow

ASSIGNMENT = "gans_diffusion"

# (solution cell, wrong code, graded cells it must fail)
MISTAKES = {
    # The discriminator answers the OLD generator: that is simultaneous play under another name.
    "alternating step with the old theta": (
        "alternating_step",
        '''
def alternating_step(theta, psi, lr_g, lr_d):
    if not lr_g > 0:
        raise ValueError(f"lr_g must be > 0, got lr_g={lr_g}")
    if not lr_d > 0:
        raise ValueError(f"lr_d must be > 0, got lr_d={lr_d}")
    theta = np.asarray(theta, dtype=np.float64)
    psi = np.asarray(psi, dtype=np.float64)
    return theta - lr_g * psi, psi + lr_d * theta
''',
        {"test_alternating"},
    ),
    # The modulus of the eigenvalues (growth of the distance) instead of its square (growth of the energy).
    "growth factor sqrt(1 + ab)": (
        "energy_growth_factor",
        '''
def energy_growth_factor(lr_g, lr_d):
    if not lr_g > 0:
        raise ValueError(f"lr_g must be > 0, got lr_g={lr_g}")
    if not lr_d > 0:
        raise ValueError(f"lr_d must be > 0, got lr_d={lr_d}")
    return float(np.sqrt(1.0 + lr_g * lr_d))
''',
        {"test_growth_factor"},
    ),
    # f(t) without the normalisation by f(0): alpha_bar_0 = cos^2(s pi / (2 (1 + s))) < 1.
    "cosine alpha_bar not divided by f(0)": (
        "cosine_alpha_bar",
        '''
def cosine_alpha_bar(t, total_steps, s=0.008):
    steps = np.asarray(t, dtype=np.float64)
    if np.any(steps < 0) or np.any(steps > total_steps):
        raise ValueError(f"t must be in 0..{total_steps}, got t={t}")
    out = np.cos((steps / total_steps + s) / (1 + s) * np.pi / 2) ** 2
    return float(out) if out.ndim == 0 else out
''',
        {"test_cosine_alpha_bar"},
    ),
    # Variances used as scales: alpha_bar x0 + (1 - alpha_bar) noise.
    "q_sample without square roots": (
        "q_sample",
        '''
def q_sample(x0, alpha_bar_t, noise):
    ab = np.asarray(alpha_bar_t, dtype=np.float64)
    if np.any(ab < 0) or np.any(ab > 1):
        raise ValueError(f"alpha_bar_t must be in [0, 1], got alpha_bar_t={alpha_bar_t}")
    return ab * np.asarray(x0, dtype=np.float64) + (1 - ab) * np.asarray(noise, dtype=np.float64)
''',
        {"test_q_sample"},
    ),
    # The EMA's weights swapped: the average forgets itself and follows the new weights.
    "EMA with swapped weights": (
        "ema_update",
        '''
def ema_update(ema, params, decay):
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got decay={decay}")
    out = (1.0 - decay) * np.asarray(ema, dtype=np.float64) + decay * np.asarray(params, dtype=np.float64)
    return float(out) if out.ndim == 0 else out
''',
        {"test_ema"},
    ),
}


(test_mistakes_break_disjoint_cells, test_perfect_submission_passes_every_graded_cell,
 test_wrong_answers_fail_exactly_their_cells) = wrong_answer_tests({ASSIGNMENT: MISTAKES})
