"""The shared preprocessing under its historical name: see :mod:`hscanom.imaging`.

The pure-numpy Lupton mapping lives in the foundation module :mod:`hscanom.imaging`, so that
packing, the simulator, releases and the explorer need not import ``hscanom.ml``; this module
re-exports it for code that imports ``hscanom.ml.preprocess``. It must not import tensorflow.
"""

from __future__ import annotations

from hscanom.imaging import (
    LUPTON_MINIMUM,
    LUPTON_Q,
    LUPTON_STRETCH,
    lupton_rgb,
    preprocess,
    preprocess_gri,
    to_uint8,
)

__all__ = [
    "LUPTON_MINIMUM",
    "LUPTON_Q",
    "LUPTON_STRETCH",
    "lupton_rgb",
    "preprocess",
    "preprocess_gri",
    "to_uint8",
]
