# The T=4 fine-tune of the fully spiking Meta-SpikeFormer 55M detector (trained first with
# mask-rcnn_meta-spikeformer-55m_spike-fpn_1x_coco.py): the 15M T=4 config with the 55M backbone; recipe there.
_base_ = './mask-rcnn_meta-spikeformer-15m-t4_spike-fpn_5e_coco.py'

load_from = 'work_dirs/mask-rcnn_meta-spikeformer-55m_spike-fpn_1x_coco/epoch_12.pth'
model = dict(backbone=dict(arch='55M'), neck=dict(in_channels=[128, 256, 512, 640]))
