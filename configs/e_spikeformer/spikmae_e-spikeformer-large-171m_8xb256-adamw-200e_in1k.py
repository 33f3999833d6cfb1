# Spike-masked autoencoder pre-training of E-SpikeFormer Large 171M (recipe in the 83M config). The reference's
# spikmae_12_768 is 192 wide in its first stages where its fine-tuning model spikformer12_768 is 196 wide, so its
# checkpoints do not load; this encoder has the fine-tuning widths [196, 384, 768] (173,736,794 parameters, the
# reference 173,575,904). The last checkpoint initialises e-spikeformer-large-171m_8xb128-lamb-150e_in1k.py.
_base_ = './spikmae_e-spikeformer-large-83m_8xb256-adamw-200e_in1k.py'

model = dict(backbone=dict(arch='171M'), neck=dict(in_channels=768))
