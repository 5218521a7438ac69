"""lrlab.torch_adapter: a schedule drives a real torch optimizer step by step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrlab import schedules as S
from lrlab.torch_adapter import lambda_lr, torch_lr_trace


def test_lambda_lr_sets_the_schedule_value_at_every_step_of_a_training_loop():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=999.0, momentum=0.9)
    sched = S.warmup_cosine_schedule(0.05, total_steps=60, warmup_steps=10, min_lr=1e-3)
    scheduler = lambda_lr(opt, sched)
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    seen = []
    for _ in range(60):
        seen.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        scheduler.step()
    np.testing.assert_allclose(seen, sched(np.arange(60)), rtol=1e-12, atol=1e-15)


def test_lr_scale_gives_parameter_groups_multiples_of_the_schedule():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr_scale": 0.1}], lr=1.0)
    sched = S.cosine_schedule(1.0, 10)
    scheduler = lambda_lr(opt, sched)
    for _ in range(4):
        opt.step()
        scheduler.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(sched(4))
    assert opt.param_groups[1]["lr"] == pytest.approx(0.1 * sched(4))


def test_lambda_lr_rejects_a_plain_function():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="schedule must be a Schedule"):
        lambda_lr(opt, lambda step: 0.1)


def test_torch_lr_trace_rejects_zero_steps():
    with pytest.raises(ValueError, match="total_steps must be >= 1, got total_steps=0"):
        torch_lr_trace(lambda o: torch.optim.lr_scheduler.StepLR(o, 1), 0, base_lr=1.0)
