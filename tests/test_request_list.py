"""``hscanom cutouts request-list`` (issue 17.10): coordinate lists for the HSC bulk cutout tool."""

from __future__ import annotations

import psycopg
from typer.testing import CliRunner

from fitsfactory import write_hsc_cutout
from hscanom.cli.cutouts import app
from hscanom.ingest.cutouts import ingest_cutouts

BASE = 2**62 + 11  # ids far above 2**53: never through a float


def _sample(url, n):
    ids = [BASE + 13 * k for k in range(n)]
    with psycopg.connect(url) as conn:
        with conn.cursor().copy("COPY hsc_object (object_id, ra, dec) FROM STDIN") as copy:
            for k, oid in enumerate(ids):
                copy.write_row((oid, 150.0 + k * 1e-3, -2.0 + k * 1e-4))
        sid = conn.execute("INSERT INTO sample (name, sql) VALUES ('s', 'x') RETURNING id").fetchone()[0]
        with conn.cursor().copy("COPY sample_member (sample_id, object_id, idx) FROM STDIN") as copy:
            for k, oid in enumerate(ids):
                copy.write_row((sid, oid, k))
    return ids


def test_request_lists_split_name_and_match(db_url, tmp_path):
    ids = _sample(db_url, 700)
    result = CliRunner().invoke(app, ["request-list", "--sample", "s", "--out", str(tmp_path / "req" / "paper.txt")])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "req").iterdir())
    assert [f.name for f in files] == ["paper-0001.txt", "paper-0002.txt", "paper-0003.txt"]
    lines = [f.read_text().splitlines() for f in files]
    assert all(ls[0] == "#? rerun filter ra dec sw sh name" for ls in lines)
    assert [len(ls) - 1 for ls in lines] == [999, 999, 102]  # 333 + 333 + 34 objects x 3 bands, <= 1000 per list
    first = lines[0][1:4]
    assert first == [
        f"pdr2_wide HSC-G 150.00000000 -2.00000000 8.064asec 8.064asec {ids[0]}_HSC-G # {ids[0]}",
        f"pdr2_wide HSC-R 150.00000000 -2.00000000 8.064asec 8.064asec {ids[0]}_HSC-R # {ids[0]}",
        f"pdr2_wide HSC-I 150.00000000 -2.00000000 8.064asec 8.064asec {ids[0]}_HSC-I # {ids[0]}",
    ]
    every = [ln for ls in lines for ln in ls[1:]]
    assert [int(ln.split("# ")[1]) for ln in every[::3]] == ids  # all members, in idx order, ids exact

    # Another rerun, no name column, smaller lists.
    CliRunner().invoke(app, ["request-list", "--sample", "s", "--out", str(tmp_path / "p3" / "x"), "--rerun", "pdr3_wide",
                             "--no-names", "--max-lines", "300", "--size", "64"])
    p3 = sorted((tmp_path / "p3").iterdir())
    assert len(p3) == 7 and p3[0].name == "x-0001.txt"
    head = p3[0].read_text().splitlines()
    assert head[0] == "#? rerun filter ra dec sw sh" and head[1].startswith("pdr3_wide HSC-G 150.00000000 -2.00000000 5.376asec 5.376asec # ")
    assert max(len(f.read_text().splitlines()) - 1 for f in p3) == 300

    # Files saved under the requested names are matched to their objects by id.
    for line in lines[0][1:7]:
        rerun, filt, ra, dec, _sw, _sh, name, _hash, _oid = line.split()
        write_hsc_cutout(tmp_path / "download" / f"{name}.fits", ra=float(ra), dec=float(dec) + 0.01, band=filt[-1].lower())
    report = ingest_cutouts(tmp_path / "download", url=db_url)  # the WCS centre is 36" off: only the name can match
    assert (report.stored, report.rejects) == (6, [])
    with psycopg.connect(db_url) as conn:
        got = conn.execute("SELECT object_id, band FROM cutout ORDER BY object_id, band").fetchall()
    assert got == sorted((oid, b) for oid in ids[:2] for b in "gri")

    bad = CliRunner().invoke(app, ["request-list", "--sample", "nope", "--out", str(tmp_path / "z")])
    assert bad.exit_code == 1 and "no sample named 'nope'" in bad.output
