"""Bright-star masks: DS9 parsing, radius law, and mask application in SQL checked against
independent spherical geometry (astropy separations, astropy regions with a TAN WCS, a
numpy spherical-polygon test), including regions across ra = 0/360 and around the poles."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.wcs import WCS
from regions import EllipseSkyRegion, RectangleSkyRegion
from typer.testing import CliRunner

from hscanom.cli.ingest import app as ingest_app
from hscanom.cli.masks import app as masks_app
from hscanom.ingest.masks import MaskError, build_masks, ingest_masks, parse_ds9, radius_law

BIG = 7_234_567_890_123_456_789

GEOMETRY = """# Region file format: DS9 version 4.1
global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman"
icrs
circle(359.95,0.1,0.1) # type=halo id=11 mag=8.5
circle(120.0,89.9,20') # type=halo
circle(10:00:00.0,+02:00:00,300") # tag={halo}
box(0.05,-0.1,0.4,0.2,30) # type=ghost
box(45.0,89.7,1.0,0.5,120.0)
ellipse(200.0,-30.0,0.3,0.1,45)
polygon(359.8,1.0,0.2,1.0,0.3,1.4,359.7,1.3)
"""
MALFORMED = """fk5
circle(10,20)
point(10,20) # point=x
circle(10,20,5p)
-circle(10,20,1")
circle(10,20,0.01d) # id=notanumber
image; circle(100,100,20)
fk5;circle(10.0,20.0,36")
"""


def cap_points(ra, dec, radius_deg, n, rng):
    """n random positions within radius_deg of (ra, dec) (uniform in area for small caps)."""
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    pos = centre.directional_offset_by(rng.uniform(0, 360, n) * u.deg, radius_deg * np.sqrt(rng.uniform(0, 1, n)) * u.deg)
    return pos.ra.wrap_at(360 * u.deg).deg % 360.0, pos.dec.deg


def tan_wcs(ra, dec):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [0.0, 0.0]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600]
    return w


def load_points(url, ra, dec, first_id):
    ids = first_id + np.arange(len(ra), dtype=np.int64)
    with psycopg.connect(url) as conn, conn.cursor().copy("COPY hsc_object (object_id, ra, dec) FROM STDIN") as copy:
        for row in zip(ids.tolist(), ra.tolist(), dec.tolist()):
            copy.write_row(row)
    return ids


def masked_by(url, source):
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT o.object_id FROM hsc_object o JOIN bright_star_mask m
               ON spoint(radians(o.ra), radians(o.dec)) @ m.circle OR spoint(radians(o.ra), radians(o.dec)) @ m.poly
               WHERE m.source = %s""",
            (source,),
        ).fetchall()
    return {r[0] for r in rows}


def spherical_polygon_contains(vertices_deg, ra, dec):
    """Convex spherical polygon (great-circle edges) test with unit vectors."""
    def vec(a, d):
        a, d = np.radians(a), np.radians(d)
        return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)

    v = vec(vertices_deg[:, 0], vertices_deg[:, 1])
    p = vec(ra, dec)
    sides = np.stack([p @ np.cross(v[i], v[(i + 1) % len(v)]) for i in range(len(v))], axis=1)
    return np.all(sides > 0, axis=1) | np.all(sides < 0, axis=1)


@pytest.fixture
def geometry(db_url, tmp_path):
    path = tmp_path / "hsc.reg"
    path.write_text(GEOMETRY)
    result = ingest_masks([path], "v1", url=db_url)
    assert result.n_regions == 7 and result.rejects == []
    assert result.by_shape == {"circle": 3, "box": 2, "ellipse": 1, "polygon": 1}
    return db_url


def test_radius_law_is_the_design_formula_and_overridable():
    m = np.array([5.0, 9.0, 12.5, 17.0])
    expected = 200 * 10 ** (0.25 * (7 - m)) + 12 * 10 ** (0.05 * (16 - m))
    assert np.allclose(radius_law(m), expected, rtol=0, atol=1e-12)
    assert np.allclose(radius_law(m, A0=100.0), expected - 100 * 10 ** (0.25 * (7 - m)), rtol=1e-12)
    with pytest.raises(MaskError, match="unknown radius-law parameter"):
        radius_law(m, Z9=1.0)


def test_ds9_metadata_units_and_sexagesimal(tmp_path):
    path = tmp_path / "hsc.reg"
    path.write_text(GEOMETRY)
    regions, rejects = parse_ds9(path)
    assert rejects == []
    first, pole, sexa = regions[:3]
    assert (first.kind, first.star_id, first.star_mag, first.source) == ("halo", 11, 8.5, "hsc.reg:4")
    assert first.radius == 0.1 and pole.radius == pytest.approx(20 / 60) and sexa.radius == pytest.approx(300 / 3600)
    assert sexa.center == pytest.approx((150.0, 2.0)) and sexa.kind == "halo"
    assert regions[3].kind == "ghost" and regions[3].vertices.shape == (4, 2)


def test_malformed_lines_are_reported_with_file_and_line_and_the_rest_loads(db_url, tmp_path):
    path = tmp_path / "bad.reg"
    path.write_text(MALFORMED)
    result = CliRunner().invoke(ingest_app, ["masks", str(path), "--version", "m"])
    assert result.exit_code == 0, result.output
    assert "1 regions stored" in result.output and "6 lines refused" in result.output
    with psycopg.connect(db_url) as conn:
        rejects = conn.execute("SELECT line, reason FROM ingest_reject ORDER BY line").fetchall()
        stored = conn.execute("SELECT shape, source, radius(circle) FROM bright_star_mask").fetchall()
        batch = conn.execute("SELECT kind, status, rows_stored, rows_rejected FROM ingest_batch").fetchall()
    assert [line for line, _ in rejects] == [2, 3, 4, 5, 6, 7]
    reasons = dict(rejects)
    assert "3 arguments" in reasons[2] and "not a mask region" in reasons[3] and "pixels" in reasons[4]
    assert "exclusion" in reasons[5] and "star id" in reasons[6] and "'image' is not supported" in reasons[7]
    assert stored[0][:2] == ("circle", "bad.reg:8") and np.degrees(stored[0][2]) == pytest.approx(0.01)
    assert batch == [("masks", "complete", 1, 6)]
    assert "bad.reg: line 2" in result.output


def test_circles_agree_with_astropy_separations(geometry):
    rng = np.random.default_rng(1)
    for k, (ra, dec, radius, line) in enumerate([(359.95, 0.1, 0.1, 4), (120.0, 89.9, 20 / 60, 5), (150.0, 2.0, 300 / 3600, 6)]):
        pra, pdec = cap_points(ra, dec, 2.5 * radius, 3000, rng)
        ids = load_points(geometry, pra, pdec, BIG - 10**6 * (k + 1))
        sep = SkyCoord(pra * u.deg, pdec * u.deg).separation(SkyCoord(ra * u.deg, dec * u.deg)).deg
        expected = set(ids[sep < radius].tolist())
        assert masked_by(geometry, f"hsc.reg:{line}") & set(ids.tolist()) == expected
        assert 300 < len(expected) < 2700
    # the first circle straddles ra = 0/360 and the second covers the pole
    with psycopg.connect(geometry) as conn:
        assert conn.execute("SELECT in_bright_star_mask(0.01, 0.1, 'v1'), in_bright_star_mask(359.9, 0.1, 'v1'), "
                            "in_bright_star_mask(33.0, 90.0, 'v1'), in_bright_star_mask(33.0, 80.0, 'v1')").fetchone() == (True, True, True, False)


def test_boxes_agree_with_astropy_regions_and_a_spherical_polygon_test(geometry):
    rng = np.random.default_rng(2)
    for k, (ra, dec, w, h, angle, line) in enumerate([(0.05, -0.1, 0.4, 0.2, 30.0, 7), (45.0, 89.7, 1.0, 0.5, 120.0, 8)]):
        pra, pdec = cap_points(ra, dec, 0.8 * max(w, h), 4000, rng)
        ids = load_points(geometry, pra, pdec, BIG - 10**7 * (k + 1))
        box = RectangleSkyRegion(SkyCoord(ra * u.deg, dec * u.deg), w * u.deg, h * u.deg, Angle(angle, u.deg))
        wcs = tan_wcs(ra, dec)
        inside = box.contains(SkyCoord(pra * u.deg, pdec * u.deg), wcs)
        expected = set(ids[inside].tolist())
        assert masked_by(geometry, f"hsc.reg:{line}") & set(ids.tolist()) == expected
        assert 500 < len(expected) < 3500
        corners = box.to_pixel(wcs).corners
        world = wcs.pixel_to_world(corners[:, 0], corners[:, 1])
        polygon = np.column_stack([world.ra.deg, world.dec.deg])
        assert set(ids[spherical_polygon_contains(polygon, pra, pdec)].tolist()) == expected
    with psycopg.connect(geometry) as conn:  # the second box covers the north pole, the first ra = 0
        assert conn.execute("SELECT in_bright_star_mask(0.0, 90.0, 'v1'), in_bright_star_mask(359.99, -0.1, 'v1')").fetchone() == (True, True)


def test_ellipse_polygon_covers_the_ellipse_and_little_more(geometry):
    rng = np.random.default_rng(3)
    ra, dec, r1, r2, angle = 200.0, -30.0, 0.3, 0.1, 45.0
    pra, pdec = cap_points(ra, dec, 0.5, 4000, rng)
    ids = load_points(geometry, pra, pdec, BIG - 10**8)
    points, wcs, centre = SkyCoord(pra * u.deg, pdec * u.deg), tan_wcs(ra, dec), SkyCoord(ra * u.deg, dec * u.deg)
    inner = EllipseSkyRegion(centre, 2 * r1 * u.deg, 2 * r2 * u.deg, Angle(angle, u.deg)).contains(points, wcs)
    scale = 1 / np.cos(np.pi / 32)
    outer = EllipseSkyRegion(centre, 2 * r1 * scale * u.deg, 2 * r2 * scale * u.deg, Angle(angle, u.deg)).contains(points, wcs)
    masked = masked_by(geometry, "hsc.reg:9")
    assert set(ids[inner].tolist()) <= masked <= set(ids[outer].tolist())
    assert inner.sum() > 300


def test_polygon_across_ra_zero_agrees_with_a_spherical_polygon_test(geometry):
    rng = np.random.default_rng(4)
    pra, pdec = cap_points(0.0, 1.2, 0.5, 4000, rng)
    ids = load_points(geometry, pra, pdec, BIG - 10**9)
    vertices = np.array([[359.8, 1.0], [0.2, 1.0], [0.3, 1.4], [359.7, 1.3]])
    expected = set(ids[spherical_polygon_contains(vertices, pra, pdec)].tolist())
    assert masked_by(geometry, "hsc.reg:10") & set(ids.tolist()) == expected and len(expected) > 300


def test_function_and_view_agree_on_every_object(geometry):
    rng = np.random.default_rng(5)
    pra, pdec = cap_points(0.0, 0.0, 0.5, 3000, rng)
    load_points(geometry, pra, pdec, 1)
    with psycopg.connect(geometry) as conn:
        by_function = {r[0] for r in conn.execute("SELECT object_id FROM hsc_object WHERE in_bright_star_mask(object_id, 'v1')")}
        by_view = {r[0] for r in conn.execute("SELECT object_id FROM bright_star_masked_object WHERE mask_version = 'v1'")}
        unmasked = conn.execute(
            """SELECT count(*) FROM hsc_object o WHERE NOT EXISTS (
                   SELECT 1 FROM bright_star_masked_object b WHERE b.object_id = o.object_id AND b.mask_version = 'v1')"""
        ).fetchone()[0]
        assert conn.execute("SELECT in_bright_star_mask(1000000::bigint, 'v1'), in_bright_star_mask(1::bigint, 'none')").fetchone() == (None, False)
    assert by_function == by_view and len(by_view) > 100
    assert unmasked == 3000 - len(by_view)


def test_fk5_regions_are_converted_to_icrs(db_url, tmp_path):
    path = tmp_path / "fk5.reg"
    path.write_text("fk5\ncircle(150.0,2.0,1\")\n")
    ingest_masks([path], "fk5", url=db_url)
    expected = SkyCoord(150.0 * u.deg, 2.0 * u.deg, frame="fk5").icrs
    with psycopg.connect(db_url) as conn:
        ra, dec = conn.execute("SELECT degrees(long(center(circle))), degrees(lat(center(circle))) FROM bright_star_mask").fetchone()
    assert ra == pytest.approx(expected.ra.deg, abs=1e-9) and dec == pytest.approx(expected.dec.deg, abs=1e-9)


def test_masks_build_from_a_star_list_and_versions(db_url, tmp_path):
    stars = tmp_path / "stars.csv"
    stars.write_text("star_id,ra,dec,mag\n1,10.0,1.0,8.0\n2,359.99,-1.0,12.5\n3,abc,1.0,9.0\n4,20.0,95.0,9.0\n5,30.0,2.0,\n")
    result = CliRunner().invoke(masks_app, ["build", str(stars), "--version", "bright"])
    assert result.exit_code == 0, result.output
    assert "2 regions stored" in result.output and "3 lines refused" in result.output
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT star_id, star_mag, degrees(radius(circle)) * 3600, kind, source FROM bright_star_mask ORDER BY star_id").fetchall()
        rejects = conn.execute("SELECT line, field FROM ingest_reject ORDER BY line").fetchall()
        details = conn.execute("SELECT kind, details FROM ingest_batch").fetchone()
    assert [r[0] for r in rows] == [1, 2] and rows[0][3:] == ("halo", "stars.csv:2")
    assert [r[2] for r in rows] == pytest.approx(radius_law(np.array([8.0, 12.5])).tolist(), rel=1e-12)
    assert rejects == [(4, "ra"), (5, "dec"), (6, "mag")]
    assert details[0] == "starlist" and details[1]["coefficients"]["A0"] == 200.0
    with pytest.raises(MaskError, match="already has 2 regions"):
        build_masks(stars, "bright", url=db_url)
    replaced = build_masks(stars, "bright", params={"A0": 400.0}, replace=True, url=db_url)
    assert replaced.replaced == 2 and replaced.n_regions == 2
    with psycopg.connect(db_url) as conn:
        r1 = conn.execute("SELECT degrees(radius(circle)) * 3600 FROM bright_star_mask WHERE star_id = 1").fetchone()[0]
    assert r1 == pytest.approx(float(radius_law(8.0, A0=400.0)), rel=1e-12)


# -- issue 13.4 / 17.4-6: DS9 syntax variants, bad positions, degenerate polygons ------------
from regions import CircleSkyRegion, PolygonSkyRegion, Regions  # noqa: E402

from hscanom.ingest.masks import MaskRegion, _load_sources, box_vertices, ellipse_vertices  # noqa: E402

#: Lines DS9 4.x reads, each with a frame: (text, shape); the right values come from astropy regions.
VARIANTS = [
    ('fk5; circle 188.6 12.1 2"', "circle"),  # the issue's example: no parentheses
    ('fk5;circle(188.6,12.1,2")', "circle"),
    ('fk5 ; circle ( 188.6 , 12.1 , 2" )', "circle"),
    ("icrs; circle 12:34:24 +12:06:00 0.5'", "circle"),  # sexagesimal: hours for ra
    ('j2000; circle(12h34m24s,+12d06m00s,30")', "circle"),
    ("fk5; circle 188.6d 12.1d 0.001d", "circle"),
    ('icrs; circle(3.2916r,0.2112r,1")', "circle"),  # radians
    ('icrs; +circle(188.6,12.1,2") # color=red text={a;b}', "circle"),
    ("galactic; circle(283.77,74.49,0.01)", "circle"),
    ("galactic; circle 283:46:12 74:29:24 36\"", "circle"),  # galactic sexagesimal is degrees
    ('fk4; circle(188.0,12.4,5")', "circle"),
    ('b1950; box 188.0 12.4 10" 20" 30', "box"),
    ('ecliptic; ellipse(180.0,14.0,10",5",45)', "ellipse"),
    ('fk5; box(188.6,12.1,20",10",0.5r)', "box"),
    ('icrs; ellipse 188.6 12.1 20" 10"', "ellipse"),  # no angle: 0
    ("fk5; box 188.6 12.1 0.01 0.02", "box"),
    ("fk5; polygon 188.6 12.1 188.7 12.1 188.7 12.2", "polygon"),
    ("galactic; polygon(10,20,10.1,20,10.1,20.1,10,20.1)", "polygon"),
    ("icrs; polygon(12:34:24,+12:06:00,12:34:30,+12:06:00,12:34:30,+12:07:00)", "polygon"),
]


#: regions reads the last argument of a box or ellipse as its angle even when there are only
#: 4 (then the second size is lost): the right value of the line without an angle is that of angle 0.
ORACLE_TEXT = {'icrs; ellipse 188.6 12.1 20" 10"': 'icrs; ellipse 188.6 12.1 20" 10" 0', "fk5; box 188.6 12.1 0.01 0.02": "fk5; box 188.6 12.1 0.01 0.02 0"}


def _expected_icrs(text):
    """(shape, ICRS (k, 2) points [deg], radius [deg] or None) of a line, by astropy regions."""
    (region,) = Regions.parse(text, format="ds9")
    frame = region.center.frame if hasattr(region, "center") else region.vertices.frame

    def icrs(lon, lat):
        c = SkyCoord(np.atleast_1d(lon) * u.deg, np.atleast_1d(lat) * u.deg, frame=frame).icrs
        return np.column_stack([c.ra.deg % 360, c.dec.deg])

    if isinstance(region, CircleSkyRegion):
        c = region.center.icrs
        return np.array([[c.ra.deg, c.dec.deg]]), region.radius.to_value(u.deg)
    if isinstance(region, PolygonSkyRegion):
        v = region.vertices
        return icrs(v.spherical.lon.deg, v.spherical.lat.deg), None
    lon, lat = region.center.spherical.lon.deg, region.center.spherical.lat.deg
    w, h, angle = region.width.to_value(u.deg), region.height.to_value(u.deg), region.angle.to_value(u.deg)
    corners = box_vertices(lon, lat, w, h, angle) if isinstance(region, RectangleSkyRegion) else ellipse_vertices(lon, lat, w / 2, h / 2, angle)
    return icrs(corners[:, 0], corners[:, 1]), None


@pytest.mark.parametrize("text, shape", VARIANTS)
def test_ds9_syntax_variants_give_the_values_astropy_regions_reads(tmp_path, text, shape):
    path = tmp_path / "v.reg"
    path.write_text("# Region file format: DS9 version 4.1\n" + text + "\n")
    regions, rejects = parse_ds9(path)
    assert rejects == []
    (region,) = regions
    points, radius = _expected_icrs(ORACLE_TEXT.get(text, text))
    assert region.shape == shape and region.frame == "icrs"
    if shape == "circle":
        assert region.center == pytest.approx(tuple(points[0]), abs=1e-9) and region.radius == pytest.approx(radius, rel=1e-12)
    else:
        assert np.allclose(region.vertices, points, atol=1e-9, rtol=0)


def test_the_issue_example_masks_the_object_at_its_centre(db_url, tmp_path):
    path = tmp_path / "noparen.reg"
    path.write_text('fk5; circle 188.6 12.1 2"\n')
    result = ingest_masks([path], "v", url=db_url)
    assert result.n_regions == 1 and result.rejects == []
    c = SkyCoord(188.6 * u.deg, 12.1 * u.deg, frame="fk5").icrs
    with psycopg.connect(db_url) as conn:
        inside, outside = conn.execute(
            "SELECT in_bright_star_mask(%s, %s, 'v'), in_bright_star_mask(%s, %s, 'v')",
            (c.ra.deg, c.dec.deg, c.ra.deg, c.dec.deg + 3 / 3600),
        ).fetchone()
    assert (inside, outside) == (True, False)


REFUSED = [
    ("circle(10,20,1\")", "no coordinate frame"),  # first: later lines have a frame
    ("fk5; circle(130.2,95.0,0.01)", "dec 95.0 out of range [-90, 90] deg"),  # issue 13.4
    ("fk5; circle(400,0.5,0.01)", "ra 400 out of range [0, 360) deg"),  # issue 13.4
    ("icrs; circle(-1,0.5,0.01)", "ra -1 out of range [0, 360) deg"),
    ("icrs; circle 10:00:00 +95:00:00 1'", "dec +95:00:00 out of range"),
    ("galactic; circle(10,-91,1\")", "lat -91 out of range"),
    ("fk5; polygon(30,1,30,2,30,3)", "zero area"),  # issue 17.5: one meridian
    ("fk5; polygon(30,0,31,0,32,0,31,0)", "zero area"),  # on the equator, back and forth
    ("fk5; polygon(30,1,31,1,32,1,31,1)", "edges cross each other"),  # dec = 1 is no great circle: a sliver touching itself
    ("fk5; polygon(10,10,10,10,11,11)", "fewer than 3 distinct vertices"),
    ("fk5; polygon 10 10 11 11 11 10 10 11", "edges cross each other"),  # a bow tie
    ("fk5; polygon(0,0,2,0,2,2,1,-1,0,2)", "edges cross each other"),
    ("fk5; polygon(0,0,120,0,240,0,0,80)", "80 deg or more"),
    ("image; circle(100,100,20)", "'image' is not supported"),
    ("physical; box 1 2 3 4", "'physical' is not supported"),
    ("wcs; circle(10,20,1\")", "'wcs' is not supported"),
    ("fk5; circle(10,20,5p)", "pixels"),
    ("fk5; circle(10i,20,5\")", "pixels"),
    ("fk5; annulus(10,20,1\",2\")", "not a mask region"),
    ("fk5; point 10 20", "not a mask region"),
    ("fk5; box(10,20,1\",2\",3\",4\",45)", "annulus"),
    ("fk5; ellipse 10 20 1\" 2\" 3\" 4\" 45", "annulus"),
    ("fk5; circle 10 20", "3 arguments"),
    ("fk5; blob(1,2,3)", "unknown word 'blob'"),
]


def test_bad_positions_frames_and_polygons_are_refused_with_their_line_and_the_rest_loads(db_url, tmp_path):
    lines = ["# Region file format: DS9 version 4.1"]
    for text, _ in REFUSED:
        lines += [text, 'fk5; circle(10.0,20.0,1") # type=halo']  # a good line after each bad one
    path = tmp_path / "bad.reg"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(ingest_app, ["masks", str(path), "--version", "b"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"{len(REFUSED)} regions stored ({len(REFUSED)} circle), {len(REFUSED)} lines refused" in result.output
    with psycopg.connect(db_url) as conn:
        rejects = conn.execute("SELECT line, reason FROM ingest_reject ORDER BY line").fetchall()
        stored = conn.execute("SELECT source FROM bright_star_mask ORDER BY id").fetchall()
    assert [line for line, _ in rejects] == [2 + 2 * k for k in range(len(REFUSED))]
    for (line, reason), (text, expected) in zip(rejects, REFUSED):
        assert expected in reason, (text, reason)
    assert [s for (s,) in stored] == [f"bad.reg:{3 + 2 * k}" for k in range(len(REFUSED))]


def test_valid_polygons_still_load_concave_ones_included(tmp_path):
    path = tmp_path / "ok.reg"
    path.write_text("icrs\npolygon(0,0,2,0,2,2,1,1,0,2)\npolygon(359.9,0,0.1,0,0.1,0.1)\npolygon(0,89.5,120,89.5,240,89.5)\n")
    regions, rejects = parse_ds9(path)
    assert rejects == [] and [len(r.vertices) for r in regions] == [5, 3, 3]


def test_summary_counts_stored_regions_per_shape_not_refused_ones(db_url, tmp_path):
    path = tmp_path / "poly.reg"
    path.write_text("fk5\npolygon(30,1,31,1,31,2)\npolygon(30,1,30,2,30,3)\npolygon(40,1,41,1,41,2)\n")
    result = CliRunner().invoke(ingest_app, ["masks", str(path), "--version", "p"])
    assert result.exit_code == 0, result.output
    assert "2 regions stored (2 polygon), 1 lines refused" in result.output
    # a region that only pgSphere refuses (a bow tie built without the parser's checks)
    good = MaskRegion("polygon", vertices=np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), source="x.reg:1")
    bad = MaskRegion("polygon", vertices=np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), source="x.reg:2")
    circle = MaskRegion("circle", center=(5.0, 5.0), radius=0.1, source="x.reg:3")
    stored = _load_sources([(path, "masks", [good, bad, circle], [])], "q", False, db_url, {})
    assert stored.n_regions == 2 and stored.by_shape == {"polygon": 1, "circle": 1}
    assert [(name, r.line) for name, r in stored.rejects] == [("poly.reg", 2)]
