"""REC data pipeline: items/s of our train chain vs ATOMMIC 1.0.1's, on the same HDF5 files.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rec_data_bench.py --rounds 5 \\
        --coils 4 --size 128 --items 24 [--venv $HOME/.cache/atommic-baseline/venv]

Writes fastMRI-layout demo files once (``make_demo_data``, phantom, coil maps stored in the
files), then alternates, round by round, two fresh processes on those files:

* ours: ``atommic_rec.data.build_rec_dataset(cfg, "train")`` (mask random1d 4x / 0.08,
  maps from the file, SENSE target and initial image, max normalisation);
* ATOMMIC: ``ReconstructionMRIDataset`` + ``ReconstructionMRIDataTransforms`` built by its
  own ``BaseMRIReconstructionModel._setup_dataloader_from_config`` with the same options
  (random1d 4x / 0.08, maps from the file, SENSE, max normalisation, centred ortho FFT).

Each process loads item 0 (warm-up, not timed), then times ``dataset[i]`` for ``--items``
items, single process, 1 thread. Prints one JSON line per run and a summary: medians of the
per-round items/s and the per-round ratio ours/ATOMMIC (median, min, max). This file imports
only the standard library at the top, so the ATOMMIC side runs it in the baseline venv.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_VENV = Path.home() / ".cache" / "atommic-baseline" / "venv"


def _time_items(dataset, items: int) -> tuple[int, float]:
    dataset[0]  # warm-up: file handles, FFT plans, lazy imports
    n = min(items, len(dataset))
    start = time.perf_counter()
    for i in range(n):
        dataset[i]
    return n, n / (time.perf_counter() - start)


def ours(root: str, items: int, seed: int) -> dict:
    """Our train chain on ``root`` (one JSON-able result)."""
    from atommic_rec.data import build_rec_dataset

    cfg = {"data_path": root, "seed": seed, "normalize": "max",
           "mask_args": {"type": "random1d", "accelerations": [4], "center_fractions": [0.08]}}
    n, rate = _time_items(build_rec_dataset(cfg, "train"), items)
    return {"toolkit": "atommic-rec", "items": n, "items_per_s": round(rate, 3)}


def atommic(root: str, items: int, seed: int) -> dict:
    """ATOMMIC 1.0.1's dataset + transforms on ``root``, built the way its models build them."""
    import warnings

    warnings.filterwarnings("ignore")
    from atommic.collections.reconstruction.nn.base import BaseMRIReconstructionModel
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({
        "data_path": root, "dataset_format": "custom", "shuffle": False, "num_workers": 0,
        "mask_args": {"type": "random1d", "accelerations": [4], "center_fractions": [0.08],
                      "shift_mask": False},
        "coil_combination_method": "SENSE", "estimate_coil_sensitivity_maps": False,
        "fft_centered": True, "fft_normalization": "ortho", "spatial_dims": [-2, -1],
        "normalize_inputs": True, "normalization_type": "max", "use_seed": False,
    })
    loader = BaseMRIReconstructionModel._setup_dataloader_from_config(cfg)
    n, rate = _time_items(loader.dataset, items)
    return {"toolkit": "atommic-1.0.1", "items": n, "items_per_s": round(rate, 3)}


def _run_side(python: str, side: str, root: str, a: argparse.Namespace) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--side", side, "--root", root,
           "--items", str(a.items), "--seed", str(a.seed)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"{side} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def compare(a: argparse.Namespace) -> None:
    """Write the files once, alternate both sides for ``a.rounds`` rounds, print a summary."""
    from atommic_rec.data.demo_data import make_demo_data

    baseline = str(Path(a.venv) / "bin" / "python")
    with tempfile.TemporaryDirectory() as tmp:
        make_demo_data(tmp, coils=a.coils, size=a.size, volumes=(2, 0, 0),
                       slices=max(2, a.items // 2), seed=a.seed, source="phantom")
        root = f"{tmp}/train"
        rates: dict[str, list[float]] = {"atommic": [], "ours": []}
        for r in range(a.rounds):
            order = ("atommic", "ours") if r % 2 == 0 else ("ours", "atommic")
            for side in order:
                res = _run_side(baseline if side == "atommic" else sys.executable, side, root, a)
                rates[side].append(res["items_per_s"])
                print(json.dumps({"round": r, "side": side, **res}), flush=True)
    ratios = [o / b for o, b in zip(rates["ours"], rates["atommic"], strict=True)]
    print(json.dumps({"summary": {
        "shape": [a.coils, a.size, a.size], "items": a.items, "rounds": a.rounds,
        "atommic_items_per_s_median": round(statistics.median(rates["atommic"]), 3),
        "ours_items_per_s_median": round(statistics.median(rates["ours"]), 3),
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_min": round(min(ratios), 2), "ratio_max": round(max(ratios), 2)}}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", choices=("both", "ours", "atommic"), default="both")
    p.add_argument("--root", help="folder of .h5 files (only with --side ours|atommic)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--coils", type=int, default=4)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--items", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--venv", default=str(DEFAULT_VENV), help="ATOMMIC baseline venv")
    a = p.parse_args(argv)
    if a.side == "both":
        compare(a)
        return
    import torch

    torch.set_num_threads(1)
    print(json.dumps((ours if a.side == "ours" else atommic)(a.root, a.items, a.seed)))


if __name__ == "__main__":
    main()
