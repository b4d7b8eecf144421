"""Dynamic layer freezing: keep named submodules fixed during chosen training steps.

Config (``model.freeze_updates``)::

    freeze_updates:
      enabled: true
      modules:
        encoder: 200            # frozen for the first 200 steps
        decoder: [50, -1]       # frozen from step 50 to the end
        head.proj: [10, 100]    # frozen for 10 <= step <= 100 (dotted paths work)
        refiner: -1             # frozen for the whole run

Steps count optimizer updates from 1: step ``k`` is the update that starts when
``trainer.global_step == k - 1`` (the seed's convention).

"Frozen" means the module's parameters do not change in those steps with any optimizer,
momentum and weight decay included, while the module stays in train mode (dropout and batch
norm behave as in training). Three layers make that hold: ``requires_grad`` is switched off
(no gradient work), gradients of frozen parameters are dropped in ``on_before_optimizer_step``
(so built-in optimizers skip them: no decay, no momentum), and the parameters are restored
from a snapshot by an optimizer step post-hook (for optimizers that update parameters
without gradients). Under DDP, use ``strategy="ddp_find_unused_parameters_true"``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from typing_extensions import override

from atommic_core.errors import ConfigError

__all__ = ["FreezeUpdates", "parse_freeze_spec"]

log = logging.getLogger(__name__)


def parse_freeze_spec(name: str, spec: Any) -> tuple[int, int | None]:
    """Turn one ``freeze_updates.modules`` value into an inclusive step range.

    Args:
        name: The module name (for messages).
        spec: ``N`` (first N steps), ``-1`` (whole run), ``[a, b]`` or ``[a, -1]``.

    Returns:
        ``(first, last)`` with ``last`` None meaning "to the end"; ``N = 0`` gives an empty
        range ``(1, 0)``.
    """
    hint = "use N (first N steps), -1 (whole run), [a, b] or [a, -1]"
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec == -1:
            return 1, None
        if spec >= 0:
            return 1, spec
    elif isinstance(spec, (list, tuple)) or (hasattr(spec, "__len__") and
                                             not isinstance(spec, (str, Mapping))):
        items = list(spec)
        if len(items) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                   for v in items):
            first, last = items
            if first >= 0 and last == -1:
                return first, None
            if 0 <= first <= last:
                return first, last
    raise ConfigError(f"freeze_updates.modules.{name}: expected N >= -1 or [a, b] with "
                      f"0 <= a <= b or b == -1, found {spec!r}; {hint}")


def _is_frozen_at(step: int, window: tuple[int, int | None]) -> bool:
    first, last = window
    return step >= first and (last is None or step <= last)


class FreezeUpdates(pl.Callback):
    """Freeze named submodules for chosen step ranges (``ModelPT`` adds it from its config).

    Args:
        modules: ``{module path: spec}``; see :func:`parse_freeze_spec`. Paths are
            attribute paths from the LightningModule, dotted for nested modules.

    Example:
        >>> trainer = pl.Trainer(callbacks=[FreezeUpdates({"encoder": 10})])  # doctest: +SKIP
    """

    def __init__(self, modules: Mapping[str, Any]) -> None:
        super().__init__()
        if not isinstance(modules, Mapping) and not hasattr(modules, "items"):
            raise ConfigError(f"freeze_updates.modules: expected a mapping name -> spec, found "
                              f"{type(modules).__name__}")
        self.windows = {str(k): parse_freeze_spec(str(k), v) for k, v in modules.items()}
        self.frozen: set[str] = set()
        self._logged: set[str] = set()  # frozen names already announced (kept over resume)
        self._modules: dict[str, nn.Module] = {}
        self._requires_grad: dict[nn.Parameter, bool] = {}
        self._snapshot: dict[nn.Parameter, torch.Tensor] = {}
        self._handles: list[Any] = []

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(modules=sorted(self.windows.items()))

    # -- Lightning hooks: short guards that dispatch ---------------------------------------
    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._do_resolve(pl_module)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._do_resolve(pl_module)
        for optimizer in trainer.optimizers:
            self._handles.append(optimizer.register_step_post_hook(self._restore))

    @override
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        self._do_update(trainer.global_step + 1, trainer.is_global_zero)

    @override
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        # Lightning runs the closure (forward, backward) inside optimizer.step, so this hook,
        # not a step pre-hook, is the last moment before the update sees the gradients.
        self._drop_grads()

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._do_release()

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        self._do_release()

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"frozen": sorted(self.frozen)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._logged = set(state_dict.get("frozen", []))

    # -- work ----------------------------------------------------------------------------
    def _do_resolve(self, pl_module: nn.Module) -> None:
        if self._modules:
            return
        available = [n for n, _ in pl_module.named_modules() if n]
        unknown = [n for n in self.windows if n not in available]
        if unknown:
            raise ConfigError(
                f"freeze_updates.modules: {type(pl_module).__name__} has no module "
                f"{', '.join(repr(n) for n in unknown)}; its modules are: {', '.join(available)}"
            )
        self._modules = {n: pl_module.get_submodule(n) for n in self.windows}
        self._requires_grad = {p: p.requires_grad for p in pl_module.parameters()}

    def _do_update(self, step: int, announce: bool) -> None:
        wanted = {n for n, w in self.windows.items() if _is_frozen_at(step, w)}
        for name in sorted(self.frozen - wanted):
            self.frozen.discard(name)
            self._logged.discard(name)
            if announce:
                log.info("freeze_updates: step %d: unfroze %r", step, name)
        for name in sorted(wanted - self.frozen):
            self.frozen.add(name)
            if announce and name not in self._logged:
                last = self.windows[name][1]
                until = "the end of training" if last is None else f"step {last}"
                log.info("freeze_updates: step %d: froze %r until %s", step, name, until)
            self._logged.add(name)
        self._apply_frozen()

    def _do_release(self) -> None:
        # the model leaves fit() (even a failed one) with its own requires_grad flags
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.frozen.clear()
        self._apply_frozen()

    def _frozen_params(self) -> set[nn.Parameter]:
        return {p for n in self.frozen for p in self._modules[n].parameters()}

    def _apply_frozen(self) -> None:
        frozen = self._frozen_params()
        for param, original in self._requires_grad.items():
            param.requires_grad_(original and param not in frozen)
        for param in frozen:
            if param not in self._snapshot:
                self._snapshot[param] = param.detach().clone()
        for param in [p for p in self._snapshot if p not in frozen]:
            del self._snapshot[param]

    def _drop_grads(self) -> None:
        for param in self._snapshot:
            param.grad = None

    @torch.no_grad()
    def _restore(self, optimizer: torch.optim.Optimizer, *args: Any) -> None:
        for param, saved in self._snapshot.items():
            param.copy_(saved)
