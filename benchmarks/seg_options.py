"""Test Dice of the demo 2D U-Net with and without 2.5D input, deep supervision and flip TTA.

Each option is a config key of the SEG models:

* 2.5D input: ``model.context_slices: k`` (the slice and k neighbours each side as channels);
* deep supervision: ``model.deep_supervision_heads: n`` (extra heads on n coarser levels);
* flip test-time augmentation: ``model.inference.flip_tta`` (``[-1]``: W, ``true``: H and W).
  It acts only at evaluation, so every trained model is scored with it off and on.

Protocol: the model section of the shipped ``seg_demo_unet`` config (2D U-Net, 16 channels,
4 pool layers, Dice + cross-entropy, Adam 2e-3 with cosine decay over the run, the demo
augmentations), trained for ``--steps`` steps of batch 8 on the demo's 6 training cases with
each seed (``seed_everything`` plus ``train_ds.seed``: initialisation, shuffling and
augmentation draws), no validation, final weights. Scored with ``model.infer`` and the
metric functions of ``python -m atommic_core test`` on two held-out sets: the demo's test
split (2 cases) and a variant (4 cases simulated with another seed, so other poses, bias
fields and noise, then intensity gamma 0.7 and extra Rician noise: a contrast the training
never saw). Convention: Dice per case and foreground class (CSF, GM, WM) averaged over
cases, then over classes; mean +- sample std over seeds.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/seg_options.py                    # full run
    OMP_NUM_THREADS=1 python benchmarks/seg_options.py --steps 20 --seeds 0 --variants baseline
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf, open_dict

import atommic_seg
from atommic_seg.data.demo import make_demo_data
from atommic_seg.data.readers import find_cases
from atommic_seg.metrics import segmentation_metrics, summarize
from atommic_seg.models import SegmentationUNet

#: trained variants: model config overrides
VARIANTS = {
    "baseline": {},
    "2.5D": {"context_slices": 1},
    "deep_sup": {"deep_supervision_heads": 2},
    "2.5D+deep_sup": {"context_slices": 1, "deep_supervision_heads": 2},
}
#: evaluation settings of model.inference.flip_tta
TTA = {"off": False, "flip_W": [-1], "flip_HW": True}


def make_data(work: Path) -> dict[str, Path]:
    """The demo data (seed 0) and the variant test set, made once under ``work``."""
    demo, variant = work / "demo", work / "variant"
    if not (demo / "dataset.json").is_file():
        make_demo_data(demo, seed=0)
    if not (variant / "dataset.json").is_file():
        make_demo_data(variant, splits=(0, 0, 4), seed=7)
        import nibabel as nib

        rng = np.random.default_rng(7)
        for ref in find_cases(variant / "test"):
            img = nib.load(ref.image_path)
            data = np.asarray(img.dataobj, dtype=np.float32)
            data = np.clip(data, 0, None) ** 0.7  # gamma: GM/WM/CSF contrast changes
            sigma = 0.03 * float(data.max())
            data = np.sqrt((data + rng.normal(0, sigma, data.shape)) ** 2
                           + rng.normal(0, sigma, data.shape) ** 2)
            nib.save(nib.Nifti1Image(data.astype(np.float32), img.affine), ref.image_path)
    return {"demo": demo / "test", "variant": variant / "test", "train": demo / "train"}


def model_config(data: dict[str, Path], overrides: dict, seed: int) -> dict:
    """seg_demo_unet's model section with the data paths and ``overrides``."""
    folder = Path(atommic_seg.__file__).parent / "configs"
    cfg = OmegaConf.to_container(OmegaConf.load(folder / "seg_demo_unet.yaml").model)
    cfg.pop("data_root")
    cfg["train_ds"]["data_path"] = str(data["train"])
    cfg["train_ds"]["seed"] = seed
    for split in ("validation_ds", "predict_ds"):
        cfg.pop(split)
    cfg["test_ds"]["data_path"] = str(data["demo"])
    cfg.update(overrides)
    return cfg


def load_cases(model: SegmentationUNet, test_dir: Path) -> list[dict]:
    """Every case of ``test_dir`` as the model's test split sees it: images, labels, spacing."""
    cfg = OmegaConf.merge(model.cfg.test_ds, {"data_path": str(test_dir)})
    ds = model.build_dataset(cfg, "test")
    cases: dict[str, dict] = {}
    for i in range(len(ds)):
        item = ds[i]
        case = cases.setdefault(item["case"], {"images": [], "labels": [],
                                               "spacing": item["spacing"].numpy()})
        case["images"].append(item["image"])
        case["labels"].append(item["target"].numpy())
    return [{"name": name, "images": torch.stack(c["images"]), "labels": np.stack(c["labels"]),
             "spacing": c["spacing"]} for name, c in cases.items()]


@torch.no_grad()
def score(model: SegmentationUNet, cases: list[dict], flip_tta) -> dict[str, float]:
    """Mean foreground Dice (and per class) with ``model.infer`` and the test's metric code."""
    with open_dict(model.cfg):
        model.cfg.inference = {"flip_tta": flip_tta}
    model.eval()
    rows = []
    for case in cases:
        labels = torch.cat([model.to_labels(model.infer(batch))
                            for batch in case["images"].split(32)]).numpy()
        per_class = segmentation_metrics(labels, case["labels"], model.num_classes,
                                         case["spacing"])
        rows += [{"case": case["name"], "class": model.class_names[c], **values}
                 for c, values in per_class.items()]
    return {name: values["dice"] for name, values in summarize(rows).items()}


def run(data: dict[str, Path], variant: str, seed: int, steps: int) -> dict:
    """Train one variant with one seed; score it with every TTA setting on both test sets."""
    pl.seed_everything(seed, verbose=False)
    model = SegmentationUNet(model_config(data, VARIANTS[variant], seed))
    trainer = pl.Trainer(max_steps=steps, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False,
                         limit_val_batches=0, num_sanity_val_steps=0)
    start = time.perf_counter()
    trainer.fit(model)
    train_s = time.perf_counter() - start
    scores = {}
    for test in ("demo", "variant"):
        cases = load_cases(model, data[test])
        scores.update({f"{test}/{tta}": score(model, cases, flip) for tta, flip in TTA.items()})
    return {"variant": variant, "seed": seed, "steps": steps, "train_s": train_s,
            "scores": scores}


def table(results: list[dict], test: str) -> str:
    """Markdown table: mean +- std over seeds of the mean foreground Dice."""
    lines = [f"| {test} test set | " + " | ".join(f"TTA {t}" for t in TTA) + " |",
             "|---|" + "---|" * len(TTA)]
    for variant in VARIANTS:
        rows = [r for r in results if r["variant"] == variant]
        if not rows:
            continue
        cells = []
        for tta in TTA:
            values = [r["scores"][f"{test}/{tta}"]["mean"] for r in rows]
            std = statistics.stdev(values) if len(values) > 1 else float("nan")
            cells.append(f"{statistics.mean(values):.4f} +- {std:.4f}")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--work", default="./seg_options_data", help="data folder (reused)")
    parser.add_argument("--out", default="benchmarks/results/seg_options.json")
    args = parser.parse_args()
    data = make_data(Path(args.work))
    start = time.perf_counter()
    print(f"# SEG options: torch {torch.__version__}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}, "
          f"{args.steps} steps, seeds {args.seeds}", flush=True)
    results = []
    for variant in args.variants:
        for seed in args.seeds:
            r = run(data, variant, seed, args.steps)
            results.append(r)
            print(f"{variant:>14} seed {seed}: train {r['train_s']:.0f} s, Dice " + ", ".join(
                f"{k} {v['mean']:.4f}" for k, v in r["scores"].items()), flush=True)
    minutes = (time.perf_counter() - start) / 60
    print(f"\nMean foreground Dice (per case, averaged over cases, then over CSF/GM/WM), "
          f"mean +- std over {len(args.seeds)} seeds; {minutes:.1f} min in all\n")
    for test in ("demo", "variant"):
        print(table(results, test) + "\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    tmp.write_text(json.dumps({"args": vars(args), "torch": torch.__version__,
                               "minutes": minutes, "results": results}, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
