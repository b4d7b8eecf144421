"""Built-in optimizers (torch's plus NovoGrad and Lion) with their params dataclasses.

Each dataclass lists the keyword arguments a config may set, with the optimizer's own
defaults; ``lr`` has no default, so every config must choose a learning rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "AdadeltaParams",
    "AdagradParams",
    "AdamParams",
    "AdamWParams",
    "AdamaxParams",
    "LionParams",
    "NovogradParams",
    "RMSpropParams",
    "RpropParams",
    "SGDParams",
    "register_builtin_optimizers",
]


@dataclass
class SGDParams:
    """Arguments of ``torch.optim.SGD``."""

    lr: float
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdamParams:
    """Arguments of ``torch.optim.Adam``."""

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdamWParams(AdamParams):
    """Arguments of ``torch.optim.AdamW`` (decoupled weight decay, default 0.01)."""

    weight_decay: float = 0.01


@dataclass
class AdadeltaParams:
    """Arguments of ``torch.optim.Adadelta``."""

    lr: float
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdamaxParams:
    """Arguments of ``torch.optim.Adamax``."""

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class AdagradParams:
    """Arguments of ``torch.optim.Adagrad``."""

    lr: float
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class RMSpropParams:
    """Arguments of ``torch.optim.RMSprop``."""

    lr: float
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class RpropParams:
    """Arguments of ``torch.optim.Rprop``."""

    lr: float
    etas: tuple[float, float] = (0.5, 1.2)
    step_sizes: tuple[float, float] = (1e-6, 50.0)
    maximize: bool = False
    foreach: bool | None = None


@dataclass
class NovogradParams:
    """Arguments of :class:`atommic_core.optim.novograd.Novograd`."""

    lr: float
    betas: tuple[float, float] = (0.95, 0.98)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_averaging: bool = False
    amsgrad: bool = False


@dataclass
class LionParams:
    """Arguments of :class:`atommic_core.optim.lion.Lion`."""

    lr: float
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0


def register_builtin_optimizers(register: Callable) -> None:
    """Register the built-ins as lazy references: listing them never imports torch."""
    register("sgd", "torch.optim:SGD", SGDParams)
    register("adam", "torch.optim:Adam", AdamParams)
    register("adamw", "torch.optim:AdamW", AdamWParams)
    register("adadelta", "torch.optim:Adadelta", AdadeltaParams)
    register("adamax", "torch.optim:Adamax", AdamaxParams)
    register("adagrad", "torch.optim:Adagrad", AdagradParams)
    register("rmsprop", "torch.optim:RMSprop", RMSpropParams)
    register("rprop", "torch.optim:Rprop", RpropParams)
    register("novograd", "atommic_core.optim.novograd:Novograd", NovogradParams)
    register("lion", "atommic_core.optim.lion:Lion", LionParams)
