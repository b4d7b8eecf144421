"""Small models and data for tests of the core and of plugins (no MRI needed)."""

from __future__ import annotations

import os
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from atommic_core.model.modelpt import ModelPT

__all__ = ["ArtifactModel", "BoringModel", "NestedBoringModel", "random_regression_dataset"]


def random_regression_dataset(num_samples: int, in_features: int, seed: int = 0) -> Dataset:
    """A seeded linear-regression dataset ``y = x @ w + noise`` (global RNG untouched)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_samples, in_features, generator=gen)
    w = torch.randn(in_features, 1, generator=gen)
    y = x @ w + 0.01 * torch.randn(num_samples, 1, generator=gen)
    return TensorDataset(x, y)


class BoringModel(ModelPT):
    """A two-layer regressor: the smallest complete ``ModelPT``.

    Config keys: ``in_features`` (4), ``hidden`` (8), ``out_features`` (1); data sections
    take ``num_samples``,
    ``batch_size`` and ``seed``.
    """

    def __init__(self, cfg: DictConfig | dict, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        in_features = int(self.cfg.get("in_features", 4))
        hidden = int(self.cfg.get("hidden", 8))
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, int(self.cfg.get("out_features", 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict ``y`` from ``x`` of shape [batch, in_features]."""
        return self.head(self.encoder(x))

    def build_dataset(self, cfg: DictConfig, split: str) -> Dataset:
        """Seeded random regression data; ``num_samples`` items."""
        seed = {"train": 0, "validation": 1, "test": 2, "predict": 3}[split]
        return random_regression_dataset(int(cfg.get("num_samples", 64)),
                                         int(self.cfg.get("in_features", 4)),
                                         seed=int(cfg.get("data_seed", seed)))

    def _loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """MSE loss, logged as ``train_loss``."""
        loss = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Logs ``val_loss``."""
        self.log("val_loss", self._loss(batch), sync_dist=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Logs ``test_loss``."""
        self.log("test_loss", self._loss(batch), sync_dist=True)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """The predictions for a batch."""
        return self(batch[0])

    def write_predictions(self, outputs: list[Any], output_dir: str) -> list[str]:
        """Save all predictions as one ``predictions.pt`` tensor file."""
        path = os.path.join(output_dir, "predictions.pt")
        torch.save(torch.cat([o.detach().cpu() for o in outputs]), path)
        return [path]


class ArtifactModel(BoringModel):
    """A :class:`BoringModel` with artifacts: ``table_path`` (required), ``notes_path`` (optional).

    ``self.table`` holds the required file's bytes, so tests can see which file was used.
    """

    def __init__(self, cfg: DictConfig | dict, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        self.table_file = self.register_artifact("table_path", self.cfg.get("table_path"))
        self.notes_file = self.register_artifact("notes_path", self.cfg.get("notes_path"),
                                                 verify_src_exists=False)
        with open(self.table_file, "rb") as f:
            self.table = f.read()


class NestedBoringModel(ModelPT):
    """A parent model around one child ``ModelPT`` (the nested-model pattern).

    The child comes from ``child_model`` (a subconfig with ``target``), else from
    ``child_model_path`` (a ``.atommic`` file), else from ``child_model_name`` (a pretrained
    name); it is registered under ``child_model`` so the parent's archive rebuilds it from
    the subconfig. ``forward`` adds a trainable scale on top of the child's output.
    """

    def __init__(self, cfg: DictConfig | dict, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        if self.cfg.get("child_model") is not None:
            child = ModelPT.from_config_dict(self.cfg.child_model)
        elif self.cfg.get("child_model_path"):
            child = ModelPT.restore_from(self.cfg.child_model_path)
        elif self.cfg.get("child_model_name"):
            child = ModelPT.from_pretrained(self.cfg.child_model_name)
        else:
            raise ValueError("NestedBoringModel needs child_model, child_model_path or "
                             "child_model_name in its config")
        self.register_atommic_submodule("child", "child_model", child)
        self.scale = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``scale(child(x))`` for ``x`` of shape [batch, in_features]."""
        return self.scale(self.child(x))

    # trains on the same regression data as BoringModel
    build_dataset = BoringModel.build_dataset
    _loss = BoringModel._loss
    training_step = BoringModel.training_step
