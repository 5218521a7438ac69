r"""Transfer learning with rate schedules: discriminative rates, STLR, gradual unfreezing, frozen backbones.

A small multilayer perceptron is *pretrained* on a source task (digits 0-4), then
*fine-tuned* on a target task (digits 5-9) with a new, randomly initialised head.
How the learning rate is spread over the layers and over the steps decides two
things we measure: the **target accuracy** and the **forgetting** of the source
task (the source test accuracy of the fine-tuned backbone with the *old* head,
before minus after).

The rate of layer group :math:`l` at step :math:`t` is a product

.. math:: \eta_l(t) = s(t)\, m_l\, [\text{group } l \text{ trainable at } t],

of a schedule :math:`s` (constant, linear warmup, slanted triangular), a layer
multiplier :math:`m_l` (1 everywhere for a uniform rate; ULMFiT's discriminative
rates :math:`m_l = \xi^{-(L-1-l)}` with :math:`\xi = 2.6`, Howard & Ruder 2018,
*Universal Language Model Fine-tuning for Text Classification*) and a mask
(a frozen backbone trains only the head; gradual unfreezing thaws one group per
epoch from the top). The layer multipliers are implemented the way one does it
in practice, with torch parameter groups (:func:`layerwise_param_groups`).
:func:`pretrain_population` and :func:`fine_tune_population` run many seeds and
strategies at once as one batched network, with the same numbers as
:func:`pretrain` and :func:`fine_tune` run one by one.

>>> s = slanted_triangular_schedule(peak_lr=0.01, total_steps=100, cut_frac=0.1, ratio=32)
>>> round(s(0) * 32 / 0.01, 6), s(10), round(s(100) * 32 / 0.01, 6)
(1.0, 0.01, 1.0)
>>> layer_rates(3, peak_lr=1.0, decay=2.0).tolist()
[0.25, 0.5, 1.0]
>>> unfreezing_plan(3, n_epochs=4)
[(2,), (1, 2), (0, 1, 2), (0, 1, 2)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ._validate import check_finite, check_fraction, check_int, check_nonnegative, check_positive
from .data import DigitsSplit, batches, digits
from .device import resolve_device
from .schedules import Schedule, constant_schedule, linear_warmup

__all__ = [
    "SOURCE_CLASSES",
    "TARGET_CLASSES",
    "ULMFIT_DECAY",
    "TransferNet",
    "make_net",
    "new_head",
    "tasks",
    "layer_groups",
    "layer_rates",
    "layerwise_param_groups",
    "slanted_triangular_schedule",
    "unfreezing_plan",
    "accuracy",
    "backbone_vector",
    "pretrain",
    "Strategy",
    "rate_table",
    "fine_tune",
    "population_forward",
    "population_accuracy",
    "pretrain_population",
    "fine_tune_population",
]

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
#: ULMFiT's factor between the rates of consecutive layers: eta_{l-1} = eta_l / 2.6.
ULMFIT_DECAY = 2.6


# ---------------------------------------------------------------------------
# The network and its layer groups
# ---------------------------------------------------------------------------


class TransferNet(nn.Module):
    """A multilayer perceptron split into a ``backbone`` (Linear + ReLU blocks) and a linear ``head``.

    Parameter names are ``backbone.0.weight``, ``backbone.0.bias``, ``backbone.2.weight``, ...,
    ``head.weight``, ``head.bias``; each Linear layer is one *layer group*.
    """

    def __init__(self, backbone: nn.Sequential, head: nn.Linear):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    """A Linear layer with torch's default initialisation, drawn from ``generator`` (no global RNG state)."""
    layer = nn.Linear(n_in, n_out)
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.copy_(torch.empty(n_out, n_in).uniform_(-bound, bound, generator=generator))
        layer.bias.copy_(torch.empty(n_out).uniform_(-bound, bound, generator=generator))
    return layer


def new_head(n_in: int, n_classes: int, seed: int, device=None) -> nn.Linear:
    """A freshly initialised linear head (CPU generator seeded with ``seed``, then moved to ``device``)."""
    gen = torch.Generator().manual_seed(int(seed))
    return _linear(n_in, n_classes, gen).to(resolve_device(device))


def make_net(n_in: int = 64, widths=(64, 64), n_classes: int = 5, seed: int = 0, device=None) -> TransferNet:
    """A :class:`TransferNet` ``n_in -> widths... -> n_classes`` with ReLU, initialised from ``seed``.

    The weights are drawn on the CPU and then moved, so a seed gives the same
    initial network on every device.

    >>> net = make_net(widths=(8, 4), n_classes=3, seed=0, device="cpu")
    >>> [name for name, _ in net.named_parameters()]
    ['backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight', 'backbone.2.bias', 'head.weight', 'head.bias']
    """
    n_in = check_int("n_in", n_in, minimum=1)
    widths = tuple(check_int(f"widths[{i}]", w, minimum=1) for i, w in enumerate(widths))
    if not widths:
        raise ValueError(f"widths must name at least one hidden layer, got widths={widths!r}")
    n_classes = check_int("n_classes", n_classes, minimum=2)
    gen = torch.Generator().manual_seed(int(seed))
    layers, previous = [], n_in
    for w in widths:
        layers += [_linear(previous, w, gen), nn.ReLU()]
        previous = w
    net = TransferNet(nn.Sequential(*layers), _linear(previous, n_classes, gen))
    return net.to(resolve_device(device))


def layer_groups(model: nn.Module) -> list[tuple[str, list[tuple[str, torch.Tensor]]]]:
    """The model's parameters grouped by the module that owns them, bottom to top.

    A group's name is the parameter name without its last component
    (``backbone.0.weight`` belongs to ``backbone.0``); groups keep the order of
    ``model.named_parameters()``, which for a feed-forward net is input to output.

    >>> [name for name, _ in layer_groups(make_net(widths=(8, 4), seed=0, device="cpu"))]
    ['backbone.0', 'backbone.2', 'head']
    """
    groups: dict[str, list] = {}
    for name, param in model.named_parameters():
        owner = name.rsplit(".", 1)[0] if "." in name else name
        groups.setdefault(owner, []).append((name, param))
    if not groups:
        raise ValueError(f"model has no parameters, got model={type(model).__name__}")
    return list(groups.items())


def layer_rates(n_layers: int, peak_lr: float, decay: float = ULMFIT_DECAY) -> np.ndarray:
    r"""Discriminative (layer-wise) rates: :math:`\eta_l = \eta_L / \xi^{L-1-l}` for ``l = 0 .. L-1``.

    The top layer (the head, ``l = L-1``) gets ``peak_lr``; each layer below gets
    ``decay`` times less (ULMFiT, Howard & Ruder 2018, use :math:`\xi = 2.6`).
    ``decay = 1`` is a uniform rate.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_layers,)``, bottom layer first.

    >>> layer_rates(2, 0.026, decay=2.6).round(6).tolist()
    [0.01, 0.026]
    """
    n_layers = check_int("n_layers", n_layers, minimum=1)
    peak_lr = check_positive("peak_lr", peak_lr)
    decay = check_finite("decay", decay)
    if decay < 1:
        raise ValueError(f"decay must be >= 1 (lower layers get smaller rates), got decay={decay!r}")
    depth_below_top = np.arange(n_layers - 1, -1, -1, dtype=np.float64)
    return peak_lr / decay**depth_below_top


def layerwise_param_groups(model: nn.Module, peak_lr: float, decay: float = ULMFIT_DECAY) -> list[dict]:
    r"""Torch parameter groups with discriminative rates, one group per layer (see :func:`layer_groups`).

    Group :math:`l` of :math:`L` gets :math:`\eta_l = \eta_{\rm peak} / \xi^{L-1-l}`
    (:func:`layer_rates`). Every parameter of the model appears in exactly one
    group. Pass the result to any torch optimizer: ``torch.optim.SGD(groups, lr=...)``
    (the per-group ``lr`` wins over the default).

    Returns
    -------
    list of dict
        ``{"params": [tensors], "lr": float, "name": str}``, bottom layer first.

    >>> groups = layerwise_param_groups(make_net(widths=(8, 4), seed=0, device="cpu"), peak_lr=0.1, decay=2.0)
    >>> [(g["name"], g["lr"], len(g["params"])) for g in groups]
    [('backbone.0', 0.025, 2), ('backbone.2', 0.05, 2), ('head', 0.1, 2)]
    >>> opt = torch.optim.SGD(groups, lr=1.0)
    >>> [g["lr"] for g in opt.param_groups]
    [0.025, 0.05, 0.1]
    """
    groups = layer_groups(model)
    rates = layer_rates(len(groups), peak_lr, decay)
    return [
        {"params": [p for _, p in params], "lr": float(rate), "name": name}
        for (name, params), rate in zip(groups, rates)
    ]


# ---------------------------------------------------------------------------
# Slanted triangular rates and gradual unfreezing
# ---------------------------------------------------------------------------


def slanted_triangular_schedule(peak_lr: float, total_steps: int, cut_frac: float = 0.1, ratio: float = 32) -> Schedule:
    r"""ULMFiT's slanted triangular rate (Howard & Ruder 2018, eq. 3): a short linear rise, a long linear fall.

    .. math::

        \text{cut} = \lfloor T\cdot\text{cut\_frac}\rfloor, \qquad
        p = \begin{cases} t/\text{cut} & t < \text{cut}\\
            1 - \dfrac{t - \text{cut}}{\text{cut}\cdot(1/\text{cut\_frac} - 1)} & \text{otherwise}\end{cases},
        \qquad \eta(t) = \eta_{\max}\,\frac{1 + p\,(\text{ratio} - 1)}{\text{ratio}} .

    The rate starts at :math:`\eta_{\max}/\text{ratio}`, peaks at ``peak_lr`` at
    step ``cut`` and is back at :math:`\eta_{\max}/\text{ratio}` at step
    :math:`T` (exactly, when :math:`T\cdot\text{cut\_frac}` is an integer;
    otherwise the fall ends at :math:`\text{cut}/\text{cut\_frac} < T`, where
    the paper's formula would continue below the floor). From there on it holds
    the floor :math:`\eta_{\max}/\text{ratio}` (``p`` is clipped at 0). The paper uses
    ``cut_frac = 0.1``, ``ratio = 32``.

    >>> s = slanted_triangular_schedule(1.0, total_steps=20, cut_frac=0.25, ratio=4)
    >>> s([0, 5, 10, 20, 30]).tolist()
    [0.25, 1.0, 0.75, 0.25, 0.25]
    """
    peak_lr = check_positive("peak_lr", peak_lr)
    total_steps = check_int("total_steps", total_steps, minimum=2)
    cut_frac = check_fraction("cut_frac", cut_frac)
    ratio = check_finite("ratio", ratio)
    if ratio < 1:
        raise ValueError(f"ratio must be >= 1 (the peak over the lowest rate), got ratio={ratio!r}")
    cut = math.floor(total_steps * cut_frac)
    if cut < 1:
        raise ValueError(
            f"cut_frac={cut_frac} leaves no warmup step with total_steps={total_steps} "
            f"(floor(total_steps * cut_frac) = 0): raise cut_frac or total_steps"
        )
    fall = cut * (1.0 / cut_frac - 1.0)

    def fn(t, ops):
        p = ops.where(t < cut, t / cut, 1.0 - (t - cut) / fall)
        p = ops.clip(p, 0.0, None)
        return peak_lr * (1.0 + p * (ratio - 1.0)) / ratio

    return Schedule(fn, "slanted_triangular_schedule", peak_lr=peak_lr, total_steps=total_steps,
                    cut_frac=cut_frac, ratio=ratio)


def unfreezing_plan(n_groups: int, n_epochs: int) -> list[tuple[int, ...]]:
    """Gradual unfreezing (ULMFiT): the layer groups trainable in each epoch, thawed one per epoch from the top.

    Epoch 0 trains only the top group (the head, index ``n_groups - 1``); epoch
    ``e`` trains the top ``e + 1`` groups; from epoch ``n_groups - 1`` on, all of them.

    Returns
    -------
    list of tuple of int
        One sorted tuple of group indices (0 = bottom) per epoch.

    >>> unfreezing_plan(2, 3)
    [(1,), (0, 1), (0, 1)]
    """
    n_groups = check_int("n_groups", n_groups, minimum=1)
    n_epochs = check_int("n_epochs", n_epochs, minimum=1)
    return [tuple(range(max(0, n_groups - 1 - e), n_groups)) for e in range(n_epochs)]


# ---------------------------------------------------------------------------
# Training and measurement
# ---------------------------------------------------------------------------


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y`` (argmax of the logits)."""
    return float((model(x).argmax(dim=1) == y).double().mean())


def backbone_vector(model: TransferNet) -> torch.Tensor:
    """All backbone parameters flattened into one detached float64 vector (for distances)."""
    return torch.cat([p.detach().reshape(-1).double() for p in model.backbone.parameters()])


def _train(model, groups, x, y, rates, batch_size, seed, momentum, plan=None, epoch_steps=None, anchor=None,
           l2sp=0.0, on_epoch=None):
    """SGD with momentum; group ``k`` gets rate ``rates[k, t]`` at step ``t``; ``plan[e]`` lists the groups that train in epoch ``e``.

    Groups outside the plan have ``requires_grad`` off, so they get no gradient and
    the optimizer skips them: their weights stay bit-identical.
    """
    rates = np.asarray(rates, dtype=np.float64)
    steps = rates.shape[1]
    opt = torch.optim.SGD([{"params": g["params"], "lr": 0.0} for g in groups], lr=1.0, momentum=momentum)
    gen = torch.Generator().manual_seed(int(seed))
    loss_fn = nn.CrossEntropyLoss()
    for t, idx in enumerate(batches(len(y), batch_size, steps, generator=gen, device=x.device)):
        if plan is not None and t % epoch_steps == 0:
            live = set(plan[min(t // epoch_steps, len(plan) - 1)])
            for k, g in enumerate(groups):
                for p in g["params"]:
                    p.requires_grad_(k in live)
        for k, pg in enumerate(opt.param_groups):
            pg["lr"] = float(rates[k, t])
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        if l2sp:
            loss = loss + 0.5 * l2sp * torch.sum((backbone_vector_live(model) - anchor) ** 2)
        loss.backward()
        opt.step()
        if on_epoch is not None and epoch_steps and (t + 1) % epoch_steps == 0:
            on_epoch((t + 1) // epoch_steps)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def backbone_vector_live(model: TransferNet) -> torch.Tensor:
    """The backbone parameters flattened, *with* gradients (for the L2-SP penalty)."""
    return torch.cat([p.reshape(-1) for p in model.backbone.parameters()])


def pretrain(source: DigitsSplit, widths=(64, 64), steps: int = 300, peak_lr: float = 0.05, batch_size: int = 32,
             momentum: float = 0.9, seed: int = 0) -> TransferNet:
    """Train a fresh :func:`make_net` (initialised from ``seed``) on ``source``: SGD with momentum at the constant rate ``peak_lr``.

    The net lives on the device of ``source``'s tensors; minibatches come from a
    CPU generator seeded with ``seed``, so a seed gives the same batches everywhere.
    """
    steps = check_int("steps", steps, minimum=1)
    net = make_net(source.n_features, widths, source.n_classes, seed=seed, device=source.x_train.device)
    groups = [{"params": list(net.parameters())}]
    rates = np.full((1, steps), check_positive("peak_lr", peak_lr))
    return _train(net, groups, source.x_train, source.y_train, rates, batch_size, seed + 10_000, momentum)


@dataclass(frozen=True)
class Strategy:
    """How to fine-tune: the shape of the rate over steps, its spread over layers, which layers train.

    Attributes
    ----------
    name : str
        Label in tables and figures.
    schedule : {"constant", "warmup", "stlr"}
        ``"warmup"``: linear warmup over ``warmup_frac`` of the run, then constant;
        ``"stlr"``: :func:`slanted_triangular_schedule` (``cut_frac``, ``ratio``).
    decay : float
        Discriminative factor :math:`\\xi` (1 = uniform rate; see :func:`layer_rates`).
    freeze_backbone : bool
        Train only the head (a linear probe on the pretrained features).
    gradual : bool
        Gradual unfreezing, one layer group per epoch from the top (:func:`unfreezing_plan`).
    pretrained : bool
        ``False`` trains from a fresh backbone (the from-scratch reference).
    l2sp : float
        Strength :math:`\\alpha` of the L2-SP penalty :math:`\\frac{\\alpha}{2}\\|\\theta - \\theta_{\\rm pre}\\|^2`
        on the backbone (Li et al. 2018); 0 turns it off.
    """

    name: str
    schedule: str = "constant"
    decay: float = 1.0
    freeze_backbone: bool = False
    gradual: bool = False
    pretrained: bool = True
    l2sp: float = 0.0
    warmup_frac: float = 0.1
    cut_frac: float = 0.1
    ratio: float = 32.0

    def __post_init__(self):
        if self.schedule not in ("constant", "warmup", "stlr"):
            raise ValueError(f"schedule must be 'constant', 'warmup' or 'stlr', got schedule={self.schedule!r}")
        layer_rates(1, 1.0, self.decay)  # validates decay
        check_nonnegative("l2sp", self.l2sp)
        check_fraction("warmup_frac", self.warmup_frac)

    def rate_schedule(self, peak_lr: float, total_steps: int) -> Schedule:
        """The shape of the rate over the run (multiplied by each group's layer rate)."""
        if self.schedule == "constant":
            return constant_schedule(peak_lr)
        if self.schedule == "warmup":
            return linear_warmup(constant_schedule(peak_lr), max(1, round(self.warmup_frac * total_steps)))
        return slanted_triangular_schedule(peak_lr, total_steps, self.cut_frac, self.ratio)

    def plan(self, n_groups: int, n_epochs: int) -> list[tuple[int, ...]]:
        """The layer groups trainable in each epoch (all of them unless frozen or gradual)."""
        if self.freeze_backbone:
            return [(n_groups - 1,)] * n_epochs
        if self.gradual:
            return unfreezing_plan(n_groups, n_epochs)
        return [tuple(range(n_groups))] * n_epochs


def rate_table(strategy: Strategy, n_groups: int, peak_lr: float, epochs: int, epoch_steps: int) -> np.ndarray:
    r"""The rate of every layer group at every step: :math:`\eta_l(t) = s(t)\,\xi^{-(L-1-l)}` where group ``l`` trains, else 0.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_groups, epochs * epoch_steps)``, bottom group first.

    >>> rate_table(Strategy("frozen", freeze_backbone=True), 3, 0.1, epochs=2, epoch_steps=2)
    array([[0. , 0. , 0. , 0. ],
           [0. , 0. , 0. , 0. ],
           [0.1, 0.1, 0.1, 0.1]])
    >>> rate_table(Strategy("gradual", gradual=True, decay=2.0), 2, 1.0, epochs=2, epoch_steps=1)
    array([[0. , 0.5],
           [1. , 1. ]])
    """
    if not isinstance(strategy, Strategy):
        raise ValueError(f"strategy must be a lrlab.fine_tuning.Strategy, got strategy={strategy!r}")
    epochs = check_int("epochs", epochs, minimum=1)
    epoch_steps = check_int("epoch_steps", epoch_steps, minimum=1)
    steps = epochs * epoch_steps
    shape = np.asarray(strategy.rate_schedule(1.0, steps)(np.arange(steps)), dtype=np.float64)
    layer = layer_rates(n_groups, peak_lr, strategy.decay)
    mask = np.zeros((n_groups, steps))
    for e, live in enumerate(strategy.plan(n_groups, epochs)):
        mask[list(live), e * epoch_steps:(e + 1) * epoch_steps] = 1.0
    return layer[:, None] * shape[None, :] * mask


def fine_tune(pretrained: TransferNet, strategy: Strategy, source: DigitsSplit, target: DigitsSplit,
              epochs: int = 4, peak_lr: float = 0.05, batch_size: int = 32, momentum: float = 0.9,
              seed: int = 0) -> dict:
    """Fine-tune a copy of ``pretrained`` on ``target`` with a new head; measure target accuracy and forgetting.

    The copy's backbone gets a new head (``new_head``, seeded with ``seed``) for the
    target classes; the *old* head stays with the pretrained network and is used,
    on top of the fine-tuned backbone, to measure the source accuracy after fine-tuning.
    ``pretrained`` itself is not modified.

    Returns
    -------
    dict
        ``target_acc`` (final, on ``target.x_test``), ``target_curve`` (target test accuracy
        after each epoch, list), ``source_before``, ``source_after`` (source test accuracy of
        backbone + old head), ``forgetting`` (``source_before - source_after``),
        ``distance`` (:math:`\\|\\theta - \\theta_{\\rm pre}\\|_2` over the backbone),
        ``model`` (the fine-tuned :class:`TransferNet`).
    """
    import copy

    if not isinstance(strategy, Strategy):
        raise ValueError(f"strategy must be a lrlab.fine_tuning.Strategy, got strategy={strategy!r}")
    epochs = check_int("epochs", epochs, minimum=1)
    peak_lr = check_positive("peak_lr", peak_lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n = len(target.y_train)
    if batch_size > n:
        raise ValueError(f"batch_size must be <= the {n} target training examples, got batch_size={batch_size}")
    device = target.x_train.device
    old = pretrained
    if strategy.pretrained:
        backbone = copy.deepcopy(old.backbone)
    else:
        fresh = make_net(target.n_features, [m.out_features for m in old.backbone if isinstance(m, nn.Linear)],
                         target.n_classes, seed=seed + 20_000, device=device)
        backbone = fresh.backbone
    width = old.head.in_features
    net = TransferNet(backbone, new_head(width, target.n_classes, seed=seed + 30_000, device=device))
    anchor = backbone_vector(old).to(device=device, dtype=net.head.weight.dtype)

    groups = layerwise_param_groups(net, peak_lr, strategy.decay)
    epoch_steps = n // batch_size
    plan = strategy.plan(len(groups), epochs)
    rates = rate_table(strategy, len(groups), peak_lr, epochs, epoch_steps)
    curve = []
    _train(net, groups, target.x_train, target.y_train, rates, batch_size, seed + 40_000, momentum, plan=plan,
           epoch_steps=epoch_steps, anchor=anchor, l2sp=strategy.l2sp,
           on_epoch=lambda e: curve.append(accuracy(net, target.x_test, target.y_test)))
    after = TransferNet(net.backbone, old.head)
    source_before = accuracy(old, source.x_test, source.y_test)
    source_after = accuracy(after, source.x_test, source.y_test)
    return {
        "target_acc": curve[-1],
        "target_curve": curve,
        "source_before": source_before,
        "source_after": source_after,
        "forgetting": source_before - source_after,
        "distance": float(torch.linalg.vector_norm(backbone_vector(net) - backbone_vector(old))),
        "model": net,
    }


def tasks(target_per_class: int | None = None, device=None) -> tuple[DigitsSplit, DigitsSplit]:
    """The source task (digits 0-4) and the target task (digits 5-9), relabelled 0..4.

    ``target_per_class`` keeps only that many training examples of each target
    digit (the first ones of the fixed split), a small-data fine-tuning setting;
    the test sets are complete.
    """
    device = resolve_device(device)
    source = digits(SOURCE_CLASSES, device=device)
    target = digits(TARGET_CLASSES, device=device)
    if target_per_class is not None:
        k = check_int("target_per_class", target_per_class, minimum=1)
        y = target.y_train.cpu()
        keep = torch.cat([torch.nonzero(y == c).flatten()[:k] for c in range(target.n_classes)]).sort().values
        keep = keep.to(device)
        target = replace(target, x_train=target.x_train[keep], y_train=target.y_train[keep])
    return source, target


# ---------------------------------------------------------------------------
# Many runs at once: the same training, batched over members
# ---------------------------------------------------------------------------
#
# A *population* stores every Linear layer of M networks as one pair of tensors,
# weights ``(M, out, in)`` (torch's nn.Linear layout) and biases ``(M, out)``.
# The loss summed over members has each member's own gradient as its block, so
# one backward pass trains all of them; member m follows its own rate table,
# trainable mask and L2-SP strength. Initial weights, heads and minibatches come
# from the same seeded generators as :func:`pretrain` and :func:`fine_tune`, so a
# member reproduces the one-at-a-time run of its seed and strategy (up to
# floating-point rounding; ``tests/test_fine_tuning.py`` checks this).


def _stack(nets) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The Linear layers of ``nets`` (same architecture) stacked member-first: ``[(W (M, out, in), b (M, out)), ...]``."""
    linears = [[m for m in net.modules() if isinstance(m, nn.Linear)] for net in nets]
    return [(torch.stack([ls[k].weight.detach() for ls in linears]).clone(),
             torch.stack([ls[k].bias.detach() for ls in linears]).clone()) for k in range(len(linears[0]))]


def population_forward(layers, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(M, n, classes)`` of every member; ``x`` is ``(n, features)`` shared or ``(M, n, features)``."""
    h = x
    for k, (w, b) in enumerate(layers):
        if h.dim() == 2:
            h = torch.einsum("ni,moi->mno", h, w) + b[:, None, :]
        else:
            h = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
        if k < len(layers) - 1:
            h = torch.relu(h)
    return h


@torch.no_grad()
def population_accuracy(layers, x: torch.Tensor, y: torch.Tensor, chunk: int = 256) -> np.ndarray:
    """Accuracy of every member on ``(x, y)``, float64 array ``(M,)`` (members evaluated ``chunk`` at a time)."""
    out = []
    for i in range(0, layers[0][0].shape[0], chunk):
        part = [(w[i:i + chunk], b[i:i + chunk]) for w, b in layers]
        out.append((population_forward(part, x).argmax(-1) == y).double().mean(1))
    return torch.cat(out).cpu().numpy()


def _batch_table(n: int, batch_size: int, steps: int, seeds, device) -> torch.Tensor:
    """Minibatch indices ``(len(seeds), steps, batch_size)``: :func:`lrlab.data.batches` with a CPU generator per seed."""
    return torch.stack([torch.stack(list(batches(n, batch_size, steps, generator=torch.Generator().manual_seed(int(s)),
                                                 device="cpu"))) for s in seeds]).to(device)


def _train_population(layers, x, y, idx, rates, live, momentum, l2sp=None, anchor=None, on_epoch=None,
                      epoch_steps=None):
    """Heavy-ball SGD of every member: layer ``l`` of member ``m`` at rate ``rates[m, l, t]``.

    Where ``live[m, l, t]`` is False the layer gets no update and its momentum
    buffer is left alone (as torch's SGD skips a parameter without gradient);
    ``l2sp[m]`` adds :math:`\\alpha (\\theta - \\theta_{\\rm pre})` to the gradient of
    every backbone layer (all but the last). ``idx``: ``(M, T, batch)``.
    """
    params = [p.requires_grad_(True) for wb in layers for p in wb]
    bufs = [torch.zeros_like(p) for p in params]
    n_layers = len(layers)
    lr_t = torch.as_tensor(np.ascontiguousarray(np.transpose(rates, (2, 1, 0))), dtype=x.dtype, device=x.device)
    live_t = torch.as_tensor(np.ascontiguousarray(np.transpose(live, (2, 1, 0))), device=x.device)  # (T, L, M)
    alpha = None if l2sp is None or not np.any(l2sp) else torch.as_tensor(l2sp, dtype=x.dtype, device=x.device)
    for t in range(rates.shape[2]):
        i = idx[:, t]
        logits = population_forward(layers, x[i])
        m, b, c = logits.shape
        loss = nn.functional.cross_entropy(logits.reshape(m * b, c), y[i].reshape(m * b), reduction="none")
        grads = torch.autograd.grad(loss.view(m, b).mean(1).sum(), params)
        with torch.no_grad():
            for j, (p, g, buf) in enumerate(zip(params, grads, bufs)):
                layer = j // 2
                shape = (-1,) + (1,) * (p.dim() - 1)
                if alpha is not None and layer < n_layers - 1:
                    g = g + alpha.view(shape) * (p - anchor[j])
                on = live_t[t, layer].view(shape)
                buf.copy_(torch.where(on, momentum * buf + g, buf))
                p.sub_(lr_t[t, layer].view(shape) * buf * on)
        if on_epoch is not None and (t + 1) % epoch_steps == 0:
            on_epoch()
    for p in params:
        p.requires_grad_(False)
    return layers


def pretrain_population(source: DigitsSplit, seeds, widths=(64, 64), steps: int = 300, peak_lr: float = 0.05,
                        batch_size: int = 32, momentum: float = 0.9):
    """:func:`pretrain` for every seed of ``seeds`` at once: the Linear layers stacked member-first (one member per seed).

    Returns
    -------
    list of (torch.Tensor, torch.Tensor)
        ``[(W (S, out, in), b (S, out)), ...]`` bottom layer first, the source head last.
    """
    steps = check_int("steps", steps, minimum=1)
    seeds = [int(s) for s in seeds]
    device = source.x_train.device
    layers = _stack([make_net(source.n_features, widths, source.n_classes, seed=s, device="cpu") for s in seeds])
    layers = [(w.to(device), b.to(device)) for w, b in layers]
    idx = _batch_table(len(source.y_train), batch_size, steps, [s + 10_000 for s in seeds], device)
    rates = np.full((len(seeds), len(layers), steps), check_positive("peak_lr", peak_lr))
    _train_population(layers, source.x_train, source.y_train, idx, rates, np.ones(rates.shape, bool), momentum)
    return layers


def fine_tune_population(pretrained, seeds, runs, source: DigitsSplit, target: DigitsSplit, epochs: int = 4,
                         batch_size: int = 32, momentum: float = 0.9, curve: bool = True) -> dict:
    """:func:`fine_tune` for many (seed, strategy, peak rate) runs at once.

    Parameters
    ----------
    pretrained : list of (torch.Tensor, torch.Tensor)
        From :func:`pretrain_population`, member ``k`` pretrained with ``seeds[k]``.
    seeds : sequence of int
        The seeds of ``pretrained``'s members.
    runs : sequence of (int, Strategy, float)
        ``(k, strategy, peak_lr)``: fine-tune member ``k`` (seed ``seeds[k]``) with ``strategy``
        at head rate ``peak_lr``. Runs of one seed share the minibatches and the new head's
        initialisation (common random numbers).
    curve : bool
        Record the target test accuracy after every epoch (else only after the last).

    Returns
    -------
    dict
        float64 arrays over runs: ``target_acc``, ``source_before``, ``source_after``,
        ``forgetting``, ``distance``, and ``curve`` ``(n_runs, epochs)`` (last column only
        when ``curve`` is False).
    """
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seeds = [int(s) for s in seeds]
    device = target.x_train.device
    n = len(target.y_train)
    if batch_size > n:
        raise ValueError(f"batch_size must be <= the {n} target training examples, got batch_size={batch_size}")
    for k, strategy, peak in runs:
        if not isinstance(strategy, Strategy):
            raise ValueError(f"strategy must be a lrlab.fine_tuning.Strategy, got strategy={strategy!r}")
        check_positive("peak_lr", peak)
        if not 0 <= int(k) < len(seeds):
            raise ValueError(f"runs: the seed index k of (k, strategy, peak_lr) must be in 0..{len(seeds) - 1}, got k={k}")
    n_layers = len(pretrained)
    widths = [int(w.shape[1]) for w, _ in pretrained[:-1]]
    member = torch.as_tensor([int(k) for k, _, _ in runs], device=device)
    scratch_seeds = sorted({k for k, s, _ in runs if not s.pretrained})
    scratch = {k: _stack([make_net(target.n_features, widths, target.n_classes, seed=seeds[k] + 20_000,
                                   device="cpu")]) for k in scratch_seeds}
    heads = _stack([TransferNet(nn.Sequential(), new_head(widths[-1], target.n_classes, seed=s + 30_000, device="cpu"))
                    for s in seeds])
    layers = []
    for l in range(n_layers - 1):
        w = pretrained[l][0][member].clone()
        b = pretrained[l][1][member].clone()
        for r, (k, s, _) in enumerate(runs):
            if not s.pretrained:
                w[r], b[r] = scratch[k][l][0][0].to(device), scratch[k][l][1][0].to(device)
        layers.append((w, b))
    layers.append((heads[0][0].to(device)[member].clone(), heads[0][1].to(device)[member].clone()))
    anchor = [p[member].clone() for wb in pretrained[:-1] for p in wb]

    epoch_steps = n // batch_size
    steps = epochs * epoch_steps
    rates = np.stack([rate_table(s, n_layers, peak, epochs, epoch_steps) for _, s, peak in runs])
    live = np.zeros(rates.shape, bool)
    for r, (_, s, _) in enumerate(runs):
        for e, groups in enumerate(s.plan(n_layers, epochs)):
            live[r, list(groups), e * epoch_steps:(e + 1) * epoch_steps] = True
    l2sp = np.array([s.l2sp for _, s, _ in runs], dtype=np.float64)
    idx = _batch_table(n, batch_size, steps, [s + 40_000 for s in seeds], device)[member]
    curves = []

    def record():
        curves.append(population_accuracy(layers, target.x_test, target.y_test))

    _train_population(layers, target.x_train, target.y_train, idx, rates, live, momentum, l2sp, anchor,
                      on_epoch=record if curve else None, epoch_steps=epoch_steps)
    if not curve:
        record()
    old = population_accuracy(pretrained, source.x_test, source.y_test)[member.cpu().numpy()]
    src_head = (pretrained[-1][0][member], pretrained[-1][1][member])
    after = population_accuracy(layers[:-1] + [src_head], source.x_test, source.y_test)
    with torch.no_grad():
        dist = torch.sqrt(sum(((p - a).double() ** 2).flatten(1).sum(1)
                              for p, a in zip([p for wb in layers[:-1] for p in wb], anchor)))
    return {
        "target_acc": curves[-1],
        "curve": np.stack(curves, axis=1),
        "source_before": old,
        "source_after": after,
        "forgetting": old - after,
        "distance": dist.cpu().numpy(),
    }
