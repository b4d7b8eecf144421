"""Parameter counts of the REC zoo: ours (shipped ``rec_<model>.yaml``) vs ATOMMIC 1.0.1.

Each model has one function returning ``(our config name, ATOMMIC class, ATOMMIC model cfg)``;
the ATOMMIC side is ATOMMIC's reference config (its ``projects/REC`` YAMLs) built in the
baseline venv (``shared/bench/atommic_baseline/setup.sh``) by this same script::

    python benchmarks/rec_zoo_params_b.py                       # every model, Markdown table
    python benchmarks/rec_zoo_params_b.py --models MoDL VSNet
    python benchmarks/rec_zoo_params_b.py --venv ~/.cache/atommic-baseline/venv

Prints one Markdown row per model: ours, ATOMMIC's, and whether they are equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

VENV = Path(os.environ.get("ATOMMIC_BASELINE_VENV",
                           Path.home() / ".cache" / "atommic-baseline" / "venv"))
COMMON = {"fft_centered": True, "fft_normalization": "ortho", "spatial_dims": [-2, -1],
          "coil_dim": 1, "use_sens_net": False, "estimate_coil_sensitivity_maps_with_nn": False,
          "coil_combination_method": "SENSE", "dimensionality": 2, "consecutive_slices": 1,
          "complex_valued_type": "stacked", "reconstruction_loss": {"l1": 1.0}}
NN = "atommic.collections.reconstruction.nn"


# -- one function per model (ATOMMIC's StanfordKnees2019 / CC359 reference configs) --------------
def modl():
    """MoDL: 5 unrolled iterations, 5 residual blocks, 64 channels, CG data consistency."""
    return "rec_modl", f"{NN}.modl:MoDL", {
        "unrolled_iterations": 5, "residual_blocks": 5, "channels": 64,
        "regularization_factor": 0.1, "penalization_weight": 1.0,
        "conjugate_gradient_dc": True, "conjugate_gradient_iterations": 10}


def vsnet():
    """VSNet: 10 cascades of a 4-convolution CNN with 64 channels."""
    return "rec_vsnet", f"{NN}.vsnet:VSNet", {
        "num_cascades": 10, "imspace_model_architecture": "CONV", "imspace_in_channels": 2,
        "imspace_out_channels": 2, "imspace_conv_hidden_channels": 64,
        "imspace_conv_n_convs": 4, "imspace_conv_batchnorm": False}


def proximal_gradient():
    """ProximalGradient: one learned penalty, 10 iterations."""
    return "rec_proximal_gradient", f"{NN}.proximal_gradient:ProximalGradient", {
        "conjugate_gradient_dc": True, "conjugate_gradient_iterations": 10,
        "penalization_weight": 0.05}


def dunet():
    """DUNet: 10 iterations of a DIDN (64 channels, 2 down-up blocks) and VS consistency."""
    return "rec_dunet", f"{NN}.dunet:DUNet", {
        "num_iter": 10, "reg_model_architecture": "DIDN", "didn_hidden_channels": 64,
        "didn_num_dubs": 2, "didn_num_convs_recon": 1, "data_consistency_term": "VS",
        "data_consistency_lambda_init": 0.1, "data_consistency_iterations": 10,
        "shared_params": False}


def recurrentvarnet():
    """RecurrentVarNet: 8 unshared steps of a 4-layer ConvGRU unit (64), learned initializer."""
    return "rec_recurrentvarnet", f"{NN}.recurrentvarnet:RecurrentVarNet", {
        "in_channels": 2, "recurrent_hidden_channels": 64, "recurrent_num_layers": 4,
        "num_steps": 8, "no_parameter_sharing": True, "learned_initializer": True,
        "initializer_initialization": "sense", "initializer_channels": [32, 32, 64, 64],
        "initializer_dilations": [1, 1, 2, 4], "initializer_multiscale": 1}


def jointicnet():
    """JointICNet: 2 iterations; k-space, image and sensitivity NormUnets of 16 channels."""
    unet = {"num_filters": 16, "num_pool_layers": 2, "dropout_probability": 0.0,
            "padding_size": 11, "normalize": True}
    cfg = {"num_iter": 2, "sens_unet_mask_center": True}
    for prefix in ("kspace_unet", "imspace_unet", "sens_unet"):
        cfg.update({f"{prefix}_{k}": v for k, v in unet.items()})
    return "rec_jointicnet", f"{NN}.jointicnet:JointICNet", cfg


MODELS = {"MoDL": modl, "VSNet": vsnet, "ProximalGradient": proximal_gradient, "DUNet": dunet,
          "RecurrentVarNet": recurrentvarnet, "JointICNet": jointicnet}


def count_atommic(name: str) -> int:
    """Build ATOMMIC's model (run inside the baseline venv) and count its parameters."""
    import importlib

    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    _, target, cfg = MODELS[name]()
    module, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    model = cls(OmegaConf.create({**COMMON, **cfg}), trainer=trainer)
    return sum(p.numel() for p in model.parameters())


def count_ours(name: str) -> int:
    """Build our model from its shipped reference config and count its parameters."""
    from omegaconf import OmegaConf

    from atommic_core.registry import models

    config, _, _ = MODELS[name]()
    path = Path(__file__).resolve().parents[1] / "atommic_rec" / "src" / "atommic_rec" / \
        "configs" / f"{config}.yaml"
    cfg = OmegaConf.load(path).model
    model = models[str(cfg.model_name)](cfg)
    return sum(p.numel() for p in model.parameters())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--venv", default=str(VENV), help="ATOMMIC baseline venv")
    p.add_argument("--atommic-side", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.atommic_side:
        os.environ.setdefault("WANDB_MODE", "disabled")
        out = os.fdopen(os.dup(1), "w")
        sys.stdout = sys.stderr  # ATOMMIC's import chatter stays off the JSON line
        out.write(json.dumps({m: count_atommic(m) for m in a.models}) + "\n")
        out.flush()
        return
    proc = subprocess.run([str(Path(a.venv) / "bin" / "python"), __file__, "--atommic-side",
                           "--models", *a.models], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"ATOMMIC side failed:\n{proc.stderr[-3000:]}")
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    print("Parameters at ATOMMIC's reference configs (ours: configs/rec_<model>.yaml; ATOMMIC "
          "1.0.1: the same sizes in its projects/REC configs); "
          "`python benchmarks/rec_zoo_params_b.py`\n")
    print("| model | ours | ATOMMIC 1.0.1 | equal |\n|---|---:|---:|---|")
    for m in a.models:
        ours = count_ours(m)
        print(f"| {m} | {ours:,} | {theirs[m]:,} | {'yes' if ours == theirs[m] else 'NO'} |")


if __name__ == "__main__":
    main()
