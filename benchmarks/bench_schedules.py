"""Time to evaluate a schedule over 10^6 steps: lrlab vectorized vs stepping the torch scheduler.

Stepping a torch scheduler costs the same per step whatever the step, so its time for
10^6 steps is measured on ``--torch-steps`` steps and scaled (the table says so).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from torch.optim import lr_scheduler as L

from lrlab import schedules as S
from lrlab.torch_adapter import torch_lr_trace

N = 1_000_000
PEAK = 0.1

CASES = {
    "step": (S.step_schedule(PEAK, 30_000, 0.5), lambda o: L.StepLR(o, 30_000, 0.5)),
    "multistep": (S.multistep_schedule(PEAK, [300_000, 600_000, 900_000]), lambda o: L.MultiStepLR(o, [300_000, 600_000, 900_000])),
    "exponential": (S.exponential_schedule(PEAK, 0.999995), lambda o: L.ExponentialLR(o, 0.999995)),
    "polynomial": (S.polynomial_schedule(PEAK, N, power=2.0), lambda o: L.PolynomialLR(o, N, 2.0)),
    "cosine": (S.cosine_schedule(PEAK, N), lambda o: L.CosineAnnealingLR(o, N)),
    "cosine restarts": (S.cosine_restarts_schedule(PEAK, 10_000, 2), lambda o: L.CosineAnnealingWarmRestarts(o, 10_000, 2)),
    "one-cycle": (S.one_cycle_schedule(PEAK, N), lambda o: L.OneCycleLR(o, PEAK, total_steps=N, cycle_momentum=False)),
}


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(torch_steps: int = 20_000, repeat: int = 3) -> list[dict]:
    steps = np.arange(N)
    torch_lr_trace(CASES["step"][1], 100, base_lr=PEAK)  # warm up torch's first-call costs
    rows = []
    for name, (ours, make) in CASES.items():
        t_ours = best_of(lambda: ours(steps), repeat)
        t_torch = best_of(lambda: torch_lr_trace(make, torch_steps, base_lr=PEAK), 1) * (N / torch_steps)
        rows.append({"schedule": name, "lrlab_s": t_ours, "torch_s": t_torch, "ratio": t_torch / t_ours})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch-steps", type=int, default=20_000, help="torch steps actually run (scaled to 10^6)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many lrlab runs")
    args = parser.parse_args(argv)
    rows = run(args.torch_steps, args.repeat)
    print(f"Evaluating a schedule over 10^6 steps (torch: {args.torch_steps} steps timed, scaled to 10^6)")
    print(f"{'schedule':<16}{'lrlab vectorized (s)':>22}{'torch stepped (s)':>20}{'torch / lrlab':>15}")
    for r in rows:
        print(f"{r['schedule']:<16}{r['lrlab_s']:>22.4f}{r['torch_s']:>20.2f}{r['ratio']:>14.0f}x")


if __name__ == "__main__":
    main()
