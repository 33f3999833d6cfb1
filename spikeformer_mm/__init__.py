"""spikeformer_mm: spike-driven Transformers as OpenMMLab modules (mmpretrain, mmdet, mmseg)."""
from . import engine  # noqa: F401  (checkpoint loading/saving fixes for mmengine on torch >= 2.6)

__version__ = '0.1.0'
