"""Plausible wrong answers to assignment fine_tuning (chapter 6); see tests/mutation.py."""

from mutation import Mutant

MUTANTS = [
    # ------------------------------------------------------------------ slanted_triangular
    # ported from the former wrong-answer tests
    Mutant("slanted_triangular", "STLR from zero", says="starts at peak_lr / ratio, not at 0",
           code='''
def slanted_triangular(step, peak_lr, total_steps, cut_frac=0.1, ratio=32):
    if not peak_lr > 0:
        raise ValueError(f"peak_lr must be > 0, got peak_lr={peak_lr}")
    if not 0 < cut_frac < 1:
        raise ValueError(f"cut_frac must be in (0, 1), got cut_frac={cut_frac}")
    if not ratio >= 1:
        raise ValueError(f"ratio must be >= 1, got ratio={ratio}")
    if not total_steps >= 2:
        raise ValueError(f"total_steps must be >= 2, got total_steps={total_steps}")
    cut = int(np.floor(total_steps * cut_frac))
    if cut < 1:
        raise ValueError(f"cut_frac={cut_frac} gives cut = 0 with total_steps={total_steps}")
    t = np.asarray(step, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError(f"step must be >= 0, got step={step}")
    p = np.where(t < cut, t / cut, 1.0 - (t - cut) / (cut * (1.0 / cut_frac - 1.0)))
    rate = peak_lr * np.clip(p, 0.0, None)
    return float(rate) if rate.ndim == 0 else rate
'''),
    Mutant("slanted_triangular", "cut rounded up", says="not rounded up",
           edits=[("int(np.floor(total_steps * cut_frac))", "int(np.ceil(total_steps * cut_frac))")]),
    Mutant("slanted_triangular", "fall lasts T - cut steps", says="not T - cut",
           edits=[("(cut * (1.0 / cut_frac - 1.0))", "(total_steps - cut)")]),
    Mutant("slanted_triangular", "integer division in the rise", says="true division",
           edits=[("t / cut, ", "t // cut, ")]),
    Mutant("slanted_triangular", "no check that cut >= 1", says="cut = floor(0.5) = 0",
           edits=[("    if cut < 1:\n        raise ValueError(", "    if cut < 0:\n        raise ValueError(")]),
    # ------------------------------------------------------------------ layer_rates
    # ported from the former wrong-answer tests
    Mutant("layer_rates", "layer rates without checks", says="should raise a ValueError naming 'decay'",
           code='''
def layer_rates(n_layers, peak_lr, decay=2.6):
    return peak_lr / float(decay) ** np.arange(n_layers - 1, -1, -1, dtype=np.float64)
'''),
    Mutant("layer_rates", "head first", says="bottom layer first",
           edits=[("np.arange(n_layers - 1, -1, -1, dtype=np.float64)", "np.arange(n_layers, dtype=np.float64)")]),
    Mutant("layer_rates", "multiplies by decay", says="lower layers get smaller rates",
           edits=[("peak_lr / float(decay) **", "peak_lr * float(decay) **")]),
    Mutant("layer_rates", "decay = 1 rejected", says="decay = 1 is allowed",
           edits=[("if not decay >= 1:", "if not decay > 1:")]),
    Mutant("layer_rates", "returns a list", says="numpy array",
           edits=[("return peak_lr / float(decay) ** np.arange(n_layers - 1, -1, -1, dtype=np.float64)",
                   "return [peak_lr / decay ** (n_layers - 1 - l) for l in range(n_layers)]")]),
    # ------------------------------------------------------------------ param_groups
    # ported from the former wrong-answer tests
    Mutant("param_groups", "groups by top-level module", says="without its last component",
           edits=[('owner = name.rsplit(".", 1)[0] if "." in name else name', 'owner = name.split(".")[0]')]),
    Mutant("param_groups", "rates reversed", says="bottom layer first",
           edits=[("zip(layers.items(), rates)", "zip(layers.items(), rates[::-1])")]),
    Mutant("param_groups", "decay not passed on", says="pass decay on to layer_rates",
           edits=[("layer_rates(len(layers), peak_lr, decay)", "layer_rates(len(layers), peak_lr)")]),
    Mutant("param_groups", "layers sorted by name", says="do not sort the names",
           edits=[("zip(layers.items(), rates)", "zip(sorted(layers.items()), rates)")]),
    Mutant("param_groups", "counts modules, not layers", says="not the number of modules",
           edits=[("layer_rates(len(layers), peak_lr, decay)", "layer_rates(len(list(model.modules())), peak_lr, decay)")]),
    # ------------------------------------------------------------------ unfreezing_plan
    # ported from the former wrong-answer tests
    Mutant("unfreezing_plan", "unfreezing from the bottom", says="unfreeze from the top",
           edits=[("list(range(max(0, n_groups - 1 - e), n_groups))", "list(range(0, min(n_groups, e + 1)))")]),
    Mutant("unfreezing_plan", "two groups in the first epoch", says="in epoch 0 only the head trains",
           edits=[("max(0, n_groups - 1 - e)", "max(0, n_groups - 2 - e)")]),
    Mutant("unfreezing_plan", "negative indices once all are thawed", says="indices run from 0",
           edits=[("max(0, n_groups - 1 - e)", "n_groups - 1 - e")]),
    Mutant("unfreezing_plan", "only the newly thawed group trains", says="all unfrozen groups keep training",
           edits=[("list(range(max(0, n_groups - 1 - e), n_groups))", "[max(0, n_groups - 1 - e)]")]),
    Mutant("unfreezing_plan", "indices from the top down", says="sorted list",
           edits=[("list(range(max(0, n_groups - 1 - e), n_groups))",
                   "list(range(n_groups - 1, max(0, n_groups - 1 - e) - 1, -1))")]),
    Mutant("unfreezing_plan", "plan stops once all are thawed", says="one entry per epoch",
           edits=[("for e in range(n_epochs)]", "for e in range(min(n_epochs, n_groups))]")]),
    Mutant("unfreezing_plan", "n_epochs not checked", says="should raise a ValueError naming 'n_epochs'",
           edits=[("    if not n_epochs >= 1:\n        raise", "    if not n_epochs >= 0:\n        raise")]),
    # ------------------------------------------------------------------ fine_tune
    # ported from the former wrong-answer tests
    Mutant("fine_tune", "frozen: the wrong slice of groups", says="did the backbone's parameters still get updates",
           edits=[('''    if frozen:
        for group in groups[:-1]:
            for p in group["params"]:
                p.requires_grad_(False)
        groups = groups[-1:]''', '''    if frozen:
        groups = groups[:-1]''')]),
    Mutant("fine_tune", "schedule never applied", says="the rates never change",
           edits=[('group["lr"] = lr * float(shape[t])', 'group["lr"] = lr')]),
    Mutant("fine_tune", "STLR scaled by peak_lr", says="multiplied by peak_lr twice",
           edits=[("slanted_triangular(np.arange(total), 1.0, total)", "slanted_triangular(np.arange(total), peak_lr, total)")]),
    Mutant("fine_tune", "schedule counted from step 1", says="off by one step",
           edits=[("slanted_triangular(np.arange(total), 1.0, total)", "slanted_triangular(np.arange(1, total + 1), 1.0, total)")]),
    Mutant("fine_tune", "schedule restarts every epoch", says="does not restart every epoch",
           edits=[("shape = slanted_triangular(np.arange(total), 1.0, total)",
                   "shape = np.tile(slanted_triangular(np.arange(total // epochs), 1.0, total // epochs), epochs)")]),
    Mutant("fine_tune", "one rate for every group", says="each group keeps its own rate",
           edits=[('group["lr"] = lr * float(shape[t])', 'group["lr"] = peak_lr * float(shape[t])')]),
    Mutant("fine_tune", "schedule compounds", says="the rate compounds",
           edits=[('group["lr"] = lr * float(shape[t])', 'group["lr"] *= float(shape[t])')]),
    Mutant("fine_tune", "fine-tunes PRETRAINED itself", says="copy.deepcopy(PRETRAINED)",
           edits=[("net = copy.deepcopy(PRETRAINED)", "net = PRETRAINED")]),
]
