# The fully spiking flavour of mask-rcnn_tiny_fpn_coco-mini.py (as the real *_spike-fpn_* configs do it).
_base_ = ['./mask-rcnn_tiny_fpn_coco-mini.py', '../../configs/_base_/models/mask-rcnn_spikeformer_spike-fpn.py']

model = _base_.spike_fpn
