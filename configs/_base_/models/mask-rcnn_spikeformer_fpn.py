# Mask R-CNN over a spiking backbone (Meta-SpikeFormer / E-SpikeFormer) with stock mmdet FPN and heads.
# A config on top sets `model.backbone` (with `out_indices=(1, 2, 3, 4)`) and `model.neck.in_channels`.
#
# Geometry. The backbones' candidate outputs 1..4 (stages 1-4) have strides 4, 8, 16 and 16: stages 3 and 4
# share stride 16. The FPN keeps one level per input and adds one level by a stride-2 max-pool, so its five
# outputs have strides (4, 8, 16, 16, 32). The reference configs declared mmdet's usual (4, 8, 16, 32, 64) for
# the anchors and (4, 8, 16, 32) for RoIAlign, which misplaces the anchors and RoI features of the two coarsest
# levels (ARCH_SPEC section 4.2, bug #18). Here the declared strides are the real ones; the anchor base sizes keep
# the usual progression 4, 8, 16, 32, 64 (x scale 8 = anchors of 32..512 pixels), so each level still holds
# one anchor size, now centred on its own feature grid. RoIs go to levels by size as usual (finest_scale 56),
# and are pooled with the true 1/stride scale of the level they land on.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

fpn_strides = [4, 8, 16, 16, 32]
model = dict(
    neck=dict(num_outs=5, add_extra_convs=False),
    rpn_head=dict(anchor_generator=dict(strides=fpn_strides, base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=fpn_strides[:4]),
        mask_roi_extractor=dict(featmap_strides=fpn_strides[:4])))

# The fully spiking flavour (the V3 reference's detector): a neuron in front of every conv and fc of the neck, the
# RPN head and the box and mask heads, by default the reference's integer neuron (levels 0..4, not normalised).
# `*_spike-fpn_*` configs merge it into their model: `model = _base_.spiking`.
neuron = dict(type='SFANeuron', D=4, norm=1)
spiking = dict(
    neck=dict(type='spikeformer_mm.SpikeFPN', neuron_cfg=neuron),
    rpn_head=dict(type='spikeformer_mm.SpikeRPNHead', neuron_cfg=neuron),
    roi_head=dict(
        bbox_head=dict(type='spikeformer_mm.SpikeConvFCBBoxHead', num_shared_fcs=2, neuron_cfg=neuron),
        mask_head=dict(type='spikeformer_mm.SpikeFCNMaskHead', neuron_cfg=neuron)))
