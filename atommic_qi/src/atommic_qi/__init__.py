"""atommic quantitative imaging: R2*, S0, B0 and phase mapping from multi-echo data."""

__version__ = "0.1.0"
