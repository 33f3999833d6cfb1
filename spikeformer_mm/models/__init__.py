"""Registered models: backbones, necks and heads for mmpretrain, mmdet and mmseg."""
from . import (
    ann_twin,  # noqa: F401
    backbones,  # noqa: F401
    classifiers,  # noqa: F401
    decode_heads,  # noqa: F401
    dense_heads,  # noqa: F401
    heads,  # noqa: F401
    necks,  # noqa: F401
    roi_heads,  # noqa: F401
    selfsup,  # noqa: F401
)
