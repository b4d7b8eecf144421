"""Shared fixtures of the MTL tests: tiny joint demo data and tiny model configs."""

from __future__ import annotations

import pytest

SIZE = 32
CLASS_NAMES = ["background", "csf", "grey_matter", "white_matter"]
MASK = {"type": "poisson2d", "accelerations": [4], "center_fractions": [0.08]}

# a few thousand parameters each: a training step takes well under a second
TINY = {
    "MTLRS": {"joint_cascades": 2, "time_steps": 2, "conv_filters": [4, 4, 2],
              "recurrent_filters": [4, 4, 0], "segmentation_channels": 4,
              "segmentation_pools": 2, "memory_efficient": False},
    "IDSLR": {"num_coils": 2, "channels": 4, "pooling_layers": 2, "num_iters": 2},
    "IDSLRUNet": {"num_coils": 2, "channels": 4, "pooling_layers": 2, "num_iters": 2,
                  "segmentation_channels": 4, "segmentation_pools": 2},
    "SegNet": {"num_coils": 2, "num_cascades": 2, "channels": 4, "pooling_layers": 2},
    "RecSegUNet": {"reconstruction_channels": 4, "reconstruction_pools": 2,
                   "segmentation_channels": 4, "segmentation_pools": 2},
    "SERANet": {"num_reconstruction_blocks": 1, "reconstruction_channels": 4,
                "reconstruction_pools": 2, "segmentation_channels": 4,
                "segmentation_pools": 2, "recurrent_iterations": 2, "recurrent_channels": 4},
}


@pytest.fixture(scope="session")
def mtl_data(tmp_path_factory):
    """Joint demo data: 2 coils, 32x32, volumes (2, 1, 1) of 3 slices (ICBM152 if installed)."""
    from atommic_mtl.data.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("mtl_demo")
    make_demo_data(root, coils=2, size=SIZE, volumes=(2, 1, 1), slices=3, seed=0)
    return root


@pytest.fixture
def tiny_config(mtl_data):
    """``tiny_config(name, **extra)``: a model section on the demo data (all four splits)."""

    def make(name: str, **extra) -> dict:
        split = {"batch_size": 2, "mask_args": MASK}
        return {"num_classes": 4, "class_names": CLASS_NAMES, "reconstruction_loss": {"l1": 1.0},
                "train_ds": {"data_path": str(mtl_data / "train"), "seed": 0, **split},
                "validation_ds": {"data_path": str(mtl_data / "val"), **split},
                "test_ds": {"data_path": str(mtl_data / "test"), **split},
                "predict_ds": {"data_path": str(mtl_data / "test"), **split},
                "optim": {"name": "adam", "lr": 0.003}, **TINY[name], **extra}

    return make
