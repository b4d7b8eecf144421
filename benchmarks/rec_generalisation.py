"""Generalisation benchmark: train on the demo data, test on a held-out set unlike it.

Trains each model of ``ROWS`` on the demo data (``python -m atommic_rec make-demo-data``)
for a fixed number of steps (about the demo's 3.5 min budget on one idle CPU thread; a fixed
step count makes the numbers reproducible: seeded, one thread, deterministic algorithms),
then runs ``predict`` on three test sets and scores the HDF5 outputs independently
(``rec_score.py``, fastMRI convention) against zero-filled SENSE:

- ``demo``: the demo's own test split (in distribution);
- ``heldout``: ``make-demo-data --variant heldout``: another subject (deformed template, skull
  and scalp, texture), axial/coronal/sagittal slices rotated and flipped, 12 loop coils on an
  ellipse, 160x160, global phase, twice the noise;
- ``heldout_t2``: the same with a T2-like contrast as well (a contrast shift the demo data
  never show; reported, no goal).

    OMP_NUM_THREADS=1 python benchmarks/rec_generalisation.py --out /tmp/gen
    python benchmarks/rec_generalisation.py --rows varnet varnet_noaug --seeds 0 1 2

``--reuse`` keeps a row's finished training (its ``.atommic`` and ``row.json``) and only
predicts and scores again.

Writes ``benchmarks/results/rec_generalisation.{json,md}`` (``--results`` to change).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rec_score import (
    CONVENTION,
    mean,
    run_cli,
    score_predictions,
    score_zero_filled,
)

NO_AUG = "~model.train_ds.augmentations"
FIXED_MASKS = "++model.train_ds.use_seed=true"
# row -> (config, steps, extra overrides): steps ~ 3.5 min of one idle CPU thread each
ROWS = {
    "varnet": ("rec_demo_varnet", 700, []),
    "varnet_noaug": ("rec_demo_varnet", 700, [NO_AUG]),
    "varnet_noaug_noequiv": ("rec_demo_varnet", 700, [NO_AUG, "model.phase_equivariant=false"]),
    "cirim": ("rec_cirim", 200, []),
    "cirim_noequiv": ("rec_cirim", 200, ["model.phase_equivariant=false"]),
    "unet": ("rec_unet", 1000, []),
    "rim": ("rec_rim", 700, []),
    # SSDU (self-supervised) vs supervised with the same fixed training masks (one
    # undersampling per slice, as an acquisition gives; the shipped row redraws them)
    "varnet_fixedmask": ("rec_demo_varnet", 700, [FIXED_MASKS]),
    "varnet_ssdu": ("rec_demo_varnet", 700, [FIXED_MASKS, "++model.ssdu=true"]),
    "varnet_ssdu_acs": ("rec_demo_varnet", 700, [FIXED_MASKS, "++model.ssdu={acs_block:auto}"]),
    "cascadenet": ("rec_demo_cascadenet", 700, []),
    "crnn": ("rec_demo_crnn", 700, []),
    "kikinet": ("rec_demo_kikinet", 700, []),
    "lpdnet": ("rec_demo_lpdnet", 700, []),
    "xpdnet": ("rec_demo_xpdnet", 700, []),
    "multidomainnet": ("rec_demo_multidomainnet", 700, []),
    # REC zoo part B: the VarNet budget
    "modl": ("rec_demo_modl", 700, []),
    "vsnet": ("rec_demo_vsnet", 700, []),
    "proximal_gradient": ("rec_demo_proximal_gradient", 700, []),
    "dunet": ("rec_demo_dunet", 700, []),
    "recurrentvarnet": ("rec_demo_recurrentvarnet", 700, []),
    "jointicnet": ("rec_demo_jointicnet", 700, []),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="rec_generalisation")
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0],
                   help="training seeds (rows of seeds other than 0 are named row@seedN)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=None,
                   help="train every row for this many steps (default: each row's own; the "
                        "REC zoo table uses 700 for all)")
    p.add_argument("--steps-scale", type=float, default=1.0,
                   help="multiply every row's steps (quick checks)")
    p.add_argument("--reuse", action="store_true", help="keep finished trainings in --out")
    p.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"))
    return p.parse_args(argv)


def make_data(out: Path) -> dict[str, Path]:
    """The demo data and the two held-out sets (made once in ``out``)."""
    from atommic_rec.data.demo_data import make_demo_data
    from atommic_rec.data.heldout_data import make_heldout_data

    sets = {"demo": out / "demo_data", "heldout": out / "heldout_data",
            "heldout_t2": out / "heldout_t2_data"}
    if not (sets["demo"] / "demo_data.json").is_file():
        make_demo_data(sets["demo"])
    for name, contrast in (("heldout", "t1"), ("heldout_t2", "t2")):
        if not (sets[name] / "heldout_data.json").is_file():
            make_heldout_data(sets[name], contrast=contrast)
    return sets


def _test_ds(config: str, data: Path) -> tuple[dict, str]:
    from omegaconf import OmegaConf

    from atommic_core.cli.config import compose_config

    cfg = compose_config(None, config, [f"model.data_root={data}"])
    return (OmegaConf.to_container(cfg.model.test_ds, resolve=True),
            str(cfg.model.get("coil_combination_method", "sense")))


def run_row(name: str, seed: int, args: argparse.Namespace, sets: dict[str, Path]) -> dict:
    config, steps, extra = ROWS[name]
    steps = max(1, round((args.steps or steps) * args.steps_scale))
    run = Path(args.out).resolve() / "runs" / (name if seed == 0 else f"{name}_s{seed}")
    run.mkdir(parents=True, exist_ok=True)
    common = [f"exp_manager.exp_dir={run}", "+exp_manager.version=run",
              "exp_manager.resume_if_exists=false"]
    done = run / "row.json"
    if args.reuse and done.is_file():
        row = json.loads(done.read_text())
    else:
        train_s = run_cli("train", config, [
            *common, f"model.data_root={sets['demo']}", f"++seed={seed}",
            f"+trainer.max_steps={steps}", "trainer.max_epochs=100000",
            "++trainer.max_time=null", "+trainer.deterministic=true", *extra],
            args.threads, run / "train.log")
        row = {"config": config, "steps": steps, "overrides": extra, "seed": seed,
               "train_s": round(train_s, 1)}
        done.write_text(json.dumps(row) + "\n")
    archive = next((run / config / "run" / "checkpoints").glob("*.atommic"))
    for split, data in sets.items():
        out_dir = run / f"predict_{split}"
        run_cli("predict", config, [*common, f"model.data_root={data}",
                                    f"+model.restore_path={archive}",
                                    f"+exp_manager.output_dir={out_dir}"],
                args.threads, run / f"predict_{split}.log")
        _, method = _test_ds(config, data)
        row[split] = score_predictions(out_dir / "predictions", data / "test", method)
        row[f"{split}_mean"] = mean(row[split])
    return row


def zero_filled(sets: dict[str, Path]) -> dict:
    row = {}
    for split, data in sets.items():
        test_ds, method = _test_ds("rec_demo_varnet", data)
        row[split] = score_zero_filled(test_ds, data / "test", method)
        row[f"{split}_mean"] = mean(row[split])
    return row


def table(rows: dict) -> str:
    zf = rows["zero-filled"]
    lines = ["| model | steps | train (s) | demo test SSIM | held-out SSIM | PSNR (dB) | NMSE | "
             "SSIM gain vs zero-filled (min over volumes) | held-out T2 SSIM (gain) |",
             "|---" * 9 + "|"]
    for name, r in rows.items():
        d, h, t2 = r["demo_mean"], r["heldout_mean"], r["heldout_t2_mean"]
        gains = [r["heldout"][v]["ssim"] - zf["heldout"][v]["ssim"] for v in r["heldout"]]
        gain = "-" if name == "zero-filled" else \
            f"{h['ssim'] - zf['heldout_mean']['ssim']:+.4f} ({min(gains):+.4f})"
        t2_gain = "" if name == "zero-filled" else \
            f" ({t2['ssim'] - zf['heldout_t2_mean']['ssim']:+.4f})"
        lines.append(f"| {name} | {r.get('steps', '-')} | {r.get('train_s', '-')} | "
                     f"{d['ssim']:.4f} | {h['ssim']:.4f} | {h['psnr']:.2f} | {h['nmse']:.4f} | "
                     f"{gain} | {t2['ssim']:.4f}{t2_gain} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    sets = make_data(out)
    rows = {"zero-filled": zero_filled(sets)}
    for seed in args.seeds:
        for row in args.rows:
            name = row if seed == 0 else f"{row}@seed{seed}"
            rows[name] = r = run_row(row, seed, args, sets)
            print(f"{name}: demo SSIM {r['demo_mean']['ssim']:.4f}, held-out SSIM "
                  f"{r['heldout_mean']['ssim']:.4f} (zero-filled "
                  f"{rows['zero-filled']['heldout_mean']['ssim']:.4f}); train {r['train_s']} s",
                  flush=True)
    md = f"Per-volume means ({CONVENTION}).\n\n{table(rows)}\n"
    print("\n" + md)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (results / "rec_generalisation.json").write_text(json.dumps(
        {"measured": stamp, "convention": CONVENTION, "seeds": args.seeds,
         "threads": args.threads, "rows": rows}, indent=2) + "\n")
    (results / "rec_generalisation.md").write_text(f"Measured {stamp}.\n\n{md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
