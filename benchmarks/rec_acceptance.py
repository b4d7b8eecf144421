"""Acceptance check: the shipped REC config trained on a subject it has never seen.

Emulates issue 10's test on data the project never sees: a different subject (the ICBM152 T1
deformed, with a skull and scalp shell, other slab positions and orientations), 8 loop coils
of another geometry, 160x160, an arbitrary global phase per volume, complex noise; 16
training, 2 validation and 4 held-out test volumes. For each variant and seed it runs, as a
user would, in a fresh process::

    python -m atommic_core train --config-name rec_varnet model.data_root=DATA trainer.max_epochs=4
    python -m atommic_core predict --config-name rec_varnet model.data_root=DATA \\
        +model.restore_path=RUN.atommic

and scores ``predict``'s HDF5 files independently (``rec_score.py``: skimage SSIM, numpy
PSNR/NMSE, fastMRI convention) against the zero-filled SENSE baseline on the test volumes.

Variants: ``maps`` (files with ``sensitivity_map`` and both targets; the SENSE target is
used), ``nomaps`` (no maps: the model estimates them; RSS target), ``rss`` (maps in the file,
RSS target only).

    OMP_NUM_THREADS=1 python benchmarks/rec_acceptance.py --out /tmp/acc --seeds 0 1 2
    python benchmarks/rec_acceptance.py --variants nomaps rss -- model.optim.lr=0.003
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rec_score import (
    CONVENTION,
    METRICS,
    mean,
    run_cli,
    score_predictions,
    score_zero_filled,
)

VARIANTS = {"maps": {"maps_in_file": True, "targets": ("rss", "sense")},
            "nomaps": {"maps_in_file": False, "targets": ("rss",)},
            "rss": {"maps_in_file": True, "targets": ("rss",)}}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="rec_acceptance", help="folder for data, runs and results")
    p.add_argument("--config", default="rec_varnet")
    p.add_argument("--variants", nargs="+", default=["maps"], choices=sorted(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0],
                   help="each seed: another simulated subject and another training seed")
    p.add_argument("--volumes", nargs=3, type=int, default=[16, 2, 4],
                   metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--slices", type=int, default=8)
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="", help="name of this configuration in the results")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for train")
    return p.parse_args(argv)


def make_data(folder: Path, variant: str, seed: int, args: argparse.Namespace) -> Path:
    """Simulate the subject of ``seed`` once (reused by every configuration)."""
    from atommic_rec.data.heldout_data import make_heldout_data

    if not (folder / "heldout_data.json").is_file():
        make_heldout_data(folder, coils=8, size=160, volumes=args.volumes, slices=args.slices,
                          noise=args.noise, seed=500 + seed, contrast="t1",
                          **VARIANTS[variant])
    return folder


def run_one(args: argparse.Namespace, variant: str, seed: int) -> dict:
    out = Path(args.out).resolve()
    data = make_data(out / "data" / f"{variant}_s{seed}", variant, seed, args)
    tag = args.tag or "shipped"
    run = out / "runs" / tag / f"{variant}_s{seed}"
    run.mkdir(parents=True, exist_ok=True)
    common = [f"model.data_root={data}", f"exp_manager.exp_dir={run}",
              "+exp_manager.version=run", "exp_manager.resume_if_exists=false"]
    train_s = run_cli("train", args.config, [*common, f"trainer.max_epochs={args.epochs}",
                                         f"++seed={seed}", *args.overrides],
                  args.threads, run / "train.log")
    archive = next((run / args.config / "run" / "checkpoints").glob("*.atommic"))
    run_cli("predict", args.config, [*common, f"+model.restore_path={archive}",
                                 f"+exp_manager.output_dir={run / 'predict'}"],
        args.threads, run / "predict.log")
    from omegaconf import OmegaConf

    from atommic_core.cli.config import compose_config

    cfg = compose_config(None, args.config, [f"model.data_root={data}"])
    test_ds = OmegaConf.to_container(cfg.model.test_ds, resolve=True)
    method = str(cfg.model.get("coil_combination_method", "sense"))
    model = score_predictions(run / "predict" / "predictions", data / "test", method)
    zf = score_zero_filled(test_ds, data / "test", method)
    gain = {name: model[name]["ssim"] - zf[name]["ssim"] for name in model}
    return {"variant": variant, "seed": seed, "tag": tag, "train_s": round(train_s, 1),
            "model": model, "zero_filled": zf, "model_mean": mean(model),
            "zero_filled_mean": mean(zf), "ssim_gain_mean": float(sum(gain.values()) / len(gain)),
            "ssim_gain_min": min(gain.values()), "overrides": args.overrides}


def main(argv=None) -> int:
    args = parse_args(argv)
    results = []
    for variant in args.variants:
        for seed in args.seeds:
            r = run_one(args, variant, seed)
            results.append(r)
            per_volume = " ".join(f"{r['model'][n]['ssim']:.3f}/{r['zero_filled'][n]['ssim']:.3f}"
                                  for n in sorted(r["model"]))
            print(f"{r['tag']} {variant} seed {seed}: SSIM {r['model_mean']['ssim']:.4f} vs "
                  f"zero-filled {r['zero_filled_mean']['ssim']:.4f} (gain "
                  f"{r['ssim_gain_mean']:+.4f}, min {r['ssim_gain_min']:+.4f}; per volume "
                  f"model/zf {per_volume}); train {r['train_s']:.0f} s", flush=True)
    out = Path(args.out).resolve() / f"acceptance_{args.tag or 'shipped'}.json"
    out.write_text(json.dumps({"convention": CONVENTION, "metrics": list(METRICS),
                               "config": args.config, "epochs": args.epochs,
                               "volumes": args.volumes, "slices": args.slices,
                               "noise": args.noise, "results": results}, indent=2) + "\n")
    print(f"[{CONVENTION}] results: {out}")
    passed = all(r["ssim_gain_mean"] >= 0.08 and r["ssim_gain_min"] > 0 for r in results)
    print("PASS: >= 0.08 mean SSIM gain and every volume above zero-filled" if passed else
          "FAIL: below 0.08 mean SSIM gain or a volume below zero-filled")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
