"""``save_to`` and ``restore_from``: a model to a ``.atommic`` file and back.

Restoring reads the config, checks the manifest's distributions, resolves the class from
the config's ``target`` (installed code only), extracts artifacts and weights into a
temporary folder, builds the model inside :func:`~atommic_core.model.artifacts.restoring`
(so ``register_artifact`` finds the extracted files) and loads the weights with
``torch.load(..., weights_only=True)``. Nothing is built from data paths: data loaders stay
lazy until Lightning asks for them.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import warnings
import weakref
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.overrides import TorchFunctionMode

from atommic_core.model import artifacts as _artifacts
from atommic_core.model._archive import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    ArchiveError,
    ArchiveReader,
    remove_folder,
    temporary_folder,
    write_archive,
)
from atommic_core.model._manifest import (
    build_manifest,
    check_distributions,
    class_target,
    resolve_target,
)

if TYPE_CHECKING:
    from atommic_core.model.modelpt import ModelPT

__all__ = ["load_config", "model_task", "refresh_model_card", "restore_model", "save_model",
           "state_mismatch"]


def save_model(model: ModelPT, path: str | os.PathLike) -> str:
    """Write ``model`` to ``path`` as a ``.atommic`` archive (see ``ModelPT.save_to``)."""
    from atommic_core.callbacks.finite_guard import non_finite_tensors
    from atommic_core.errors import NonFiniteError

    state = dict(model.state_dict())
    bad = non_finite_tensors(state)
    if bad:
        raise NonFiniteError(f"refusing to save {path}: {len(bad)} of {len(state)} weight "
                             f"tensor(s) hold NaN/Inf (first: {bad[0]})")
    cfg = model.archive_config()
    files: dict[str, str] = {}
    for module in model.modules():
        for _config_path, src in getattr(module, "_artifacts", {}).items():
            files[_artifacts.member_name(src)] = src
    manifest = build_manifest(model, FORMAT_NAME, FORMAT_VERSION)
    weights = io.BytesIO()
    torch.save(state, weights)
    card = _card_text(model, cfg, manifest)
    return write_archive(path, OmegaConf.to_yaml(cfg), weights, files, manifest,
                         {CARD_NAME: card})


def model_task(model: Any) -> str:
    """What the model does (its class's ``task``, else the package that defines it)."""
    return str(getattr(model, "task", None) or type(model).__module__.split(".")[0])


def _card_text(model: ModelPT, cfg: DictConfig, manifest: dict[str, Any]) -> str:
    """A fresh card after training; a restored model's own (maybe edited) card otherwise."""
    from atommic_core.model.model_card import build_model_card

    run = getattr(model, "_atommic_card_run", None)
    kept = getattr(model, "_atommic_model_card", None)
    if run is None and kept:
        return kept
    return build_model_card(OmegaConf.to_container(cfg, resolve=True), manifest,
                            model_task(model), run)


def refresh_model_card(path: str | os.PathLike, model: ModelPT,
                       test_metrics: Mapping[str, Any] | None = None) -> str:
    """Rewrite an archive's card from its manifest and config, the model's run and metrics.

    Args:
        path: The ``.atommic`` file ``model`` was saved to.
        model: The saved model (its ``task`` and training-run facts).
        test_metrics: ``{metric: value}`` of the test that followed training.

    Returns:
        The archive path.
    """
    import yaml

    from atommic_core.model._archive import replace_texts
    from atommic_core.model.model_card import build_model_card

    with ArchiveReader(path) as archive:
        manifest = archive.manifest
        cfg = yaml.safe_load(archive.read_text(CONFIG_NAME))
    card = build_model_card(cfg, manifest, model_task(model),
                            getattr(model, "_atommic_card_run", None), test_metrics)
    return replace_texts(path, {CARD_NAME: card})


class _SkipInit(TorchFunctionMode):
    """Defer ``torch.nn.init`` calls while a model whose weights get overwritten is built.

    Random initialisation of 30M parameters costs about a second on one core and is thrown
    away by ``load_state_dict``. Skipped calls are recorded; :meth:`replay` runs those whose
    tensor is not in the state dict (e.g. non-persistent buffers), in their original order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[tuple[Any, Any, Any]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init":
            self.skipped.append((func, args, kwargs))
            return kwargs["tensor"] if "tensor" in kwargs else args[0]
        return func(*args, **kwargs)

    def replay(self, model: torch.nn.Module) -> None:
        """Run the skipped init calls on tensors ``model.state_dict()`` does not cover."""
        covered = {id(t) for t in model.state_dict(keep_vars=True).values()}
        for func, args, kwargs in self.skipped:
            tensor = kwargs["tensor"] if "tensor" in kwargs else args[0]
            if id(tensor) not in covered:
                func(*args, **kwargs)
        self.skipped.clear()


def load_config(source: str | os.PathLike | DictConfig | Mapping) -> DictConfig:
    """A config from a YAML file path, a ``DictConfig`` or a plain mapping.

    Args:
        source: ``override_config_path`` as users pass it.

    Returns:
        A fresh ``DictConfig``.
    """
    if isinstance(source, DictConfig):
        return OmegaConf.create(OmegaConf.to_container(source, resolve=True))
    if isinstance(source, Mapping):
        return OmegaConf.create(dict(source))
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise ArchiveError(f"override config {path} does not exist; pass a YAML path or a "
                           "DictConfig")
    cfg = OmegaConf.load(path)
    if not isinstance(cfg, DictConfig):
        raise ArchiveError(f"override config {path}: expected a mapping, found a list")
    return cfg


def _build(model_cls: type[ModelPT], cfg: DictConfig, trainer: Any, path: str) -> ModelPT:
    """``model_cls(cfg)``; a stored config the class rejects is an ``ArchiveError``."""
    from atommic_core.errors import AtommicError

    try:
        return model_cls(cfg=cfg, trainer=trainer)
    except AtommicError:
        raise
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ArchiveError(f"{path}: its config cannot build {model_cls.__name__} ({reason}); "
                           "was the archive edited, or written by another version?") from exc


def _archive_config(archive: ArchiveReader, path: str) -> DictConfig:
    """The archive's ``model_config.yaml`` as a ``DictConfig``; anything else is refused."""
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    try:
        cfg = OmegaConf.create(archive.read_text(CONFIG_NAME))
    except (UnicodeDecodeError, YAMLError, OmegaConfBaseException, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise ArchiveError(f"{path}: {CONFIG_NAME} is not a readable YAML config ({reason}); "
                           "the file is corrupted or was not written by save_to") from exc
    if not isinstance(cfg, DictConfig):
        raise ArchiveError(f"{path}: {CONFIG_NAME} must hold a mapping, found a list")
    return cfg


def _pick_class(cls: type[ModelPT], target: Any, path: str) -> type[ModelPT]:
    from atommic_core.model.modelpt import ModelPT

    if cls is not ModelPT and target == class_target(cls):
        return cls
    found = resolve_target(target, path)
    if not (isinstance(found, type) and issubclass(found, ModelPT)):
        raise ArchiveError(f"{path}: target {target!r} is not a ModelPT subclass")
    if issubclass(found, cls):
        return found
    if issubclass(cls, found):
        return cls  # a user's subclass of the saved class
    raise ArchiveError(
        f"{path} holds a {found.__name__} ({target}), which is not a {cls.__name__}; restore "
        f"it with {found.__name__}.restore_from or ModelPT.restore_from"
    )


def _load_weights(f: IO[bytes], archive: str) -> dict[str, torch.Tensor]:
    try:
        # CPU tensors: the model (built on the CPU) copies them, then moves to map_location
        state = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise ArchiveError(
            f"refusing {archive}: {WEIGHTS_NAME} holds pickled objects other than tensors "
            f"({first}); only tensor state dicts are loaded"
        ) from None
    except RuntimeError as exc:
        raise ArchiveError(f"refusing {archive}: {WEIGHTS_NAME} is not a torch file ({exc})"
                           ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ArchiveError(
            f"refusing {archive}: {WEIGHTS_NAME} must hold a {{name: Tensor}} state dict, "
            f"found {type(state).__name__}"
        )
    return dict(state)


def state_mismatch(own: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> str:
    """A one-line summary of how ``state`` differs from a model's own state dict.

    Counts and the first few names of missing, unexpected and wrongly shaped tensors (a
    checkpoint of another model would otherwise dump hundreds of key names).

    Args:
        own: The model's ``state_dict()``.
        state: The weights to load.

    Returns:
        e.g. ``"4 missing (head.weight, head.bias, ...), 1 unexpected (w)"``; empty if they fit.
    """
    def names(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")

    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}" for k in own
             if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape]
    parts = [f"{len(v)} {label} ({names(v)})" for label, v in (
        ("missing", missing), ("unexpected", unexpected), ("of another shape", shape)) if v]
    return ", ".join(parts)


def _load_state(model: ModelPT, state: dict[str, torch.Tensor], strict: bool, path: str) -> None:
    own = model.state_dict()
    summary = state_mismatch(own, state)
    if strict and summary:
        raise ArchiveError(f"{path}: weights do not fit {type(model).__name__}: {summary}; "
                           "pass strict=False to load only the matching weights")
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    state = {k: v for k, v in state.items() if k not in mismatched}
    model.load_state_dict(state, strict=False)
    if summary:
        warnings.warn(f"restore_from({path}, strict=False) skipped weights: {summary}",
                      UserWarning, stacklevel=4)


def _extract_artifact(archive: ArchiveReader, name: str, folder: str) -> str:
    # <hash>_<basename> goes to <folder>/<hash>/<basename>: the file keeps its own name,
    # so saving the restored model again gives the same member name.
    digest, _, basename = name.partition("_")
    if not re.fullmatch(r"[0-9a-f]{8,64}", digest) or basename in ("", ".", ".."):
        raise ArchiveError(f"refusing {archive.path}: artifact member {name!r} is not named "
                           "<content hash>_<file name>")
    os.makedirs(os.path.join(folder, digest), exist_ok=True)
    return archive.extract(name, os.path.join(folder, digest, basename))


def restore_model(
    cls: type[ModelPT],
    restore_path: str | os.PathLike,
    override_config_path: Any = None,
    map_location: Any = None,
    strict: bool = True,
    return_config: bool = False,
    trainer: Any = None,
) -> ModelPT | DictConfig:
    """Implementation of ``ModelPT.restore_from`` (see there for the arguments)."""
    path = os.fspath(restore_path)
    with ArchiveReader(path) as archive:
        if override_config_path is not None:
            cfg = load_config(override_config_path)
        else:
            cfg = _archive_config(archive, path)
        if return_config:
            return cfg
        check_distributions(archive.manifest, path)
        target = cfg.get("target") or archive.manifest.get("target")
        model_cls = _pick_class(cls, target, path)
        names = archive.artifact_names()
        folder = temporary_folder("atommic_restore_") if names else None
        try:
            files = {name: _extract_artifact(archive, name, folder) for name in names}
            card = archive.read_text(CARD_NAME) if CARD_NAME in archive.members else None
            with archive.open_verified(WEIGHTS_NAME) as f:
                state = _load_weights(f, path)
            # strict: every state-dict tensor is overwritten, so its random init is skipped
            skip = _SkipInit() if strict else None
            with _artifacts.restoring(files), skip or contextlib.nullcontext():
                model = _build(model_cls, cfg, trainer, path)
            if skip is not None:
                skip.replay(model)
            _load_state(model, state, strict, path)
            del state
            model._atommic_model_card = card  # kept (with its edits) when saved again
        except BaseException:
            if folder is not None:
                remove_folder(folder)
            raise
    if map_location is not None:
        model.to(map_location)
    if folder is not None:
        # extracted artifacts live as long as the model that points at them
        weakref.finalize(model, remove_folder, folder)
    return model
