"""No checkpoint runs code when loaded, and importing spikeformer_mm leaves mmengine's checkpoint I/O alone.

A crafted checkpoint whose unpickling would create a marker file is refused by tools/test.py, tools/train.py
(``--resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')``), the converter, the energy tool and
``mmengine.runner.load_checkpoint`` after ``import spikeformer_mm``; the marker never appears. Real checkpoints
(written by tools/train.py, BICLab's format with its ``args`` namespace) load with no opt-in, and tools/test.py
refuses a checkpoint that leaves the model's weights missing.
"""
import argparse
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from spikeformer_mm.engine.checkpoint_loading import (
    UNSAFE_LOAD_ENV,
    UnsafeCheckpointError,
    UnsafeLoadWarning,
    load_checkpoint_file,
    safe_checkpoint_loading,
)
from spikeformer_mm.engine.checkpoint_safe_globals import allowed_global_names
from spikeformer_mm.engine.complete_weights import MissingWeightsError

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / 'configs' / 'meta_spikeformer' / 'meta-spikeformer-tiny_digits.py'
# 64 training digits in batches of 32: 2 iterations per epoch, a checkpoint after each; 40 digits to evaluate
TINY_RUN = ['train_dataloader.dataset.indices=64', 'val_dataloader.dataset.indices=40',
            'test_dataloader.dataset.indices=40', 'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1']
REFUSAL = ['refused to load', '--unsafe-load', f'{UNSAFE_LOAD_ENV}=1']


class CreateMarker:
    """Unpickling this runs ``call(marker, ...)``: a shell command or ``open`` creating the marker file."""

    def __init__(self, call: str, marker: Path):
        self.call, self.marker = call, str(marker)

    def __reduce__(self):
        if self.call == 'system':
            return os.system, (f'touch {self.marker}',)
        return open, (self.marker, 'w')


def crafted_checkpoint(path: Path, marker: Path, call: str = 'system') -> Path:
    """A checkpoint shaped like a real one (weights for mmengine and for the converter) whose ``meta`` runs
    ``call`` when unpickled."""
    payload = CreateMarker(call, marker)
    torch.save({'meta': {'epoch': 1, 'hook': payload}, 'state_dict': {'backbone.x': torch.zeros(1)},
                'model': {'x': torch.zeros(1)}}, path)
    return path


@pytest.fixture
def evil(tmp_path):
    return crafted_checkpoint(tmp_path / 'evil.pth', tmp_path / 'marker')


@pytest.fixture(autouse=True)
def no_opt_in(monkeypatch):
    monkeypatch.delenv(UNSAFE_LOAD_ENV, raising=False)


def load_tool(path: str):
    spec = importlib.util.spec_from_file_location(f'tool_{Path(path).stem}', REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(args, **env):
    """A tool (or ``-c`` script) in its own process, as a user runs it."""
    env = dict(os.environ, OMP_NUM_THREADS='1', SPIKEFORMER_COMPILE='0', PYTHONPATH=str(REPO), **env)
    env.pop(UNSAFE_LOAD_ENV, None)
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def assert_refused(message: str, path: Path):
    for part in REFUSAL + [str(path), 'posix.system']:
        assert part in message, (part, message[-3000:])


# --- the crafted file ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('call', ['system', 'open'])
def test_the_crafted_file_runs_code_only_when_the_user_opts_in(tmp_path, monkeypatch, call):
    marker = tmp_path / 'marker'
    path = crafted_checkpoint(tmp_path / f'{call}.pth', marker, call)
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint_file(path)
    assert not marker.exists()
    assert str(path) in str(error.value) and '--unsafe-load' in str(error.value)
    assert ('posix.system' if call == 'system' else 'io.open') in str(error.value)
    monkeypatch.setenv(UNSAFE_LOAD_ENV, '1')  # library use: the environment variable opts in
    with pytest.warns(UnsafeLoadWarning, match=str(path)):
        load_checkpoint_file(path)
    assert marker.exists()  # proof that the file does what the other tests refuse


def test_unsafe_load_argument_opts_in_and_a_bad_environment_value_is_named(evil, tmp_path, monkeypatch):
    with pytest.warns(UnsafeLoadWarning, match='evil.pth'):
        load_checkpoint_file(evil, unsafe=True)
    assert (tmp_path / 'marker').exists()
    monkeypatch.setenv(UNSAFE_LOAD_ENV, 'yes')
    with pytest.raises(ValueError, match=f"{UNSAFE_LOAD_ENV} must be 1 .* got 'yes'"):
        load_checkpoint_file(evil)


# --- every loading path refuses it --------------------------------------------------------------------------------

def test_tools_test_refuses_it_and_exits_non_zero(evil, tmp_path):
    proc = run(['tools/test.py', DIGITS, evil, '--work-dir', tmp_path / 'work'])
    assert proc.returncode != 0
    assert_refused(proc.stderr, evil)
    assert not (tmp_path / 'marker').exists()


def test_tools_unsafe_load_flag_opts_in_with_a_warning_naming_the_file(evil, tmp_path):
    with pytest.warns(UnsafeLoadWarning, match=str(evil)), pytest.raises(MissingWeightsError):
        load_tool('tools/test.py').main([str(DIGITS), str(evil), '--unsafe-load', '--work-dir',
                                         str(tmp_path / 'work'), '--cfg-options', *TINY_RUN])
    assert (tmp_path / 'marker').exists()  # the user asked for it; the file's weights then fit no model


def test_tools_train_resume_refuses_it_and_exits_non_zero(evil, tmp_path):
    proc = run(['tools/train.py', DIGITS, '--resume', evil, '--work-dir', tmp_path / 'work', '--cfg-options',
                *TINY_RUN])
    assert proc.returncode != 0
    assert_refused(proc.stderr, evil)
    assert not (tmp_path / 'marker').exists()


@pytest.mark.parametrize('options', [
    ['load_from={}'], ['model.backbone.init_cfg.type=Pretrained', 'model.backbone.init_cfg.checkpoint={}']],
    ids=['load_from', 'init_cfg_pretrained'])
def test_tools_train_load_from_and_init_cfg_refuse_it(evil, tmp_path, options):
    with pytest.raises(UnsafeCheckpointError) as error:
        load_tool('tools/train.py').main([str(DIGITS), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                                          *TINY_RUN, *(option.format(evil) for option in options)])
    assert_refused(str(error.value), evil)
    assert not (tmp_path / 'marker').exists()


def test_converter_refuses_it(evil, tmp_path):
    dst = tmp_path / 'converted.pth'
    proc = run(['tools/model_converters/biclab_to_mm.py', evil, dst, '--family', 'v2'])
    assert proc.returncode != 0
    assert_refused(proc.stderr, evil)
    assert not (tmp_path / 'marker').exists() and not dst.exists()


def test_energy_tool_refuses_it(evil, tmp_path):
    with pytest.raises(UnsafeCheckpointError) as error:
        load_tool('tools/analysis_tools/energy.py').main([str(DIGITS), str(evil), '--input-shape', '32', '32'])
    assert_refused(str(error.value), evil)
    assert not (tmp_path / 'marker').exists()


def test_mmengine_load_checkpoint_after_import_refuses_it(evil, tmp_path):
    script = textwrap.dedent(f"""
        import torch
        import spikeformer_mm
        from mmengine.runner import load_checkpoint
        load_checkpoint(torch.nn.Linear(1, 1), {str(evil)!r})
    """)
    proc = run(['-c', script])
    assert proc.returncode != 0 and 'Weights only load failed' in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / 'marker').exists()
    # inside the package's context the same call names the file and the opt-in
    with safe_checkpoint_loading(), pytest.raises(UnsafeCheckpointError) as error:
        from mmengine.runner import load_checkpoint
        load_checkpoint(torch.nn.Linear(1, 1), str(evil))
    assert_refused(str(error.value), evil)
    assert not (tmp_path / 'marker').exists()


# --- importing the package changes nothing ------------------------------------------------------------------------

SNAPSHOT = textwrap.dedent("""
    import json, sys, torch
    import torch._dynamo  # torch allows its own _DimRange when dynamo is first imported: not the package's doing
    from mmengine.fileio.backends import backends, prefix_to_backends
    from mmengine.runner.checkpoint import CheckpointLoader

    def state():
        return dict(loaders={p: f'{f.__module__}.{f.__name__}' for p, f in CheckpointLoader._schemes.items()},
                    loader_order=list(CheckpointLoader._schemes),
                    backends={n: f'{b.__module__}.{b.__name__}' for n, b in backends.items()},
                    prefixes={p: f'{b.__module__}.{b.__name__}' for p, b in prefix_to_backends.items()},
                    safe_globals=sorted(map(str, torch.serialization.get_safe_globals())))

    before = state()
    import spikeformer_mm, spikeformer_mm.engine, spikeformer_mm.converters.biclab, spikeformer_mm.converters.v2
    from mmengine.registry import MODELS
    MODELS.build(dict(type='spikeformer_mm.SpikingGlobalAvgPool'))  # a config's implicit import of the package
    print(json.dumps(dict(before=before, after=state())))
""")


def test_importing_the_package_leaves_mmengine_loaders_and_backends_unchanged():
    proc = run(['-c', SNAPSHOT])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result['after'] == result['before']
    assert result['before']['loaders'][''] == 'mmengine.runner.checkpoint.load_from_local'
    assert result['before']['prefixes'][''] == 'mmengine.fileio.backends.local_backend.LocalBackend'


# --- real checkpoints load without any opt-in ---------------------------------------------------------------------

def metrics_of(work_dir: Path, pattern: str = '*/*.json') -> dict:
    """The metrics a test run (or, with ``'*/vis_data/scalars.json'``, a training's last validation) logged."""
    (log,) = work_dir.glob(pattern)
    return json.loads(log.read_text().splitlines()[-1])


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """tools/train.py on the digits config for 2 epochs of 2 iterations: epoch_1.pth and epoch_2.pth."""
    work_dir = tmp_path_factory.mktemp('train')
    proc = run(['tools/train.py', DIGITS, '--work-dir', work_dir, '--cfg-options', *TINY_RUN, 'train_cfg.max_epochs=2'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work_dir


def test_train_checkpoint_needs_exactly_the_allow_list(trained):
    ckpt = trained / 'epoch_1.pth'
    refused_by_torch = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(ckpt)))
    assert refused_by_torch == {'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr',
                                'numpy.ndarray', 'numpy.dtype', 'numpy._core.multiarray._reconstruct',
                                'numpy._core.multiarray.scalar'}
    assert refused_by_torch <= allowed_global_names()
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(ckpt, weights_only=True)  # torch's default refuses the message hub
    loaded = load_checkpoint_file(ckpt, map_location='cpu')
    assert loaded['meta']['epoch'] == 1 and loaded['meta']['iter'] == 2
    history = loaded['message_hub']['log_scalars']['train/loss']
    assert history.data[0].shape == (2,) and history.data[1].tolist() == [1, 1]
    assert history.statistics('current') == history.data[0][-1]  # its statistics methods came back


def test_train_checkpoint_resumes(trained, tmp_path):
    proc = run(['tools/train.py', DIGITS, '--work-dir', tmp_path, '--resume', trained / 'epoch_1.pth',
                '--cfg-options', *TINY_RUN, 'train_cfg.max_epochs=2'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Loads checkpoint by local_weights_only backend' in proc.stdout + proc.stderr
    ckpt = load_checkpoint_file(tmp_path / 'epoch_2.pth')
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 4
    # AdamW's step count went on from the resumed optimizer state (2 + 2), not from a fresh one
    assert {int(state['step']) for state in ckpt['optimizer']['state'].values()} == {4}
    (log,) = tmp_path.glob('*/vis_data/scalars.json')
    assert [json.loads(line)['iter'] for line in log.read_text().splitlines() if '"loss"' in line] == [3, 4]


def test_tools_test_evaluates_the_trained_checkpoint(trained, tmp_path):
    proc = run(['tools/test.py', DIGITS, trained / 'epoch_2.pth', '--work-dir', tmp_path, '--cfg-options',
                *TINY_RUN])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = metrics_of(tmp_path)
    # the same 40 digits as the training run's validation after its last epoch
    assert metrics['accuracy/top1'] == metrics_of(trained, '*/vis_data/scalars.json')['accuracy/top1']


# --- tools/test.py refuses missing weights ------------------------------------------------------------------------

def weights_missing(trained: Path, tmp_path: Path, kept: str):
    """A copy of the trained checkpoint holding none of the model's keys, or all but the head's."""
    weights = load_checkpoint_file(trained / 'epoch_2.pth')['state_dict']
    if kept == 'none':
        state_dict = {f'other_model.{key}': value for key, value in weights.items()}
        missing = [key for key in weights if not key.endswith('num_batches_tracked')]
    else:
        missing = sorted(key for key in weights if key.startswith('head.'))
        state_dict = {key: value for key, value in weights.items() if key not in missing}
    path = tmp_path / f'{kept}.pth'
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=2)), path)
    return path, missing, len([key for key in weights if not key.endswith('num_batches_tracked')])


@pytest.mark.parametrize('kept', ['none', 'some'])
def test_tools_test_refuses_a_checkpoint_that_leaves_weights_missing(trained, tmp_path, kept):
    path, missing, total = weights_missing(trained, tmp_path, kept)
    with pytest.raises(MissingWeightsError) as error:
        load_tool('tools/test.py').main([str(DIGITS), str(path), '--work-dir', str(tmp_path / 'work'),
                                         '--cfg-options', *TINY_RUN])
    message = str(error.value)
    assert message.startswith(f"{path} does not hold the model's weights ({len(missing)} of the model's {total} "
                              'weights are missing: ')
    assert '--allow-missing-weights' in message
    assert all(key in message for key in missing[:20])


def test_tools_test_evaluates_missing_weights_when_told_to(trained, tmp_path):
    path, missing, _ = weights_missing(trained, tmp_path, 'some')
    proc = run(['tools/test.py', DIGITS, path, '--allow-missing-weights', '--work-dir', tmp_path / 'work',
                '--cfg-options', *TINY_RUN])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (warning,) = [line for line in (proc.stdout + proc.stderr).splitlines() if 'missing keys in source' in line]
    assert sorted(warning.split(': ', 1)[1].split(', ')) == missing  # mmengine's warning, as before this change
    assert 0 <= metrics_of(tmp_path / 'work')['accuracy/top1'] <= 100


def test_weights_of_another_shape_or_missing_are_named_on_the_inferencer_path(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    weights = model.state_dict()
    weights['2.weight'] = torch.zeros(5, 3)  # a head for 5 classes
    del weights['1.running_var'], weights['1.num_batches_tracked']  # num_batches_tracked alone would be fine
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': weights}, path)
    from mmengine.runner import load_checkpoint  # what init_model / the inferencers call
    with safe_checkpoint_loading(require_complete_weights=True), pytest.raises(MissingWeightsError) as error:
        load_checkpoint(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2)),
                        str(path))
    assert str(error.value).startswith(
        f"{path} does not hold the model's weights (1 of the model's 8 weights are missing: 1.running_var; 1 have "
        'another shape: 2.weight: checkpoint (5, 3) vs model (2, 3)). ')


# --- BICLab's format ----------------------------------------------------------------------------------------------

def test_biclab_checkpoint_with_its_args_namespace_converts_and_loads(reference_dir, tmp_path):
    reference = torch.load(reference_dir / 'v2_reference_outputs.pt', weights_only=True)
    # what BICLab's save_model writes: the weights, the optimizer and scaler states, the epoch and the argparse args
    args = argparse.Namespace(batch_size=128, epochs=200, model='metaspikformer_8_512', input_size=224,
                              drop_path=0.1, clip_grad=None, lr=0.0024, blr=6e-4, cutmix_minmax=None,
                              global_pool=True, time_steps=1, nb_classes=1000, output_dir='/output', kd=False,
                              distributed=True, rank=0, gpu=0, dist_backend='nccl', dist_url='env://')
    src = tmp_path / 'checkpoint-299.pth'
    torch.save(dict(model=reference['state_dict'], optimizer={'state': {}, 'param_groups': [{'lr': 1e-6}]},
                    epoch=299, scaler={'scale': 65536.0, 'growth_factor': 2.0, '_growth_tracker': 7}, args=args),
               src)
    dst = tmp_path / 'converted.pth'
    load_tool('tools/model_converters/biclab_to_mm.py').main([str(src), str(dst), '--family', 'v2',
                                                              '--config', str(DIGITS)])
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    model = MODELS.build(Config.fromfile(DIGITS).model)
    with safe_checkpoint_loading(require_complete_weights=True):
        load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    assert torch.equal(model.state_dict()['backbone.stages.0.downsample.conv.weight'],
                       reference['state_dict']['downsample1_1.encode_conv.weight'])
