"""Shared fixtures of the QI tests: random maps and tiny multi-echo HDF5 files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from atommic_qi.physics import get_signal_model
from atommic_rec.physics import fft2

TES = (3.0, 11.5, 20.0, 28.5)


def random_maps(batch, h, w, seed=0, b0_max=40.0):
    """Brain-like gre maps [B, 4, H, W] float64 (R2* 1/s, S0 a.u., B0 Hz, phi rad)."""
    g = torch.Generator().manual_seed(seed)
    u = [torch.rand(batch, h, w, generator=g, dtype=torch.float64) for _ in range(4)]
    return torch.stack([5 + 40 * u[0], 0.3 + u[1], b0_max * (2 * u[2] - 1),
                        3.0 * (2 * u[3] - 1)], dim=1)


def smooth_coils(coils, h, w):
    """Smooth complex coil maps [C, H, W] with unit RSS (complex64)."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    maps = []
    for c in range(coils):
        ang = 2 * np.pi * c / coils
        mag = torch.exp(-((y - 1.5 * np.sin(ang)) ** 2 + (x - 1.5 * np.cos(ang)) ** 2) / 4)
        maps.append(mag * torch.exp(0.6j * (x * np.cos(ang) - y * np.sin(ang))))
    maps = torch.stack(maps).to(torch.complex64)
    return maps / maps.abs().square().sum(0).sqrt()


def disc(h, w):
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return ((y / 0.85) ** 2 + (x / 0.75) ** 2 < 1).float()


@pytest.fixture
def write_qi_volume():
    """Factory: write a tiny multi-echo file; returns the true maps [S, 4, H, W] (gre)."""

    def write(path, slices=2, coils=3, h=16, w=18, *, tes=TES, echo_axis=1, maps_key=True,
              targets="qmaps", anatomy=True, mask=None, attrs_tes=True, seed=0,
              single_coil=False):
        brain = disc(h, w)
        maps = random_maps(slices, h, w, seed=seed).float() * brain
        echoes = get_signal_model("gre").signal(maps, list(tes))
        sens = smooth_coils(coils, h, w)
        kspace = fft2(echoes[:, :, None] * sens)  # [S, E, C, H, W]
        with h5py.File(path, "w") as f:
            if single_coil:
                f["kspace"] = fft2(echoes).numpy()
            else:
                f["kspace"] = (kspace if echo_axis == 1 else kspace.movedim(1, 2)).numpy()
            if maps_key and not single_coil:
                f["sensitivity_map"] = sens.expand(slices, -1, -1, -1).numpy()
            if anatomy:
                f["anatomy_mask"] = brain.expand(slices, -1, -1).numpy()
            if targets == "qmaps":
                f["qmaps"] = maps.numpy()
            elif targets == "separate":
                for k, name in enumerate(("R2star", "S0", "B0", "phi")):
                    f[f"{name}_map_target"] = maps[:, k].numpy()
            if mask is not None:
                f["mask"] = mask
            if attrs_tes:
                f.attrs["TEs"] = np.asarray(tes)
        return maps

    return write


@pytest.fixture
def make_maps():
    """Factory ``(batch, h, w, seed=0, b0_max=40.0) -> gre maps [B, 4, H, W]`` float64."""
    return random_maps


@pytest.fixture
def make_coils():
    """Factory ``(coils, h, w) -> coil maps [C, H, W]`` complex64, unit RSS."""
    return smooth_coils
