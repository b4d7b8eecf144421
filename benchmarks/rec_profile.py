"""Per-op profile of one REC training step (torch.profiler), for the performance notes.

Uses the same model builder and inputs as ``rec_bench.py`` (``make_data``, seed 0) and prints
the top ops by self CPU time of ``--steps`` profiled steps after one warm-up step::

    OMP_NUM_THREADS=1 python benchmarks/rec_profile.py --model varnet --coils 4 --height 128 \
        --width 128 --threads 1 --top 15

``--infer`` profiles the eval-mode forward under ``no_grad`` instead.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rec_bench


def main(argv=None) -> int:
    """Profile and print a Markdown top-ops table."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--infer", action="store_true")
    own, rest = p.parse_known_args(argv)
    a = rec_bench.parse_args(rest)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import torch
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, str(rec_bench.BASELINE))
    from step_bench import make_data

    torch.set_num_threads(a.threads)
    d = make_data(a.batch, a.coils, a.height, a.width, a.seed, a.dtype)
    batch = rec_bench.to_ours(d)
    target = torch.view_as_real(batch.pop("target"))
    torch.manual_seed(a.seed)
    model, _ = rec_bench.build_model(a)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)

    def step():
        if own.infer:
            model.eval()
            with torch.no_grad():
                model.reconstruct(batch)
            return
        opt.zero_grad(set_to_none=True)
        loss = (torch.view_as_real(model.reconstruct(batch)[-1]) - target).abs().mean()
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(a.steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:own.top]
    print(f"{a.model}{' +compile' if a.compile else ''} "
          f"{'inference' if own.infer else 'train step'}, shape [{a.batch}, {a.coils}, "
          f"{a.height}, {a.width}], {a.threads} thread(s), {a.steps} profiled steps; "
          f"self CPU total {total / 1e3 / a.steps:.1f} ms/step\n")
    print("| op | calls/step | self CPU ms/step | share |")
    print("|---|---|---|---|")
    for e in rows:
        print(f"| {e.key} | {e.count / a.steps:.0f} | {e.self_cpu_time_total / 1e3 / a.steps:.1f} "
              f"| {100 * e.self_cpu_time_total / total:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
