"""Multi-echo GRE physics: signal models (units and conventions) and the map -> k-space operators.

Units: TE in ms (converted to s inside), R2* in 1/s, S0 in image units, B0 in Hz, phi in rad
(``gre``); see :mod:`atommic_qi.physics.signal` for ATOMMIC's ``atommic_megre`` form.
"""

from atommic_qi.physics.operators import (
    echo_adjoint,
    echo_forward,
    jacobian_adjoint,
    likelihood_gradient,
    qmri_forward,
)
from atommic_qi.physics.signal import (
    MAP_NAMES,
    SIGNAL_MODELS,
    SignalModel,
    echo_times_seconds,
    get_signal_model,
)

__all__ = [
    "MAP_NAMES",
    "SIGNAL_MODELS",
    "SignalModel",
    "echo_adjoint",
    "echo_forward",
    "echo_times_seconds",
    "get_signal_model",
    "jacobian_adjoint",
    "likelihood_gradient",
    "qmri_forward",
]
