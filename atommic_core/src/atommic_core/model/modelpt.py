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

import os
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch.utils.data import DataLoader, Dataset, IterableDataset

from atommic_core.errors import ConfigError
from atommic_core.model import artifacts as _artifacts

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


_PROGRESS_KEY = "atommic_train_progress"
_RNG_KEY = "atommic_rng_states"


def _read_first_item(dataset: Any, split: str) -> None:
    from atommic_core.errors import AtommicError

    try:
        dataset[0]
    except AtommicError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ConfigError(f"{split} data: {' '.join(str(exc).split())}") from exc


def _set_dataset_epoch(loader: Any, epoch: int) -> None:
    dataset = getattr(loader, "dataset", None)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(int(epoch))


def _rng_states() -> dict[str, Any]:
    """Global RNG states as tensors and plain values (loadable with ``weights_only``)."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype("int64")),
                      "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}}


def _set_rng_states(states: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype("uint32"), n["pos"],
                         n["has_gauss"], n["cached"]))


def _plain(cfg: DictConfig) -> dict:
    """A plain, resolved copy of a config (what checkpoints and archives store)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException:
        # e.g. ${trainer.max_steps} in a model section built on its own: keep it verbatim
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


class ModelPT(pl.LightningModule):
    """Base class of every atommic model.

    Attributes:
        requires_training: Class attribute, True by default: ``test``/``predict`` need
            trained weights (``model.restore_path``). A model without learned weights (e.g.
            a zero-filled baseline) sets it False and is then built from its config.
        evaluation_keys: Class attribute: ``model`` keys that change evaluation or outputs,
            not the weights (e.g. a metric convention). ``test``/``predict`` of a ``.atommic``
            take them, like the data sections, from the run's config when it sets them.

    Args:
        cfg: The ``model`` section of the experiment config.
        trainer: The Lightning trainer, if the model is built for training.

    Example:
        >>> from atommic_core.testing import BoringModel
        >>> model = BoringModel({"hidden": 4})
        >>> model.cfg.hidden
        4
    """

    requires_training: ClassVar[bool] = True
    evaluation_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: DictConfig | dict, trainer: pl.Trainer | None = None) -> None:
        super().__init__()
        self._cfg = _to_dictconfig(cfg)
        self._loaders: dict[str, DataLoader | None] = dict.fromkeys(_SPLIT_KEYS)
        self._optim_config: DictConfig | None = None
        self._external_trainer = trainer
        self.output_dir: str | None = None  # set by the CLI for test metrics / predictions
        self._artifacts: dict[str, str] = {}  # config path -> local file
        self._atommic_submodules: dict[str, str] = {}  # attribute name -> config field
        self._resume_progress: dict[str, int] | None = None  # from a checkpoint being resumed
        # Lets Lightning's load_from_checkpoint rebuild the model as cls(cfg=...);
        # on_save_checkpoint refreshes it, so later config changes are kept too.
        self.save_hyperparameters({"cfg": _plain(self._cfg)})

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

        The training loader draws its order from a
        :class:`~atommic_core.training_data.ResumableSampler` (a permutation per ``(seed,
        epoch)``, seed = the split's ``seed`` or the run's) and its own generator, so that an
        interrupted run resumes with exactly the batches it would have seen. A dataset with an
        ``example_groups`` attribute (one key per example, e.g. its volume) gets a
        :class:`~atommic_core.distributed.GroupedDistributedSampler` outside training, so
        that under DDP each group is evaluated whole on one rank and exactly once.

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
        groups = getattr(dataset, "example_groups", None)
        if split == "train" and not isinstance(dataset, IterableDataset):
            from atommic_core.training_data import ResumableDataLoader, ResumableSampler

            seed = int(cfg.seed) if cfg.get("seed") is not None else torch.initial_seed()
            sampler = ResumableSampler(len(dataset), seed, shuffle, kwargs.get("batch_size", 1),
                                       bool(kwargs.get("drop_last", False)))
            return ResumableDataLoader(dataset, sampler=sampler, collate_fn=self.collate_fn(split),
                              generator=torch.Generator().manual_seed(seed), **kwargs)
        if split != "train" and groups is not None:
            from atommic_core.distributed import GroupedDistributedSampler

            kwargs.pop("drop_last", None)  # a dropped example would leave a group incomplete
            return DataLoader(dataset, sampler=GroupedDistributedSampler(groups),
                              collate_fn=self.collate_fn(split), **kwargs)
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

    def check_data(self, command: str) -> None:
        """Build now the loaders ``command`` will use, so bad data fails early (and once).

        The CLI calls this before it creates a run folder: a missing or corrupt file is then
        one error line and leaves nothing behind. The loaders are kept for Lightning.

        The first item of each split is read too, so a transform option that does not fit
        the data (a crop larger than the image, say) is found now as well.

        Args:
            command: ``"train"`` (train, validation and test data), ``"test"`` or
                ``"predict"``.

        Raises:
            ConfigError: A transform rejected the first item (the message names the split).
        """
        splits = {"train": ("train", "validation", "test"), "test": ("test",),
                  "predict": ("predict",)}.get(command, ())
        for split in splits:
            loader = self._loader(split)
            dataset = getattr(loader, "dataset", None)
            if dataset is not None and not isinstance(dataset, IterableDataset) and len(dataset):
                _read_first_item(dataset, split)

    def train_dataloader(self) -> DataLoader:  # noqa: D102 - Lightning hook
        loader = self._loader("train")
        if not loader:
            raise ConfigError("no training data: set model.train_ds in the config")
        from atommic_core.training_data import ResumableDataLoader, resume_loader

        if isinstance(loader, ResumableDataLoader):
            loader.progress = self._train_progress
        if self._resume_progress is not None:  # Lightning asks after restoring a checkpoint
            resume_loader(loader, **self._resume_progress)
            self._resume_progress = None
        return loader

    def on_train_epoch_start(self) -> None:
        """Tell a training dataset with ``set_epoch`` the epoch (per-item randomness)."""
        _set_dataset_epoch(self._loaders.get("train"), self.current_epoch)

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

    # -- checkpoints and callbacks -------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the current config as the ``cfg`` hyperparameter (for ``load_from_checkpoint``).

        Args:
            checkpoint: The checkpoint dict Lightning is about to write.
        """
        checkpoint.setdefault("hyper_parameters", {})["cfg"] = _plain(self.archive_config(
            with_artifact_references=False))
        if self._trainer is not None and self.trainer.state.fn == "fit":
            checkpoint[_PROGRESS_KEY] = self._train_progress()
            checkpoint[_RNG_KEY] = _rng_states()

    def _train_progress(self) -> dict[str, int]:
        """The epoch and how many of its batches the weights have taken a step on."""
        loop = self.trainer.fit_loop
        # The batch counter belongs to the last epoch started; ``current_epoch`` already
        # counts an epoch whose end hooks are running (end-of-epoch checkpoints).
        epoch = max(int(loop.epoch_progress.current.started) - 1, 0)
        done = int(loop.epoch_loop.batch_progress.current.processed)
        return {"epoch": epoch, "batches_done": done}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resume the training data exactly where the checkpoint left it (and the RNGs).

        Args:
            checkpoint: The checkpoint dict Lightning loaded.
        """
        progress = checkpoint.get(_PROGRESS_KEY)
        if progress is not None:
            self._resume_progress = {"epoch": int(progress["epoch"]),
                                     "batches_done": int(progress["batches_done"])}
        if checkpoint.get(_RNG_KEY) is not None:
            _set_rng_states(checkpoint[_RNG_KEY])

    def configure_callbacks(self) -> list[pl.Callback]:
        """Callbacks every model gets, plus those its config asks for.

        :class:`~atommic_core.callbacks.FiniteGuard` (stop at a non-finite loss) always;
        :class:`FreezeUpdates` when ``freeze_updates.enabled``.

        Returns:
            A list of callbacks Lightning adds to any ``Trainer.fit``.
        """
        from atommic_core.callbacks.finite_guard import FiniteGuard

        callbacks: list[pl.Callback] = [FiniteGuard()]
        freeze_cfg = self.cfg.get("freeze_updates")
        if freeze_cfg is not None and freeze_cfg.get("enabled", False):
            from atommic_core.model.freezing import FreezeUpdates

            callbacks.append(FreezeUpdates(freeze_cfg.get("modules") or {}))
        return callbacks

    # -- artifacts -----------------------------------------------------------------------
    def register_artifact(
        self, config_path: str, src: str | os.PathLike | None, verify_src_exists: bool = True
    ) -> str | None:
        """Declare a file the model needs; it is packed into the ``.atommic`` archive.

        Args:
            config_path: Dotted key of the model config that holds the path, e.g.
                ``"tokenizer.model_path"``.
            src: The file. Inside ``restore_from`` this is the ``atommic:<hash>_<name>``
                reference the archive stored.
            verify_src_exists: If False, a missing file is allowed and gives ``None``.

        Returns:
            The path to use: ``src`` outside a restore, the extracted file after a restore,
            ``None`` for a missing optional artifact. The config value at ``config_path`` is
            set to it; the archived config points into the archive instead.

        Example:
            >>> path = self.register_artifact("lut.path", cfg.lut.path)  # doctest: +SKIP
            >>> table = numpy.load(path)  # doctest: +SKIP
        """
        path = _artifacts.resolve_artifact(config_path, src, verify_src_exists)
        if path is None:
            return None
        self._artifacts[config_path] = path
        OmegaConf.update(self._cfg, config_path, path, force_add=True)
        return path

    # -- nested models -------------------------------------------------------------------
    def register_atommic_submodule(self, name: str, config_field: str, model: ModelPT) -> None:
        """Add a child model as attribute ``name`` and keep its config at ``config_field``.

        The parent's archived config holds the child's full config (with its ``target``)
        under ``config_field``, so after ``restore_from`` the parent builds the child from
        that subconfig, however it was built first (subconfig, ``.atommic`` path or
        pretrained name); weights and artifacts come back from the parent's archive.

        Args:
            name: Attribute name of the child, e.g. ``"reconstructor"``.
            config_field: Dotted key of the parent config for the child's config.
            model: The child ``ModelPT``.

        Example:
            >>> if cfg.get("rec_model") is not None:  # doctest: +SKIP
            ...     child = RecModel(cfg.rec_model)
            ... else:
            ...     child = RecModel.restore_from(cfg.rec_model_path)
            >>> self.register_atommic_submodule("rec", "rec_model", child)  # doctest: +SKIP
        """
        if not isinstance(model, ModelPT):
            raise ConfigError(
                f"register_atommic_submodule({name!r}): expected a ModelPT, found "
                f"{type(model).__name__}; register plain nn.Modules as attributes instead"
            )
        setattr(self, name, model)
        OmegaConf.update(self._cfg, config_field, _plain(model.archive_config(
            with_artifact_references=False)), force_add=True)
        self._atommic_submodules[name] = config_field

    def archive_config(self, with_artifact_references: bool = True) -> DictConfig:
        """The config as ``save_to`` stores it: resolved, with ``target`` and child configs.

        Args:
            with_artifact_references: Replace artifact paths by ``atommic:<member>``
                references (as in the archive); False keeps local paths.

        Returns:
            A fresh ``DictConfig``.
        """
        from atommic_core.model._manifest import class_target

        cfg = OmegaConf.create(_plain(self._cfg))
        if with_artifact_references:
            for config_path, path in self._artifacts.items():
                OmegaConf.update(cfg, config_path, _artifacts.archive_reference(path),
                                 force_add=True)
        for name, field in self._atommic_submodules.items():
            child = getattr(self, name)
            OmegaConf.update(cfg, field, _plain(child.archive_config(with_artifact_references)),
                             force_add=True)
        cfg.target = class_target(type(self))
        return cfg

    @classmethod
    def from_config_dict(cls, cfg: DictConfig | dict, trainer: pl.Trainer | None = None) -> Any:
        """Build a model from a config; on ``ModelPT`` the config's ``target`` picks the class.

        Args:
            cfg: A model config (``target`` required when called on ``ModelPT``).
            trainer: Optional trainer for the constructor.

        Returns:
            A new, randomly initialised model.

        Example:
            >>> child = ModelPT.from_config_dict(cfg.child_model)  # doctest: +SKIP
        """
        from atommic_core.model._manifest import resolve_target

        cfg = _to_dictconfig(cfg)
        target = cfg.get("target")
        model_cls: type = cls
        if target:
            model_cls = resolve_target(target, "from_config_dict")
            if not (isinstance(model_cls, type) and issubclass(model_cls, cls)):
                raise ConfigError(f"from_config_dict: target {target!r} is not a {cls.__name__};"
                                  " fix 'target' or call it on the right class")
        elif cls is ModelPT:
            raise ConfigError("ModelPT.from_config_dict: the config has no 'target'; call it "
                              "on the model class or add target: pkg.module.ClassName")
        return model_cls(cfg=cfg, trainer=trainer)

    # -- save and restore ----------------------------------------------------------------
    def save_to(self, save_path: str | os.PathLike) -> str:
        """Write config, weights, artifacts and manifest to one ``.atommic`` file.

        The archive is written to a temporary file next to ``save_path`` and renamed, so
        a crash never leaves a half-written archive.

        Args:
            save_path: Destination, e.g. ``"varnet.atommic"``; its folder must exist.

        Returns:
            The absolute path written.

        Raises:
            NonFiniteError: When a weight holds NaN or Inf (such a model is never shipped).

        Example:
            >>> model.save_to("varnet.atommic")  # doctest: +SKIP
        """
        from atommic_core.model._save_restore import save_model

        return save_model(self, save_path)

    @classmethod
    def restore_from(
        cls,
        restore_path: str | os.PathLike,
        override_config_path: str | os.PathLike | DictConfig | None = None,
        map_location: str | torch.device | None = None,
        strict: bool = True,
        return_config: bool = False,
        trainer: pl.Trainer | None = None,
    ) -> Any:
        """Build a model from a ``.atommic`` file (the recommended way to load a model).

        Called on ``ModelPT`` it builds the class named by the config's ``target``; called on
        a subclass it refuses archives of unrelated classes. Weights load with
        ``weights_only=True``; no code from the archive runs; no data loader is built.

        Args:
            restore_path: The ``.atommic`` file.
            override_config_path: YAML path or ``DictConfig`` used instead of the stored
                config (get it with ``return_config=True``, edit, pass it back).
            map_location: Device for the restored model (default: CPU).
            strict: If False, weights missing from the archive, unexpected or of another
                shape are skipped with a warning instead of raising.
            return_config: Return the config (``DictConfig``) without building the model
                or reading the weights.
            trainer: Optional trainer passed to the model's constructor.

        Returns:
            The model (or its config when ``return_config`` is True).

        Example:
            >>> cfg = ModelPT.restore_from("varnet.atommic", return_config=True)  # doctest: +SKIP
            >>> cfg.num_cascades = 4  # doctest: +SKIP
            >>> model = ModelPT.restore_from("varnet.atommic", cfg, strict=False)  # doctest: +SKIP
        """
        from atommic_core.model._save_restore import restore_model

        return restore_model(cls, restore_path, override_config_path, map_location, strict,
                             return_config, trainer)

    # -- pretrained models ---------------------------------------------------------------
    @classmethod
    def list_available_models(cls) -> list[Any]:
        """Pretrained models plugins offer for this class (all of them on ``ModelPT``).

        Returns:
            A list of :class:`atommic_core.PretrainedModelInfo`.
        """
        from atommic_core.model.pretrained import list_pretrained

        return list_pretrained(cls)

    @classmethod
    def from_pretrained(
        cls,
        model_name: str,
        refresh_cache: bool = False,
        override_config_path: str | os.PathLike | DictConfig | None = None,
        map_location: str | torch.device | None = None,
        strict: bool = True,
        return_config: bool = False,
    ) -> Any:
        """Fetch a pretrained model into the cache, verify it and restore it.

        Args:
            model_name: ``pretrained_model_name`` of an entry of :meth:`list_available_models`.
            refresh_cache: Fetch again even when the cache has the file.
            override_config_path: As in :meth:`restore_from`.
            map_location: As in :meth:`restore_from`.
            strict: As in :meth:`restore_from`.
            return_config: As in :meth:`restore_from`.

        Returns:
            The model (or its config).

        Example:
            >>> model = ModelPT.from_pretrained("varnet_knee_4x")  # doctest: +SKIP
        """
        from atommic_core.model.pretrained import entry_class, fetch, find_pretrained

        info = find_pretrained(cls, model_name)
        path = fetch(info, refresh_cache=refresh_cache)
        # on the base class, the entry's own class (when importable) restores the archive
        restorer = (entry_class(info) or cls) if cls is ModelPT else cls
        return restorer.restore_from(path, override_config_path=override_config_path,
                                     map_location=map_location, strict=strict,
                                     return_config=return_config)
