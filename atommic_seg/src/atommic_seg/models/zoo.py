"""The seven segmentation models: thin :class:`SegmentationModel` subclasses.

Each only maps its config keys to a network from :mod:`atommic_seg.nets`; defaults are small
enough for a CPU. Registered names (``model.model_name``) are listed in :data:`MODELS`.
"""

from __future__ import annotations

from omegaconf import DictConfig
from torch import nn

from atommic_seg.models.base import SegmentationModel
from atommic_seg.nets import UNETRND, DynUNetND, UNetND, VNetND

__all__ = [
    "MODELS",
    "SegmentationAttentionUNet",
    "SegmentationDynUNet",
    "SegmentationLambdaUNet",
    "SegmentationUNETR",
    "SegmentationUNet",
    "SegmentationUNet3D",
    "SegmentationVNet",
]


def _unet_kwargs(cfg: DictConfig) -> dict:
    return {"channels": int(cfg.get("channels", 32)),
            "num_pool_layers": int(cfg.get("num_pool_layers", 4)),
            "dropout": float(cfg.get("dropout", 0.0)),
            "norm": str(cfg.get("norm", "instance")),
            "activation": str(cfg.get("activation", "leaky_relu")),
            "deep_supervision_heads": int(cfg.get("deep_supervision_heads", 0))}


class SegmentationUNet(SegmentationModel):
    """2D U-Net (Ronneberger, Fischer and Brox 2015, MICCAI, arXiv:1505.04597) on slices.

    Config: ``channels`` (32), ``num_pool_layers`` (4), ``dropout`` (0), ``norm``
    (instance), ``activation`` (leaky_relu), ``deep_supervision_heads`` (0). Input
    ``[B, C_in, H, W]``.
    """

    fixed_dimensionality = 2

    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """See :class:`atommic_seg.nets.UNetND`."""
        return UNetND(dims, in_channels, out_channels, **_unet_kwargs(cfg))


class SegmentationUNet3D(SegmentationModel):
    """3D U-Net (Çiçek et al. 2016, MICCAI, arXiv:1606.06650) on volumes.

    Config as :class:`SegmentationUNet`. Input ``[B, C_in, S, H, W]``.
    """

    fixed_dimensionality = 3

    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """See :class:`atommic_seg.nets.UNetND`."""
        return UNetND(dims, in_channels, out_channels, **_unet_kwargs(cfg))


class SegmentationAttentionUNet(SegmentationModel):
    """Attention U-Net (Oktay et al. 2018, MIDL, arXiv:1804.03999), 2D or 3D.

    Additive attention gates on every skip connection. Config as :class:`SegmentationUNet`
    plus ``dimensionality`` (2).
    """

    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """See :class:`atommic_seg.nets.UNetND` with ``attention=True``."""
        return UNetND(dims, in_channels, out_channels, attention=True, **_unet_kwargs(cfg))


class SegmentationLambdaUNet(SegmentationModel):
    """Lambda U-Net, 2D or 3D: lambda layers in the deepest U-Net levels.

    Lambda layers: Bello 2021, "LambdaNetworks", ICLR, arXiv:2102.08602.

    Config as :class:`SegmentationUNet` plus ``lambda_levels`` (2), ``lambda_heads`` (4),
    ``lambda_query_depth`` (16), ``lambda_receptive_field`` (5).
    """

    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """See :class:`atommic_seg.nets.UNetND` with ``lambda_levels``."""
        return UNetND(dims, in_channels, out_channels,
                      lambda_levels=int(cfg.get("lambda_levels", 2)),
                      lambda_heads=int(cfg.get("lambda_heads", 4)),
                      lambda_query_depth=int(cfg.get("lambda_query_depth", 16)),
                      lambda_receptive_field=int(cfg.get("lambda_receptive_field", 5)),
                      **_unet_kwargs(cfg))


class SegmentationDynUNet(SegmentationModel):
    """Dynamic U-Net in the nnU-Net style (Isensee et al. 2021, Nature Methods 18:203), 2D/3D.

    Config: ``kernel_sizes`` ([3, 3, 3, 3]), ``strides`` ([1, 2, 2, 2]; per level, int or
    per axis), ``filters`` (32 * 2**level, max 320), ``residual`` (false),
    ``deep_supervision_heads`` (0), ``norm``, ``activation``.
    """

    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """See :class:`atommic_seg.nets.DynUNetND`."""
        def as_list(key: str, default: list) -> list:
            value = cfg.get(key)
            return [v if isinstance(v, int) else list(v) for v in value] if value else default

        filters = cfg.get("filters")
        return DynUNetND(dims, in_channels, out_channels,
                         kernel_sizes=as_list("kernel_sizes", [3, 3, 3, 3]),
                         strides=as_list("strides", [1, 2, 2, 2]),
                         filters=list(filters) if filters else None,
                         residual=bool(cfg.get("residual", False)),
                         deep_supervision_heads=int(cfg.get("deep_supervision_heads", 0)),
                         norm=str(cfg.get("norm", "instance")),
                         activation=str(cfg.get("activation", "leaky_relu")))


class SegmentationVNet(SegmentationModel):
    """V-Net (Milletari, Navab and Ahmadi 2016, 3DV, arXiv:1606.04797), 3D by default.

    Config: ``dimensionality`` (3), ``channels`` (16), ``num_levels`` (4), ``kernel_size``
    (5), ``norm`` (batch).
    """

    default_dimensionality = 3

    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """See :class:`atommic_seg.nets.VNetND`."""
        return VNetND(dims, in_channels, out_channels, channels=int(cfg.get("channels", 16)),
                      num_levels=int(cfg.get("num_levels", 4)),
                      kernel_size=int(cfg.get("kernel_size", 5)),
                      norm=str(cfg.get("norm", "batch")))


class SegmentationUNETR(SegmentationModel):
    """UNETR (Hatamizadeh et al. 2022, WACV, arXiv:2103.10504), 3D by default.

    Config: ``img_size`` (required, one entry per spatial axis), ``dimensionality`` (3),
    ``patch_size`` (16), ``feature_size`` (16), ``hidden_size`` (768), ``num_layers`` (12),
    ``num_heads`` (12), ``norm`` (instance).
    """

    default_dimensionality = 3

    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """See :class:`atommic_seg.nets.UNETRND`."""
        from atommic_core.errors import ConfigError

        img_size = cfg.get("img_size")
        if img_size is None:
            raise ConfigError(f"SegmentationUNETR needs model.img_size ({dims} sizes, "
                              "multiples of patch_size), e.g. [64, 64, 64]")
        return UNETRND(dims, in_channels, out_channels, list(img_size),
                       patch_size=int(cfg.get("patch_size", 16)),
                       feature_size=int(cfg.get("feature_size", 16)),
                       hidden_size=int(cfg.get("hidden_size", 768)),
                       num_layers=int(cfg.get("num_layers", 12)),
                       num_heads=int(cfg.get("num_heads", 12)),
                       norm=str(cfg.get("norm", "instance")))


MODELS: dict[str, type[SegmentationModel]] = {
    "SegmentationUNet": SegmentationUNet,
    "SegmentationUNet3D": SegmentationUNet3D,
    "SegmentationAttentionUNet": SegmentationAttentionUNet,
    "SegmentationDynUNet": SegmentationDynUNet,
    "SegmentationVNet": SegmentationVNet,
    "SegmentationUNETR": SegmentationUNETR,
    "SegmentationLambdaUNet": SegmentationLambdaUNet,
}
