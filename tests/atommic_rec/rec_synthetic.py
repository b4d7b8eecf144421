"""Tiny synthetic multi-coil data with known sensitivity maps (shared by rec tests)."""

from __future__ import annotations

import math

import torch

from atommic_rec.physics import fft2


def smooth_maps(coils: int, h: int, w: int) -> torch.Tensor:
    """Smooth complex maps [C, H, W] with unit RSS over coils everywhere."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    maps = []
    for c in range(coils):
        ang = 2 * math.pi * c / coils
        cy, cx = 1.5 * math.sin(ang), 1.5 * math.cos(ang)
        mag = torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 4.0)
        phase = 0.6 * (x * math.cos(ang) - y * math.sin(ang))
        maps.append(mag * torch.exp(1j * phase))
    maps = torch.stack(maps).to(torch.complex64)
    return maps / maps.abs().square().sum(0).sqrt()


def disc_image(h: int, w: int) -> torch.Tensor:
    """Complex64 [H, W] object: smooth-edged ellipse with a smooth phase."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    mag = torch.sigmoid(20 * (0.7 - torch.sqrt((y / 0.9) ** 2 + (x / 0.75) ** 2)))
    mag = mag * (1 + 0.3 * torch.cos(3 * x))
    return (mag * torch.exp(0.5j * y)).to(torch.complex64)


def multicoil_kspace(coils: int = 4, h: int = 32, w: int = 32):
    """(kspace [C, H, W], maps [C, H, W], image [H, W]); centered ortho FFT."""
    maps, image = smooth_maps(coils, h, w), disc_image(h, w)
    return fft2(maps * image), maps, image


def write_volume(path, slices=3, coils=4, h=24, w=20, *, maps=True, target="reconstruction_sense",
                 mask=None, single_coil=False, attrs=None):
    """Write a tiny fastMRI-layout file; returns (kspace [S, C, H, W], maps) as tensors."""
    import h5py

    from atommic_rec.physics import ifft2, sense_reduce

    smaps = smooth_maps(coils, h, w)
    images = torch.stack([disc_image(h, w) * (1 + 0.1 * s) for s in range(slices)])
    kspace = fft2(smaps * images[:, None])
    with h5py.File(path, "w") as f:
        if single_coil:
            f["kspace"] = fft2(images).numpy()
        else:
            f["kspace"] = kspace.numpy()
        if maps and not single_coil:
            f["sensitivity_map"] = smaps.expand(slices, -1, -1, -1).numpy()
        if target:
            f[target] = sense_reduce(ifft2(kspace), smaps).abs().numpy()
        if mask is not None:
            f["mask"] = mask
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return kspace, smaps
