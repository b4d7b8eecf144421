"""atommic reconstruction: k-space physics, data and reconstruction models."""

__version__ = "0.1.0"
