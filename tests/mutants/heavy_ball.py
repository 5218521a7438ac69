"""Plausible wrong answers to assignment 4 (heavy_ball); see tests/mutation.py."""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ heavy_ball_step
    # ported from the former wrong-answer tests
    Mutant("heavy_ball_step", "PyTorch convention in the heavy-ball step", says="PyTorch's buffer",
           code='''
def heavy_ball_step(theta, velocity, grad, lr, momentum):
    buf = momentum * velocity + grad
    return theta - lr * buf, buf
'''),
    Mutant("heavy_ball_step", "velocity moves with the gradient", says="sign error",
           edits=[("momentum * velocity - lr * grad", "momentum * velocity + lr * grad")]),
    Mutant("heavy_ball_step", "theta moves by the old velocity", says="not the old one",
           edits=[("return theta + new_velocity, new_velocity", "return theta + velocity, new_velocity")]),
    Mutant("heavy_ball_step", "momentum also multiplies the gradient step", says="beta * (v - eta * g)",
           edits=[("momentum * velocity - lr * grad", "momentum * (velocity - lr * grad)")]),
    Mutant("heavy_ball_step", "gradient damped by (1 - momentum)", says="dampening",
           edits=[("momentum * velocity - lr * grad", "momentum * velocity - (1 - momentum) * lr * grad")]),
    Mutant("heavy_ball_step", "velocity updated in place", says="modify the velocity in place",
           code='''
def heavy_ball_step(theta, velocity, grad, lr, momentum):
    velocity *= momentum
    velocity -= lr * grad
    return theta + velocity, velocity
'''),
    Mutant("heavy_ball_step", "theta updated in place", says="modify the inputs in place",
           code='''
def heavy_ball_step(theta, velocity, grad, lr, momentum):
    new_velocity = momentum * velocity - lr * grad
    theta += new_velocity
    return theta, new_velocity
'''),
    # ------------------------------------------------------------------ pytorch_step
    Mutant("pytorch_step", "heavy-ball velocity in PyTorch's step", says="that is the heavy-ball velocity",
           code='''
def pytorch_step(theta, buf, grad, lr, momentum):
    new_buf = momentum * buf - lr * grad
    return theta + new_buf, new_buf
'''),
    Mutant("pytorch_step", "theta moves by the old buffer", says="new* buffer",
           edits=[("return theta - lr * new_buf, new_buf", "return theta - lr * buf, new_buf")]),
    Mutant("pytorch_step", "dampening (1 - momentum) on the gradient", says="dampening",
           edits=[("momentum * buf + grad", "momentum * buf + (1 - momentum) * grad")]),
    Mutant("pytorch_step", "rate folded into the buffer", says="without the rate",
           code='''
def pytorch_step(theta, buf, grad, lr, momentum):
    new_buf = momentum * buf + lr * grad
    return theta - new_buf, new_buf
'''),
    Mutant("pytorch_step", "buffer updated in place", says="modify the buffer in place",
           code='''
def pytorch_step(theta, buf, grad, lr, momentum):
    buf *= momentum
    buf += grad
    return theta - lr * buf, buf
'''),
    Mutant("pytorch_step", "Nesterov step instead of plain momentum", says="Nesterov",
           edits=[("return theta - lr * new_buf, new_buf", "return theta - lr * (grad + momentum * new_buf), new_buf")]),
    Mutant("pytorch_step", "theta moves up the gradient", says="sign error",
           edits=[("return theta - lr * new_buf, new_buf", "return theta + lr * new_buf, new_buf")]),
    # ------------------------------------------------------------------ energy
    # ported from the former wrong-answer tests
    Mutant("energy", "kinetic energy without the 1/2", says="|v|^2 / (2 eta)",
           edits=[("(velocity**2).sum(-1) / (2.0 * lr)", "(velocity**2).sum(-1) / lr")]),
    Mutant("energy", "potential without the 1/2", says="with the 1/2",
           edits=[("0.5 * (h * theta**2).sum(-1)", "(h * theta**2).sum(-1)")]),
    Mutant("energy", "mass eta instead of 1/eta", says="not eta |v|^2 / 2",
           edits=[("(velocity**2).sum(-1) / (2.0 * lr)", "lr * (velocity**2).sum(-1) / 2.0")]),
    Mutant("energy", "speed |v| instead of |v|^2", says="squared speed",
           edits=[("(velocity**2).sum(-1) / (2.0 * lr)", "np.linalg.norm(velocity, axis=-1) / (2.0 * lr)")]),
    Mutant("energy", "sum over every axis", says="last axis",
           edits=[("0.5 * (h * theta**2).sum(-1) + (velocity**2).sum(-1) / (2.0 * lr)",
                   "0.5 * (h * theta**2).sum() + (velocity**2).sum() / (2.0 * lr)")]),
    Mutant("energy", "kinetic term summed over the whole trajectory", says="one |v|^2 per state",
           edits=[("(velocity**2).sum(-1) / (2.0 * lr)", "(velocity**2).sum() / (2.0 * lr)")]),
    Mutant("energy", "lr = 0 accepted", says="bad 'lr'",
           edits=[("if not lr > 0:", "if lr < 0:")]),
    # ------------------------------------------------------------------ min_kick_lr
    # chapter 3's kick model: eta g^2 / 2 > dL, so eta* = 2 dL / g^2
    Mutant("min_kick_lr", "kick energy eta g^2 without the 1/2", says="with the 1/2",
           edits=[("2.0 * barrier_height / kick**2", "barrier_height / kick**2")]),
    Mutant("min_kick_lr", "kick not squared", says="kick enters squared",
           edits=[("2.0 * barrier_height / kick**2", "2.0 * barrier_height / kick")]),
    Mutant("min_kick_lr", "first velocity g instead of eta g", says="v_1 = eta g",
           edits=[("2.0 * barrier_height / kick**2", "kick**2 / (2.0 * barrier_height)")]),
    Mutant("min_kick_lr", "kick energy with mass eta", says="the mass is 1/eta",
           edits=[("2.0 * barrier_height / kick**2", "(2.0 * barrier_height / kick**2) ** (1 / 3)")]),
    Mutant("min_kick_lr", "speed compared with the height", says="compare energies",
           edits=[("2.0 * barrier_height / kick**2", "np.sqrt(2.0 * barrier_height) / kick")]),
    Mutant("min_kick_lr", "negative kick accepted", says="bad 'kick'",
           edits=[("if not kick > 0:", "if kick == 0:")]),
    Mutant("min_kick_lr", "barrier height not checked", says="bad 'barrier_height'",
           edits=[("if not barrier_height > 0:", "if barrier_height != barrier_height:")]),
    # ------------------------------------------------------------------ kick_threshold
    Mutant("kick_threshold", "returns lo", says="return hi",
           edits=[("    return hi", "    return lo")]),
    Mutant("kick_threshold", "returns the last midpoint", says="return hi",
           edits=[("    return hi", "    return 0.5 * (lo + hi)")]),
    Mutant("kick_threshold", "absolute tolerance", says="relative to hi",
           edits=[("while hi - lo > rtol * hi:", "while hi - lo > rtol:")]),
    Mutant("kick_threshold", "bracket update swapped", says="hi = mid",
           code='''
def kick_threshold(crosses, lo, hi, rtol=1e-4):
    lo, hi = float(lo), float(hi)
    if crosses(lo):
        raise ValueError(f"crosses(lo) must be False, got True at lo={lo}")
    if not crosses(hi):
        raise ValueError(f"crosses(hi) must be True, got False at hi={hi}")
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if crosses(mid):
            lo = mid
        else:
            hi = mid
    return hi
'''),
    Mutant("kick_threshold", "bracket never checked", says="should raise ValueError for a bad 'lo'",
           code='''
def kick_threshold(crosses, lo, hi, rtol=1e-4):
    lo, hi = float(lo), float(hi)
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if crosses(mid):
            hi = mid
        else:
            lo = mid
    return hi
'''),
    Mutant("kick_threshold", "fixed number of halvings log2(1/rtol)", says="hi - lo <= rtol * hi",
           code='''
def kick_threshold(crosses, lo, hi, rtol=1e-4):
    lo, hi = float(lo), float(hi)
    if crosses(lo):
        raise ValueError(f"crosses(lo) must be False, got True at lo={lo}")
    if not crosses(hi):
        raise ValueError(f"crosses(hi) must be True, got False at hi={hi}")
    for _ in range(int(np.ceil(np.log2(1.0 / rtol)))):
        mid = 0.5 * (lo + hi)
        if crosses(mid):
            hi = mid
        else:
            lo = mid
    return hi
'''),
    # ------------------------------------------------------------------ restart_steps
    Mutant("restart_steps", "cycle_mult ignored", says="cycle_mult times longer",
           edits=[("length *= int(cycle_mult)", "length *= 1")]),
    Mutant("restart_steps", "cycle starting at t = T kept", says="outside the run",
           edits=[("while start < total_steps:", "while start <= total_steps:")]),
    Mutant("restart_steps", "t = 0 left out", says="start with t = 0",
           code='''
def restart_steps(cycle_steps, total_steps, cycle_mult=1):
    for name, value in (("cycle_steps", cycle_steps), ("total_steps", total_steps), ("cycle_mult", cycle_mult)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {name}={value}")
    starts, start, length = [], 0, int(cycle_steps)
    while True:
        start += length
        length *= int(cycle_mult)
        if start >= total_steps:
            return starts
        starts.append(start)
'''),
    Mutant("restart_steps", "first cycle already multiplied", says="the first cycle has cycle_steps steps",
           code='''
def restart_steps(cycle_steps, total_steps, cycle_mult=1):
    for name, value in (("cycle_steps", cycle_steps), ("total_steps", total_steps), ("cycle_mult", cycle_mult)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {name}={value}")
    starts, start, length = [], 0, int(cycle_steps)
    while start < total_steps:
        starts.append(start)
        length *= int(cycle_mult)
        start += length
    return starts
'''),
    Mutant("restart_steps", "restarts at T0 * m^k, not cumulative", says="where the previous one ends",
           code='''
def restart_steps(cycle_steps, total_steps, cycle_mult=1):
    for name, value in (("cycle_steps", cycle_steps), ("total_steps", total_steps), ("cycle_mult", cycle_mult)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {name}={value}")
    starts, k = [0], 0
    while cycle_steps * cycle_mult**k < total_steps and k < total_steps:
        starts.append(int(cycle_steps * cycle_mult**k))
        k += 1
    return starts
'''),
    Mutant("restart_steps", "total_steps not checked", says="bad 'total_steps'",
           edits=[('(("cycle_steps", cycle_steps), ("total_steps", total_steps), ("cycle_mult", cycle_mult))',
                   '(("cycle_steps", cycle_steps), ("cycle_mult", cycle_mult))')]),
]
