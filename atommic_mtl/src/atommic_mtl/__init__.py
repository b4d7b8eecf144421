"""atommic multitask learning: joint reconstruction and segmentation."""

__version__ = "0.1.0"
