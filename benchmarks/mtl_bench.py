"""MTL benchmark: our MTLRS and SegNet vs ATOMMIC 1.0.1's, identical inputs, equal parameters.

One measurement (one JSON line on stdout with the keys of the baseline's ``step_bench.py``);
``--toolkit atommic`` runs in the baseline venv (shared/bench/atommic_baseline/setup.sh)::

    python benchmarks/mtl_bench.py --toolkit ours --model mtlrs --coils 4 --height 128 --width 128
    $VENV/bin/python benchmarks/mtl_bench.py --toolkit atommic --model mtlrs ...

The whole comparison (both toolkits alternately via the baseline's ``alternate.py``; writes a
Markdown table and the raw JSON to --out)::

    python benchmarks/mtl_bench.py --suite --coils 4 --height 128 --width 128 --threads 1

Fairness (shared/bench/atommic_baseline/README.md): the baseline's ``make_data`` tensors plus
seeded one-hot labels, same threads, float32 on the CPU, the same step (zero_grad, forward,
L1 on the stacked real/imag of the final reconstruction + L1 of the final segmentation output
against the one-hot labels, backward, Adam lr 1e-4) and hyperparameters giving equal
parameter counts (both reported). ATOMMIC's segmentation outputs are min-max normalised
(``normalize_segmentation_output``), ours are logits: a few element-wise operations apart.
ATOMMIC's MTLRS rounds time steps up to a multiple of 8, so both run 8.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rec_bench

BASELINE = Path(os.environ.get("ATOMMIC_BASELINE_DIR", "/work/shared/bench/atommic_baseline"))
# ATOMMIC's SKM-TEA configs (projects/MTL/rs/SKMTEA/conf/train/{mtlrs,segnet}.yaml), with the
# U-Net segmentation module (the plain U-Net on both sides) and 4 classes
DEFAULTS = {"mtlrs": {"joint": 5, "cascades": 1, "time_steps": 8, "filters": 64, "chans": 64,
                      "pools": 2},
            "segnet": {"cascades": 5, "chans": 64, "pools": 2}}
CLASSES = 4


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--toolkit", choices=["ours", "atommic"], default="ours")
    p.add_argument("--model", choices=sorted(DEFAULTS))
    p.add_argument("--suite", action="store_true", help="run both toolkits for both models")
    p.add_argument("--joint", type=int, help="mtlrs: joint reconstruction-segmentation blocks")
    p.add_argument("--cascades", type=int, help="mtlrs: CIRIM cascades per block; segnet: cascades")
    p.add_argument("--time-steps", type=int)
    p.add_argument("--filters", type=int, help="mtlrs: RIM conv/recurrent filters")
    p.add_argument("--chans", type=int, help="U-Net channels (segmentation; segnet: all)")
    p.add_argument("--seg-chans", type=int, help="ours, mtlrs: segmentation U-Net channels "
                                                 "(default: chans; set for equal parameters)")
    p.add_argument("--pools", type=int)
    p.add_argument("--memory-efficient", action="store_true",
                   help="ours, mtlrs: recompute cascades/time steps in the backward pass")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--coils", type=int, default=4)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32"])
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--rounds", type=int, default=3, help="suite: alternation rounds")
    p.add_argument("--venv", default=None, help="suite: ATOMMIC baseline venv (setup.sh)")
    p.add_argument("--out", default="benchmarks/results", help="suite: output folder")
    p.add_argument("--table-from", help="print the Markdown table of a suite's saved JSON")
    a = p.parse_args(argv)
    if not a.suite and a.model is None and a.table_from is None:
        p.error("give --model, --suite or --table-from")
    for k, v in DEFAULTS.get(a.model or "segnet", {}).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    return a


def make_inputs(a):
    """The baseline's seeded data plus one-hot labels [B, 4, H, W] (generator seed + 1)."""
    import torch

    sys.path.insert(0, str(BASELINE))
    from step_bench import make_data

    d = make_data(a.batch, a.coils, a.height, a.width, a.seed, a.dtype)
    g = torch.Generator().manual_seed(a.seed + 1)
    labels = torch.randint(0, CLASSES, (a.batch, a.height, a.width), generator=g)
    d["segmentation"] = torch.nn.functional.one_hot(labels, CLASSES).movedim(-1, 1).float()
    return d


# -- ours --------------------------------------------------------------------------------------
def build_ours(a):
    from atommic_mtl.models import MTLRS, SegNet

    common = {"num_classes": CLASSES, "fft_centered": True, "fft_normalization": "ortho",
              "spatial_dims": [-2, -1], "reconstruction_loss": {"l1": 1.0}}
    if a.model == "mtlrs":
        f = a.filters
        cfg = {"joint_cascades": a.joint, "num_cascades": a.cascades, "time_steps": a.time_steps,
               "recurrent_layer": "IndRNN", "conv_filters": [f, f, 2],
               "recurrent_filters": [f, f, 0], "segmentation_channels": a.seg_chans or a.chans,
               "segmentation_pools": a.pools, "memory_efficient": a.memory_efficient}
        return MTLRS({**common, **cfg}), cfg
    cfg = {"num_coils": a.coils, "num_cascades": a.cascades, "channels": a.chans,
           "pooling_layers": a.pools, "normalize": True}
    return SegNet({**common, **cfg}), cfg


def run_ours(model, d):
    import torch

    c = torch.view_as_complex
    batch = model.prepare({"masked_kspace": c(d["y"]), "sensitivity_maps": c(d["sensitivity_maps"]),
                           "mask": d["mask"][..., 0], "initial_image": c(d["initial_prediction"])})
    out = model.run(batch)
    return torch.view_as_real(out.reconstructions[-1]), out.segmentations[-1]


# -- ATOMMIC 1.0.1 -----------------------------------------------------------------------------
def build_atommic(a):
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    common = {"fft_centered": True, "fft_normalization": "ortho", "spatial_dims": [-2, -1],
              "coil_dim": 1, "coil_combination_method": "SENSE", "dimensionality": 2,
              "consecutive_slices": 1, "complex_data": True, "use_reconstruction_module": True,
              "estimate_coil_sensitivity_maps_with_nn": False, "reconstruction_loss": {"l1": 1.0},
              "segmentation_loss": {"dice": 1.0}, "segmentation_mode": "multilabel",
              "segmentation_module_output_channels": CLASSES, "magnitude_input": False,
              "normalize_segmentation_output": True, "complex_valued_type": "stacked"}
    if a.model == "mtlrs":
        from atommic.collections.multitask.rs.nn import mtlrs

        cls = mtlrs.MTLRS

        f = a.filters
        cfg = {"joint_reconstruction_segmentation_module_cascades": a.joint,
               "task_adaption_type": "multi_task_learning",
               "reconstruction_module_recurrent_layer": "IndRNN",
               "reconstruction_module_conv_filters": [f, f, 2],
               "reconstruction_module_conv_kernels": [5, 3, 3],
               "reconstruction_module_conv_dilations": [1, 2, 1],
               "reconstruction_module_conv_bias": [True, True, False],
               "reconstruction_module_recurrent_filters": [f, f, 0],
               "reconstruction_module_recurrent_kernels": [1, 1, 0],
               "reconstruction_module_recurrent_dilations": [1, 1, 0],
               "reconstruction_module_recurrent_bias": [True, True, False],
               "reconstruction_module_depth": 2, "reconstruction_module_time_steps": a.time_steps,
               "reconstruction_module_conv_dim": 2,
               "reconstruction_module_num_cascades": a.cascades,
               "reconstruction_module_dimensionality": 2, "reconstruction_module_no_dc": True,
               "reconstruction_module_keep_prediction": True,
               "reconstruction_module_accumulate_predictions": True,
               "segmentation_module": "UNet", "segmentation_module_input_channels": 1,
               "segmentation_module_channels": a.chans,
               "segmentation_module_pooling_layers": a.pools, "segmentation_module_dropout": 0.0}
    else:
        from atommic.collections.multitask.rs.nn import segnet

        cls = segnet.SegNet

        cfg = {"input_channels": 2 * a.coils, "reconstruction_module_output_channels": 2 * a.coils,
               "channels": a.chans, "num_pools": a.pools, "padding_size": 11, "drop_prob": 0.0,
               "normalize": True, "padding": True, "norm_groups": 2, "num_cascades": a.cascades,
               "segmentation_final_layer_conv_dim": 2, "segmentation_final_layer_kernel_size": 3,
               "segmentation_final_layer_dilation": 1, "segmentation_final_layer_bias": False,
               "segmentation_final_layer_nonlinear": "relu"}
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    return cls(OmegaConf.create({**common, **cfg}), trainer=trainer), cfg


def run_atommic(model, d):
    out = model(d["y"], d["sensitivity_maps"], d["mask"], d["initial_prediction"], d["target"])
    recon, seg = out
    while isinstance(recon, (list, tuple)):
        recon = recon[-1]
    while isinstance(seg, (list, tuple)):
        seg = seg[-1]
    import torch

    return (torch.view_as_real(recon) if recon.is_complex() else recon), seg


def bench(a):
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = make_inputs(a)
    base_rss = rec_bench.rss_now_gb()
    torch.manual_seed(a.seed)
    build, run = (build_ours, run_ours) if a.toolkit == "ours" else (build_atommic, run_atommic)
    model, cfg = build(a)
    torch.set_num_threads(a.threads)

    def loss_of(out):
        recon, seg = out
        return (recon - d["target"]).abs().mean() + (seg - d["segmentation"]).abs().mean()

    timing = rec_bench.measure(model, lambda: tuple(run(model, d)), None, a, loss_of=loss_of)
    if not timing.pop("finite"):
        print("non-finite loss or output", file=sys.stderr)
        return 1
    if a.toolkit == "ours":
        from atommic_mtl import __version__

        toolkit = f"atommic-mtl-{__version__}"
    else:
        import atommic

        toolkit = f"atommic-{atommic.__version__}"
    res = {"toolkit": toolkit, "model": a.model,
           "shape": [a.batch, a.coils, a.height, a.width], **timing,
           "base_rss_gb": round(base_rss, 3), "threads": torch.get_num_threads(),
           "dtype": a.dtype, "steps": a.steps, "warmup": a.warmup, "seed": a.seed,
           "config": cfg, "torch": torch.__version__}
    print(json.dumps(res), flush=True)
    return 0


def _ratio(runs, cmd, key):
    """Median and range of ours/ATOMMIC ``key`` over rounds (both measured in the same round)."""
    base = {r["round"]: r[key] for r in runs if r["cmd"] == 0}
    ratios = sorted(r[key] / base[r["round"]] for r in runs
                    if r["cmd"] == cmd and base.get(r["round"]))
    return statistics.median(ratios), ratios[0], ratios[-1]


def markdown_table(raw):
    """The Markdown table of a suite's raw results (``{model: alternate.py JSON lines}``).

    Times and memory are medians over rounds of each run's median; a ratio is ours/ATOMMIC
    within one round (the two ran back to back), as the median over rounds and its range.
    """
    first = next(iter(raw.values()))[0]
    rounds = 1 + max(r["round"] for runs in raw.values() for r in runs if "round" in r)
    lines = [f"Shape {first['shape']}, 4 classes, {first['threads']} thread(s), "
             f"{first['dtype']}, {rounds} alternating rounds; seconds/GiB are medians over "
             f"rounds of each run's median ({first['steps']} timed steps after "
             f"{first['warmup']} warm-up); ratio = ours/ATOMMIC within a round, median "
             "[min-max] over rounds.", "",
             "| model | params ATOMMIC | params ours | train step ATOMMIC (s) | ours (s) | ratio "
             "| inference ATOMMIC (s) | ours (s) | ratio | peak RSS ATOMMIC (GiB) | ours (GiB) "
             "| ratio |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, results in raw.items():
        runs = [r for r in results if "round" in r]
        commands = sorted({r["cmd"] for r in runs})

        def med(cmd, key, runs=runs):
            return statistics.median(r[key] for r in runs if r["cmd"] == cmd)

        base = next(r for r in runs if r["cmd"] == 0)
        for cmd in commands[1:]:
            mine = next(r for r in runs if r["cmd"] == cmd)
            name = model + (" (memory-efficient)" if mine["config"].get("memory_efficient")
                            else "")
            cells = [name, f"{base['params']:,}", f"{mine['params']:,}"]
            for key in ("step_s_median", "infer_s_median", "peak_rss_gb"):
                ratio, low, high = _ratio(runs, cmd, key)
                cells += [f"{med(0, key):.3g}", f"{med(cmd, key):.3g}",
                          f"{ratio:.2f} [{low:.2f}-{high:.2f}]"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def suite(a):
    """Alternate ATOMMIC and ours for both models, then write a Markdown table."""
    venv = a.venv or rec_bench.baseline_venv()
    shape = rec_bench.shape_flags(a)
    script = Path(__file__).resolve()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{a.coils}x{a.height}x{a.width}_t{a.threads}"
    # equal parameters: SegNet exactly (both use the fastMRI U-Net parts); MTLRS within 0.2%
    # (SEG's U-Net has affine norms and biased up-convolutions; at 64 channels it is 0.14%
    # larger, one channel less would be 2.9% smaller)
    variants = {"mtlrs": ["", "--memory-efficient"], "segnet": [""]}
    raw = {}
    for model, ours_flags in variants.items():
        base = f"{venv}/bin/python {script} --toolkit atommic --model {model} {shape}"
        ours = [f"{sys.executable} {script} --toolkit ours --model {model} {shape} {f}"
                for f in ours_flags]
        quoted = " ".join(f"'{c}'" for c in (base, *ours))
        results = rec_bench.json_lines(
            f"{sys.executable} {BASELINE / 'alternate.py'} --rounds {a.rounds} {quoted}")
        raw[model] = results
    text = markdown_table(raw)
    (out / f"mtl_bench_{tag}.md").write_text(text + "\n")
    (out / f"mtl_bench_{tag}.json").write_text(json.dumps(raw, indent=1) + "\n")
    print(text)
    return 0


def main(argv=None):
    a = parse_args(argv)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = str(a.threads)
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.table_from:
        print(markdown_table(json.loads(Path(a.table_from).read_text())))
        return 0
    if a.suite:
        return suite(a)
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # library chatter -> stderr; stdout = the JSON line only
    sys.stdout = json_out
    import warnings

    warnings.filterwarnings("ignore")
    return bench(a)


if __name__ == "__main__":
    sys.exit(main())
