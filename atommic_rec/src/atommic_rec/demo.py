"""``python -m atommic_rec demo``: demo data -> train a small VarNet -> compare with zero-filled.

Steps: write the simulated demo data (if missing), evaluate the zero-filled SENSE baseline
on the test split, train a fixed number of VarNet steps (``--steps``; the same command twice
gives the same numbers; a few timed steps print the expected duration first) through
the real CLI (``python -m atommic_core train --config-name rec_demo_varnet``: experiment
folder, checkpoints, ``.atommic`` export, test metrics), then print the comparison table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from atommic_core.demo_cli import demo_parser

__all__ = ["main"]

CONFIG = "rec_demo_varnet"
METRICS = ("ssim", "psnr", "nmse")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    p = demo_parser("atommic_rec", __doc__, out="rec_demo", coils=8, size=128, model="VarNet")
    p.add_argument("--steps", type=int, default=700,
                   help="VarNet training steps (700: ~3.5 min on one idle core)")
    p.add_argument("--minutes", type=float, default=None,
                   help="size the training to this budget instead of --steps (from timed "
                        "steps: the step count, and so the numbers, then vary by machine)")
    return p.parse_args(argv)


def _config(data_root: Path, overrides: Sequence[str]) -> Any:
    from atommic_core.cli.config import compose_config

    return compose_config(None, CONFIG, [f"model.data_root={data_root}", *overrides])


def _zero_filled(cfg: Any, out: Path) -> dict[str, float]:
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from atommic_rec.models import ZeroFilled

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    keys = ("test_ds", "fft_centered", "fft_normalization", "spatial_dims",
            "coil_combination_method", "evaluation_convention")
    model = ZeroFilled({k: model_cfg[k] for k in keys if k in model_cfg})
    model.output_dir = str(out)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.test(model, verbose=False)
    return {k: float(model.test_results[-1][k]) for k in METRICS}


def _time_step(cfg: Any) -> float:
    """Seconds per training step: item loading and three VarNet steps (after a warm-up)."""
    import torch
    from omegaconf import OmegaConf

    from atommic_rec.models import VarNet

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model = VarNet(model_cfg)
    dataset = model.build_dataset(OmegaConf.create(model_cfg["train_ds"]), "train")
    t0 = time.perf_counter()
    items = [dataset[i] for i in range(3)]
    load = (time.perf_counter() - t0) / 3
    batch = torch.utils.data.default_collate(items[:1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(4):
        t0 = time.perf_counter()
        opt.zero_grad()
        recon = model.reconstruct(model._prepare(batch))[-1].abs()
        model.loss_fn(recon, batch["target"]).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return (sorted(times)[1] + load) * 1.1  # + validation and logging


def _read_metrics(path: Path) -> tuple[dict[str, float], str]:
    """The MEAN row of a test table and the convention it names."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: float(rows[-1][k]) for k in METRICS}, rows[-1]["convention"]


def _table(rows: dict[str, dict[str, float]]) -> str:
    lines = [f"{'method':<12} {'SSIM':>7} {'PSNR (dB)':>10} {'NMSE':>8}"]
    for name, m in rows.items():
        lines.append(f"{name:<12} {m['ssim']:>7.4f} {m['psnr']:>10.2f} {m['nmse']:>8.4f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns 0 when VarNet beats zero-filled on all three metrics."""
    args = _parse(list(argv or []))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from atommic_core.cli import main as cli_main
    from atommic_rec.data.demo_data import make_demo_data
    from atommic_rec.metrics import get_convention

    start = time.perf_counter()
    out = Path(args.out).resolve()
    data = out / "data"
    if not (data / "demo_data.json").is_file():
        record = make_demo_data(data, coils=args.coils, size=args.size)
        print(f"[demo] wrote demo data ({record['source']}) to {data}")
    cfg = _config(data, args.overrides)  # e.g. the evaluation convention, for zero-filled too
    zf = _zero_filled(cfg, out / "zero_filled")
    step_s = _time_step(cfg)
    steps = args.steps if args.minutes is None else max(20, int(args.minutes * 60 / step_s))
    print(f"[demo] VarNet step ~{step_s:.2f}s -> training {steps} steps "
          f"(~{steps * step_s / 60:.1f} min)")
    run = out / "experiments" / CONFIG / "demo"
    overrides = [f"model.data_root={data}", f"exp_manager.exp_dir={out / 'experiments'}",
                 "+exp_manager.version=demo", "exp_manager.resume_if_exists=false",
                 f"+trainer.max_steps={steps}", "trainer.max_epochs=100000",
                 "++trainer.max_time=null",
                 *args.overrides]
    if run.exists():
        import shutil

        shutil.rmtree(run)
    code = cli_main(["train", "--config-name", CONFIG, *overrides])
    if code != 0:
        print(f"[demo] training failed (exit code {code})")
        return code
    varnet, convention = _read_metrics(run / "metrics.csv")
    archive = run / "checkpoints" / f"{CONFIG}.atommic"
    rows = {"zero-filled": zf, "VarNet": varnet}
    print("\n" + "=" * 60)
    print(f"Test split, 4x random 1D mask, means of the test table\n"
          f"({get_convention(convention).header()}):\n{_table(rows)}")
    print(f"VarNet model:  {archive}\n(also offline as ModelPT.from_pretrained(\"{CONFIG}\"); "
          "python -m atommic_core list pretrained)")
    print(f"PNG previews (target | reconstruction | error): {run / 'previews'} "
          f"(zero-filled: {out / 'zero_filled' / 'previews'})")
    print(f"total time: {(time.perf_counter() - start) / 60:.1f} min")
    (out / "demo_results.json").write_text(json.dumps(
        {"rows": rows, "steps": steps, "archive": str(archive)}, indent=2) + "\n")
    better = (varnet["ssim"] > zf["ssim"] and varnet["psnr"] > zf["psnr"]
              and varnet["nmse"] < zf["nmse"])
    print("VarNet beats zero-filled on SSIM, PSNR and NMSE." if better else
          "WARNING: VarNet did not beat zero-filled on every metric; train longer (--steps).")
    return 0 if better else 1
