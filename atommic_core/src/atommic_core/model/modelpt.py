"""``ModelPT``: the Lightning module every atommic model derives from.

Life cycle (pseudocode)::

    cfg = compose(yaml, overrides)                  # trainer / exp_manager / model
    model = Registry["VarNet"](cfg.model, trainer)  # __init__ builds only the networks
    trainer.fit(model)                              # setup() builds data loaders lazily
    model.save_to("varnet.atommic")                 # config + weights + artifacts + manifest
    VarNet.restore_from("varnet.atommic")           # no data loaders, no code from the archive

A subclass builds its networks in ``__init__`` and implements :meth:`build_dataset` (and the
usual ``training_step``/``validation_step``). Data loaders, optimizers and schedulers come from
the ``train_ds``/``validation_ds``/``test_ds``/``predict_ds`` and ``optim`` config keys.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from atommic_core.errors import ConfigError

__all__ = ["ModelPT"]

_SPLIT_KEYS = {"train": "train_ds", "validation": "validation_ds", "test": "test_ds",
               "predict": "predict_ds"}
_LOADER_KEYS = ("batch_size", "num_workers", "pin_memory", "drop_last", "persistent_workers")


def _to_dictconfig(cfg: Any) -> DictConfig:
    if isinstance(cfg, DictConfig):
        return cfg
    if isinstance(cfg, dict):
        return OmegaConf.create(cfg)
    raise ConfigError(f"model config must be a dict or DictConfig, got {type(cfg).__name__}")


class ModelPT(pl.LightningModule):
    """Base class of every atommic model.

    Args:
        cfg: The ``model`` section of the experiment config.
        trainer: The Lightning trainer, if the model is built for training.

    Example:
        >>> from atommic_core.testing import BoringModel
        >>> model = BoringModel({"hidden": 4})
        >>> model.cfg.hidden
        4
    """

    def __init__(self, cfg: DictConfig | dict, trainer: pl.Trainer | None = None) -> None:
        super().__init__()
        self._cfg = _to_dictconfig(cfg)
        self._loaders: dict[str, DataLoader | None] = dict.fromkeys(_SPLIT_KEYS)
        self._optim_config: DictConfig | None = None
        self._external_trainer = trainer
        self.output_dir: str | None = None  # set by the CLI for test metrics / predictions

    # -- config --------------------------------------------------------------------------
    @property
    def cfg(self) -> DictConfig:
        """The model's config (the ``model`` section), kept in sync with the archive."""
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: DictConfig | dict) -> None:
        self._cfg = _to_dictconfig(cfg)

    # -- data ----------------------------------------------------------------------------
    def build_dataset(self, cfg: DictConfig, split: str) -> Dataset:
        """Build the dataset of one split from its config section (subclasses implement).

        Args:
            cfg: The ``train_ds``/``validation_ds``/``test_ds``/``predict_ds`` section.
            split: ``"train"``, ``"validation"``, ``"test"`` or ``"predict"``.

        Returns:
            A ``torch.utils.data.Dataset``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no build_dataset(); it cannot load a {split} dataset"
        )

    def collate_fn(self, split: str) -> Any:
        """The collate function for a split's loader (``None`` = torch's default)."""
        return None

    def build_dataloader(self, cfg: DictConfig | dict, split: str) -> DataLoader:
        """Wrap :meth:`build_dataset` in a ``DataLoader`` configured from the same section.

        Args:
            cfg: Split config; loader keys are ``batch_size``, ``num_workers``, ``shuffle``
                (default: True for train only), ``pin_memory``, ``drop_last``,
                ``persistent_workers``.
            split: The split name.

        Returns:
            The data loader.
        """
        cfg = _to_dictconfig(cfg)
        dataset = self.build_dataset(cfg, split)
        kwargs = {k: cfg[k] for k in _LOADER_KEYS if cfg.get(k) is not None}
        if kwargs.get("persistent_workers") and not kwargs.get("num_workers"):
            kwargs.pop("persistent_workers")
        shuffle = bool(cfg.get("shuffle", split == "train"))
        generator = None
        if cfg.get("seed") is not None:
            generator = torch.Generator().manual_seed(int(cfg.seed))
        return DataLoader(dataset, shuffle=shuffle, collate_fn=self.collate_fn(split),
                          generator=generator, **kwargs)

    def setup_training_data(self, train_data_config: DictConfig | dict) -> None:
        """Build the training loader from ``train_ds``."""
        self._loaders["train"] = self.build_dataloader(train_data_config, "train")

    def setup_validation_data(self, val_data_config: DictConfig | dict) -> None:
        """Build the validation loader from ``validation_ds``."""
        self._loaders["validation"] = self.build_dataloader(val_data_config, "validation")

    def setup_test_data(self, test_data_config: DictConfig | dict) -> None:
        """Build the test loader from ``test_ds``."""
        self._loaders["test"] = self.build_dataloader(test_data_config, "test")

    def setup_predict_data(self, predict_data_config: DictConfig | dict) -> None:
        """Build the prediction loader from ``predict_ds``."""
        self._loaders["predict"] = self.build_dataloader(predict_data_config, "predict")

    def _loader(self, split: str) -> DataLoader | list:
        if self._loaders[split] is None and self.cfg.get(_SPLIT_KEYS[split]) is not None:
            setup = {"train": self.setup_training_data, "validation": self.setup_validation_data,
                     "test": self.setup_test_data, "predict": self.setup_predict_data}[split]
            setup(self.cfg[_SPLIT_KEYS[split]])
        return self._loaders[split] if self._loaders[split] is not None else []

    def train_dataloader(self) -> DataLoader:  # noqa: D102 - Lightning hook
        loader = self._loader("train")
        if not loader:
            raise ConfigError("no training data: set model.train_ds in the config")
        return loader

    def val_dataloader(self) -> DataLoader | list:  # noqa: D102 - Lightning hook
        return self._loader("validation")

    def test_dataloader(self) -> DataLoader | list:  # noqa: D102 - Lightning hook
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader | list:  # noqa: D102 - Lightning hook
        return self._loader("predict")

    # -- optimization --------------------------------------------------------------------
    def setup_optimization(self, optim_config: DictConfig | dict | None = None) -> Any:
        """Build optimizer and scheduler from ``optim`` (or the given config).

        Args:
            optim_config: Overrides ``model.optim``; keys: ``name``, optimizer arguments and
                an optional ``sched`` section.

        Returns:
            What ``configure_optimizers`` returns to Lightning.
        """
        from atommic_core.optim import build_optimization

        cfg = optim_config if optim_config is not None else self.cfg.get("optim")
        if cfg is None:
            raise ConfigError("no optimizer: set model.optim (e.g. {name: adam, lr: 1e-3})")
        return build_optimization(self, _to_dictconfig(cfg))

    def configure_optimizers(self) -> Any:  # noqa: D102 - Lightning hook
        return self.setup_optimization()

    # -- outputs -------------------------------------------------------------------------
    def write_predictions(self, outputs: list[Any], output_dir: str) -> list[str]:
        """Write what ``predict_step`` returned to ``output_dir`` (collections implement).

        Args:
            outputs: The list ``Trainer.predict`` returned (one item per batch).
            output_dir: Existing folder to write into.

        Returns:
            The paths written.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement write_predictions()")
