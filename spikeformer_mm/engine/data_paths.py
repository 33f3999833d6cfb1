"""Check, before a run builds anything, that the data a config points at exists; name the missing path if not.

Without this, a wrong data root shows up late and vaguely: as an empty dataset, as a failure to read the first
image, or inside a dataloader worker. :func:`check_data_paths` walks the dataloaders a run will use (through
wrappers such as ``RepeatDataset``/``ConcatDataset``) and checks each dataset's ``data_root``, ``ann_file`` and
``data_prefix`` folders, and each evaluator's ``ann_file``. Remote paths (``s3://...``) are left alone.
"""
import os.path as osp
from typing import Iterable, Iterator, List, Tuple

from mmengine.config import Config


def _is_local(path) -> bool:
    return isinstance(path, str) and path != '' and '://' not in path


def _dataset_paths(dataset: dict, where: str) -> Iterator[Tuple[str, str]]:
    """``(description, path)`` for every local path a dataset config needs, wrappers included."""
    for key in ('dataset', 'datasets'):  # RepeatDataset / ClassBalancedDataset / ConcatDataset
        inner = dataset.get(key)
        if isinstance(inner, dict):
            yield from _dataset_paths(inner, f'{where}.{key}')
        elif isinstance(inner, (list, tuple)):
            for i, d in enumerate(inner):
                yield from _dataset_paths(d, f'{where}.{key}[{i}]')
    data_root = dataset.get('data_root') or ''
    if _is_local(data_root):
        yield f'{where}.data_root', data_root
    if _is_local(dataset.get('ann_file')):
        yield f'{where}.ann_file', osp.join(data_root, dataset['ann_file'])
    prefix = dataset.get('data_prefix')
    prefixes = prefix.items() if isinstance(prefix, dict) else [('', prefix)]
    for name, folder in prefixes:
        if _is_local(folder):
            yield f'{where}.data_prefix' + (f'.{name}' if name else ''), osp.join(data_root, folder)


def _evaluator_paths(evaluator, where: str) -> Iterator[Tuple[str, str]]:
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    for i, metric in enumerate(metrics):
        if isinstance(metric, dict) and _is_local(metric.get('ann_file')):
            name = f'{where}[{i}]' if isinstance(evaluator, (list, tuple)) else where
            yield f'{name}.ann_file', metric['ann_file']


def check_data_paths(cfg: Config, phases: Iterable[str]) -> None:
    """Raise ``FileNotFoundError`` listing every missing path of ``phases`` (``'train'``, ``'val'``, ``'test'``).

    ``'val'`` is skipped when the config has no validation loop (``val_cfg`` unset).
    """
    missing: List[str] = []
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if phase == 'val' and cfg.get('val_cfg') is None:
            continue
        found = []
        if isinstance(loader, dict) and isinstance(loader.get('dataset'), dict):
            found += _dataset_paths(loader['dataset'], f'{phase}_dataloader.dataset')
        found += _evaluator_paths(cfg.get(f'{phase}_evaluator'), f'{phase}_evaluator')
        missing += [f'  {what}: {path}' for what, path in found if not osp.exists(path)]
    if missing:
        raise FileNotFoundError('data not found (set the paths with --cfg-options, or the environment variable '
                                'the config names, e.g. COCO_ROOT):\n' + '\n'.join(dict.fromkeys(missing)))
