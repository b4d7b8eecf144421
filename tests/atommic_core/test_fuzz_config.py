"""Property-based fuzzing of the config validator: a named error or a valid config, nothing else.

Derandomized and bounded (``max_examples`` below) so CI stays fast and repeatable.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from atommic_core.cli.config import validate_config, validate_sections
from atommic_core.errors import AtommicError
from atommic_core.testing import BoringModel

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-2, 2),
                     st.sampled_from(["", "abc", "1e-3", "adam", "/no/such/path", "32-true",
                                      "16-mixed", "gpu", "auto", "${model.x}"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text("abcdefghijklmnop_", max_size=8),
                                                 inner, max_size=3)), max_leaves=6)
_TRAINER_KEYS = st.sampled_from(["max_epochs", "max_steps", "devices", "accelerator",
                                 "precision", "strategy", "log_every_n_steps", "callbacks",
                                 "gradient_clip_val", "max_epoch", "num_nodes"])
_EM_KEYS = st.sampled_from(["exp_dir", "name", "version", "create_tensorboard_logger",
                            "checkpoint_callback_params", "resume_if_exists", "seed",
                            "resume_from_checkpoint", "early_stopping_callback_params", "nope"])
_OPTIM = st.fixed_dictionaries({"name": st.sampled_from(["adam", "sgd", "adamw", "lion", "adamm",
                                                         "", "novograd"])},
                               optional={"lr": _SCALARS, "weight_decay": _SCALARS,
                                         "betas": st.lists(_SCALARS, max_size=3),
                                         "momentum": _SCALARS,
                                         "sched": st.one_of(st.none(), st.fixed_dictionaries(
                                             {"name": st.sampled_from(
                                                 ["CosineAnnealing", "StepLR", "WarmupPolicy",
                                                  "Cosine", "NoamAnnealing"])},
                                             optional={"warmup_ratio": _SCALARS,
                                                       "warmup_steps": _SCALARS,
                                                       "min_lr": _SCALARS, "step_size": _SCALARS,
                                                       "max_steps": _SCALARS}))})


@FUZZ
@given(st.dictionaries(_TRAINER_KEYS, _VALUES, max_size=3),
       st.dictionaries(_EM_KEYS, _VALUES, max_size=3),
       st.one_of(_OPTIM, _VALUES),
       st.sampled_from(["train", "test", "predict"]),
       st.dictionaries(st.sampled_from(["seed", "name", "trainr", "model_extra"]), _SCALARS,
                       max_size=2))
def test_validate_config_raises_only_named_errors(trainer, exp_manager, optim, command, top):
    cfg = OmegaConf.create({**top, "trainer": trainer, "exp_manager": exp_manager,
                            "model": {"model_name": "BoringModel", "optim": optim,
                                      "train_ds": {"num_samples": 4},
                                      "test_ds": {"num_samples": 4}, "restore_path": "."}})
    try:
        validate_sections(cfg)
        validate_config(cfg, command, BoringModel)
    except AtommicError as exc:
        message = str(exc).strip()
        assert message and "\n" not in message, repr(exc)
