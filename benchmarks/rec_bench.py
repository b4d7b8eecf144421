"""REC benchmark: our models vs ATOMMIC 1.0.1 on identical inputs, plus data throughput.

One measurement (one JSON line on stdout, the keys of the baseline's ``step_bench.py``)::

    python benchmarks/rec_bench.py --model varnet --coils 4 --height 128 --width 128 --threads 1
    python benchmarks/rec_bench.py --model data --coils 4 --height 128 --width 128   # items/s
    python benchmarks/rec_bench.py --model floor --threads 1                         # GFLOP/s

The whole comparison (both toolkits alternately via the baseline's ``alternate.py``; writes a
Markdown table and the raw JSON to --out)::

    python benchmarks/rec_bench.py --suite --coils 4 --height 128 --width 128 --threads 1

Fairness (see shared/bench/atommic_baseline/README.md): same ``make_data`` tensors, same
threads, float32 on the CPU, the same step (zero_grad, forward, L1 on stacked real/imag of the
final estimate, backward, Adam lr 1e-4), hyperparameters giving equal parameter counts.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASELINE = Path(os.environ.get("ATOMMIC_BASELINE_DIR", "/work/shared/bench/atommic_baseline"))
FLOOR = BASELINE.parent / "compute_floor.py"
DEFAULTS = {"varnet": {"cascades": 8, "chans": 18, "pools": 4},
            "cirim": {"cascades": 5, "time_steps": 8, "filters": 64},
            "unet": {"chans": 64, "pools": 4}, "zf": {}, "data": {}, "floor": {}}
MODELS = ("varnet", "varnet+compile", "cirim", "unet", "zf")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(DEFAULTS))
    p.add_argument("--suite", action="store_true", help="run both toolkits for every model")
    p.add_argument("--cascades", type=int)
    p.add_argument("--chans", type=int)
    p.add_argument("--pools", type=int)
    p.add_argument("--time-steps", type=int)
    p.add_argument("--filters", type=int)
    p.add_argument("--no-memory-efficient", action="store_true",
                   help="cirim: store every time step's activations (no recomputation)")
    p.add_argument("--recompute", default=None,
                   help="cirim: what to recompute (none, cascades, steps, cascades+steps)")
    p.add_argument("--compile", action="store_true", help="torch.compile the U-Nets")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--coils", type=int, default=8)
    p.add_argument("--height", type=int, default=320)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32"])
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--items", type=int, default=24, help="data: items to load")
    p.add_argument("--rounds", type=int, default=3, help="suite: alternation rounds")
    p.add_argument("--models", default=",".join(MODELS), help="suite: models to compare")
    p.add_argument("--venv", default=None, help="suite: ATOMMIC baseline venv (setup.sh)")
    p.add_argument("--out", default="benchmarks/results", help="suite: output folder")
    a = p.parse_args(argv)
    if not a.suite and a.model is None:
        p.error("give --model or --suite")
    for k, v in DEFAULTS.get(a.model or "zf", {}).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    return a


def rss_now_gb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def to_ours(d):
    """Baseline stacked-complex tensors -> our native complex64 batch dict."""
    import torch

    c = torch.view_as_complex
    return {"masked_kspace": c(d["y"]), "sensitivity_maps": c(d["sensitivity_maps"]),
            "mask": d["mask"][..., 0], "initial_image": c(d["initial_prediction"]),
            "target": c(d["target"])}


def build_model(a):
    from atommic_rec.models import CIRIM, UNet, VarNet, ZeroFilled

    fft = {"fft_centered": True, "fft_normalization": "ortho", "spatial_dims": [-2, -1],
           "reconstruction_loss": {"l1": 1.0}, "compile": a.compile}
    if a.model == "varnet":
        cfg = {"num_cascades": a.cascades, "channels": a.chans, "pooling_layers": a.pools,
               "no_dc": False, "use_sens_net": False}
        cls = VarNet
    elif a.model == "cirim":
        f = a.filters
        cfg = {"recurrent_layer": "IndRNN", "conv_filters": [f, f, 2], "conv_kernels": [5, 3, 3],
               "conv_dilations": [1, 2, 1], "conv_bias": [True, True, False],
               "recurrent_filters": [f, f, 0], "recurrent_kernels": [1, 1, 0],
               "recurrent_dilations": [1, 1, 0], "recurrent_bias": [True, True, False],
               "time_steps": a.time_steps, "num_cascades": a.cascades,
               "memory_efficient": not a.no_memory_efficient}
        if a.recompute:
            cfg["recompute"] = a.recompute
        cls = CIRIM
    elif a.model == "unet":
        cfg = {"channels": a.chans, "pooling_layers": a.pools, "dropout": 0.0, "normalize": True}
        cls = UNet
    else:
        cfg, cls = {"coil_combination_method": "SENSE"}, ZeroFilled
    return cls({**fft, **cfg}), cfg


def baseline_data(a) -> dict:
    """The baseline's seeded ``make_data`` tensors (ATOMMIC layout), identical on both sides."""
    if str(BASELINE) not in sys.path:
        sys.path.insert(0, str(BASELINE))
    from step_bench import make_data

    return make_data(a.batch, a.coils, a.height, a.width, a.seed, a.dtype)


def measure(model, estimate, target, a, loss_of=None) -> dict:
    """Time the fair training step and inference of ``model`` (the rules in the module doc).

    One code path for every toolkit and model, so that only the models differ: step =
    zero_grad, forward, L1 on stacked real/imag of the final estimate, backward, Adam step;
    inference = eval + no_grad forward; ``a.warmup`` untimed then ``a.steps`` timed each.

    Args:
        model: The module to time (its trainable parameters are optimised).
        estimate: Runs one forward and returns the final estimate as stacked real/imag, in
            the layout of ``target``.
        target: Target image, stacked real/imag [B, H, W, 2].
        a: Options with ``warmup``, ``steps``, ``lr``.
        loss_of: The training loss of ``estimate()``'s output (default: L1 against
            ``target``); QI and MTL benchmarks pass theirs (several outputs, a tuple).

    Returns:
        Timing medians/mins (s), ``peak_rss_gb``, ``params``, first/last loss and ``finite``
        (whether every loss and the last inference output were finite).
    """
    import numpy as np
    import torch

    params = sum(p.numel() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=a.lr) if trainable else None

    def step():
        t0 = time.perf_counter()
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        loss = loss_of(estimate()) if loss_of else (estimate() - target).abs().mean()
        if opt is not None:
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, float(loss)

    model.train()
    step_t, losses = [], []
    for i in range(a.warmup + a.steps):
        s, loss = step()
        losses.append(loss)
        if i >= a.warmup:
            step_t.append(s)
    model.eval()
    infer_t = []
    with torch.no_grad():
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            out = estimate()
            if i >= a.warmup:
                infer_t.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"params": params,
            "step_s_median": round(statistics.median(step_t), 4),
            "step_s_min": round(min(step_t), 4),
            "infer_s_median": round(statistics.median(infer_t), 4),
            "infer_s_min": round(min(infer_t), 4), "peak_rss_gb": round(peak, 3),
            "loss_first": round(losses[0], 6), "loss_last": round(losses[-1], 6),
            "finite": bool(np.isfinite(losses).all() and all(
                torch.isfinite(t).all() for t in (out if isinstance(out, tuple) else (out,))))}


def record(a, toolkit: str, model: str, data: dict, base_rss: float, timing: dict,
           **extra) -> dict:
    """One result line with the keys of the baseline's ``step_bench.py`` (for alternate.py)."""
    import torch

    return {"toolkit": toolkit, "model": model, "params": timing["params"],
            "shape": [a.batch, a.coils, a.height, a.width],
            **{k: v for k, v in timing.items() if k not in ("params", "finite")},
            "base_rss_gb": round(base_rss, 3), "threads": torch.get_num_threads(),
            "dtype": a.dtype, "steps": a.steps, "warmup": a.warmup, "seed": a.seed,
            "sampled_columns": data["sampled_columns"], "torch": torch.__version__, **extra}


def bench_model(a):
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = baseline_data(a)
    batch = to_ours(d)
    target = torch.view_as_real(batch.pop("target"))
    base_rss = rss_now_gb()
    torch.manual_seed(a.seed)
    model, cfg = build_model(a)
    torch.set_num_threads(a.threads)

    def estimate():
        return torch.view_as_real(model.reconstruct(batch)[-1])

    timing = measure(model, estimate, target, a)
    flops = None
    if timing["params"]:
        from torch.utils.flop_counter import FlopCounterMode

        model.train()
        with FlopCounterMode(display=False) as counter:
            (estimate() - target).abs().mean().backward()
        flops = float(counter.get_total_flops())
    if not timing["finite"]:
        print("non-finite loss or output", file=sys.stderr)
        return 1
    from atommic_rec import __version__

    res = record(a, f"atommic-rec-{__version__}", a.model, d, base_rss, timing, config=cfg,
                 step_gflop=round(flops / 1e9, 3) if flops else None)
    print(json.dumps(res), flush=True)
    return 0


def bench_data(a):
    """Items/s through the full default transform chain (mask, maps, target, normalise)."""
    import tempfile

    import torch

    from atommic_rec.data import build_rec_dataset
    from atommic_rec.data.demo_data import make_demo_data

    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        slices = max(2, a.items // 2)
        make_demo_data(tmp, coils=a.coils, size=a.height, volumes=(2, 0, 0), slices=slices,
                       seed=a.seed, source="phantom")
        cfg = {"data_path": f"{tmp}/train", "seed": a.seed, "normalize": "max",
               "mask_args": {"type": "random1d", "accelerations": [4],
                             "center_fractions": [0.08]}}
        for sens in ("file", "lowres"):
            cfg["estimate_coil_sensitivities"] = sens == "lowres"
            ds = build_rec_dataset(cfg, "train")
            ds[0]
            n = min(a.items, len(ds))
            t0 = time.perf_counter()
            for i in range(n):
                ds[i]
            rate = n / (time.perf_counter() - t0)
            print(json.dumps({"toolkit": "atommic-rec", "model": "data", "maps": sens,
                              "shape": [1, a.coils, a.height, a.width], "items": n,
                              "items_per_s": round(rate, 2), "threads": a.threads}), flush=True)
    return 0


def bench_floor(a):
    import torch

    sys.path.insert(0, str(FLOOR.parent))
    from compute_floor import sustained_gflops

    torch.set_num_threads(a.threads)
    rates = sustained_gflops()
    print(json.dumps({"model": "floor", "threads": a.threads,
                      **{f"{k}_gflops": round(v, 2) for k, v in rates.items()}}), flush=True)
    return 0


def json_lines(cmd: str) -> list[dict]:
    """Run a shell command; its JSON stdout lines (exit with its stderr tail if it failed)."""
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        raise SystemExit(f"failed ({p.returncode}): {cmd}\n{p.stderr[-2000:]}")
    return [json.loads(ln) for ln in lines]


def shape_flags(a) -> str:
    """The command-line flags that fix one measurement's shape, threads and step counts."""
    return (f"--coils {a.coils} --height {a.height} --width {a.width} --threads {a.threads} "
            f"--steps {a.steps} --warmup {a.warmup}")


def alternate(atommic_cmd: str, ours_cmd: str, rounds: int) -> list[dict]:
    """Both commands in alternating order (A B, B A, ...) via the baseline's alternate.py.

    Returns every run (with ``round`` and ``cmd``: 0 = ATOMMIC, 1 = ours), then the summary.
    """
    return json_lines(f"{sys.executable} {BASELINE / 'alternate.py'} --rounds {rounds} "
                      f"'{atommic_cmd}' '{ours_cmd}'")


def compare(b: dict, o: dict) -> dict:
    """Ours vs ATOMMIC from two summaries (medians of per-run medians): values and ratios."""
    return {"params_atommic": b["params"], "params_ours": o["params"],
            "step_atommic": b["step_s_median"], "step_ours": o["step_s_median"],
            "step_ratio": o["step_s_median"] / b["step_s_median"],
            "infer_atommic": b["infer_s_median"], "infer_ours": o["infer_s_median"],
            "infer_ratio": o["infer_s_median"] / b["infer_s_median"],
            "rss_atommic": b["peak_rss_gb"], "rss_ours": o["peak_rss_gb"],
            "rss_ratio": o["peak_rss_gb"] / b["peak_rss_gb"]}


def suite(a):
    """Alternate ATOMMIC and ours for each model, then write a Markdown table."""
    venv = a.venv or baseline_venv()
    shape = shape_flags(a)
    me = f"{sys.executable} {Path(__file__).resolve()}"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{a.coils}x{a.height}x{a.width}_t{a.threads}"
    floor = json_lines(f"{me} --model floor --threads {a.threads}")[0]
    rate = max(floor["conv3x3_gflops"], floor["matmul_gflops"]) * 1e9
    data = json_lines(f"{me} --model data {shape}")
    rows, checks, raw = [], [], {"floor": floor, "data": data, "models": {}}
    gflops = {}
    for model in a.models.split(","):
        name, _, flag = model.partition("+")
        base_cmd = f"{venv}/bin/python {BASELINE / 'step_bench.py'} --model {name} {shape}"
        ours_cmd = f"{me} --model {name} {shape}" + (f" --{flag}" if flag else "")
        results = alternate(base_cmd, ours_cmd, a.rounds)
        summary = results[-1]["summary"]
        runs = [r for r in results if "round" in r]
        raw["models"][model] = results
        b, o = summary[0], summary[1]
        ours_runs = [r for r in runs if r["cmd"] == 1]
        base_runs = [r for r in runs if r["cmd"] == 0]
        if model == "zf":  # no weights: identical inputs must give the identical loss
            checks.append(f"Identical-input check (zero-filled L1 loss): ATOMMIC "
                          f"{base_runs[0]['loss_first']} vs ours {ours_runs[0]['loss_first']}")
        # the FLOP counter sees through eager code only: a compiled run reuses the eager count
        gflop = gflops.setdefault(name, ours_runs[0].get("step_gflop"))
        rows.append({"model": model, **compare(b, o),
                     "floor_s": gflop * 1e9 / rate if gflop else None})
    lines = [f"Shape [1, {a.coils}, {a.height}, {a.width}], {a.threads} thread(s), float32, "
             f"{a.rounds} alternating rounds, medians of per-run medians.",
             f"Compute floor rate: {rate / 1e9:.1f} GFLOP/s (max of conv3x3/matmul).", "",
             "| model | params ATOMMIC | params ours | train step ATOMMIC (s) | ours (s) | ratio "
             "| x floor (ATOMMIC / ours) | inference ATOMMIC (s) | ours (s) | ratio "
             "| peak RSS ATOMMIC (GiB) | ours (GiB) | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fl = (f"{r['step_atommic'] / r['floor_s']:.1f} / {r['step_ours'] / r['floor_s']:.1f}"
              if r["floor_s"] else "-")
        lines.append(
            f"| {r['model']} | {r['params_atommic']:,} | {r['params_ours']:,} "
            f"| {r['step_atommic']:.4g} | {r['step_ours']:.4g} | {r['step_ratio']:.2f} | {fl} "
            f"| {r['infer_atommic']:.4g} | {r['infer_ours']:.4g} | {r['infer_ratio']:.2f} "
            f"| {r['rss_atommic']:.2f} | {r['rss_ours']:.2f} | {r['rss_ratio']:.2f} |")
    lines += ["", *checks]
    for d in data:
        lines.append(f"Dataset items/s (full transform chain, maps from {d['maps']}): "
                     f"{d['items_per_s']}")
    text = "\n".join(lines)
    (out / f"rec_bench_{tag}.md").write_text(text + "\n")
    (out / f"rec_bench_{tag}.json").write_text(json.dumps(raw, indent=1) + "\n")
    print(text)
    return 0


def baseline_venv() -> str:
    """The ATOMMIC baseline venv (created by the baseline's setup.sh on first use)."""
    p = subprocess.run(["bash", str(BASELINE / "setup.sh")], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"baseline setup failed:\n{p.stderr[-2000:]}")
    return p.stdout.strip().splitlines()[-1]


def main(argv=None):
    a = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    if a.suite:
        return suite(a)
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # library chatter -> stderr; stdout = JSON lines only
    sys.stdout = json_out
    import warnings

    warnings.filterwarnings("ignore")
    return {"data": bench_data, "floor": bench_floor}.get(a.model, bench_model)(a)


if __name__ == "__main__":
    sys.exit(main())
