"""Self-supervised pre-training: the spike-masked autoencoder of E-SpikeFormer Large (mmpretrain self-supervisor)."""
from .sparse_e_spikeformer_large import SparseESpikeFormerLarge
from .spikmae import SpikMAE
from .spikmae_decoder import SpikMAEDecoder
from .spikmae_head import SpikMAEPretrainHead

__all__ = ['SparseESpikeFormerLarge', 'SpikMAE', 'SpikMAEDecoder', 'SpikMAEPretrainHead']
