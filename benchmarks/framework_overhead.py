"""Overhead of the atommic CLI versus a plain Lightning script: a 20-step tiny-model run.

Both sides train the same two-layer regressor (``atommic_core.testing.BoringModel``'s
network: 4 -> 8 -> 1) on the same 160 random samples, batch 8, Adam lr 1e-2, 20 optimizer
steps, no validation, on the CPU, each in a fresh Python process. Reported per side:

- ``wall``: wall time of the whole process (imports, plugin loading, setup, fit, exit);
- ``fit``: time of ``trainer.fit`` alone, measured inside the process.

Three CLI variants: ``default`` (TensorBoard logger, checkpointing, ``.atommic`` export,
log files, git info), ``lean`` (all of those off) and the plain script.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/framework_overhead.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

STEPS = 20

PLAIN = textwrap.dedent(f"""
    import time
    import pytorch_lightning as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class Plain(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
            self.head = nn.Linear(8, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.mse_loss(self.head(self.encoder(x)), y)
            self.log("train_loss", loss, prog_bar=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(160, 4, generator=gen)
    y = x @ torch.randn(4, 1, generator=gen)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    trainer = pl.Trainer(accelerator="cpu", max_steps={STEPS}, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    start = time.perf_counter()
    trainer.fit(Plain(), loader)
    print("FIT_SECONDS", time.perf_counter() - start)
""")

PLUGIN = textwrap.dedent("""
    import time

    import atommic_core
    from atommic_core.testing import BoringModel


    class BenchBoring(BoringModel):
        def on_fit_start(self):
            self._t0 = time.perf_counter()

        def on_fit_end(self):
            print("FIT_SECONDS", time.perf_counter() - self._t0, flush=True)


    @atommic_core.hookimpl
    def atommic_register_models(register):
        register("BenchBoring", BenchBoring)
""")

CONFIG = textwrap.dedent(f"""
    name: bench
    trainer: {{accelerator: cpu, max_steps: {STEPS}, enable_model_summary: false}}
    exp_manager: {{exp_dir: EXP_DIR}}
    model:
      model_name: BenchBoring
      train_ds: {{num_samples: 160, batch_size: 8}}
      optim: {{name: adam, lr: 0.01}}
""")

LEAN = ["exp_manager.create_tensorboard_logger=false",
        "exp_manager.create_checkpoint_callback=false",
        "exp_manager.save_atommic_on_train_end=false",
        "exp_manager.checkpoint_on_interrupt=false"]


def _setup(root: Path) -> dict[str, str]:
    site = root / "site"
    info = site / "atommic_bench-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: atommic-bench\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[atommic]\nbench = atommic_bench_plugin\n")
    (site / "atommic_bench_plugin.py").write_text(PLUGIN)
    (root / "bench.yaml").write_text(CONFIG.replace("EXP_DIR", str(root / "exps")))
    (root / "plain.py").write_text(PLAIN)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH"))
                                          if p))
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    fit = next(float(line.split()[1]) for line in (proc.stdout + proc.stderr).splitlines()
               if line.startswith("FIT_SECONDS"))
    return wall, fit


def main() -> None:
    """Time each variant ``--repeats`` times (interleaved) and print medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = _setup(root)
        cli = [sys.executable, "-m", "atommic_core", "train", "--config-path", str(root),
               "--config-name", "bench"]
        variants = {"plain Lightning script": [sys.executable, str(root / "plain.py")],
                    "atommic CLI (lean)": [*cli, *LEAN],
                    "atommic CLI (default)": cli}
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, cmd in variants.items():
                times[name].append(_run(cmd, env, root))
    result = {name: {"wall_s": statistics.median(w for w, _ in runs),
                     "fit_s": statistics.median(f for _, f in runs)}
              for name, runs in times.items()}
    if args.json:
        print(json.dumps(result))
        return
    base = result["plain Lightning script"]
    print(f"{STEPS}-step tiny-model run, median of {args.repeats} (CPU, 1 thread)")
    print(f"{'variant':<26}{'wall s':>9}{'fit s':>9}{'wall +s':>10}")
    for name, r in result.items():
        print(f"{name:<26}{r['wall_s']:9.2f}{r['fit_s']:9.3f}{r['wall_s'] - base['wall_s']:10.2f}")


if __name__ == "__main__":
    main()
