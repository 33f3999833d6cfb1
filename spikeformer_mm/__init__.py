"""spikeformer_mm: spike-driven Transformers as OpenMMLab modules (mmpretrain, mmdet, mmseg)."""
from .model_index import register_model_index  # noqa: F401  (mmpretrain.list_models / get_model)

__version__ = '0.1.0'
