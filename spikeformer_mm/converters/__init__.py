"""Converters from released BICLab checkpoints to this project's module names.

A family converter is registered with :func:`register_family` and maps a reference ``state_dict`` (the
checkpoint's ``model`` entry, reference key names) to a classifier ``state_dict`` whose keys start with
``backbone.``, ``neck.`` or ``head.``.
"""
from typing import Callable, Dict

FAMILIES: Dict[str, Callable[[dict], dict]] = {}


def register_family(name: str):
    """Decorator: ``@register_family('v2')`` on ``def convert(state_dict: dict) -> dict``."""

    def wrap(fn):
        if name in FAMILIES:
            raise KeyError(f'converter family {name!r} is already registered')
        FAMILIES[name] = fn
        return fn

    return wrap
