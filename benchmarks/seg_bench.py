"""Train and inference time of the SEG models, per slice (2D) and per volume (3D).

Every model is built from its shipped config (``atommic_seg/configs/seg_*.yaml``) and timed on
random inputs of the demo data's size: slices ``[1, 64, 80]`` for 2D models, volumes
``[1, 64, 64, 80]`` (slices, H, W) for 3D models. "train" is forward + loss + backward +
Adam step; "infer" is a no-grad forward in eval mode. A 2D model's per-volume time is its
per-slice time times 64 slices.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/seg_bench.py                 # all models, CPU
    python benchmarks/seg_bench.py --models seg_unet seg_vnet --iters 5 --device cuda
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

import atommic_seg
from atommic_core.registry import models

CONFIGS = ["seg_unet", "seg_attention_unet", "seg_dynunet", "seg_lambda_unet", "seg_unet3d",
           "seg_vnet", "seg_unetr"]
SLICE = (64, 80)
VOLUME = (64, 64, 80)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, iters: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / iters


def bench(config: str, iters: int, warmup: int, batch_2d: int, device: torch.device) -> dict:
    folder = Path(atommic_seg.__file__).parent / "configs"
    cfg = OmegaConf.load(folder / f"{config}.yaml").model
    for key in ("train_ds", "validation_ds", "test_ds", "predict_ds"):
        cfg.pop(key, None)
    torch.manual_seed(0)
    model = models[cfg.model_name](cfg).to(device)
    dims = model.dimensionality
    batch = batch_2d if dims == 2 else 1
    spatial = SLICE if dims == 2 else VOLUME
    image = torch.randn(batch, model.in_channels, *spatial, device=device)
    target = torch.randint(0, model.num_classes, (batch, *spatial), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        model.compute_loss(model(image), target).backward()
        opt.step()

    def infer() -> None:
        with torch.no_grad():
            model(image)

    model.train()
    t_train = _time(train_step, iters, warmup, device) / batch
    model.eval()
    t_infer = _time(infer, iters, warmup, device) / batch
    per_volume = VOLUME[0] if dims == 2 else 1
    return {"config": config, "model": cfg.model_name, "dims": dims,
            "params": sum(p.numel() for p in model.parameters()),
            "unit": "slice" if dims == 2 else "volume", "train": t_train, "infer": t_infer,
            "train_volume": t_train * per_volume, "infer_volume": t_infer * per_volume}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=CONFIGS, help="config names")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-2d", type=int, default=8, help="slices per 2D batch")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()}, "
                 f"{torch.get_num_threads()} threads")
    print(f"# SEG benchmark: torch {torch.__version__}, {device.type} ({name}), "
          f"iters={args.iters}, 2D batch={args.batch_2d}, slice={SLICE}, volume={VOLUME}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| model | dims | params | train / unit (ms) | infer / unit (ms) "
          "| train / volume (s) | infer / volume (s) |")
    print("|---|---|---|---|---|---|---|")
    for config in args.models:
        r = bench(config, args.iters, args.warmup, args.batch_2d, device)
        print(f"| {r['model']} | {r['dims']}D | {r['params'] / 1e6:.2f} M "
              f"| {1e3 * r['train']:.1f} / {r['unit']} | {1e3 * r['infer']:.1f} / {r['unit']} "
              f"| {r['train_volume']:.2f} | {r['infer_volume']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
