"""spikeformer_mm: spike-driven Transformers as OpenMMLab modules (mmpretrain, mmdet, mmseg)."""

__version__ = '0.1.0'
