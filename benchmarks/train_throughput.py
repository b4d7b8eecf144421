"""Training throughput of the REC demo through the real CLI: loader wait and DDP scaling.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_throughput.py --mode workers
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_throughput.py --mode ddp

Writes the demo data once (``make_demo_data``: 8 coils, 128x128, phantom, 4 train volumes x 8
slices), then trains ``rec_demo_varnet`` with ``trainer.max_steps`` steps, no validation and
no test, with :class:`atommic_core.callbacks.LoaderWaitMonitor` attached. Each run is a fresh
``python -m atommic_core train`` process; configurations alternate round by round.

- ``--mode workers``: ``num_workers`` 0 vs 2 on one process; reports the median wait for the
  next batch and the median step per run.
- ``--mode ddp``: ``trainer.devices`` 1 vs 2 (``strategy=ddp``, gloo on the CPU, each process
  1 thread, ``num_workers`` 0); items/s = global batch (devices x batch_size) x timed steps /
  time of those steps (waits + steps on rank 0; the wait for the first batch of each epoch,
  i.e. worker start-up, excluded).

Prints one JSON line per run and a summary line (medians over rounds, min-max spread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _train(data: Path, exp: Path, tag: str, steps: int, extra: list[str]) -> dict:
    out = exp / f"{tag}.json"
    cmd = [sys.executable, "-m", "atommic_core", "train", "--config-name", "rec_demo_varnet",
           f"model.data_root={data}", f"exp_manager.exp_dir={exp}", f"exp_manager.name={tag}",
           f"trainer.max_steps={steps}", "trainer.max_epochs=-1", "trainer.max_time=null",
           "trainer.limit_val_batches=0", "model.validation_ds=null", "model.test_ds=null",
           "exp_manager.create_tensorboard_logger=false", "model.write_png=false",
           "model.log_images=0", "trainer.enable_progress_bar=false",
           "+trainer.callbacks=[{_target_: atommic_core.callbacks.LoaderWaitMonitor, "
           f"output: '{out}'}}]", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode or not out.exists():
        raise SystemExit(f"{tag} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("workers", "ddp"), required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=24)
    a = p.parse_args(argv)
    from atommic_rec.data.demo_data import make_demo_data

    configs = ({"workers0": ["model.train_ds.num_workers=0"],
                "workers2": ["model.train_ds.num_workers=2"]} if a.mode == "workers" else
               {"ddp1": ["trainer.devices=1"],
                "ddp2": ["trainer.devices=2", "trainer.strategy=ddp"]})
    results: dict[str, list[dict]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_demo_data(data, coils=8, size=128, volumes=(4, 1, 1), slices=8, seed=0,
                       source="phantom")
        for r in range(a.rounds):
            names = list(configs) if r % 2 == 0 else list(configs)[::-1]
            for name in names:
                res = _train(data, Path(tmp) / "exp", f"{name}_r{r}", a.steps, configs[name])
                devices = 2 if name == "ddp2" else 1
                busy_s = res["busy_s"]  # batch_size is 1 in the demo config
                res["items_per_s"] = round(devices * res["steps"] / busy_s, 3) if busy_s else None
                results[name].append(res)
                print(json.dumps({"round": r, "config": name, **res}), flush=True)
    summary = {}
    for name, runs in results.items():
        for key in ("wait_ms_median", "step_ms_median", "wait_fraction", "items_per_s"):
            values = [run[key] for run in runs if run.get(key) is not None]
            if values:
                summary[f"{name}_{key}"] = [round(statistics.median(values), 4),
                                            round(min(values), 4), round(max(values), 4)]
    if a.mode == "ddp":
        ratios = [two["items_per_s"] / one["items_per_s"]
                  for one, two in zip(results["ddp1"], results["ddp2"], strict=True)]
        summary["scaling_2_over_1"] = [round(statistics.median(ratios), 3),
                                       round(min(ratios), 3), round(max(ratios), 3)]
    print(json.dumps({"summary": summary, "steps": a.steps, "rounds": a.rounds,
                      "convention": "[median, min, max] over rounds"}))


if __name__ == "__main__":
    main()
