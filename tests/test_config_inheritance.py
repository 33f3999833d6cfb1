"""How the configs inherit: the ImageNet LAMB recipe from one schedule file, the spiking twins from the stock ones."""
import ast
import copy
from fnmatch import fnmatch
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'
LAMB_SCHEDULE = CONFIGS / '_base_/schedules/imagenet_bs1024_lamb-200e.py'
MASK_RCNN_SPIKE = CONFIGS / '_base_/models/mask-rcnn_spikeformer_spike-fpn.py'
SEG_SPIKE = CONFIGS / '_base_/models/spike-fpn_spikeformer.py'
LAMB_CONFIGS = sorted(CONFIGS.glob('*/*-lamb-*_in1k.py'))
SPIKE_SEG_CONFIGS = sorted(CONFIGS.glob('fpn/spike-fpn_*.py'))
SPIKE_DET_CONFIGS = sorted(CONFIGS.glob('mask_rcnn/*_spike-fpn_1x_coco.py'))
# (config name pattern, the reference's base lr per 256 images, warm-up epochs)
REFERENCE_RECIPES = [
    ('meta-spikeformer-*m_8xb128-lamb-200e_in1k', 6e-4, 10),  # V2 classification/train.sh
    ('meta-spikeformer-*m-t4*_8xb24-lamb-50e_in1k', 2e-5, 5),  # V2 classification/train_finetune_from_t1_to_t4.sh
    ('e-spikeformer-*m_8xb256-lamb-200e_in1k', 6e-4, 5),  # V3 SDT_V3/Classification/Model_Base/Train_Base.md
    ('e-spikeformer-large-171m_8xb128-lamb-150e_in1k', 6e-4, 10),  # V3 .../Model_Large/Train_Large.md, fine-tune
    ('e-spikeformer-large-83m*_8xb196-lamb-100e_in1k', 1e-3, 5),  # same file, distillation stage
]


def direct_bases(path: Path) -> list:
    """The local files in ``path``'s ``_base_``, resolved (``pkg::`` bases left out)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == '_base_':
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else bases
            return [(path.parent / base).resolve() for base in bases if '::' not in base]
    return []


def all_bases(path: Path) -> set:
    found = set()
    for base in direct_bases(path):
        found |= {base} | all_bases(base)
    return found


def changed(a, b, prefix='') -> set:
    """Dotted paths of the leaves that differ between two nested dicts (a key on one side only counts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return set().union(*(changed(a.get(k), b.get(k), f'{prefix}{k}.') for k in set(a) | set(b)))
    return set() if a == b else {prefix[:-1]}


def test_every_lamb_config_is_covered():
    assert len(LAMB_CONFIGS) == 16
    for path in LAMB_CONFIGS:
        assert sum(fnmatch(path.stem, pattern) for pattern, _, _ in REFERENCE_RECIPES) == 1, path.name


@pytest.mark.parametrize('path', LAMB_CONFIGS, ids=lambda p: p.stem)
def test_lamb_configs_inherit_the_schedule_and_give_the_reference_recipe(path):
    (base_lr, warmup), = [(lr, w) for pattern, lr, w in REFERENCE_RECIPES if fnmatch(path.stem, pattern)]
    gpus, batch = map(int, path.stem.split('_')[1].split('-')[0].split('xb'))  # '8xb256-lamb-200e' -> 8, 256
    epochs = int(path.stem.split('-lamb-')[1].split('e_')[0])
    assert LAMB_SCHEDULE.resolve() in all_bases(path)
    assert 'Lamb' not in path.read_text()  # the optimizer comes from the schedule, not a copy
    cfg, schedule = Config.fromfile(path), Config.fromfile(LAMB_SCHEDULE)

    optimizer = cfg.optim_wrapper.optimizer
    assert {k: v for k, v in optimizer.items() if k != 'lr'} == \
        {k: v for k, v in schedule.optim_wrapper.optimizer.items() if k != 'lr'}
    assert schedule.optim_wrapper.paramwise_cfg.items() <= cfg.optim_wrapper.paramwise_cfg.items()
    assert optimizer.lr == pytest.approx(base_lr * gpus * batch / 256)
    assert cfg.auto_scale_lr.base_batch_size == gpus * batch and cfg.train_dataloader.batch_size == batch
    assert cfg.train_cfg.max_epochs == epochs and cfg.train_cfg.val_interval == 1
    assert [dict(s) for s in cfg.param_scheduler] == [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=warmup, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup, convert_to_iter_based=True)]


def test_the_runner_ends_the_schedule_s_cosine_at_max_epochs(tmp_path):
    """The schedule's cosine stage has no `end`: mmengine's Runner sets it to train_cfg.max_epochs."""
    cfg = Config.fromfile(CONFIGS / 'meta_spikeformer/meta-spikeformer-tiny_digits.py')  # scikit-learn data
    schedule = Config.fromfile(LAMB_SCHEDULE)
    cfg.param_scheduler = copy.deepcopy(schedule.param_scheduler)
    cfg.train_cfg.max_epochs = 13
    cfg.work_dir = str(tmp_path)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        runner = Runner.from_cfg(cfg)
        runner._train_loop = runner.build_train_loop(runner._train_loop)
        runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
        warm, cosine = runner.build_param_scheduler(runner.param_schedulers)
    iters_per_epoch = len(runner.train_dataloader)
    assert (warm.begin, warm.end) == (0, 10 * iters_per_epoch)
    assert (cosine.begin, cosine.end, cosine.T_max) == (10 * iters_per_epoch, 13 * iters_per_epoch,
                                                         3 * iters_per_epoch)


@pytest.mark.parametrize('spike', SPIKE_SEG_CONFIGS, ids=lambda p: p.stem)
def test_spike_fpn_segmentors_are_their_fpn_twin_with_neck_and_head_swapped(spike):
    twin = spike.with_name(spike.name.replace('spike-fpn_', 'fpn_', 1))
    assert direct_bases(spike) == [twin, SEG_SPIKE.resolve()]
    cfg, base = Config.fromfile(spike).to_dict(), Config.fromfile(twin).to_dict()
    helpers = {'neuron', 'spike_fpn_neck', 'spike_fpn_head'}
    allowed = helpers | {'load_from'} if '-t4_' in spike.name else helpers
    assert {path for path in changed(cfg, base) if not path.startswith(('model.neck.', 'model.decode_head.'))} <= \
        allowed
    assert cfg['model']['neck']['type'] == 'spikeformer_mm.SpikeSegFPN'
    assert cfg['model']['decode_head']['type'] == 'spikeformer_mm.SpikeFPNHead'
    for part, key in (('neck', 'in_channels'), ('neck', 'out_channels'), ('decode_head', 'in_channels'),
                      ('decode_head', 'channels'), ('decode_head', 'num_classes'),
                      ('decode_head', 'feature_strides')):
        assert cfg['model'][part][key] == base['model'][part][key], (part, key)


@pytest.mark.parametrize('spike', SPIKE_DET_CONFIGS, ids=lambda p: p.stem)
def test_spike_fpn_detectors_are_their_fpn_twin_with_neck_and_heads_swapped(spike):
    twin = spike.with_name(spike.name.replace('_spike-fpn_', '_fpn_'))
    assert direct_bases(spike) == [twin, MASK_RCNN_SPIKE.resolve()]
    cfg, base = Config.fromfile(spike).to_dict(), Config.fromfile(twin).to_dict()
    assert changed(cfg, base) == {
        'neuron', 'spike_fpn',
        'model.neck.type', 'model.neck.neuron_cfg', 'model.rpn_head.type', 'model.rpn_head.neuron_cfg',
        'model.roi_head.bbox_head.type', 'model.roi_head.bbox_head.num_shared_fcs',
        'model.roi_head.bbox_head.neuron_cfg', 'model.roi_head.mask_head.type', 'model.roi_head.mask_head.neuron_cfg'}
