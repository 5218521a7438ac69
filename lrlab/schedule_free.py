r"""Schedule-free SGD (Defazio et al. 2024, *The road less scheduled*) as a torch optimizer.

Schedule-free SGD needs no decay schedule and no stopping time. It keeps two
sequences and evaluates the gradient at a third point between them:

.. math::

    y_t &= (1-\beta)\, z_t + \beta\, x_t          && \text{(gradient point)}\\
    z_{t+1} &= z_t - \gamma_t \big(\nabla f(y_t) + \lambda y_t\big) && \text{(plain SGD sequence)}\\
    x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1} && \text{(running average)},

with :math:`x_0 = z_0 = y_0` the initial weights, interpolation :math:`\beta`
(``momentum``), weight decay :math:`\lambda` and averaging weights

.. math:: c_{t+1} = \frac{\gamma_{\max,t}^2}{\sum_{i=0}^{t} \gamma_{\max,i}^2},
          \qquad \gamma_t = \gamma \min\Big(1, \frac{t+1}{W}\Big),

where :math:`\gamma_{\max,t} = \max_{i\le t}\gamma_i` (as in the reference
implementation; with a warmup followed by a constant rate it is simply
:math:`\gamma_t`). So :math:`x_{t+1}` is the average of :math:`z_1, \dots, z_{t+1}`
weighted by the squared rates: the warmup steps count less.

Special cases: ``momentum=0`` makes :math:`y = z`, so the weights follow plain
SGD and :math:`x` is their (Polyak-Ruppert) average; ``momentum=1`` evaluates the
gradient at the average itself (primal averaging).

In training mode the parameters hold :math:`y`; :meth:`ScheduleFreeSGD.eval`
switches them to :math:`x` (the point to evaluate and to ship), and
:meth:`ScheduleFreeSGD.train` switches back, as the reference implementation
(``schedulefree.SGDScheduleFree``) does. Unlike the reference, which rebuilds
:math:`x` from :math:`y` and :math:`z` to save memory (and so needs
:math:`\beta > 0`), this implementation stores :math:`z` and :math:`x`
explicitly: clearer, and valid for every :math:`\beta \in [0, 1]`.

>>> import torch
>>> w = torch.nn.Parameter(torch.tensor([4.0]))
>>> opt = ScheduleFreeSGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(200):
...     opt.zero_grad(); (0.5 * w**2).sum().backward(); opt.step()
>>> opt.eval(); abs(w.item()) < 0.1   # the average x: the start 4.0 shrunk like 1/t (no noise here)
True
>>> opt.train()
"""

from __future__ import annotations

import torch

from ._validate import check_finite, check_int, check_nonnegative, check_positive

__all__ = ["ScheduleFreeSGD"]


class ScheduleFreeSGD(torch.optim.Optimizer):
    r"""Schedule-free SGD: gradient at the interpolation :math:`y`, SGD on :math:`z`, average :math:`x`.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups, as for any torch optimizer.
    lr : float
        The constant rate :math:`\gamma > 0` (reached after the warmup).
    momentum : float
        Interpolation :math:`\beta \in [0, 1]` between :math:`z` (0) and :math:`x` (1);
        the paper's default is 0.9.
    warmup_steps : int
        Linear warmup :math:`\gamma_t = \gamma \min(1, (t+1)/W)`; 0 for none.
    weight_decay : float
        :math:`\lambda \ge 0`, applied at :math:`y` as in the reference implementation.

    Notes
    -----
    Call :meth:`eval` before evaluating or saving the model and :meth:`train`
    before training again; :meth:`step` raises if called in evaluation mode.
    ``state_dict`` round trips (it holds :math:`z`, :math:`x`, the step count and
    the weight sum), so a run can be checkpointed and resumed exactly.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, warmup_steps: int = 0, weight_decay: float = 0.0):
        lr = check_positive("lr", lr)
        momentum = check_finite("momentum", momentum)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got momentum={momentum!r}")
        warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        weight_decay = check_nonnegative("weight_decay", weight_decay)
        defaults = dict(lr=lr, momentum=momentum, warmup_steps=warmup_steps, weight_decay=weight_decay,
                        k=0, lr_max=0.0, weight_sum=0.0, train_mode=True, scheduled_lr=0.0)
        super().__init__(params, defaults)

    # -- modes ---------------------------------------------------------------

    def eval(self) -> None:
        """Put the average :math:`x` into the parameters (for evaluation and checkpoints of the model)."""
        for group in self.param_groups:
            if group["train_mode"]:
                for p in group["params"]:
                    state = self.state[p]
                    if "x" in state:
                        p.data.copy_(state["x"])
                group["train_mode"] = False

    def train(self) -> None:
        """Put the gradient point :math:`y = (1-\\beta) z + \\beta x` back into the parameters."""
        for group in self.param_groups:
            if not group["train_mode"]:
                for p in group["params"]:
                    state = self.state[p]
                    if "x" in state:
                        p.data.copy_(torch.lerp(state["z"], state["x"], group["momentum"]))
                group["train_mode"] = True

    # -- the update ----------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None):
        """One schedule-free step; ``closure`` (optional) re-evaluates the loss, as for other optimizers."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if not group["train_mode"]:
                raise RuntimeError("ScheduleFreeSGD.step() called in eval mode: call optimizer.train() first")
            k, warmup = group["k"], group["warmup_steps"]
            lr = group["lr"] * (min(1.0, (k + 1) / warmup) if warmup > 0 else 1.0)
            group["scheduled_lr"] = lr
            group["lr_max"] = lr_max = max(lr, group["lr_max"])
            weight = lr_max**2
            group["weight_sum"] = group["weight_sum"] + weight
            c = weight / group["weight_sum"]
            beta, wd = group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "z" not in state:
                    state["z"] = p.detach().clone()
                    state["x"] = p.detach().clone()
                z, x = state["z"], state["x"]
                grad = p.grad
                if wd != 0.0:
                    grad = grad.add(p, alpha=wd)
                z.sub_(grad, alpha=lr)  # z_{t+1} = z_t - lr g(y_t)
                x.lerp_(z, c)  # x_{t+1} = (1 - c) x_t + c z_{t+1}
                p.copy_(torch.lerp(z, x, beta))  # y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1}
            group["k"] = k + 1
        return loss
