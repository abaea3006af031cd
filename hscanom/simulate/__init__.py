"""Simulated HSC PDR2 data with injected anomalies, in the formats the pipeline ingests.

``simulate(out_dir, n=5000, anomaly_fraction=0.02, seed=1)`` writes a CAS CSV catalog, HSC
cutout-service FITS files (IMAGE / MASK / VARIANCE) drawn with GalSim, the bright-star list and
its DS9 masks, and the anomaly labels. See ``docs/simulator.md`` for what is simulated.

Modules: :mod:`~hscanom.simulate.survey` (instrument numbers), :mod:`~.field` (sky map, WCS,
ids), :mod:`~.stars` and :mod:`~.masks` (bright stars and their DS9 masks), :mod:`~.galaxies`
and :mod:`~.anomalies` (light models), :mod:`~.components` (GalSim profiles),
:mod:`~.starlight` and :mod:`~.artifacts` (scattered light, streaks), :mod:`~.cutouts`
(rendering) and :mod:`~.fitsfile` (FITS writing), :mod:`~.measure` and :mod:`~.catalog`
(catalog values and CSV), :mod:`~.cuts` (sample selection), :mod:`~.population` (classes,
positions, ids), :mod:`~.seeding` (random streams), :mod:`~.runner` (the driver) and
:mod:`~.gallery` (labelled PNG grids of cutouts).
"""

from hscanom.simulate.anomalies import ALL_CLASSES, ANOMALY_CLASSES, NORMAL
from hscanom.simulate.cutouts import MASK_PLANES, cutout_filename
from hscanom.simulate.cuts import CUTS, cut_failures, passes_cuts
from hscanom.simulate.runner import SimulationSummary, simulate
from hscanom.simulate.stars import mask_radius

__all__ = [
    "ALL_CLASSES",
    "ANOMALY_CLASSES",
    "CUTS",
    "MASK_PLANES",
    "NORMAL",
    "SimulationSummary",
    "cut_failures",
    "cutout_filename",
    "mask_radius",
    "passes_cuts",
    "simulate",
]
