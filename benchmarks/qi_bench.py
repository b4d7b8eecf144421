"""QI benchmark: our qCIRIM/qVarNet vs ATOMMIC 1.0.1's on identical inputs (step time, memory).

One measurement (one JSON line on stdout, the keys of the baseline's ``step_bench.py``)::

    python benchmarks/qi_bench.py --model qcirim --toolkit ours --coils 4 --height 128 --width 128
    VENV/bin/python benchmarks/qi_bench.py --model qcirim --toolkit atommic ...   # baseline venv

The whole comparison (both toolkits alternately via the baseline's ``alternate.py``; writes a
Markdown table and the raw JSON to --out)::

    python benchmarks/qi_bench.py --suite --coils 4 --height 128 --width 128 --threads 1

Fairness (shared/bench/atommic_baseline/README.md): the same seeded tensors from
:func:`make_qi_data` (torch only; the 1D column mask of the baseline's ``step_bench``), the
same threads, float32 on the CPU, ATOMMIC's ``MEGRE`` signal model on both sides (each side
scales the maps its own way: ATOMMIC by ``[150, 150, 1000, 150]``, ours by the signal model's
scales; constants that do not change the cost), and the same step: zero_grad, the
quantitative module from the given initial maps, L1 of the final maps (R2*, S0, B0, phi)
against the true maps, backward, Adam lr 1e-4. ATOMMIC's models run whole
(``qCIRIM.forward``/``qVarNet.forward``); ours run their networks (``QCIRIMNet``/
``QVarNetNet``, what ``refine`` calls), since the map fit of our model is not part of
ATOMMIC's forward either (it takes precomputed maps).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rec_bench

BASELINE = Path(os.environ.get("ATOMMIC_BASELINE_DIR", "/work/shared/bench/atommic_baseline"))
DEFAULTS = {"qcirim": {"cascades": 5, "time_steps": 8, "filters": 64},
            "qvarnet": {"cascades": 8, "chans": 18, "pools": 4}}
MODELS = ("qvarnet", "qcirim", "qcirim+no-memory-efficient")
TES = [3.0, 11.5, 20.0, 28.5]
SCALES = [150.0, 150.0, 1000.0, 150.0]  # ATOMMIC's quantitative_maps_regularization_factors


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(DEFAULTS))
    p.add_argument("--toolkit", choices=("ours", "atommic"), default="ours")
    p.add_argument("--suite", action="store_true", help="run both toolkits for every model")
    p.add_argument("--cascades", type=int)
    p.add_argument("--chans", type=int)
    p.add_argument("--pools", type=int)
    p.add_argument("--time-steps", type=int)
    p.add_argument("--filters", type=int)
    p.add_argument("--no-memory-efficient", action="store_true",
                   help="ours, qcirim: store every time step's activations (no recomputation)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--coils", type=int, default=4)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--rounds", type=int, default=3, help="suite: alternation rounds")
    p.add_argument("--models", default=",".join(MODELS), help="suite: models to compare")
    p.add_argument("--venv", default=None, help="suite: ATOMMIC baseline venv (setup.sh)")
    p.add_argument("--out", default="benchmarks/results", help="suite: output folder")
    a = p.parse_args(argv)
    if not a.suite and a.model is None:
        p.error("give --model or --suite")
    for k, v in DEFAULTS.get(a.model or "qcirim", {}).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    return a


def make_qi_data(batch, coils, height, width, seed=0):
    """Seeded multi-echo data (torch only), in ATOMMIC's MEGRE parametrisation.

    Returns complex64 ``y`` ``[B, E, C, H, W]`` (masked k-space, centred ortho FFT),
    ``sensitivity_maps`` ``[B, C, H, W]`` (unit RSS), float ``mask`` ``[W]`` (the baseline's
    fastMRI-style 4x column mask), ``init`` and ``target`` maps ``[B, 4, H, W]`` (R2* 1/s,
    S0, B0 rad/s, phi = imaginary part of S0) and ``TEs`` (ms).
    """
    import math

    import torch

    sys.path.insert(0, str(BASELINE))
    from step_bench import column_mask, fft2c

    g = torch.Generator().manual_seed(seed)
    u = torch.rand(5, batch, height, width, generator=g, dtype=torch.float64)
    amplitude = (0.3 + u[1]) * torch.exp(1j * math.pi * (2 * u[3] - 1))
    target = torch.stack([5 + 40 * u[0], amplitude.real, 2 * math.pi * 40 * (2 * u[2] - 1),
                          amplitude.imag], dim=1)
    te = torch.tensor(TES, dtype=torch.float64).view(1, -1, 1, 1) * 1e-3
    r2, s0, b0, phi = (target[:, k, None] for k in range(4))
    echoes = torch.complex(s0, phi) * torch.exp(-r2 * te) * torch.exp(-1j * b0 * te)
    s = torch.view_as_complex(torch.randn(batch, coils, height, width, 2, generator=g,
                                          dtype=torch.float64))
    s = s / torch.sqrt((s.abs() ** 2).sum(1, keepdim=True))
    m = column_mask(width, 0.08, 4, g).to(torch.float64)
    y = fft2c(s[:, None] * echoes[:, :, None]) * m
    init = target * (1 + 0.1 * torch.randn(target.shape, generator=g, dtype=torch.float64))
    return {"y": y.to(torch.complex64), "sensitivity_maps": s.to(torch.complex64),
            "mask": m.float(), "init": init.float(), "target": target.float(), "TEs": TES,
            "sampled_columns": int(m.sum())}


def _ours(a, d):
    """Our network and a forward from the initial maps to the final maps."""
    import torch

    fft_kw = {"centered": True, "normalization": "ortho", "spatial_dims": (-2, -1)}
    if a.model == "qcirim":
        from atommic_qi.nets import QCIRIMNet

        f, eff = a.filters, not a.no_memory_efficient
        cfg = {"conv_filters": (f, f, 4), "recurrent_filters": (f, f, 0),
               "time_steps": a.time_steps, "num_cascades": a.cascades, "memory_efficient": eff}
        net = QCIRIMNet(a.cascades, checkpoint_cascades=eff and a.cascades > 1,
                        checkpointing=eff, time_steps=a.time_steps, conv_filters=(f, f, 4),
                        recurrent_filters=(f, f, 0), signal_model="atommic_megre",
                        fft_kw=fft_kw)
    else:
        from atommic_qi.nets import QVarNetNet

        cfg = {"num_cascades": a.cascades, "channels": a.chans, "pooling_layers": a.pools}
        net = QVarNetNet(a.cascades, a.chans, a.pools, signal_model="atommic_megre",
                         fft_kw=fft_kw)
    mask = d["mask"].view(1, 1, 1, 1, -1)
    tes = torch.tensor(d["TEs"])

    def forward():
        out = net(d["init"], d["y"], d["sensitivity_maps"], mask, tes)
        return out[-1][-1] if a.model == "qcirim" else out[-1]

    from atommic_qi import __version__

    return net, forward, cfg, f"atommic-qi-{__version__}"


def _atommic(a, d):
    """ATOMMIC's qCIRIM/qVarNet model (AHEAD config keys, our FFT setting) and its forward."""
    import pytorch_lightning as pl
    import torch
    from omegaconf import OmegaConf

    common = {"use_reconstruction_module": False, "fft_centered": True,
              "fft_normalization": "ortho", "spatial_dims": [-2, -1], "coil_dim": 2,
              "coil_combination_method": "SENSE", "dimensionality": 2, "num_echoes": 4,
              "quantitative_module_dimensionality": 2, "quantitative_maps_scaling_factor": 1e-3,
              "quantitative_maps_regularization_factors": SCALES,
              "quantitative_module_signal_forward_model_sequence": "MEGRE",
              "quantitative_loss": {"l1": 1.0},
              "quantitative_parameters_regularization_factors": [
                  {"R2star": 1.0}, {"S0": 1.0}, {"B0": 1.0}, {"phi": 1.0}],
              "complex_valued_type": "stacked", "consecutive_slices": 1}
    if a.model == "qcirim":
        from atommic.collections.quantitative.nn.qcirim import qCIRIM as cls  # noqa: N813

        f = a.filters
        cfg = {"quantitative_module_recurrent_layer": "IndRNN",
               "quantitative_module_conv_filters": [f, f, 4],
               "quantitative_module_conv_kernels": [5, 3, 3],
               "quantitative_module_conv_dilations": [1, 2, 1],
               "quantitative_module_conv_bias": [True, True, False],
               "quantitative_module_recurrent_filters": [f, f, 0],
               "quantitative_module_recurrent_kernels": [1, 1, 0],
               "quantitative_module_recurrent_dilations": [1, 1, 0],
               "quantitative_module_recurrent_bias": [True, True, False],
               "quantitative_module_depth": 2, "quantitative_module_time_steps": a.time_steps,
               "quantitative_module_conv_dim": 2,
               "quantitative_module_num_cascades": a.cascades,
               "quantitative_module_no_dc": True,
               "quantitative_module_keep_prediction": True,
               "quantitative_module_accumulate_predictions": True}
    else:
        from atommic.collections.quantitative.nn.qvarnet import qVarNet as cls  # noqa: N813

        cfg = {"quantitative_module_num_cascades": a.cascades,
               "quantitative_module_channels": a.chans,
               "quantitative_module_pooling_layers": a.pools,
               "quantitative_module_in_channels": 8, "quantitative_module_out_channels": 8,
               "quantitative_module_padding_size": 11, "quantitative_module_normalize": True,
               "quantitative_module_no_dc": False}
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    net = cls(OmegaConf.create({**common, **cfg}), trainer=trainer)
    st = torch.view_as_real
    y, sens = st(d["y"]).contiguous(), st(d["sensitivity_maps"]).contiguous()
    mask = d["mask"].view(1, 1, 1, -1, 1)
    initial = torch.zeros(*d["y"].shape[:2], *d["y"].shape[-2:], 2)
    anatomy = torch.ones(d["y"].shape[-2:])
    maps = [d["init"][:, k] for k in range(4)]

    def forward():
        out = net(*maps, d["TEs"], y, sens, initial, anatomy, mask, 1.0)
        final = [o[-1] if isinstance(o, list) else o for o in out[1:]]
        return torch.stack(final, dim=1)

    import atommic

    return net, forward, cfg, f"atommic-{atommic.__version__}"


def bench_model(a):
    import torch

    torch.set_num_threads(a.threads)
    d = make_qi_data(a.batch, a.coils, a.height, a.width, a.seed)
    base_rss = rec_bench.rss_now_gb()
    torch.manual_seed(a.seed)
    net, forward, cfg, toolkit = (_ours if a.toolkit == "ours" else _atommic)(a, d)
    torch.set_num_threads(a.threads)
    timing = rec_bench.measure(net, forward, d["target"], a)
    if not timing.pop("finite"):
        print("non-finite loss or output", file=sys.stderr)
        return 1
    res = {"toolkit": toolkit, "model": a.model,
           "shape": [a.batch, 4, a.coils, a.height, a.width], **timing,
           "base_rss_gb": round(base_rss, 3), "threads": torch.get_num_threads(),
           "dtype": "float32", "steps": a.steps, "warmup": a.warmup, "seed": a.seed,
           "sampled_columns": d["sampled_columns"], "config": cfg, "torch": torch.__version__}
    print(json.dumps(res), flush=True)
    return 0


def _round_ratios(results, cmd):
    """Per key, the (min, max) over rounds of ``cmd`` / ATOMMIC (cmd 0) within each round."""
    runs = {}
    for r in results:
        if "round" in r:
            runs.setdefault(r["round"], {})[r["cmd"]] = r
    spread = {}
    for key in ("step_s_median", "infer_s_median", "peak_rss_gb"):
        ratios = [run[cmd][key] / run[0][key] for run in runs.values() if cmd in run and 0 in run]
        spread[key] = (min(ratios), max(ratios))
    return spread


def _table(a, rows):
    lines = [f"Shape [1, 4 echoes, {a.coils} coils, {a.height}, {a.width}], {a.threads} "
             f"thread(s), float32, {a.rounds} alternating rounds, medians of per-run medians "
             f"({a.steps} timed steps after {a.warmup} warm-up per run).",
             "Ratios are ours / ATOMMIC (< 1: ours faster or smaller); in brackets the range of "
             "the per-round ratios (each round runs every command once, back to back).",
             "", "| model | params ATOMMIC | params ours | train step ATOMMIC (s) | ours (s) "
             "| ratio [range] | inference ATOMMIC (s) | ours (s) | ratio [range] "
             "| peak RSS ATOMMIC (GiB) | ours (GiB) | ratio [range] |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, b, o, spread in rows:
        cells = [f"{model}", f"{b['params']:,}", f"{o['params']:,}"]
        for key, fmt in (("step_s_median", ".4g"), ("infer_s_median", ".4g"),
                         ("peak_rss_gb", ".2f")):
            lo, hi = spread[key]
            cells += [f"{b[key]:{fmt}}", f"{o[key]:{fmt}}",
                      f"{o[key] / b[key]:.2f} [{lo:.2f}-{hi:.2f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def suite(a):
    """Per model, alternate ATOMMIC and each of our variants in one run; write a Markdown table.

    ``--models qcirim,qcirim+no-memory-efficient`` puts both of our qCIRIM variants in one
    alternation with ATOMMIC's (A B C, C B A, ...). The table and raw JSON are rewritten after
    every model, so an interrupted suite keeps what it finished.
    """
    venv = a.venv or rec_bench.baseline_venv()
    shape = (f"--coils {a.coils} --height {a.height} --width {a.width} --threads {a.threads} "
             f"--steps {a.steps} --warmup {a.warmup}")
    here = Path(__file__).resolve()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{a.coils}x{a.height}x{a.width}_t{a.threads}"
    groups: dict[str, list[str]] = {}
    for model in a.models.split(","):
        groups.setdefault(model.partition("+")[0], []).append(model)
    rows, raw = [], {}
    for name, variants in groups.items():
        cmds = [f"{venv}/bin/python {here} --toolkit atommic --model {name} {shape}"]
        for model in variants:
            flag = model.partition("+")[2]
            cmds.append(f"{sys.executable} {here} --toolkit ours --model {name} {shape}"
                        + (f" --{flag}" if flag else ""))
        quoted = " ".join(f"'{c}'" for c in cmds)
        results = rec_bench.json_lines(
            f"{sys.executable} {BASELINE / 'alternate.py'} --rounds {a.rounds} {quoted}")
        raw[name] = results
        summary = results[-1]["summary"]
        for i, model in enumerate(variants, start=1):
            rows.append((model, summary[0], summary[i], _round_ratios(results, i)))
        text = _table(a, rows)
        tmp = out / f".qi_bench_{tag}.tmp"
        tmp.write_text(text + "\n")
        tmp.replace(out / f"qi_bench_{tag}.md")
        tmp.write_text(json.dumps(raw, indent=1) + "\n")
        tmp.replace(out / f"qi_bench_{tag}.json")
        print(text, flush=True)
    return 0


def main(argv=None):
    a = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    if a.suite:
        return suite(a)
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # library chatter -> stderr; stdout = JSON lines only
    sys.stdout = json_out
    os.environ.setdefault("WANDB_MODE", "disabled")
    import warnings

    warnings.filterwarnings("ignore")
    return bench_model(a)


if __name__ == "__main__":
    sys.exit(main())
