"""Registered models: backbones, necks and heads for mmpretrain, mmdet and mmseg."""
from . import backbones  # noqa: F401
from . import decode_heads  # noqa: F401
from . import dense_heads  # noqa: F401
from . import heads  # noqa: F401
from . import necks  # noqa: F401
from . import roi_heads  # noqa: F401
