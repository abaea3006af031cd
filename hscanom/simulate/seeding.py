"""Reproducible random streams.

Every random draw of a simulation comes from a generator keyed by ``(seed, stream, index)``, so
results do not depend on the order in which objects are processed or on the number of worker
processes.
"""

from __future__ import annotations

import enum

import numpy as np


class Stream(enum.IntEnum):
    """Independent random streams of one simulation."""

    FIELD = 1  #: star field, field geometry
    POPULATION = 2  #: catalog population (classes, magnitudes, shapes, positions)
    OBJECT = 3  #: per-object construction in the parent process (anomaly geometry)
    RENDER = 4  #: per-object rendering in a worker (neighbours, noise)
    CATALOG = 5  #: catalog-only quantities (errors, flags, nulls)
    FAILING = 6  #: rows that fail the selection cuts


def rng(seed: int, stream: Stream, *index: int) -> np.random.Generator:
    """Generator for ``stream`` (and optional object ``index``) of simulation ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(stream), *map(int, index))))
