"""REC zoo vs ATOMMIC 1.0.1 at its reference configs: parameter counts and speed.

Parameter counts of all twelve zoo models, ours (shipped ``rec_<model>.yaml``) vs ATOMMIC's
own classes; exits non-zero if any differ::

    python benchmarks/rec_zoo.py params [--models MoDL,VSNet] [--out table.md]

Speed (train step, inference, peak RSS) at equal parameters on identical inputs, both toolkits
alternately over ``--rounds``; writes ``rec_zoo_bench_<coils>x<H>x<W>_t<threads>.{md,json}``
to ``--out`` after every model::

    OMP_NUM_THREADS=1 python benchmarks/rec_zoo.py bench --coils 4 --height 128 --width 128 \\
        --threads 1 --rounds 2 --steps 3 --warmup 1

The ATOMMIC side runs this file again in the baseline venv (shared/bench/atommic_baseline, its
``setup.sh``) and builds ATOMMIC's class with the model settings of its published config
(``projects/REC/<dataset>/conf/train/<model>.yaml``), one function per model below. Fairness
is ``rec_bench.py``'s, through its helpers: the same ``make_data`` tensors, one code path for
the timed step (zero_grad, forward, L1 on stacked real/imag of the final estimate, backward,
Adam lr 1e-4) and for inference (eval, no_grad forward), medians after warm-up, ``ru_maxrss``,
one fresh process per measurement. Given coil maps, SENSE, centred ortho FFT on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import rec_bench

NN = "atommic.collections.reconstruction.nn"
ATOMMIC_COMMON = {"fft_centered": True, "fft_normalization": "ortho", "spatial_dims": [-2, -1],
                  "coil_dim": 1, "use_sens_net": False, "coil_combination_method": "SENSE",
                  "estimate_coil_sensitivity_maps_with_nn": False, "dimensionality": 2,
                  "consecutive_slices": 1, "complex_valued_type": "stacked",
                  "reconstruction_loss": {"l1": 1.0}}
# what both sides of one comparison must share (alternate.py's checks and the mask drawn)
SAME = ("shape", "threads", "dtype", "steps", "warmup", "seed", "sampled_columns")
CONFIGS = Path(__file__).resolve().parents[1] / "atommic_rec" / "src" / "atommic_rec" / "configs"


def _unet(prefix: str, filters: int = 16, pools: int = 2) -> dict:
    return {f"{prefix}_model_architecture": "UNET", f"{prefix}_unet_num_filters": filters,
            f"{prefix}_unet_num_pool_layers": pools, f"{prefix}_unet_dropout_probability": 0.0,
            f"{prefix}_unet_padding_size": 11, f"{prefix}_unet_normalize": True}


# -- ATOMMIC side: (class path, model settings of its published config), one per model ----------
def atommic_cascadenet():
    return f"{NN}.ccnn:CascadeNet", {"num_cascades": 10, "hidden_channels": 64, "n_convs": 5,
                                     "batchnorm": False, "no_dc": False}


def atommic_crnnet():
    return f"{NN}.crnn:CRNNet", {"num_iterations": 10, "hidden_channels": 64, "n_convs": 3,
                                 "batchnorm": False, "no_dc": False}


def atommic_kikinet():
    return f"{NN}.kikinet:KIKINet", {"num_iter": 2, "kspace_in_channels": 2,
                                     "kspace_out_channels": 2, "imspace_in_channels": 2,
                                     **_unet("kspace"), **_unet("imspace")}


def atommic_lpdnet():
    return f"{NN}.lpd:LPDNet", {"num_iter": 5, "num_primal": 5, "num_dual": 5,
                                "primal_in_channels": 2, "primal_out_channels": 2,
                                "dual_in_channels": 2, "dual_out_channels": 2,
                                **_unet("primal"), **_unet("dual")}


def atommic_xpdnet():
    return f"{NN}.xpdnet:XPDNet", {
        "num_primal": 5, "num_dual": 1, "num_iter": 10, "use_primal_only": True,
        "kspace_model_architecture": "CONV", "kspace_in_channels": 2, "kspace_out_channels": 2,
        "dual_conv_hidden_channels": 16, "dual_conv_num_dubs": 2, "dual_conv_batchnorm": False,
        "image_model_architecture": "MWCNN", "imspace_in_channels": 2, "imspace_out_channels": 2,
        "mwcnn_hidden_channels": 16, "mwcnn_num_scales": 0, "mwcnn_bias": True,
        "mwcnn_batchnorm": False, "normalize_image": True}


def atommic_multidomainnet():
    return f"{NN}.multidomainnet:MultiDomainNet", {"standardization": True, "num_filters": 64,
                                                   "num_pool_layers": 2,
                                                   "dropout_probability": 0.0}


def atommic_modl():
    """5 unrolled iterations, 5 residual blocks, 64 channels, CG data consistency."""
    return f"{NN}.modl:MoDL", {
        "unrolled_iterations": 5, "residual_blocks": 5, "channels": 64,
        "regularization_factor": 0.1, "penalization_weight": 1.0,
        "conjugate_gradient_dc": True, "conjugate_gradient_iterations": 10}


def atommic_vsnet():
    """10 cascades of a 4-convolution CNN with 64 channels."""
    return f"{NN}.vsnet:VSNet", {
        "num_cascades": 10, "imspace_model_architecture": "CONV", "imspace_in_channels": 2,
        "imspace_out_channels": 2, "imspace_conv_hidden_channels": 64,
        "imspace_conv_n_convs": 4, "imspace_conv_batchnorm": False}


def atommic_proximal_gradient():
    """One learned penalty, 10 iterations."""
    return f"{NN}.proximal_gradient:ProximalGradient", {
        "conjugate_gradient_dc": True, "conjugate_gradient_iterations": 10,
        "penalization_weight": 0.05}


def atommic_dunet():
    """10 iterations of a DIDN (64 channels, 2 down-up blocks) and VS consistency."""
    return f"{NN}.dunet:DUNet", {
        "num_iter": 10, "reg_model_architecture": "DIDN", "didn_hidden_channels": 64,
        "didn_num_dubs": 2, "didn_num_convs_recon": 1, "data_consistency_term": "VS",
        "data_consistency_lambda_init": 0.1, "data_consistency_iterations": 10,
        "shared_params": False}


def atommic_recurrentvarnet():
    """8 unshared steps of a 4-layer ConvGRU unit (64), learned initializer."""
    return f"{NN}.recurrentvarnet:RecurrentVarNet", {
        "in_channels": 2, "recurrent_hidden_channels": 64, "recurrent_num_layers": 4,
        "num_steps": 8, "no_parameter_sharing": True, "learned_initializer": True,
        "initializer_initialization": "sense", "initializer_channels": [32, 32, 64, 64],
        "initializer_dilations": [1, 1, 2, 4], "initializer_multiscale": 1}


def atommic_jointicnet():
    """2 iterations; k-space, image and sensitivity NormUnets of 16 channels."""
    unet = {"num_filters": 16, "num_pool_layers": 2, "dropout_probability": 0.0,
            "padding_size": 11, "normalize": True}
    cfg = {"num_iter": 2, "sens_unet_mask_center": True}
    for prefix in ("kspace_unet", "imspace_unet", "sens_unet"):
        cfg.update({f"{prefix}_{k}": v for k, v in unet.items()})
    return f"{NN}.jointicnet:JointICNet", cfg


# why an ATOMMIC original fails, where known (read in its source; docs/rec_models.md)
_CG = (" (its conjugate gradient's normal operator EhE_Op ignores the mask, so with maps "
       "normalised to sum |S_c|^2 = 1 it is (1 + mu) I: CG converges in one step, the residual "
       "underflows to 0 and the next step divides 0/0)")
ATOMMIC_DEFECTS = {"MoDL": _CG, "ProximalGradient": _CG}

# model name -> (our shipped reference config, ATOMMIC side)
MODELS = {
    "CascadeNet": ("rec_cascadenet", atommic_cascadenet),
    "CRNNet": ("rec_crnn", atommic_crnnet),
    "KIKINet": ("rec_kikinet", atommic_kikinet),
    "LPDNet": ("rec_lpdnet", atommic_lpdnet),
    "XPDNet": ("rec_xpdnet", atommic_xpdnet),
    "MultiDomainNet": ("rec_multidomainnet", atommic_multidomainnet),
    "MoDL": ("rec_modl", atommic_modl),
    "VSNet": ("rec_vsnet", atommic_vsnet),
    "ProximalGradient": ("rec_proximal_gradient", atommic_proximal_gradient),
    "DUNet": ("rec_dunet", atommic_dunet),
    "RecurrentVarNet": ("rec_recurrentvarnet", atommic_recurrentvarnet),
    "JointICNet": ("rec_jointicnet", atommic_jointicnet),
}


def build_atommic(name: str):
    """ATOMMIC's own model class at its reference settings (run inside the baseline venv)."""
    import importlib

    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    path, cfg = MODELS[name][1]()
    module, cls = path.split(":")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    return getattr(importlib.import_module(module), cls)(
        OmegaConf.create({**ATOMMIC_COMMON, **cfg}), trainer=trainer)


def build_ours(name: str):
    """Our model from its shipped reference config (the datasets left out)."""
    from omegaconf import OmegaConf

    from atommic_core.registry import models

    cfg = OmegaConf.load(CONFIGS / f"{MODELS[name][0]}.yaml").model
    for split in ("train_ds", "validation_ds", "test_ds"):
        cfg.pop(split, None)
    return models[str(cfg.model_name)](cfg)


def _count(build, names: list[str]) -> dict[str, int]:
    return {n: sum(p.numel() for p in build(n).parameters()) for n in names}


def _quiet_stdout():
    """Library chatter (Lightning, wandb, C-level prints) -> stderr; returns the real stdout."""
    os.environ.setdefault("WANDB_MODE", "disabled")
    os.environ.setdefault("WANDB_SILENT", "true")
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = out
    import warnings

    warnings.filterwarnings("ignore")
    return out


def final_stacked(out, like):
    """ATOMMIC's final estimate as stacked real/imag in the layout of ``like`` [B, H, W, 2].

    Outputs are complex or stacked images, or nested lists of them (cascades x time steps):
    the last element is taken recursively, as the baseline's ``final_prediction``.
    """
    import torch

    while isinstance(out, (list, tuple)):
        out = out[-1]
    out = torch.view_as_real(out) if out.is_complex() else out
    if out.shape != like.shape:
        raise ValueError(f"expected a final estimate of shape {list(like.shape)}, found "
                         f"{list(out.shape)}; hint: check this model's output layout")
    return out


def measure_one(a) -> dict:
    """One measurement of one side (ours or ATOMMIC) in this fresh process: one JSON record."""
    import random

    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    d = rec_bench.baseline_data(a)
    base_rss = rec_bench.rss_now_gb()
    torch.manual_seed(a.seed)  # weights depend only on the seed and hyperparameters
    if a.side == "ours":
        from atommic_rec import __version__

        toolkit = f"atommic-rec-{__version__}"
        model = build_ours(a.model)
        batch = rec_bench.to_ours(d)
        target = torch.view_as_real(batch.pop("target"))

        def estimate():
            return torch.view_as_real(model.reconstruct(batch)[-1])
    else:
        import atommic

        toolkit = f"atommic-{atommic.__version__}"
        model = build_atommic(a.model)
        inputs = (d["y"], d["sensitivity_maps"], d["mask"], d["initial_prediction"], 1.0)
        target = d["target"]

        def estimate():
            return final_stacked(model(*inputs), target)
    torch.set_num_threads(a.threads)  # in case a build changed it
    timing = rec_bench.measure(model, estimate, target, a)
    if not timing["finite"] and a.side == "ours":
        raise FloatingPointError(f"{a.model}: non-finite loss or output")
    # ATOMMIC's non-finite results are timed all the same and flagged: the same operations
    # ran (subnormals on the way to NaN may slow them), the result is unusable
    flag = {} if timing["finite"] else {"defect": "non-finite loss or output"}
    return rec_bench.record(a, toolkit, a.model, d, base_rss, timing, **flag)


def one(a) -> int:
    """``one`` mode: print one JSON line; an ATOMMIC failure is recorded, not raised."""
    out = _quiet_stdout()
    try:
        res = measure_one(a)
    except Exception as err:  # an ATOMMIC defect is a result, not a crash
        if a.side == "ours":
            raise
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
        res = {"toolkit": "atommic", "model": a.model, "error": reason[:200]}
    out.write(json.dumps(res) + "\n")
    out.flush()
    return 0


def _spread(runs: list[dict], key: str) -> list[float] | None:
    """Min and max over rounds of the ratio ours / ATOMMIC of ``key``."""
    ratios = []
    for rnd in sorted({r["round"] for r in runs}):
        side = {r["cmd"]: r.get(key) for r in runs if r["round"] == rnd}
        if side.get(0) and side.get(1):
            ratios.append(side[1] / side[0])
    return [min(ratios), max(ratios)] if ratios else None


def bench_row(name: str, results: list[dict]) -> dict:
    """One table row from alternate.py's runs and summary (0 = ATOMMIC, 1 = ours)."""
    runs = [r for r in results if "round" in r]
    base, ours = results[-1]["summary"]
    errors = sorted({r["error"] for r in runs if r["cmd"] == 0 and "error" in r})
    defects = sorted({r["defect"] for r in runs if r["cmd"] == 0 and "defect" in r})
    row = {"model": name, "config": f"{MODELS[name][0]}.yaml", "rounds": len(runs) // 2,
           "atommic_defect": "; ".join(defects)}
    if errors:
        return {**row, "params_ours": ours["params"], "step_ours": ours["step_s_median"],
                "infer_ours": ours["infer_s_median"], "rss_ours": ours["peak_rss_gb"],
                "atommic_error": "; ".join(errors)}
    first = {r["cmd"]: r for r in runs if r["round"] == 0}
    differ = [k for k in SAME if first[0].get(k) != first[1].get(k)]
    return {**row, **rec_bench.compare(base, ours),
            "step_ratio_spread": _spread(runs, "step_s_median"),
            "infer_ratio_spread": _spread(runs, "infer_s_median"), "differ": differ}


def table(a, rows: list[dict]) -> str:
    """The Markdown speed table with its convention and the command that reproduces it."""
    def spread(s):
        return f"{s[0]:.2f}-{s[1]:.2f}" if s else "-"

    lines = [f"Shape [1, {a.coils}, {a.height}, {a.width}], {a.threads} thread(s), float32 CPU, "
             f"{a.rounds} alternating round(s) of {a.steps} timed step(s) after {a.warmup} "
             "warm-up; values are medians of per-run medians (s), peak RSS is ru_maxrss (GiB, "
             "import stack included); ratio = ours / ATOMMIC 1.0.1 (< 1: ours faster/smaller), "
             "spread = min-max of the per-round ratios.",
             f"Reproduce: `{reproduce(a)}`", "",
             "| model | params ATOMMIC | params ours | train step ATOMMIC (s) | ours (s) | ratio "
             "| spread | inference ATOMMIC (s) | ours (s) | ratio | spread "
             "| peak RSS ATOMMIC (GiB) | ours (GiB) | ratio |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|"]
    notes = []
    for r in rows:
        if "atommic_error" in r:
            lines.append(f"| {r['model']} | failed | {r['params_ours']:,} | failed "
                         f"| {r['step_ours']:.4g} | - | - | failed | {r['infer_ours']:.4g} | - "
                         f"| - | failed | {r['rss_ours']:.2f} | - |")
            notes.append(f"{r['model']}: ATOMMIC 1.0.1 could not run: {r['atommic_error']}"
                         f"{ATOMMIC_DEFECTS.get(r['model'], '')}")
            continue
        mark = " (ATOMMIC defective)" if r["atommic_defect"] else ""
        if mark:
            notes.append(f"{r['model']}: ATOMMIC 1.0.1 ran, but {r['atommic_defect']}"
                         f"{ATOMMIC_DEFECTS.get(r['model'], '')}; its times are those of the "
                         "same operations (possibly slowed by subnormal arithmetic), its "
                         "result is unusable; left out of the median ratios.")
        lines.append(
            f"| {r['model']}{mark} | {r['params_atommic']:,} | {r['params_ours']:,} "
            f"| {r['step_atommic']:.4g} | {r['step_ours']:.4g} | {r['step_ratio']:.2f} "
            f"| {spread(r['step_ratio_spread'])} | {r['infer_atommic']:.4g} "
            f"| {r['infer_ours']:.4g} | {r['infer_ratio']:.2f} "
            f"| {spread(r['infer_ratio_spread'])} | {r['rss_atommic']:.2f} "
            f"| {r['rss_ours']:.2f} | {r['rss_ratio']:.2f} |")
        if r["params_atommic"] != r["params_ours"]:
            notes.append(f"{r['model']}: parameter counts differ")
        if r["differ"]:
            notes.append(f"{r['model']}: sides differ in {', '.join(r['differ'])}")
    ok = [r for r in rows if "atommic_error" not in r and not r["atommic_defect"]]
    if ok:
        for key, what in (("step_ratio", "train step"), ("infer_ratio", "inference"),
                          ("rss_ratio", "peak RSS")):
            vals = [r[key] for r in ok]
            notes.append(f"Median ratio over the {len(ok)} model(s) ATOMMIC runs soundly, {what}: "
                         f"{statistics.median(vals):.2f} (range {min(vals):.2f}-{max(vals):.2f})")
    return "\n".join([*lines, "", *notes])


def reproduce(a) -> str:
    """The command line that reproduces this table (default options left out)."""
    models = "" if a.models == list(MODELS) else f" --models {','.join(a.models)}"
    seed = f" --seed {a.seed}" if a.seed else ""
    return (f"OMP_NUM_THREADS={a.threads} python benchmarks/rec_zoo.py bench{models} "
            f"{rec_bench.shape_flags(a)} --rounds {a.rounds}{seed}")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def bench(a) -> int:
    """``bench`` mode: alternate both toolkits per model; rewrite the table after each model."""
    venv = a.venv or rec_bench.baseline_venv()
    me = Path(__file__).resolve()
    flags = f"{rec_bench.shape_flags(a)} --seed {a.seed}"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"rec_zoo_bench_{a.coils}x{a.height}x{a.width}_t{a.threads}"
    rows, raw = [], {}
    for name in a.models:
        one_cmd = f"{me} one --model {name} {flags}"
        results = rec_bench.alternate(f"{venv}/bin/python {one_cmd} --side atommic",
                                      f"{sys.executable} {one_cmd} --side ours", a.rounds)
        raw[name] = results
        rows.append(bench_row(name, results))
        text = table(a, rows)
        _write(stem.with_suffix(".md"), text + "\n")
        _write(stem.with_suffix(".json"), json.dumps({"rows": rows, "runs": raw}, indent=1) + "\n")
        print(f"{name}: done ({len(rows)}/{len(a.models)})", file=sys.stderr, flush=True)
    print(text)
    return 0


def params(a) -> int:
    """``params`` mode: the parameter table; non-zero exit if any count differs."""
    if a.atommic_side:  # inside the baseline venv: print ATOMMIC's counts as one JSON line
        out = _quiet_stdout()
        out.write(json.dumps(_count(build_atommic, a.models)) + "\n")
        out.flush()
        return 0
    venv = a.venv or rec_bench.baseline_venv()
    theirs = rec_bench.json_lines(f"{venv}/bin/python {Path(__file__).resolve()} params "
                                  f"--atommic-side --models {','.join(a.models)}")[-1]
    ours = _count(build_ours, a.models)
    lines = ["| model | our config | params (ours) | params (ATOMMIC 1.0.1) | equal |",
             "| --- | --- | ---: | ---: | --- |"]
    lines += [f"| {n} | {MODELS[n][0]}.yaml | {ours[n]:,} | {theirs[n]:,} | "
              f"{'yes' if ours[n] == theirs[n] else 'NO'} |" for n in a.models]
    text = ("All parameters (`sum(p.numel())`) at ATOMMIC's reference configs, given coil maps "
            "(no sensitivity network).\nReproduce: `python benchmarks/rec_zoo.py params`\n\n"
            + "\n".join(lines))
    print(text)
    if a.out:
        _write(Path(a.out), "# REC zoo parameter counts: ours vs ATOMMIC 1.0.1\n\n" + text + "\n")
    return 0 if all(ours[n] == theirs[n] for n in a.models) else 1


def model_list(text: str) -> list[str]:
    """``--models`` value: comma-separated names of the twelve zoo models."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated names from {', '.join(MODELS)}; found {text!r}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("params", "bench", "one"),
                   help="params: parameter table; bench: speed table; one: (internal) one "
                        "measurement of one side")
    p.add_argument("--models", type=model_list, default=list(MODELS),
                   help="comma-separated zoo models (default: all twelve)")
    p.add_argument("--model", choices=list(MODELS), help="one: the model")
    p.add_argument("--side", choices=("ours", "atommic"), help="one: which toolkit")
    p.add_argument("--atommic-side", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--coils", type=int, default=4)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--dtype", default="float32", choices=["float32"])
    p.add_argument("--venv", default=None, help="ATOMMIC baseline venv (default: its setup.sh)")
    p.add_argument("--out", default=None,
                   help="params: also write the table here; bench: output folder "
                        "(benchmarks/results)")
    a = p.parse_args(argv)
    if a.mode == "one" and (a.model is None or a.side is None):
        p.error("one: expected --model and --side, found "
                f"--model {a.model} --side {a.side}; hint: bench runs these itself")
    if a.steps < 1 or a.warmup < 0 or a.rounds < 1:
        p.error(f"expected --steps >= 1, --warmup >= 0, --rounds >= 1; found {a.steps}, "
                f"{a.warmup}, {a.rounds}")
    if a.mode == "bench" and a.out is None:
        a.out = "benchmarks/results"
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = str(a.threads)
    return {"params": params, "bench": bench, "one": one}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
