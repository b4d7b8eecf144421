"""atommic segmentation: data, models, losses and metrics."""

__version__ = "0.1.0"
