# Fully spiking Mask R-CNN on E-SpikeFormer 19M (the V3 reference's detector): integer spikes (SFA, 0..4) in
# front of every conv and fc of the FPN, RPN, box and mask heads, so the whole detector is spike-driven.
# Backbone, strides, data and schedule: those of the stock-heads config it inherits.
_base_ = './mask-rcnn_e-spikeformer-19m_fpn_1x_coco.py'

model = _base_.spiking
