"""The reference's other detectors: spiking Cascade Mask R-CNN (E-SpikeFormer 19M) and spiking RetinaNet
(Meta-SpikeFormer 15M). Each config builds with its recipe, and one training step on real COCO images
(``tests/data/coco_mini``, narrowed widths, 128-pixel images) gives finite losses and updates every trained part.
"""
import math
from pathlib import Path

import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import LinearLR, MultiStepLR
from mmengine.registry import DefaultScope

from spikeformer_mm.models.spike_input import SpikeInput
from spikeformer_mm.ops import SFANeuron

REPO = Path(__file__).resolve().parents[1]
CASCADE = REPO / 'configs/cascade_mask_rcnn/cascade-mask-rcnn_e-spikeformer-19m_spike-fpn_4conv1fc-giou_3x_coco.py'
RETINA = REPO / 'configs/retinanet/retinanet_meta-spikeformer-15m_spike-fpn_3x_coco.py'
TEST_WIDTHS = [16, 32, 64, 96]
WIDTH = 32
pytestmark = pytest.mark.usefixtures('one_thread')


def narrowed(path: Path, coco_root: Path) -> Config:
    """The config with the backbone, neck and heads narrowed, no pre-trained weights, 128-pixel COCO images."""
    cfg = Config.fromfile(path)
    model = cfg.model
    model.backbone.arch = dict(embed_dims=TEST_WIDTHS)
    model.backbone.init_cfg = None
    model.neck.in_channels, model.neck.out_channels = TEST_WIDTHS, WIDTH
    if 'roi_head' in model:
        model.rpn_head.update(in_channels=WIDTH, feat_channels=WIDTH)
        model.roi_head.bbox_roi_extractor.out_channels = WIDTH
        model.roi_head.mask_roi_extractor.out_channels = WIDTH
        for stage in model.roi_head.bbox_head:
            stage.update(in_channels=WIDTH, conv_out_channels=WIDTH, fc_out_channels=64)
        model.roi_head.mask_head.update(num_convs=1, in_channels=WIDTH, conv_out_channels=WIDTH)
        model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
        # anchors of 128 px and more cross the border of a 128x96 image; keep them so every level trains
        model.train_cfg.rpn.allowed_border = -1
        for stage in model.train_cfg.rcnn:
            stage.sampler.num = 64
    else:
        # A narrow Meta-SpikeFormer with the ImageNet LIF threshold (1) and 8 heads never fires its attention neuron
        # at initialisation; the tiny classification configs use threshold 0.25 and one head for the same reason.
        model.backbone.arch['num_heads'] = 1
        model.backbone.neuron_cfg = dict(type='MultiStepLIF', v_threshold=0.25)
        model.bbox_head.update(in_channels=WIDTH, feat_channels=WIDTH, stacked_convs=2)
    dataset = cfg.train_dataloader.dataset
    pipeline = [step for step in dataset.pipeline if step['type'] in ('LoadImageFromFile', 'LoadAnnotations')]
    dataset.update(data_root=f'{coco_root}/', ann_file='annotations/instances_val2017.json',
                   data_prefix=dict(img='val2017/'),
                   pipeline=pipeline + [dict(type='Resize', scale=(128, 96), keep_ratio=True),
                                        dict(type='PackDetInputs')])
    return cfg


def one_training_step(cfg: Config) -> tuple:
    """Losses of one AdamW step on the 3 COCO images, and the parameters before and after it."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        data = pseudo_collate([item for item in DATASETS.build(cfg.train_dataloader.dataset)])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    # no weight decay: a parameter changes only if it got a gradient
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0))
    losses = model.train_step(data, optim)
    return model, losses, before


@pytest.fixture(scope='module')
def coco_root(data_dir) -> Path:
    return data_dir / 'coco_mini'


def assert_step_trains(model, losses, before, expected_losses, whole_backbone=True):
    """Finite losses; every parameter of the neck and heads (and of the backbone if ``whole_backbone``, else at
    least one per backbone stage) got a gradient."""
    assert expected_losses <= set(losses), sorted(losses)
    assert all(math.isfinite(value.item()) for value in losses.values()), losses
    unchanged = {name for name, p in model.named_parameters() if torch.equal(p, before[name])}
    backbone = {name for name, _ in model.named_parameters() if name.startswith('backbone.')}
    assert not unchanged - (set() if whole_backbone else backbone), sorted(unchanged)
    for i, stage in enumerate(model.backbone.stages):
        names = {f'backbone.stages.{i}.{name}' for name, _ in stage.named_parameters()}
        assert names - unchanged, f'backbone stage {i} did not train'


def spike_inputs(module) -> list:
    return [m for m in module.modules() if isinstance(m, SpikeInput)]


def test_cascade_recipe():
    cfg = Config.fromfile(CASCADE)
    roi = cfg.model.roi_head
    assert roi.type == 'CascadeRoIHead' and roi.num_stages == 3 and len(roi.bbox_head) == 3
    for stage in roi.bbox_head:
        assert stage.type == 'spikeformer_mm.SpikeConvFCBBoxHead'
        assert (stage.num_shared_convs, stage.num_shared_fcs, stage.reg_decoded_bbox) == (4, 1, True)
        assert stage.loss_bbox.type == 'GIoULoss'
    assert [s.bbox_coder.target_stds[0] for s in roi.bbox_head] == [0.1, 0.05, 0.033]
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.param_scheduler[1].milestones == [27, 33]
    assert (cfg.optim_wrapper.optimizer.type, cfg.optim_wrapper.optimizer.lr) == ('AdamW', 2e-4)
    assert cfg.model.rpn_head.anchor_generator.strides == [4, 8, 16, 16, 32]
    assert roi.bbox_roi_extractor.featmap_strides == roi.mask_roi_extractor.featmap_strides == [4, 8, 16, 16]


def test_cascade_trains_one_step(coco_root):
    model, losses, before = one_training_step(narrowed(CASCADE, coco_root))
    stage_losses = {f's{i}.{name}' for i in range(3) for name in ('loss_cls', 'loss_bbox', 'loss_mask')}
    assert_step_trains(model, losses, before, {'loss_rpn_cls', 'loss_rpn_bbox'} | stage_losses)
    H, W = 96, 160
    with torch.no_grad():
        feats = model.eval().extract_feat(torch.zeros(1, 3, H, W))
    strides = [s[0] for s in model.rpn_head.prior_generator.strides]
    assert [tuple(f.shape[-2:]) for f in feats] == [(math.ceil(H / s), math.ceil(W / s)) for s in strides]
    assert model.roi_head.bbox_roi_extractor[0].featmap_strides == strides[:4]
    for stage in model.roi_head.bbox_head:
        # 4 shared convs + 1 shared fc + the 2 predictors, each behind an integer neuron
        assert len(spike_inputs(stage)) == 7
        assert all(isinstance(s.neuron, SFANeuron) and s.neuron.D == 4 for s in spike_inputs(stage))


def test_retinanet_head_is_spiking_and_strides_are_real():
    with DefaultScope.overwrite_default_scope('mmdet'):
        cfg = Config.fromfile(RETINA)
        head = MODELS.build(dict(cfg.model.bbox_head, in_channels=WIDTH, feat_channels=WIDTH))
    # 4 stacked convs per tower, 2 towers, 2 predictors
    assert len(spike_inputs(head)) == 10
    assert isinstance(head.retina_cls, SpikeInput) and head.retina_cls.layer.out_channels == 9 * 80
    # the init reaches the wrapped convs: RetinaNet's 1 % foreground prior on the classifier's bias, small
    # predictors, Kaiming towers (std sqrt(2 / fan_in)) so that the integer neurons fire from the start
    torch.manual_seed(0)
    head.init_weights()
    assert torch.allclose(head.retina_cls.bias, torch.full((9 * 80,), -math.log(99.0)))
    assert head.retina_cls.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert head.retina_reg.weight.std().item() == pytest.approx(0.01, rel=0.05)
    tower = head.cls_convs[0].conv
    assert tower.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * WIDTH)), rel=0.05)
    generator = head.prior_generator
    assert [s[0] for s in generator.strides] == [8, 16, 16, 32, 64]
    # anchors are ratio-major: index 3 is ratio 1 at the smallest of the 3 scales (octave base scale 4)
    assert [float(b[3, 2] - b[3, 0]) for b in generator.base_anchors] == [32, 64, 128, 256, 512]


def test_retinanet_trains_one_step_on_feature_maps_at_the_declared_strides(coco_root):
    cfg = narrowed(RETINA, coco_root)
    model, losses, before = one_training_step(cfg)
    # The narrow Meta-SpikeFormer's attention-output neuron (threshold 0.5) stays silent on some tokens, so the
    # BatchNorm after it sees a constant and its scale gets no gradient: every backbone stage trains, not every
    # backbone parameter.
    assert_step_trains(model, losses, before, {'loss_cls', 'loss_bbox'}, whole_backbone=False)
    H, W = 96, 160
    with torch.no_grad():
        feats = model.eval().extract_feat(torch.zeros(1, 3, H, W))
    strides = [s[0] for s in model.bbox_head.prior_generator.strides]
    assert [tuple(f.shape[-2:]) for f in feats] == [(math.ceil(H / s), math.ceil(W / s)) for s in strides]


def lr_curve(param_scheduler, epochs: int, epoch_length: int) -> list:
    """The lr of each iteration under ``param_scheduler`` (base lr 1), built as mmengine's Runner builds it."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    kinds = {'LinearLR': LinearLR, 'MultiStepLR': MultiStepLR}
    schedulers = []
    for scheduler in param_scheduler:
        args = {k: v for k, v in scheduler.items() if k not in ('type', 'by_epoch')}
        cls = kinds[scheduler['type']]
        schedulers.append(cls.build_iter_from_epoch(optimizer, epoch_length=epoch_length, **args)
                          if scheduler['by_epoch'] else cls(optimizer, **args))
    lrs = []
    for _ in range(epochs * epoch_length):
        lrs.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    return lrs


def test_retinanet_lr_decays_after_the_warm_up_where_the_reference_s_rose_again():
    cfg = Config.fromfile(RETINA)
    epoch_length = 400  # 36 epochs of 400 iterations; the 4000-iteration warm-up ends in epoch 10
    lrs = lr_curve(cfg.param_scheduler, 36, epoch_length)
    after_warm_up = lrs[4000:]
    assert all(b <= a for a, b in zip(after_warm_up, after_warm_up[1:]))
    assert lrs[-1] == pytest.approx(0.01, rel=0.01)
    assert lrs[0] == pytest.approx(0.001, rel=0.01)
    # The reference's second LinearLR (start 0.01, end factor left at its default 1.0) ends at the full lr.
    reference = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=4000),
                 dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=1, end=36)]
    reference_lrs = lr_curve(reference, 36, epoch_length)
    # Its lr falls to 1 % at epoch 1 (inside the warm-up), then climbs back to the full lr by the last epoch.
    assert reference_lrs[epoch_length] < 0.01 * 0.11 and reference_lrs[4000] < 0.3 and reference_lrs[-1] > 0.95
