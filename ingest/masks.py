"""Bright-star masks: DS9 region files and star lists to pgSphere regions.

Two sources, one table (``bright_star_mask``, one row per region, grouped by
``mask_version``):

* :func:`ingest_masks` reads DS9 region files in the syntax DS9 4.x reads: sky frames
  ``fk5``/``j2000``, ``icrs``, ``fk4``/``b1950``, ``galactic`` and ``ecliptic`` (on their own
  line or as a ``frame;`` prefix), ``circle``, ``box`` (with rotation angle), ``ellipse`` and
  ``polygon`` shapes with arguments in parentheses or separated by blanks
  (``fk5; circle 188.6 12.1 2"``), coordinates in decimal degrees (bare or ``d``), radians
  (``r``) or sexagesimal (``12:34:24``, ``12h34m24s``), sizes in degrees (bare or ``d``),
  arcsec (``"``), arcmin (``'``) or radians, ``#`` comments and ``key=value`` metadata
  (``type``/``kind``/``tag`` -> kind, ``id`` -> star id, ``mag`` -> star magnitude). A
  malformed or unsupported line (image frames, pixels, annuli, points, positions outside
  ra [0, 360) / dec [-90, 90], zero-area or self-crossing polygons) is reported with its
  file, line and reason and skipped; the rest of the file loads.
* :func:`build_masks` makes one circular halo per star of a star list (ra, dec, mag; CSV
  or FITS) with the radius law of docs/architecture.md (:data:`RADIUS_LAWS`).

Geometry (angles in degrees). Circles become ``scircle`` exactly. A box or ellipse is
defined, as in DS9 and astropy ``regions``, in the plane tangent to the sky at its centre
(gnomonic projection): a box of width ``w`` along its first axis and height ``h`` along the
second, rotated anticlockwise by ``angle`` as seen on an image with north up and east left
(the first axis points west at angle 0 and north at angle 90). Because the gnomonic projection
maps straight lines to great circles, the 4 projected corners joined by great-circle edges
(a pgSphere ``spoly``) are exactly that box. An ellipse becomes the :data:`ELLIPSE_VERTICES`-gon
circumscribed about it in the tangent plane, so the polygon covers the whole ellipse (it
overshoots by at most 1/cos(pi/N) - 1 = 0.5 % of the radius for N = 32). DS9 polygons keep
their vertices, joined by great circles (checked simple and of positive area by
:func:`check_polygon`). Positions in other sky frames are converted to ICRS with astropy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg

from hscanom import db
from hscanom.ingest.batches import (
    Reject,
    batch_lease,
    close_batch,
    fail_batch,
    file_sha256,
    open_batch,
    record_rejects,
    recover_stale_batches,
)
from hscanom.schema.types import scircle_literal, spoly_literal

#: Vertices of the polygon that stands for an ellipse.
ELLIPSE_VERTICES = 32

#: Radius laws r(m) = A0 10^(B0 (C0 - m)) + A1 10^(B1 (C1 - m)) [arcsec], m the star's magnitude.
RADIUS_LAWS: dict[str, dict[str, float]] = {
    "hsc-pdr1": {"A0": 200.0, "B0": 0.25, "C0": 7.0, "A1": 12.0, "B1": 0.05, "C1": 16.0},
}

#: DS9 sky frames and the astropy frame each one is (as in astropy ``regions``): fk4 is B1950,
#: ecliptic the barycentric mean ecliptic of J2000.
_SKY_FRAMES = {
    "icrs": "icrs", "fk5": "fk5", "j2000": "fk5", "fk4": "fk4", "b1950": "fk4",
    "galactic": "galactic", "ecliptic": "barycentricmeanecliptic",
}  # fmt: skip
#: Frames of positions on an image (no fixed place on the sky): refused.
_OTHER_FRAMES = {"image", "physical", "linear", "amplifier", "detector", "tile"} | {"wcs", "wcs0"} | {f"wcs{c}" for c in "abcdefghijklmnopqrstuvwxyz"}
#: ``shape(args)`` or ``shape args`` (DS9 reads both), with an optional include/exclude sign.
_SHAPE = re.compile(r"^([+-]?)\s*([a-z]+)\s*(?:\((.*)\)\s*|\s+(.*)|)$", re.IGNORECASE | re.DOTALL)
#: Shapes DS9 knows that are not areas of the sky a mask can hold.
_NOT_MASKS = {"point", "line", "vector", "text", "ruler", "compass", "projection", "annulus", "panda", "epanda", "bpanda", "composite", "segment"}
_META = re.compile(r"(\w+)\s*=\s*(\{[^}]*\}|\"[^\"]*\"|'[^']*'|[^\s,]+)")
_SIZE_UNITS = {'"': 1 / 3600, "'": 1 / 60, "d": 1.0, "r": 180 / np.pi}


class MaskError(ValueError):
    """A mask source that cannot be loaded as a whole (or a version conflict)."""


@dataclass
class MaskRegion:
    """One region, ready to store.

    Attributes:
        shape: ``circle``, ``box``, ``ellipse`` or ``polygon`` (as in the source).
        frame: the astropy name of the frame of the numbers below (``icrs`` once loaded).
        center: (ra, dec) of a circle [deg].
        radius: radius of a circle [deg].
        vertices: ``(k, 2)`` (ra, dec) of a polygon [deg], in order.
        kind: ``halo``, ``ghost``, ... when the source says.
        star_id, star_mag: the star the region belongs to, when known.
        source: ``file:line``.
    """

    shape: str
    frame: str = "icrs"
    center: tuple[float, float] | None = None
    radius: float | None = None
    vertices: np.ndarray | None = None
    kind: str | None = None
    star_id: int | None = None
    star_mag: float | None = None
    source: str | None = None

    def literal(self) -> tuple[str | None, str | None]:
        """(scircle text, spoly text): exactly one is set."""
        if self.shape == "circle":
            ra, dec = self.center
            return scircle_literal(float(ra) % 360.0, float(dec), float(self.radius)), None
        return None, spoly_literal([(ra % 360.0, dec) for ra, dec in self.vertices.tolist()])


# -- geometry -------------------------------------------------------------------------------
def tangent_to_sky(ra0, dec0, xi, eta) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic deprojection: offsets (xi east, eta north) [rad] around (ra0, dec0) [deg].

    Broadcasts; returns (ra in [0, 360), dec) in degrees.
    """
    a0, d0 = np.radians(ra0), np.radians(dec0)
    xi, eta = np.asarray(xi, dtype=float), np.asarray(eta, dtype=float)
    denom = np.cos(d0) - eta * np.sin(d0)
    ra = a0 + np.arctan2(xi, denom)
    dec = np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def _rotated(ra, dec, u, v, angle) -> np.ndarray:
    """Sky positions of tangent-plane points (u along the region's first axis, v along the
    second) [rad], for regions at (ra, dec) rotated by ``angle`` [deg]; shape (..., k, 2)."""
    t = np.radians(np.asarray(angle, dtype=float))[..., None]
    # The first axis points west at angle 0 and north at angle 90 (anticlockwise on an
    # image with north up and east left); the second axis is 90 deg further.
    xi = -u * np.cos(t) + v * np.sin(t)
    eta = u * np.sin(t) + v * np.cos(t)
    ra_v, dec_v = tangent_to_sky(np.asarray(ra)[..., None], np.asarray(dec)[..., None], xi, eta)
    return np.stack([ra_v, dec_v], axis=-1)


def box_vertices(ra, dec, width, height, angle) -> np.ndarray:
    """Corners of boxes (DS9 ``box``), shape ``(..., 4, 2)`` (ra, dec) [deg], in order.

    Args:
        ra, dec: centres [deg]. width, height: full sizes [deg]. angle: rotation [deg].
    """
    hw, hh = np.radians(np.asarray(width)) / 2, np.radians(np.asarray(height)) / 2
    su = np.array([1.0, -1.0, -1.0, 1.0])
    sv = np.array([1.0, 1.0, -1.0, -1.0])
    return _rotated(ra, dec, np.asarray(hw)[..., None] * su, np.asarray(hh)[..., None] * sv, angle)


def ellipse_vertices(ra, dec, r1, r2, angle, n: int = ELLIPSE_VERTICES) -> np.ndarray:
    """Vertices of the n-gon circumscribed about ellipses (DS9 ``ellipse``), ``(..., n, 2)``.

    Args:
        ra, dec: centres [deg]. r1, r2: semi-axes along the first and second axis [deg].
        angle: rotation [deg].
    """
    phi = 2 * np.pi * (np.arange(n) + 0.5) / n
    scale = 1 / np.cos(np.pi / n)
    u = np.radians(np.asarray(r1))[..., None] * scale * np.cos(phi)
    v = np.radians(np.asarray(r2))[..., None] * scale * np.sin(phi)
    return _rotated(ra, dec, u, v, angle)


def radius_law(mag, law: str = "hsc-pdr1", **params: float) -> np.ndarray:
    """Mask radius [arcsec] of stars of magnitude ``mag`` under ``law``.

    ``params`` override the law's coefficients (``A0``, ``B0``, ``C0``, ``A1``, ``B1``, ``C1``).
    """
    if law not in RADIUS_LAWS:
        raise MaskError(f"unknown radius law {law!r} (known: {', '.join(RADIUS_LAWS)})")
    unknown = set(params) - set(RADIUS_LAWS[law])
    if unknown:
        raise MaskError(f"unknown radius-law parameter(s) {', '.join(sorted(unknown))} (known: A0 B0 C0 A1 B1 C1)")
    p = {**RADIUS_LAWS[law], **params}
    m = np.asarray(mag, dtype=float)
    return p["A0"] * 10 ** (p["B0"] * (p["C0"] - m)) + p["A1"] * 10 ** (p["B1"] * (p["C1"] - m))


# -- DS9 ------------------------------------------------------------------------------------
def _coordinate(token: str, is_lon: bool, frame: str = "icrs") -> float:
    """A longitude (``is_lon``) or latitude [deg] from a DS9 coordinate token.

    Decimal degrees (bare or ``d``), radians (``r``), sexagesimal with colons (hours for
    the longitude of equatorial frames, degrees for galactic and ecliptic, as DS9) or with
    letters (``10h00m00s``, ``+02d00m00s``).

    Raises:
        ValueError: not a sky coordinate (e.g. pixels), or outside [0, 360) / [-90, 90].
    """
    from astropy.coordinates import Angle

    text = token.strip()
    lower = text.lower()
    if lower.endswith(("p", "i")):
        raise ValueError(f"coordinate {token!r} is in pixels; only sky coordinates are supported")
    if ":" in lower:
        hours = is_lon and frame not in ("galactic", "barycentricmeanecliptic")
        value = float(Angle(text, unit="hourangle" if hours else "deg").deg)
    elif re.search(r"\d[hms]", lower) or re.search(r"\dd\d", lower):
        value = float(Angle(text).deg)
    elif lower.endswith("r"):
        value = float(np.degrees(float(lower[:-1])))
    else:
        value = float(lower[:-1] if lower.endswith("d") else lower)
    name = ("ra" if frame not in ("galactic", "barycentricmeanecliptic") else "lon") if is_lon else ("dec" if frame not in ("galactic", "barycentricmeanecliptic") else "lat")
    if is_lon and not 0.0 <= value < 360.0:
        raise ValueError(f"{name} {token} out of range [0, 360) deg")
    if not is_lon and not -90.0 <= value <= 90.0:
        raise ValueError(f"{name} {token} out of range [-90, 90] deg")
    if not np.isfinite(value):
        raise ValueError(f"coordinate {token!r} is not a number")
    return value


def _size(token: str) -> float:
    """A size in degrees from a DS9 size token (bare or ``d`` degrees, ``"``, ``'``, ``r``)."""
    token = token.strip()
    unit = token[-1] if token and token[-1] in _SIZE_UNITS else "d"
    number = token[:-1] if token and token[-1] in _SIZE_UNITS else token
    if number.endswith(("p", "i")) or token.endswith(("p", "i")):
        raise ValueError(f"size {token!r} is in pixels; only sky sizes (\", ', d, r) are supported")
    value = float(number) * _SIZE_UNITS[unit]
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"size {token!r} must be positive")
    return value


def _angle(token: str) -> float:
    """A rotation angle [deg] from a DS9 angle token (bare or ``d`` degrees, ``r`` radians)."""
    token = token.strip()
    if token.endswith("r"):
        return float(np.degrees(float(token[:-1])))
    value = float(token[:-1] if token.endswith("d") else token)
    if not np.isfinite(value):
        raise ValueError(f"angle {token!r} is not a number")
    return value


def _metadata(comment: str) -> dict[str, str]:
    return {k.lower(): v.strip("{}\"'") for k, v in _META.findall(comment)}


def _shape_region(shape: str, args: list[str], frame: str) -> MaskRegion:
    """A region from a DS9 shape and its arguments (raises ValueError when malformed)."""
    if shape == "circle":
        if len(args) != 3:
            raise ValueError(f"circle needs 3 arguments (ra, dec, radius), got {len(args)}")
        center = (_coordinate(args[0], True, frame), _coordinate(args[1], False, frame))
        return MaskRegion("circle", frame, center=center, radius=_size(args[2]))
    if shape in ("box", "ellipse"):
        if len(args) > 5:
            raise ValueError(f"{shape} with several sizes is an annulus, which is not a mask region")
        if len(args) not in (4, 5):
            raise ValueError(f"{shape} needs 4 or 5 arguments (ra, dec, size1, size2[, angle]), got {len(args)}")
        ra, dec = _coordinate(args[0], True, frame), _coordinate(args[1], False, frame)
        s1, s2 = _size(args[2]), _size(args[3])
        angle = _angle(args[4]) if len(args) == 5 else 0.0
        if shape == "box":
            if max(s1, s2) >= 90:
                raise ValueError("box larger than 90 deg")
            return MaskRegion("box", frame, vertices=box_vertices(ra, dec, s1, s2, angle))
        if max(s1, s2) >= 45:
            raise ValueError("ellipse larger than 45 deg")
        return MaskRegion("ellipse", frame, vertices=ellipse_vertices(ra, dec, s1, s2, angle))
    if shape == "polygon":
        if len(args) < 6 or len(args) % 2:
            raise ValueError(f"polygon needs at least 3 (ra, dec) pairs, got {len(args)} numbers")
        vertices = np.array(
            [(_coordinate(args[i], True, frame), _coordinate(args[i + 1], False, frame)) for i in range(0, len(args), 2)]
        )
        check_polygon(vertices)
        return MaskRegion("polygon", frame, vertices=vertices)
    if shape in _NOT_MASKS:
        raise ValueError(f"shape {shape!r} is not a mask region (circle, box, ellipse, polygon)")
    raise ValueError(f"not a DS9 region, frame or global line (unknown word {shape!r})")


def check_polygon(vertices: np.ndarray) -> None:
    """Refuse a polygon (``(k, 2)`` lon, lat [deg], great-circle edges) that is not a simple
    polygon of positive area.

    The vertices are projected gnomonically about their mean direction. That projection maps
    great circles to straight lines, so the spherical polygon is simple (no edge crosses
    another) and has positive area exactly when the planar one does; the planar test is
    shapely's ``is_valid`` (OGC simple-feature rules). Polygons reaching 80 deg or more from
    that centre are refused too (they would need a hemisphere or more).

    Raises:
        ValueError: with the reason (zero area, self-crossing, too large).
    """
    import shapely

    lon, lat = np.radians(vertices[:, 0]), np.radians(vertices[:, 1])
    unit = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    if len(np.unique(np.round(unit, 15), axis=0)) < 3:
        raise ValueError("polygon has fewer than 3 distinct vertices (zero area)")
    centre = unit.mean(axis=0)
    norm = np.linalg.norm(centre)
    if norm < 1e-12:
        raise ValueError("polygon vertices surround the sphere's centre (more than a hemisphere)")
    centre /= norm
    cos_dist = unit @ centre
    if np.min(cos_dist) <= np.cos(np.radians(80.0)):
        raise ValueError("polygon reaches 80 deg or more from its centre; split it into smaller polygons")
    # tangent-plane basis at the centre: east and north
    east = np.cross([0.0, 0.0, 1.0], centre)
    if np.linalg.norm(east) < 1e-12:
        east = np.array([0.0, 1.0, 0.0])
    east /= np.linalg.norm(east)
    north = np.cross(centre, east)
    plane = unit / cos_dist[:, None]
    xy = np.column_stack([plane @ east, plane @ north])
    extent = float(np.ptp(xy, axis=0).max())
    spread = np.linalg.svd(xy - xy.mean(axis=0), compute_uv=False)
    if spread[-1] <= 1e-12 * max(extent, 1e-300) * np.sqrt(len(xy)):
        raise ValueError("polygon has zero area (its vertices lie on one great circle)")
    polygon = shapely.Polygon(xy)
    if not polygon.is_valid:
        reason = shapely.is_valid_reason(polygon)
        raise ValueError(f"polygon edges cross each other ({reason.split('[')[0].strip().lower()}); a mask polygon must be simple")


def _split_statements(line: str) -> tuple[list[str], str]:
    """The ``;``-separated statements of a line and its ``#`` comment."""
    code, _, comment = line.partition("#")
    return [s.strip() for s in code.split(";") if s.strip()], comment


def parse_ds9(path: Path | str) -> tuple[list[MaskRegion], list[Reject]]:
    """Regions of a DS9 file and the lines refused (with line numbers)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise MaskError(f"{path}: cannot read as a DS9 region file: {exc}") from None
    regions: list[MaskRegion] = []
    rejects: list[Reject] = []
    frame: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        statements, comment = _split_statements(line.strip())
        for statement in statements:
            word = statement.lower()
            if word in _SKY_FRAMES:
                frame = _SKY_FRAMES[word]
                continue
            if word in _OTHER_FRAMES:
                frame = word
                continue
            if word.startswith("global") or word.startswith("# region file"):
                continue
            match = _SHAPE.match(statement)
            try:
                if not match:
                    raise ValueError("not a DS9 region, frame or global line")
                sign, shape = match.group(1), match.group(2).lower()
                body = match.group(3) if match.group(3) is not None else (match.group(4) or "")
                if sign == "-":
                    raise ValueError("exclusion regions ('-shape') are not supported in masks")
                if frame is None:
                    raise ValueError("no coordinate frame (fk5, icrs, ...) before the first region")
                if frame not in _SKY_FRAMES.values():
                    raise ValueError(
                        f"frame {frame!r} is not supported: positions on an image have no fixed place on the sky "
                        "(sky frames: fk5, icrs, j2000, fk4, b1950, galactic, ecliptic)"
                    )
                args = [a for a in re.split(r"[,\s]+", body.strip()) if a]
                region = _shape_region(shape, args, frame)
            except (ValueError, TypeError, ArithmeticError) as exc:
                rejects.append(Reject(number, None, line.strip(), str(exc)))
                continue
            meta = _metadata(comment)
            region.kind = meta.get("type") or meta.get("kind") or meta.get("tag")
            region.source = f"{path.name}:{number}"
            try:
                if "id" in meta or "star_id" in meta:
                    region.star_id = int(meta.get("id") or meta.get("star_id"))
                if "mag" in meta or "star_mag" in meta:
                    region.star_mag = float(meta.get("mag") or meta.get("star_mag"))
            except ValueError:
                rejects.append(Reject(number, "metadata", comment.strip(), "star id must be an integer and mag a number"))
                continue
            regions.append(region)
    _to_icrs(regions)
    return regions, rejects


def _to_icrs(regions: Sequence[MaskRegion]) -> None:
    """Convert the positions of regions in other sky frames to ICRS, one vectorised
    astropy transform per frame (fk5 J2000, fk4 B1950, galactic, barycentric mean ecliptic)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    for frame in sorted({r.frame for r in regions} - {"icrs"}):
        group = [r for r in regions if r.frame == frame]
        points = np.concatenate([np.atleast_2d(r.center) if r.shape == "circle" else r.vertices for r in group])
        icrs = SkyCoord(points[:, 0] * u.deg, points[:, 1] * u.deg, frame=frame).icrs
        converted = np.column_stack([icrs.ra.deg % 360.0, icrs.dec.deg])
        at = 0
        for r in group:
            if r.shape == "circle":
                r.center = (float(converted[at, 0]), float(converted[at, 1]))
                at += 1
            else:
                k = len(r.vertices)
                r.vertices = converted[at : at + k]
                at += k
            r.frame = "icrs"


# -- star lists -----------------------------------------------------------------------------
def read_starlist(path: Path | str) -> tuple[dict[str, np.ndarray], np.ndarray, list[Reject]]:
    """Stars of a CSV (header: ra, dec, mag[, star_id]) or FITS table.

    Returns ({"ra", "dec", "mag", "star_id"}, 1-based line/row numbers, refused rows); rows
    without a finite ra/dec/mag or out of range are refused. ``star_id`` is int64 (-1 when
    absent).
    """
    from hscanom.ingest.readers import CatalogFileError, open_catalog

    import pyarrow as pa
    import pyarrow.compute as pc

    path = Path(path)
    try:
        reader = open_catalog(path)
    except CatalogFileError as exc:
        raise MaskError(str(exc)) from None
    try:
        names = set(reader.names)
        missing = [c for c in ("ra", "dec", "mag") if c not in names]
        if missing:
            raise MaskError(f"{path}: star list has no {', '.join(missing)} column (columns: {', '.join(reader.names)})")
        types = {"ra": pa.float64(), "dec": pa.float64(), "mag": pa.float64(), "star_id": pa.int64()}
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("ra", "dec", "mag", "star_id")}
        lines: list[np.ndarray] = []
        rejects: list[Reject] = []
        for block in reader.blocks(types):
            values = {}
            bad = np.zeros(block.table.num_rows, dtype=bool)
            for name in ("ra", "dec", "mag"):
                try:
                    arr = pc.cast(block.table.column(name), pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    arr = pa.array([_float_or_nan(v) for v in block.table.column(name).to_pylist()], type=pa.float64())
                values[name] = pc.fill_null(arr, np.nan).to_numpy(zero_copy_only=False)
            for name, ok in (
                ("ra", (values["ra"] >= 0) & (values["ra"] < 360)),
                ("dec", (values["dec"] >= -90) & (values["dec"] <= 90)),
                ("mag", np.isfinite(values["mag"])),
            ):
                for i in np.flatnonzero(~ok & ~bad):
                    raw = block.table.column(name)[int(i)].as_py()
                    rejects.append(Reject(int(block.lines[i]), name, None if raw is None else str(raw), f"{name} missing or out of range"))
                bad |= ~ok
            if "star_id" in names:
                try:
                    ids = pc.fill_null(pc.cast(block.table.column("star_id"), pa.int64()), -1).to_numpy(zero_copy_only=False)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise MaskError(f"{path}: star_id must hold 64-bit integers") from None
            else:
                ids = np.full(block.table.num_rows, -1, dtype=np.int64)
            good = ~bad
            for name in ("ra", "dec", "mag"):
                cols[name].append(values[name][good])
            cols["star_id"].append(ids[good].astype(np.int64))
            lines.append(block.lines[good])
        rejects = sorted(reader.rejects + rejects, key=lambda r: r.line or 0)
    finally:
        reader.close()
    stars = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    return stars, (np.concatenate(lines) if lines else np.zeros(0, np.int64)), rejects


def _float_or_nan(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def starlist_regions(path: Path | str, law: str = "hsc-pdr1", **params: float) -> tuple[list[MaskRegion], list[Reject]]:
    """One circular halo per star of a star list, radius from :func:`radius_law`."""
    path = Path(path)
    stars, lines, rejects = read_starlist(path)
    radius = radius_law(stars["mag"], law, **params) / 3600.0
    regions = [
        MaskRegion(
            "circle",
            center=(float(ra), float(dec)),
            radius=float(r),
            kind="halo",
            star_id=None if sid < 0 else int(sid),
            star_mag=float(mag),
            source=f"{path.name}:{line}",
        )
        for ra, dec, mag, sid, r, line in zip(
            stars["ra"], stars["dec"], stars["mag"], stars["star_id"].tolist(), radius, lines.tolist()
        )
    ]
    return regions, rejects


# -- storing --------------------------------------------------------------------------------
@dataclass
class MaskIngestResult:
    """What a mask load stored.

    Attributes:
        version: the mask version.
        batch_ids: one ``ingest_batch`` per source file.
        n_regions: regions stored, and ``by_shape`` per shape (stored regions only).
        replaced: regions of the version deleted first (``replace=True``).
        rejects: lines refused, with their file.
    """

    version: str
    batch_ids: list[int] = field(default_factory=list)
    n_regions: int = 0
    by_shape: dict[str, int] = field(default_factory=dict)
    replaced: int = 0
    rejects: list[tuple[str, Reject]] = field(default_factory=list)


def _prepare_version(conn: psycopg.Connection, version: str, replace: bool) -> int:
    """Lock the mask table and clear ``version`` when replacing; refuse to mix otherwise."""
    conn.execute("LOCK TABLE bright_star_mask IN SHARE ROW EXCLUSIVE MODE")
    n = conn.execute("SELECT count(*) FROM bright_star_mask WHERE mask_version = %s", (version,)).fetchone()[0]
    if n and not replace:
        raise MaskError(f"mask version {version!r} already has {n} regions; choose another version or replace it")
    if n:
        conn.execute("DELETE FROM bright_star_mask WHERE mask_version = %s", (version,))
    return n


def _store(conn: psycopg.Connection, regions: Iterable[MaskRegion], version: str, batch_id: int) -> tuple[dict[str, int], list[Reject]]:
    """COPY ``regions`` into bright_star_mask; return (regions stored per shape, rejects).

    Regions pgSphere refuses are returned as rejects (and not counted as stored)."""
    regions = list(regions)
    conn.execute(
        "CREATE TEMP TABLE _mask_stage (i int, kind text, shape text, circle text, poly text, star_id bigint, "
        "star_mag double precision, source text) ON COMMIT DROP"
    )
    with conn.cursor().copy("COPY _mask_stage FROM STDIN") as copy:
        for i, r in enumerate(regions):
            circle, poly = r.literal()
            copy.write_row((i, r.kind, r.shape, circle, poly, r.star_id, r.star_mag, r.source))
    insert = (
        "INSERT INTO bright_star_mask (mask_version, kind, shape, circle, poly, star_id, star_mag, source, ingest_batch_id) "
        "SELECT %(v)s, kind, shape, circle::scircle, poly::spoly, star_id, star_mag, source, %(b)s FROM _mask_stage"
    )
    rejects: list[Reject] = []
    stored = list(regions)
    try:
        with conn.transaction():
            conn.execute(insert, {"v": version, "b": batch_id})
    except Exception:  # noqa: BLE001 - pgSphere refused some region: find which, one by one
        stored = []
        for i, r in enumerate(regions):
            try:
                with conn.transaction():
                    conn.execute(insert + " WHERE i = %(i)s", {"v": version, "b": batch_id, "i": i})
                stored.append(r)
            except Exception as exc:  # noqa: BLE001
                line = int(r.source.rsplit(":", 1)[1]) if r.source else None
                reason = str(exc).splitlines()[0]
                rejects.append(Reject(line, r.shape, None, f"pgSphere refused the region: {reason}"))
    conn.execute("DROP TABLE _mask_stage")
    shapes: dict[str, int] = {}
    for r in stored:
        shapes[r.shape] = shapes.get(r.shape, 0) + 1
    return shapes, rejects


def _load_sources(
    sources: Sequence[tuple[Path, str, list[MaskRegion], list[Reject]]],
    version: str,
    replace: bool,
    url: str | None,
    details: dict,
) -> MaskIngestResult:
    """Store parsed sources as one version, one batch per source, in one transaction."""
    url = url or db.database_url()
    result = MaskIngestResult(version)
    recover_stale_batches(url)
    with batch_lease(url) as lease:
        batch_ids = [
            open_batch(url, kind, str(path.resolve()), details={"mask_version": version, **details}, lease=lease)
            for path, kind, _, _ in sources
        ]
        result.batch_ids = batch_ids
        _store_sources(url, result, sources, version, replace)
    return result


def _store_sources(url: str, result: MaskIngestResult, sources, version: str, replace: bool) -> None:
    """The transaction of :func:`_load_sources` (its batches failed if it raises)."""
    batch_ids = result.batch_ids
    try:
        with db.transaction(url) as conn:
            result.replaced = _prepare_version(conn, version, replace)
            for batch_id, (path, _, regions, rejects) in zip(batch_ids, sources):
                shapes, refused = _store(conn, regions, version, batch_id)
                stored = sum(shapes.values())
                rejects = sorted(rejects + refused, key=lambda r: r.line or 0)
                record_rejects(conn, batch_id, rejects)
                for shape, n in shapes.items():
                    result.by_shape[shape] = result.by_shape.get(shape, 0) + n
                result.n_regions += stored
                result.rejects += [(path.name, r) for r in rejects]
                close_batch(
                    conn,
                    batch_id,
                    rows_read=len(regions) + len(rejects) - len(refused),
                    rows_stored=stored,
                    rows_rejected=len(rejects),
                    sha256=file_sha256(path),
                    details={"shapes": shapes},
                )
    except BaseException as exc:
        for batch_id in batch_ids:
            fail_batch(url, batch_id, f"{type(exc).__name__}: {exc}")
        raise


def ingest_masks(paths: Sequence[Path | str], version: str, *, replace: bool = False, url: str | None = None) -> MaskIngestResult:
    """Load DS9 region files as mask ``version`` (one transaction for all files).

    Args:
        paths: DS9 ``.reg`` files.
        version: mask version name (``bright_star_mask.mask_version``).
        replace: delete the version's existing regions first (else a version with regions
            is refused).
        url: database URL (default: the configured database).
    """
    sources = []
    for path in map(Path, paths):
        regions, rejects = parse_ds9(path)
        sources.append((path, "masks", regions, rejects))
    return _load_sources(sources, version, replace, url, {"format": "ds9"})


def build_masks(
    starlist: Path | str,
    version: str,
    *,
    law: str = "hsc-pdr1",
    params: dict[str, float] | None = None,
    replace: bool = False,
    url: str | None = None,
) -> MaskIngestResult:
    """Store one circular halo per star of ``starlist`` as mask ``version``.

    The radius is :func:`radius_law` ``(mag, law, **params)`` arcsec; the batch details
    record the law and its coefficients.
    """
    path = Path(starlist)
    params = dict(params or {})
    regions, rejects = starlist_regions(path, law, **params)
    coefficients = {**RADIUS_LAWS[law], **params}
    return _load_sources([(path, "starlist", regions, rejects)], version, replace, url, {"radius_law": law, "coefficients": json.loads(json.dumps(coefficients))})
