"""Pixel artefacts: satellite trails and cosmic-ray streaks (see :class:`~hscanom.simulate.anomalies.Streak`)."""

from __future__ import annotations

import numpy as np

from hscanom.simulate.anomalies import Streak
from hscanom.simulate.survey import CUTOUT_SIZE


def streak_image(streak: Streak, x0: float, y0: float, size: int = CUTOUT_SIZE) -> np.ndarray:
    """Counts per pixel of ``streak`` on a cutout whose object is at pixel (x0, y0).

    The line passes ``streak.impact`` pixels from the object; a Gaussian cross-section of
    ``streak.sigma`` pixels; finite streaks fade out over one ``sigma`` at their ends.

    Returns:
        float64 ``(size, size)`` array.
    """
    j, i = np.mgrid[0:size, 0:size]
    dx, dy = i - x0, j - y0
    c, s = np.cos(streak.angle), np.sin(streak.angle)
    along = dx * c + dy * s - streak.along
    perp = -dx * s + dy * c - streak.impact
    out = streak.amplitude * np.exp(-0.5 * (perp / streak.sigma) ** 2)
    if np.isfinite(streak.length):
        excess = np.maximum(np.abs(along) - streak.length / 2.0, 0.0)
        out *= np.exp(-0.5 * (excess / streak.sigma) ** 2)
    return out
