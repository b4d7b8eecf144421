"""``python -m atommic_mtl demo``: joint MTLRS vs the sequential pipeline, same time budget.

Steps (each model trains through the real CLI: experiment folder, checkpoints, ``.atommic``,
test tables):

1. write the joint demo data (if missing);
2. train MTLRS (``mtl_mtlrs``) for its budget (``--steps``, or ``--minutes`` of compute);
3. the sequential pipeline for the same total: REC's demo VarNet (``rec_demo_varnet``, same
   4x Poisson-disc masks) for half, SEG's demo U-Net (``seg_demo_unet``, on the fully
   sampled images) for the other half; then the U-Net segments the VarNet's test
   reconstructions (``test`` on HDF5 cases holding them and the reference labels);
4. print SSIM/PSNR (REC's fastmri convention) and Dice per class (SEG's whole-volume
   convention) of both, and of the U-Net on the fully sampled images (a reference, not a
   method: it sees data the others do not).

With ``--parallel`` step 3 runs in a second process during step 2 (same data, same budgets).

By default every arm trains a fixed number of steps (``--steps MTLRS VARNET UNET``, default
114 118 53: 1.5 CPU-minutes per arm as timed on the 2-core reference machine), so the same
command gives the same table. ``--minutes M`` times the steps on your machine instead; the
budget is then CPU time, not wall-clock time, so that a busy machine slows every arm alike
instead of whichever runs at the wrong moment: each model's training step (loading its batch
included) is timed with ``time.process_time`` after a warm-up, and the run gets
``budget / step`` steps (validation and testing are not counted, for any arm).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from atommic_core.demo_cli import demo_parser, trainer_max_time

__all__ = ["main"]

POISSON_4X = "{type:poisson2d,accelerations:[4],center_fractions:[0.08]}"
CLASSES = ("csf", "grey_matter", "white_matter")
DEFAULT_STEPS = (114, 118, 53)  # MTLRS, VarNet, U-Net: 1.5 CPU-min each on the reference machine


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    p = demo_parser("atommic_mtl", __doc__, out="mtl_demo", coils=8, size=128, model="MTLRS")
    p.add_argument("--steps", type=int, nargs=3, default=list(DEFAULT_STEPS),
                   metavar=("MTLRS", "VARNET", "UNET"),
                   help="training steps of each arm (default: equal CPU budgets of 1.5 min as "
                        "timed on the reference machine; reproducible)")
    p.add_argument("--minutes", type=float, default=None,
                   help="instead of --steps: training budget (CPU minutes) of MTLRS and of the "
                        "whole sequential pipeline, timed on this machine (the step counts, and "
                        "so the numbers, then vary by machine)")
    p.add_argument("--parallel", action="store_true",
                   help="train the sequential arm in a second process while MTLRS trains "
                        "(budgets are CPU time, so the arms stay comparable; wall time halves "
                        "with two free cores)")
    return p.parse_args(argv)


def _cpu_seconds_per_step(config: str, overrides: Sequence[str]) -> float:
    """CPU seconds of one training step of ``config`` (batch loading included)."""
    import warnings

    import torch
    from omegaconf import OmegaConf
    from torch.utils.data import default_collate

    from atommic_core.cli.config import compose_config
    from atommic_core.registry import models

    cfg = OmegaConf.to_container(compose_config(None, config, list(overrides)).model,
                                 resolve=True)
    model = models[cfg["model_name"]](cfg)
    dataset = model.build_dataset(OmegaConf.create(cfg["train_ds"]), "train")
    size = int(cfg["train_ds"].get("batch_size", 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        for i in range(4):
            start = time.process_time()
            batch = default_collate([dataset[(i * size + j) % len(dataset)] for j in range(size)])
            opt.zero_grad()
            model.training_step(batch, i).backward()
            opt.step()
            times.append(time.process_time() - start)
    return sorted(times[1:])[1]  # median after a warm-up step


def _train(config: str, runs: Path, budget: float | int, overrides: Sequence[str]) -> Path:
    """Train ``config`` for ``budget`` steps (int) or CPU minutes (float, timed as steps).

    Returns the run folder.
    """
    from atommic_core.cli import main as cli_main

    if isinstance(budget, int):
        steps, minutes = budget, 10.0  # minutes: only for the stuck-machine cap
        print(f"[demo] {config}: {steps} steps")
    else:
        minutes = budget
        step = _cpu_seconds_per_step(config, overrides)
        steps = max(10, int(minutes * 60 / step))
        print(f"[demo] {config}: {step:.2f} CPU s per step -> {steps} steps ({minutes:g} min)")
    run = runs / config / "demo"
    if run.exists():
        shutil.rmtree(run)
    code = cli_main(["train", "--config-name", config, f"exp_manager.exp_dir={runs}",
                     "+exp_manager.version=demo", "exp_manager.resume_if_exists=false",
                     f"+trainer.max_steps={steps}", "trainer.max_epochs=100000",
                     # a cap for stuck machines only: a busy one stretches wall time a lot
                     f"trainer.max_time={trainer_max_time(minutes * 30 + 10)}",
                     "trainer.log_every_n_steps=50", *overrides])
    if code != 0:
        raise SystemExit(f"[demo] training {config} failed (exit code {code})")
    if _steps(run) < steps:
        print(f"[demo] WARNING: {config} stopped at {_steps(run)} of {steps} steps (wall-time "
              "cap): the arms are not at equal budget")
    return run


def _rec_mean(path: Path) -> dict[str, float]:
    with open(path) as f:
        row = list(csv.DictReader(f))[-1]
    return {"ssim": float(row["ssim"]), "psnr": float(row["psnr"])}


def _dice(path: Path) -> dict[str, float]:
    """Mean Dice per class (and over classes) from a SEG summary CSV."""
    with open(path) as f:
        rows = {r["class"]: float(r["dice"]) for r in csv.DictReader(f)}
    return {k: rows[k] for k in (*CLASSES, "mean")}


def _steps(run: Path) -> int:
    """Training steps the run made (the last ``step`` of its CSV log)."""
    steps = 0
    for path in run.glob("csv/**/metrics.csv"):
        with open(path) as f:
            steps = max([steps, *(int(r["step"]) for r in csv.DictReader(f) if r.get("step"))])
    return steps


def _pipeline_cases(predictions: Path, data: Path, out: Path) -> Path:
    """HDF5 cases ``image`` = VarNet reconstruction, ``segmentation`` = reference labels."""
    import h5py

    out.mkdir(parents=True, exist_ok=True)
    for pred in sorted(predictions.glob("*.h5")):
        with h5py.File(pred) as p, h5py.File(data / "test" / pred.name) as ref, \
                h5py.File(out / pred.name, "w") as f:
            f["image"] = p["reconstruction"][()]
            f["segmentation"] = ref["segmentation"][()]
            f.attrs["spacing"] = ref.attrs["spacing"]
    return out


def _sequential(data: Path, runs: Path, budgets: tuple[Any, Any]) -> dict[str, Any]:
    """VarNet then U-Net, each with its budget (steps or CPU minutes, see :func:`_train`)."""
    from atommic_core.cli import main as cli_main

    mask = [f"model.train_ds.mask_args={POISSON_4X}", f"model.data_root={data}"]
    varnet = _train("rec_demo_varnet", runs, budgets[0], mask)
    archive = varnet / "checkpoints" / "rec_demo_varnet.atommic"
    if cli_main(["predict", "--config-name", "rec_demo_varnet", *mask,
                 f"exp_manager.exp_dir={runs}", "+exp_manager.version=demo_predict",
                 f"model.restore_path={archive}", "model.write_png=false"]) != 0:
        raise SystemExit("[demo] VarNet predict failed")
    cases = _pipeline_cases(runs / "rec_demo_varnet" / "demo_predict" / "predictions", data,
                            runs.parent / "pipeline" / "test")
    unet = _train("seg_demo_unet", runs, budgets[1], [f"model.data_root={data}"])
    archive = unet / "checkpoints" / "seg_demo_unet.atommic"
    if cli_main(["test", "--config-name", "seg_demo_unet", f"model.data_root={data}",
                 f"model.test_ds.data_path={cases}", f"exp_manager.exp_dir={runs}",
                 "+exp_manager.version=demo_pipeline", f"++model.restore_path={archive}"]) != 0:
        raise SystemExit("[demo] U-Net test on the VarNet reconstructions failed")
    return {"sequential": {**_rec_mean(varnet / "metrics.csv"),
                           **_dice(runs / "seg_demo_unet" / "demo_pipeline" /
                                   "test_metrics_summary.csv"),
                           "steps": f"{_steps(varnet)} + {_steps(unet)}"},
            "reference": {"ssim": 1.0, "psnr": float("inf"),
                          **_dice(unet / "test_metrics_summary.csv"), "steps": _steps(unet)}}


def _sequential_process(data: Path, runs: Path, budgets: tuple[Any, Any], threads: int,
                        results: Any) -> None:
    """:func:`_sequential` in a child process: puts ``(ok, arms or error text)`` on ``results``."""
    import torch

    torch.set_num_threads(threads)
    try:
        results.put((True, _sequential(data, runs, budgets)))
    except BaseException as error:  # noqa: BLE001 - reported by the parent, one line
        results.put((False, f"{type(error).__name__}: {error}"))


def _table(rows: dict[str, dict[str, Any]]) -> str:
    head = f"{'method':<34}{'SSIM':>7}{'PSNR':>7}{'CSF':>7}{'GM':>7}{'WM':>7}{'Dice':>7}  steps"
    lines = [head, "-" * len(head)]
    for name, m in rows.items():
        psnr = "-" if m["psnr"] == float("inf") else f"{m['psnr']:.2f}"
        ssim = "-" if m["psnr"] == float("inf") else f"{m['ssim']:.4f}"
        lines.append(f"{name:<34}{ssim:>7}{psnr:>7}" + "".join(
            f"{m[k]:>7.3f}" for k in (*CLASSES, "mean")) + f"  {m['steps']}")
    return "\n".join(lines)


def _verdict(joint: dict[str, Any], sequential: dict[str, Any]) -> str:
    gap = joint["mean"] - sequential["mean"]
    if gap >= 0:
        return f"MTLRS's mean Dice is {gap:.3f} above the sequential pipeline's at equal budget."
    worst = min(CLASSES, key=lambda k: joint[k] - sequential[k])
    return (f"MTLRS's mean Dice falls {-gap:.3f} short of the sequential pipeline's at equal "
            f"budget (largest gap: {worst}, {joint[worst] - sequential[worst]:+.3f}). Within "
            "the same minutes MTLRS trains one network on both losses through its recurrent "
            "cascades (fewer, slower steps), while the pipeline's U-Net trains alone on the "
            "fully sampled images with SEG's tuned setup (2.5D input, augmentation, flip TTA, "
            "batches of 8); see the README's MTL section.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns 0 when both arms trained and were scored."""
    args = _parse(list(argv or []))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from atommic_mtl.data.demo_data import make_demo_data

    start = time.perf_counter()
    out = Path(args.out).resolve()
    data, runs = out / "data", out / "experiments"
    if not (data / "demo_data.json").is_file():
        record = make_demo_data(data, coils=args.coils, size=args.size)
        print(f"[demo] wrote joint demo data ({record['source']}) to {data}")
    if args.minutes is None:
        joint_budget, budgets = args.steps[0], (args.steps[1], args.steps[2])
        budget_text = f"{args.steps[0]} / {args.steps[1]} + {args.steps[2]} steps"
    else:
        joint_budget, budgets = args.minutes, (args.minutes / 2, args.minutes / 2)
        budget_text = f"{args.minutes:g} CPU-min of training per arm"
    child = results = None
    received = False
    if args.parallel:
        from multiprocessing import get_context

        context = get_context("spawn")
        results = context.SimpleQueue()
        child = context.Process(target=_sequential_process, args=(
            data, out / "sequential" / "experiments", budgets, args.threads, results))
        child.start()
    try:
        mtlrs = _train("mtl_mtlrs", runs, joint_budget, [f"model.data_root={data}",
                                                         *args.overrides])
        joint = {**_rec_mean(mtlrs / "metrics.csv"),
                 **_dice(mtlrs / "segmentation_metrics_summary.csv"), "steps": _steps(mtlrs)}
        if child is None:
            arms = _sequential(data, runs, budgets)
        else:
            (ok, arms), received = results.get(), True
            if not ok:
                raise SystemExit(f"[demo] the sequential arm failed: {arms}")
    finally:
        if child is not None:
            if not received:
                child.terminate()  # MTLRS failed: do not leave the other arm running
            child.join()
    rows = {"MTLRS (joint)": joint,
            "VarNet -> U-Net (sequential)": arms["sequential"],
            "U-Net on fully sampled (reference)": arms["reference"]}
    print("\n" + "=" * 78)
    print(f"Test split, 4x Poisson-disc masks, {budget_text} "
          f"on {args.threads} thread(s).\nSSIM/PSNR: REC fastmri convention (per volume, "
          "file units); Dice: SEG whole-volume, mean over volumes (CSF, GM, WM, their mean)")
    print(_table(rows))
    print(_verdict(joint, arms["sequential"]))
    print(f"MTLRS run: {mtlrs} (previews: {mtlrs / 'previews'})")
    print(f"total time: {(time.perf_counter() - start) / 60:.1f} min")
    (out / "demo_results.json").write_text(json.dumps(
        {"minutes": args.minutes, "steps": None if args.minutes else args.steps,
         "threads": args.threads, "rows": rows}, indent=2) + "\n")
    return 0
