"""``simulate()``: write a complete simulated HSC dataset (catalog, cutouts, masks, labels).

Output layout of ``out_dir``::

    catalog.csv                      CAS CSV of the n catalogued objects plus ~6% rows failing a cut
    cutouts/{object_id}_HSC-{B}.fits one file per catalogued object and band
    labels.csv                       object_id,anomaly_class (every object with cutouts)
    stars.csv                        star_id,ra,dec,mag (bright stars, i-band mag)
    masks/bright_star_masks.reg      DS9 bright-star masks (fk5 circles and boxes)
    simulation.json                  parameters, code version, counts (written last)

Everything is a deterministic function of ``(n, anomaly_fraction, seed, bands)``: each object
draws from random streams keyed by ``(seed, object index)``, so the files do not depend on the
number of worker processes.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np

import hscanom
from hscanom.progress import Progress, counted
from hscanom.schema.columns import BANDS
from hscanom.simulate import cuts as cuts_module
from hscanom.simulate.anomalies import (
    ALL_CLASSES,
    NORMAL,
    PLACE_CLEAN,
    PLACE_HALO,
    PLACE_MASK,
    ObjectModel,
    build_object,
)
from hscanom.simulate.catalog import apply_failure, catalog_row, columns_of, write_catalog
from hscanom.simulate.components import half_light_radius
from hscanom.simulate.cutouts import CutoutSpec, ObjectMeasurement, render_object
from hscanom.simulate.field import Field, cutout_origin, cutout_wcs_header, sky_to_tangent
from hscanom.simulate.galaxies import draw_galaxy
from hscanom.simulate.masks import write_regions
from hscanom.simulate.population import (
    assign_classes,
    choose_in_mask,
    class_counts,
    place,
    sky_map_ids,
    zone_position,
)
from hscanom.simulate.seeding import Stream, rng
from hscanom.simulate.starlight import NearbyStar
from hscanom.simulate.stars import PIPELINE_ZONE_FRACTION, Stars, draw_stars, mask_membership, mask_radius
from hscanom.simulate.survey import (
    CUTOUT_SIZE,
    DEPTH_5SIGMA,
    PIXEL_SCALE,
    PSF_FWHM,
    ZERO_POINT,
    mag_to_counts,
    sky_sigma,
)

#: Version of the simulated data format and models (bump when outputs change).
SIMULATOR_VERSION = "1"
#: Extra catalog rows failing exactly one cut, as a fraction of n.
FAILING_FRACTION: float = 0.06
#: Share of the failing rows per cut.
FAILING_CUT_WEIGHTS: dict[str, float] = {
    "isprimary": 0.30,
    "nchild": 0.10,
    "inputcount": 0.12,
    "bright_object": 0.10,
    "edge": 0.08,
    "saturatedcenter": 0.06,
    "interpolatedcenter": 0.06,
    "crcenter": 0.05,
    "cmodel_flag": 0.05,
    "i_cmodel_mag": 0.08,
}
#: Objects closer than this many mask radii (plus the cutout half-diagonal) see a star's light.
_STAR_REACH = 2.2
_OUTPUT_NAMES = ("catalog.csv", "labels.csv", "stars.csv", "simulation.json", "cutouts", "masks")


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` wrote.

    Attributes:
        out_dir: output directory.
        n_objects: catalogued objects (all with cutouts).
        n_failing_rows: extra catalog rows failing one cut.
        class_counts: objects per class (``normal`` and the anomaly classes).
        n_in_masks: catalogued objects inside the DS9 bright-star masks.
        n_stars: bright stars in stars.csv and the mask file.
        bands: bands with cutouts.
        seed: random seed.
        elapsed_s: wall-clock time, seconds.
    """

    out_dir: Path
    n_objects: int
    n_failing_rows: int
    class_counts: dict[str, int]
    n_in_masks: int
    n_stars: int
    bands: tuple[str, ...]
    seed: int
    elapsed_s: float


def _allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` over ``weights`` by largest remainder (deterministic)."""
    names = list(weights)
    share = np.array([weights[k] for k in names]) / sum(weights.values()) * total
    counts = np.floor(share).astype(int)
    for k in np.argsort(-(share - counts), kind="stable")[: total - counts.sum()]:
        counts[k] += 1
    return dict(zip(names, counts.tolist()))


def _ebv(ra, dec):
    """Smooth Galactic E(B-V) over the field, mag (0.018-0.042)."""
    return 0.030 + 0.012 * np.sin(2 * np.pi * np.asarray(ra) / 2.3) * np.cos(2 * np.pi * np.asarray(dec) / 1.7)


def _seeing_factor(ra, dec):
    """Smooth relative variation of the PSF FWHM over the field (+-8%)."""
    return 1.0 + 0.08 * np.sin(2 * np.pi * np.asarray(ra) / 1.1) * np.sin(2 * np.pi * np.asarray(dec) / 0.8 + 1.0)


def _nearby_stars(stars: Stars, ra: np.ndarray, dec: np.ndarray, chunk: int = 1024) -> list[tuple[NearbyStar, ...]]:
    """For each position, the stars whose light reaches its cutout."""
    if len(stars) == 0:
        return [() for _ in ra]
    reach = np.maximum(_STAR_REACH * stars.radius, 20.0) + CUTOUT_SIZE * PIXEL_SCALE / np.sqrt(2.0)
    flux = {b: mag_to_counts(stars.band_mag(b)) for b in BANDS}
    out: list[tuple[NearbyStar, ...]] = []
    for start in range(0, ra.size, chunk):
        sl = slice(start, start + chunk)
        xi, eta = sky_to_tangent(stars.ra[None, :], stars.dec[None, :], ra[sl, None], dec[sl, None])
        for row_xi, row_eta in zip(xi, eta):
            near = np.flatnonzero(np.hypot(row_xi, row_eta) < reach)
            out.append(
                tuple(
                    NearbyStar(
                        dx=float(-row_xi[k]),
                        dy=float(row_eta[k]),
                        flux={b: float(flux[b][k]) for b in BANDS},
                        mag=float(stars.mag[k]),
                        zone_radius=float(PIPELINE_ZONE_FRACTION * mask_radius(stars.mag[k])),
                        ghost=(
                            float(stars.ghost_dx[k]),
                            float(stars.ghost_dy[k]),
                            float(stars.ghost_radius[k]),
                            float(stars.ghost_width[k]),
                        )
                        if stars.has_ghost[k]
                        else None,
                        spike_angle=float(stars.spike_angle[k]),
                    )
                    for k in near
                )
            )
    return out


def _failing_model(cut: str, random: np.random.Generator, bands: tuple[str, ...]) -> ObjectModel:
    if cut != "i_cmodel_mag":
        return build_object(NORMAL, random, bands=bands)
    i_mag = random.uniform(19.3, 20.0) if random.random() < 0.5 else random.uniform(20.5, 21.2)
    return ObjectModel(NORMAL, tuple(draw_galaxy(random, i_mag).components()))


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    existing = [name for name in _OUTPUT_NAMES if (out_dir / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds simulation outputs ({', '.join(existing)}); pass overwrite=True"
        )
    for name in existing:
        path = out_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    (out_dir / "cutouts").mkdir(parents=True)
    (out_dir / "masks").mkdir(parents=True)


def _default_workers(n_tasks: int) -> int:
    if n_tasks < 200:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


def _mp_context():
    """``fork`` where it is safe (POSIX, no other Python threads), else ``spawn``.

    Forked workers start at once and need no importable ``__main__``; with other threads
    running (e.g. an ML framework in the caller) a fork could deadlock, so spawn is used.
    """
    if "fork" in get_all_start_methods() and threading.active_count() == 1:
        return get_context("fork")
    return get_context("spawn")


def _run(specs: list[CutoutSpec], workers: int, progress: Progress | None) -> list[ObjectMeasurement]:
    context = _mp_context() if workers > 1 else None
    tick = counted(progress, "simulate", len(specs)) if progress else None
    results: list[ObjectMeasurement] = []
    if workers <= 1:
        for spec in specs:
            results.append(render_object(spec))
            if tick:
                tick(1)
        return results
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for result in pool.map(render_object, specs, chunksize=8):
            results.append(result)
            if tick:
                tick(1)
    return results


@dataclass
class _Plan:
    """Every catalog row before rendering: rows ``0..n-1`` are the sample, the rest fail one cut."""

    n: int
    field: Field
    stars: Stars
    counts: dict[str, int]
    classes: np.ndarray
    models: list[ObjectModel]
    fail_cuts: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    tract: np.ndarray
    patch_x: np.ndarray
    patch_y: np.ndarray
    object_id: np.ndarray
    parent_id: np.ndarray
    x_tract: np.ndarray
    y_tract: np.ndarray


def _plan(n: int, anomaly_fraction: float, seed: int, bands: tuple[str, ...]) -> _Plan:
    """Classes, light models, positions and ids of all rows."""
    n_fail = int(round(FAILING_FRACTION * n))
    field = Field.for_rows(n + n_fail)
    pop = rng(seed, Stream.POPULATION)
    counts = class_counts(n, anomaly_fraction, pop)
    stars = draw_stars(rng(seed, Stream.FIELD), field, min_bright=int(np.ceil(counts["bright_star"] / 3)))
    classes = assign_classes(counts, pop)
    in_mask = choose_in_mask(classes, pop)
    models = [
        build_object(classes[k], rng(seed, Stream.OBJECT, k), bands=bands, in_mask=bool(in_mask[k])) for k in range(n)
    ]
    ra, dec = place([m.placement for m in models], pop, field, stars)

    fail_rng = rng(seed, Stream.FAILING)
    fail_counts = _allocate(n_fail, FAILING_CUT_WEIGHTS)
    fail_cuts = np.array([c for c, k in fail_counts.items() for _ in range(k)], dtype=object)
    fail_cuts = fail_cuts[fail_rng.permutation(n_fail)]
    models += [_failing_model(cut, rng(seed, Stream.OBJECT, n + j), bands) for j, cut in enumerate(fail_cuts)]
    fail_ra, fail_dec = field.uniform(fail_rng, n_fail)
    for j in np.flatnonzero(fail_cuts == "bright_object"):
        fail_ra[j], fail_dec[j] = zone_position(fail_rng, stars)
    ra, dec = np.concatenate([ra, fail_ra]), np.concatenate([dec, fail_dec])
    tract, px, py, object_id, parent_id, x_tract, y_tract = sky_map_ids(ra, dec, pop)
    return _Plan(
        n,
        field,
        stars,
        counts,
        classes,
        models,
        fail_cuts,
        ra,
        dec,
        tract,
        px,
        py,
        object_id,
        parent_id,
        x_tract,
        y_tract,
    )


def _specs(plan: _Plan, seed: int, bands: tuple[str, ...], cutout_dir: Path) -> list[CutoutSpec]:
    """Render specs of all rows (rows failing a cut are measured but get no cutouts)."""
    nearby = _nearby_stars(plan.stars, plan.ra, plan.dec)
    seeing = _seeing_factor(plan.ra, plan.dec)
    specs = []
    for k, model in enumerate(plan.models):
        local = rng(seed, Stream.OBJECT, k, 1)
        origin = cutout_origin(plan.x_tract[k], plan.y_tract[k], *local.integers(-4, 5, 2))
        obj = [c for c in model.components if c.in_object]
        depth_jitter = np.exp(local.normal(0.0, 0.1))
        specs.append(
            CutoutSpec(
                index=k,
                seed=seed,
                object_id=int(plan.object_id[k]),
                model=model,
                x0=float(plan.x_tract[k] - origin[0]),
                y0=float(plan.y_tract[k] - origin[1]),
                wcs=cutout_wcs_header(int(plan.tract[k]), *origin),
                tract=int(plan.tract[k]),
                patch=(int(plan.patch_x[k]), int(plan.patch_y[k])),
                psf_fwhm={b: float(PSF_FWHM[b] * seeing[k] * (1 + local.normal(0, 0.02))) for b in BANDS},
                sky_sigma={b: float(sky_sigma(b) * depth_jitter * model.noise_scale[b]) for b in BANDS},
                pedestal={b: float(local.normal(0.0, 0.05 * sky_sigma(b))) for b in BANDS},
                stars=nearby[k],
                footprint_radius=float(np.clip(2.5 * half_light_radius(obj, "i"), 1.5, 4.5) / PIXEL_SCALE),
                bands=bands if k < plan.n else (),
                out_dir=str(cutout_dir),
            )
        )
    return specs


def _rows(plan: _Plan, specs: list[CutoutSpec], measurements: list[ObjectMeasurement], seed: int) -> list[dict]:
    """Catalog rows of all objects, in plan order; checks that each row passes/fails as planned."""
    ebv = _ebv(plan.ra, plan.dec)
    rows = []
    for k, (spec, meas) in enumerate(zip(specs, measurements)):
        row = catalog_row(
            object_id=plan.object_id[k],
            parent_id=plan.parent_id[k],
            ra=plan.ra[k],
            dec=plan.dec[k],
            tract=plan.tract[k],
            patch=(plan.patch_x[k], plan.patch_y[k]),
            model=plan.models[k],
            spec=spec,
            measurement=meas,
            ebv=ebv[k],
            rng=rng(seed, Stream.CATALOG, k),
        )
        if k >= plan.n:
            apply_failure(row, plan.fail_cuts[k - plan.n], rng(seed, Stream.FAILING, k))
        rows.append(row)
    _check_cuts(rows, plan.n, plan.fail_cuts)
    return rows


def _write_tables(out_dir: Path, plan: _Plan, rows: list[dict]) -> None:
    """catalog.csv (sorted by object_id), labels.csv, stars.csv and the DS9 mask file."""
    order = np.argsort(plan.object_id, kind="stable")
    write_catalog(out_dir / "catalog.csv", [rows[k] for k in order])
    labels = [f"{int(plan.object_id[k])},{plan.classes[k]}" for k in order if k < plan.n]
    (out_dir / "labels.csv").write_text("\n".join(["object_id,anomaly_class", *labels]) + "\n")
    stars = plan.stars
    star_lines = [
        f"{int(s)},{r:.6f},{d:.6f},{m:.3f}" for s, r, d, m in zip(stars.star_id, stars.ra, stars.dec, stars.mag)
    ]
    (out_dir / "stars.csv").write_text("\n".join(["star_id,ra,dec,mag", *star_lines]) + "\n")
    write_regions(out_dir / "masks" / "bright_star_masks.reg", stars)


def _record(plan: _Plan, anomaly_fraction: float, seed: int, bands: tuple[str, ...], n_in_masks: int) -> dict:
    """Contents of simulation.json (no timings: the file is deterministic too)."""
    n, n_fail = plan.n, len(plan.fail_cuts)
    return {
        "simulator": "hscanom.simulate",
        "simulator_version": SIMULATOR_VERSION,
        "code_version": hscanom.__version__,
        "parameters": {"n": n, "anomaly_fraction": anomaly_fraction, "seed": seed, "bands": list(bands)},
        "seed": seed,
        "n_objects": n,
        "n_rows": n + n_fail,
        "n_rows_failing_cuts": n_fail,
        "rows_failing_per_cut": {c: int(np.count_nonzero(plan.fail_cuts == c)) for c in FAILING_CUT_WEIGHTS},
        "class_counts": {c: plan.counts.get(c, 0) for c in ALL_CLASSES},
        "n_anomalies": n - plan.counts[NORMAL],
        "n_in_bright_star_masks": n_in_masks,
        "n_stars": len(plan.stars),
        "field_deg": {
            "ra_min": plan.field.ra_min,
            "ra_max": plan.field.ra_max,
            "dec_min": plan.field.dec_min,
            "dec_max": plan.field.dec_max,
        },
        "tracts": sorted({int(t) for t in plan.tract}),
        "cutout_size_pixels": CUTOUT_SIZE,
        "pixel_scale_arcsec": PIXEL_SCALE,
        "zero_point_mag": ZERO_POINT,
        "psf_fwhm_arcsec": PSF_FWHM,
        "depth_5sigma_mag": DEPTH_5SIGMA,
        "placements": {
            p: sum(m.placement == p for m in plan.models[:n]) for p in (PLACE_CLEAN, PLACE_MASK, PLACE_HALO)
        },
    }


def simulate(
    out_dir,
    n: int = 5000,
    anomaly_fraction: float = 0.02,
    seed: int = 1,
    bands: tuple[str, ...] = ("g", "r", "i"),
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
) -> SimulationSummary:
    """Simulate an HSC PDR2-like dataset of ``n`` galaxies with injected anomalies.

    Args:
        out_dir: output directory (created; must not already hold outputs unless ``overwrite``).
        n: number of catalogued objects passing the sample cuts (each gets cutouts).
        anomaly_fraction: fraction of the ``n`` objects that are anomalies, spread evenly over
            :data:`~hscanom.simulate.anomalies.ANOMALY_CLASSES`.
        seed: random seed; the outputs are a deterministic function of the arguments.
        bands: bands to write cutouts for (subset of g, r, i, z, y).
        progress: called as ``progress("simulate", objects_done, objects_total)`` as cutouts
            are rendered (:class:`hscanom.progress.Progress`); ``None``: quiet.
        workers: worker processes (default: one per available core, 1 for small runs).
        overwrite: replace the outputs of an earlier run in ``out_dir``.

    Returns:
        A :class:`SimulationSummary`. ``simulation.json`` is written last: a directory without
        it holds an interrupted run.
    """
    start = time.perf_counter()
    bands = tuple(bands)
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    if not bands or any(b not in BANDS for b in bands) or len(set(bands)) != len(bands):
        raise ValueError(f"bands must be distinct names from {BANDS}, got {bands}")
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, overwrite)

    plan = _plan(n, anomaly_fraction, seed, bands)
    specs = _specs(plan, seed, bands, out_dir / "cutouts")
    measurements = _run(specs, workers if workers is not None else _default_workers(len(specs)), progress)
    rows = _rows(plan, specs, measurements, seed)
    _write_tables(out_dir, plan, rows)

    in_circle, in_box = mask_membership(plan.stars, plan.ra[:n], plan.dec[:n])
    n_in_masks = int(np.count_nonzero(in_circle | in_box))
    record = _record(plan, anomaly_fraction, seed, bands, n_in_masks)
    (out_dir / "simulation.json").write_text(json.dumps(record, indent=2) + "\n")
    return SimulationSummary(
        out_dir=out_dir,
        n_objects=n,
        n_failing_rows=len(plan.fail_cuts),
        class_counts=record["class_counts"],
        n_in_masks=n_in_masks,
        n_stars=len(plan.stars),
        bands=bands,
        seed=seed,
        elapsed_s=time.perf_counter() - start,
    )


def _check_cuts(rows: list[dict[str, object]], n: int, fail_cuts: np.ndarray) -> None:
    """The first ``n`` rows pass every cut; each later row fails exactly its own cut."""
    failures = cuts_module.cut_failures(columns_of(rows))
    names = list(failures)
    matrix = np.array([failures[c] for c in names]).T
    for k, failed in enumerate(matrix):
        expected = set() if k < n else {fail_cuts[k - n]}
        got = {names[j] for j in np.flatnonzero(failed)}
        if got != expected:
            raise RuntimeError(f"simulated row {k} fails cuts {sorted(got)}, expected {sorted(expected)}")
