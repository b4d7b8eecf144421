"""Parameter counts of the REC zoo at ATOMMIC's reference configs: ours vs ATOMMIC 1.0.1.

    python benchmarks/rec_zoo_params.py                   # table on stdout
    python benchmarks/rec_zoo_params.py --out benchmarks/results/rec_zoo_params_h8zooA.md

Our side builds each model from its shipped ``rec_<model>.yaml`` (the reference size). The
ATOMMIC side runs this file again in the baseline venv (``--atommic``; see
shared/bench/atommic_baseline/README.md) and builds ATOMMIC's own model class with the model
settings of its published config (``projects/REC/<dataset>/conf/train/<model>.yaml``), one
function per model below. Given coil maps, SENSE, centred ortho FFT, as the baseline bench.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BASELINE = Path(os.environ.get("ATOMMIC_BASELINE_DIR", "/work/shared/bench/atommic_baseline"))
NN = "atommic.collections.reconstruction.nn"


def _unet(prefix: str, filters: int = 16, pools: int = 2) -> dict:
    return {f"{prefix}_model_architecture": "UNET", f"{prefix}_unet_num_filters": filters,
            f"{prefix}_unet_num_pool_layers": pools, f"{prefix}_unet_dropout_probability": 0.0,
            f"{prefix}_unet_padding_size": 11, f"{prefix}_unet_normalize": True}


# -- ATOMMIC side: (class path, model settings of the published config) ----------------------
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


# model name -> (our shipped reference config, ATOMMIC side)
MODELS = {
    "CascadeNet": ("rec_cascadenet", atommic_cascadenet),
    "CRNNet": ("rec_crnn", atommic_crnnet),
    "KIKINet": ("rec_kikinet", atommic_kikinet),
    "LPDNet": ("rec_lpdnet", atommic_lpdnet),
    "XPDNet": ("rec_xpdnet", atommic_xpdnet),
    "MultiDomainNet": ("rec_multidomainnet", atommic_multidomainnet),
}


def count_atommic(names: list[str]) -> dict[str, int]:
    """Build ATOMMIC's models (run inside the baseline venv) and count their parameters."""
    import importlib
    import warnings

    warnings.filterwarnings("ignore")
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    common = {"fft_centered": True, "fft_normalization": "ortho", "spatial_dims": [-2, -1],
              "coil_dim": 1, "use_sens_net": False, "coil_combination_method": "SENSE",
              "estimate_coil_sensitivity_maps_with_nn": False, "dimensionality": 2,
              "consecutive_slices": 1, "complex_valued_type": "stacked",
              "reconstruction_loss": {"l1": 1.0}}
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    counts = {}
    for name in names:
        path, cfg = MODELS[name][1]()
        module, cls = path.split(":")
        model = getattr(importlib.import_module(module), cls)(
            OmegaConf.create({**common, **cfg}), trainer=trainer)
        counts[name] = sum(p.numel() for p in model.parameters())
    return counts


def count_ours(names: list[str]) -> dict[str, int]:
    """Build our models from their shipped reference configs and count their parameters."""
    from omegaconf import OmegaConf

    import atommic_rec
    from atommic_core.registry import models

    configs = Path(atommic_rec.__file__).parent / "configs"
    counts = {}
    for name in names:
        cfg = OmegaConf.load(configs / f"{MODELS[name][0]}.yaml").model
        for split in ("train_ds", "validation_ds", "test_ds"):
            cfg.pop(split, None)
        model = models[cfg.model_name](cfg)
        counts[name] = sum(p.numel() for p in model.parameters())
    return counts


def _baseline_python(venv: str | None) -> str:
    if venv is None:
        setup = subprocess.run(["bash", str(BASELINE / "setup.sh")], capture_output=True,
                               text=True, check=True)
        venv = setup.stdout.strip().splitlines()[-1]
    return str(Path(venv) / "bin" / "python")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--atommic", action="store_true", help="(internal) count ATOMMIC's models")
    p.add_argument("--venv", default=None, help="ATOMMIC baseline venv (default: setup.sh)")
    p.add_argument("--out", default=None, help="also write the table (markdown) here")
    a = p.parse_args(argv)
    if a.atommic:
        print(json.dumps(count_atommic(a.models)))
        return 0
    run = subprocess.run([_baseline_python(a.venv), __file__, "--atommic", "--models",
                          *a.models], capture_output=True, text=True, check=True)
    theirs = json.loads(run.stdout.strip().splitlines()[-1])
    ours = count_ours(a.models)
    lines = ["| model | our config | params (ours) | params (ATOMMIC 1.0.1) | equal |",
             "| --- | --- | ---: | ---: | --- |"]
    lines += [f"| {n} | {MODELS[n][0]}.yaml | {ours[n]:,} | {theirs[n]:,} | "
              f"{'yes' if ours[n] == theirs[n] else 'NO'} |" for n in a.models]
    table = "\n".join(lines)
    print(table)
    if a.out:
        tmp = Path(f"{a.out}.tmp-{os.getpid()}")
        tmp.write_text(
            "# REC zoo parameter counts at ATOMMIC's reference configs\n\n"
            "All parameters (`sum(p.numel())`), given coil maps (no sensitivity network).\n"
            "Reproduce: `python benchmarks/rec_zoo_params.py`\n\n" + table + "\n")
        os.replace(tmp, a.out)
    return 0 if all(ours[n] == theirs[n] for n in a.models) else 1


if __name__ == "__main__":
    sys.exit(main())
