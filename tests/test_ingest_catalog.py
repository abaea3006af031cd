"""Catalog ingest: CAS CSV / gzip / FITS into hsc_object, rejects, re-ingest, duplicates,
truncation, extra columns, failures that leave the database as it was."""

from __future__ import annotations

import gzip
import json

import numpy as np
import psycopg
import pytest
from astropy.io import fits
from typer.testing import CliRunner

from hscanom.cli.ingest import app
from hscanom.ingest import readers
from hscanom.ingest.catalog import CatalogFileError, ingest_catalog
from hscanom.schema.columns import HSC_COLUMNS

BIG = 7_234_567_890_123_456_789  # > 2**53: a float would change it
COLUMNS = ["object_id", "ra", "dec", "tract", "isprimary", "i_cmodel_mag", "i_cmodel_flag", "parent_id"]


def write_csv(path, rows, columns=COLUMNS, prefix="# ", newline_at_end=True):
    """A CAS-style CSV: '# ' header, then one line per row (rows are lists of raw strings)."""
    text = prefix + ",".join(columns) + "\n" + "\n".join(",".join(r) for r in rows)
    path.write_text(text + ("\n" if newline_at_end else ""))
    return path


def good_rows(n=5, start=BIG):
    return [[str(start + k), f"{10 + k * 0.5}", f"{-1 - k * 0.25}", "9813", "True", f"{20.1 + k / 100:.6f}", "False", "0"] for k in range(n)]


def fetch(url, sql, args=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def rejects_of(url, batch_id):
    return fetch(url, "SELECT line, field, raw_value, reason FROM ingest_reject WHERE batch_id = %s ORDER BY line, field", (batch_id,))


def test_rows_land_typed_with_exact_64_bit_ids_and_null_spellings(db_url, tmp_path):
    rows = good_rows(3)
    rows.append([str(BIG + 10), "359.999999", "89.5", "", "t", "NaN", "f", str(BIG - 1)])
    rows.append([str(BIG + 11), "0", "-90", "\\N", "1", "nan", "0", ""])
    rows.append([str(BIG + 12), "1.5", "2.5", "7", "FALSE", "inf", "true", "12"])
    path = write_csv(tmp_path / "cat.csv", rows)
    result = ingest_catalog(path, url=db_url)
    assert (result.rows_read, result.rows_stored, result.rows_updated, result.rows_rejected) == (6, 6, 0, 0)
    got = {r[0]: r[1:] for r in fetch(db_url, "SELECT object_id, ra, dec, tract, isprimary, i_cmodel_mag, i_cmodel_flag, parent_id, data_release, ingest_batch_id, extra FROM hsc_object")}
    assert set(got) == {BIG, BIG + 1, BIG + 2, BIG + 10, BIG + 11, BIG + 12}
    assert got[BIG] == (10.0, -1.0, 9813, True, 20.1, False, 0, "pdr2_wide", result.batch_id, {})
    assert got[BIG + 10] == (359.999999, 89.5, None, True, None, False, BIG - 1, "pdr2_wide", result.batch_id, {})
    assert got[BIG + 11][:7] == (0.0, -90.0, None, True, None, False, None)
    assert got[BIG + 12][:7] == (1.5, 2.5, 7, False, None, True, 12)
    batch = fetch(db_url, "SELECT status, rows_read, rows_stored, sha256, details FROM ingest_batch WHERE id = %s", (result.batch_id,))[0]
    assert batch[:3] == ("complete", 6, 6) and len(batch[3]) == 64
    assert "g_cmodel_mag" in batch[4]["missing_columns"]


def test_every_bad_row_is_rejected_with_line_field_value_and_reason(db_url, tmp_path):
    rows = good_rows(2)  # lines 2, 3
    rows += [
        [str(BIG + 20), "abc", "1", "1", "t", "20", "f", "0"],  # 4: ra not a number
        [str(BIG + 21), "360", "1", "1", "t", "20", "f", "0"],  # 5: ra out of range
        [str(BIG + 22), "10", "-90.5", "1", "t", "20", "f", "0"],  # 6: dec out of range
        ["7.2345678901234568e18", "10", "1", "1", "t", "20", "f", "0"],  # 7: id through a float
        ["99999999999999999999", "10", "1", "1", "t", "20", "f", "0"],  # 8: id beyond 64 bits
        [str(BIG + 23), "10", "1", "1"],  # 9: wrong field count
        [str(BIG + 24), "NaN", "1", "1", "t", "20", "f", "0"],  # 10: NaN in a required column
        [str(BIG + 25), "10", "1", "3.5", "maybe", "1e999", "f", "0"],  # 11: tract, isprimary, mag
    ]
    rows += good_rows(1, start=BIG + 30)  # 12
    path = write_csv(tmp_path / "bad.csv", rows)
    result = ingest_catalog(path, url=db_url)
    assert (result.rows_read, result.rows_stored, result.rows_rejected) == (11, 3, 8)
    assert sorted(r[0] for r in fetch(db_url, "SELECT object_id FROM hsc_object")) == [BIG, BIG + 1, BIG + 30]
    rejects = rejects_of(db_url, result.batch_id)
    by_line = {}
    for line, field, raw, reason in rejects:
        by_line.setdefault(line, []).append((field, raw, reason))
    assert by_line[4] == [("ra", "abc", "not a number")]
    assert by_line[5] == [("ra", "360.0", "ra out of range [0, 360) deg")]
    assert by_line[6] == [("dec", "-90.5", "dec out of range [-90, 90] deg")]
    assert by_line[7][0][:2] == ("object_id", "7.2345678901234568e18") and by_line[7][0][2].startswith("object_id written as a float")
    assert by_line[8][0][0] == "object_id" and "64-bit integer" in by_line[8][0][2]
    assert by_line[9][0][0] is None and "wrong number of fields: 4, expected 8" in by_line[9][0][2]
    assert by_line[10] == [("ra", None, "missing value in required column ra")]
    assert sorted(f for f, _, _ in by_line[11]) == ["i_cmodel_mag", "isprimary", "tract"]
    assert ("tract", "3.5", "not a 32-bit integer (has a fractional part)") in by_line[11]


def test_reingest_stores_nothing_and_a_changed_row_is_updated_and_recorded(db_url, tmp_path):
    rows = good_rows(4)
    first = ingest_catalog(write_csv(tmp_path / "a.csv", rows), url=db_url)
    again = ingest_catalog(write_csv(tmp_path / "a.csv", rows), url=db_url)
    assert (again.rows_stored, again.rows_updated, again.rows_unchanged) == (0, 0, 4)
    rows[2][5] = "20.999"  # i_cmodel_mag of BIG + 2
    rows.append(good_rows(1, start=BIG + 100)[0])
    newer = ingest_catalog(write_csv(tmp_path / "b.csv", rows), url=db_url)
    assert (newer.rows_stored, newer.rows_updated, newer.rows_unchanged) == (1, 1, 3)
    assert fetch(db_url, "SELECT i_cmodel_mag, ingest_batch_id FROM hsc_object WHERE object_id = %s", (BIG + 2,)) == [(20.999, newer.batch_id)]
    assert fetch(db_url, "SELECT ingest_batch_id FROM hsc_object WHERE object_id = %s", (BIG,)) == [(first.batch_id,)]
    details = fetch(db_url, "SELECT details FROM ingest_batch WHERE id = %s", (newer.batch_id,))[0][0]
    assert details["changed_columns"] == {"i_cmodel_mag": 1}
    assert details["changed_object_ids"] == [BIG + 2]


def test_same_id_with_different_values_is_refused_everywhere_exact_copies_kept_once(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 150)  # many blocks: repeats span blocks
    pre = ingest_catalog(write_csv(tmp_path / "pre.csv", good_rows(1, start=BIG + 50)), url=db_url)
    assert pre.rows_stored == 1
    rows = good_rows(6)  # lines 2..7
    rows.append(list(rows[0]))  # 8: exact copy of line 2
    changed = list(rows[1])
    changed[1] = "11.0"
    rows.append(changed)  # 9: BIG + 1 with another ra -> lines 3 and 9 refused
    existing = good_rows(1, start=BIG + 50)[0]
    rows += [existing, [*existing[:5], "21.0", *existing[6:]]]  # 10, 11: stored id, two versions
    rows += [list(rows[5])]  # 12: exact copy of line 7
    result = ingest_catalog(write_csv(tmp_path / "dup.csv", rows), url=db_url)
    assert result.rows_rejected == 4
    assert result.rows_stored == 5  # BIG, BIG+2..BIG+5
    stored = sorted(r[0] for r in fetch(db_url, "SELECT object_id FROM hsc_object"))
    assert stored == [BIG, BIG + 2, BIG + 3, BIG + 4, BIG + 5, BIG + 50]
    rejects = rejects_of(db_url, result.batch_id)
    assert [(r[0], r[1], r[2]) for r in rejects] == [
        (3, "object_id", str(BIG + 1)), (9, "object_id", str(BIG + 1)),
        (10, "object_id", str(BIG + 50)), (11, "object_id", str(BIG + 50)),
    ]  # fmt: skip
    assert "lines 3, 9" in rejects[0][3]
    assert fetch(db_url, "SELECT i_cmodel_mag FROM hsc_object WHERE object_id = %s", (BIG + 50,)) == [(20.1,)]
    assert fetch(db_url, "SELECT details->>'identical_duplicates' FROM ingest_batch WHERE id = %s", (result.batch_id,)) == [("2",)]


def test_truncated_last_line_is_reported_and_not_stored(db_url, tmp_path):
    rows = good_rows(3)
    rows.append([str(BIG + 9), "12.5", "-3"])  # cut off mid-line, no newline at the end
    result = ingest_catalog(write_csv(tmp_path / "cut.csv", rows, newline_at_end=False), url=db_url)
    assert result.truncated and result.rows_stored == 3 and result.rows_rejected == 1
    (line, field, raw, reason), = rejects_of(db_url, result.batch_id)
    assert line == 5 and raw == f"{BIG + 9},12.5,-3" and reason.startswith("truncated last line")


def test_blank_lines_are_skipped_and_line_numbers_stay_right_across_blocks(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 100)
    rows = good_rows(5)
    rows.insert(2, [""])  # an empty line 4
    rows.insert(5, [str(BIG + 40), "500", "1", "1", "t", "20", "f", "0"])  # line 7
    result = ingest_catalog(write_csv(tmp_path / "blank.csv", rows), url=db_url)
    assert (result.rows_read, result.rows_stored, result.rows_rejected) == (6, 5, 1)
    assert [r[:2] for r in rejects_of(db_url, result.batch_id)] == [(7, "ra")]


def test_unknown_columns_are_kept_in_extra(db_url, tmp_path):
    columns = ["Object_ID", "RA", "Dec", "my_flag", "photoz_best"]
    rows = [[str(BIG), "10", "1", "yes", "0.31"], [str(BIG + 1), "11", "2", "", "0.5"]]
    result = ingest_catalog(write_csv(tmp_path / "x.csv", rows, columns=columns, prefix=""), url=db_url)
    assert result.extra_columns == ["my_flag", "photoz_best"] and result.rows_stored == 2
    got = dict(fetch(db_url, "SELECT object_id, extra FROM hsc_object"))
    assert got == {BIG: {"my_flag": "yes", "photoz_best": "0.31"}, BIG + 1: {"photoz_best": "0.5"}}
    rows[1][4] = "0.6"
    again = ingest_catalog(write_csv(tmp_path / "x.csv", rows, columns=columns, prefix=""), url=db_url)
    assert (again.rows_stored, again.rows_updated) == (0, 1)
    assert fetch(db_url, "SELECT extra FROM hsc_object WHERE object_id = %s", (BIG + 1,)) == [({"photoz_best": "0.6"},)]


def test_gzip_csv_and_fits_give_the_same_rows(db_url, tmp_path):
    rows = good_rows(4)
    plain = write_csv(tmp_path / "p.csv", rows)
    gz = tmp_path / "p.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    first = ingest_catalog(gz, url=db_url)
    assert first.rows_stored == 4
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="OBJECT_ID", format="K", array=ids),
        fits.Column(name="RA", format="D", array=np.array([float(r[1]) for r in rows])),
        fits.Column(name="DEC", format="D", array=np.array([float(r[2]) for r in rows])),
        fits.Column(name="TRACT", format="J", array=np.full(4, 9813)),
        fits.Column(name="ISPRIMARY", format="L", array=np.ones(4, bool)),
        fits.Column(name="I_CMODEL_MAG", format="D", array=np.array([float(r[5]) for r in rows])),
        fits.Column(name="I_CMODEL_FLAG", format="L", array=np.zeros(4, bool)),
        fits.Column(name="PARENT_ID", format="K", array=np.zeros(4, np.int64)),
    ])  # fmt: skip
    table.writeto(tmp_path / "p.fits")
    again = ingest_catalog(tmp_path / "p.fits", url=db_url)
    assert (again.rows_read, again.rows_stored, again.rows_updated, again.rows_unchanged) == (4, 0, 0, 4)
    assert sorted(r[0] for r in fetch(db_url, "SELECT object_id FROM hsc_object")) == ids.tolist()


def test_fits_with_float_object_ids_is_refused_as_a_file(db_url, tmp_path):
    fits.BinTableHDU.from_columns([
        fits.Column(name="object_id", format="D", array=np.array([1.0, 2.0])),
        fits.Column(name="ra", format="D", array=np.array([1.0, 2.0])),
        fits.Column(name="dec", format="D", array=np.array([1.0, 2.0])),
    ]).writeto(tmp_path / "f.fits")  # fmt: skip
    with pytest.raises(CatalogFileError, match="floating point"):
        ingest_catalog(tmp_path / "f.fits", url=db_url)
    assert fetch(db_url, "SELECT count(*) FROM hsc_object") == [(0,)]
    assert fetch(db_url, "SELECT status FROM ingest_batch") == [("failed",)]


def test_file_without_position_columns_exits_1_and_stores_nothing(db_url, tmp_path):
    path = write_csv(tmp_path / "nora.csv", [["1", "2"]], columns=["object_id", "dec"])
    result = CliRunner().invoke(app, ["catalog", str(path)])
    assert result.exit_code == 1
    assert "no ra column" in result.output and "nora.csv" in result.output
    assert fetch(db_url, "SELECT count(*) FROM hsc_object") == [(0,)]
    status, details = fetch(db_url, "SELECT status, details FROM ingest_batch")[0]
    assert status == "failed" and "no ra column" in details["error"]
    assert fetch(db_url, "SELECT line, reason FROM ingest_reject") == [(None, "no ra column (columns found: object_id, dec...)")]
    unreadable = tmp_path / "junk.csv.gz"
    unreadable.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert CliRunner().invoke(app, ["catalog", str(unreadable)]).exit_code == 1


def test_a_failure_during_the_load_leaves_hsc_object_as_it_was(db_url, tmp_path):
    before = ingest_catalog(write_csv(tmp_path / "a.csv", good_rows(2)), url=db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            """CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN IF NEW.object_id = 666 THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$;
               CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON hsc_object FOR EACH ROW EXECUTE FUNCTION refuse()"""
        )
    rows = good_rows(3, start=BIG + 10) + [["666", "1", "1", "1", "t", "20", "f", "0"]]
    rows[0][5] = "19.0"
    with pytest.raises(psycopg.Error, match="refused by test"):
        ingest_catalog(write_csv(tmp_path / "b.csv", good_rows(2) + rows), url=db_url)
    assert fetch(db_url, "SELECT object_id, ingest_batch_id FROM hsc_object ORDER BY 1") == [(BIG, before.batch_id), (BIG + 1, before.batch_id)]
    assert fetch(db_url, "SELECT status FROM ingest_batch ORDER BY id") == [("complete",), ("failed",)]


def test_full_cas_column_set_and_cli_summary(db_url, tmp_path):
    rng = np.random.default_rng(1)
    header = [c.name for c in HSC_COLUMNS]
    rows = []
    for k in range(20):
        row = []
        for c in HSC_COLUMNS:
            if c.name == "object_id":
                row.append(str(BIG + k))
            elif c.name in ("ra", "dec"):
                row.append(f"{rng.uniform(0, 60):.7f}")
            elif c.kind == "boolean":
                row.append(rng.choice(["True", "False"]))
            elif c.kind in ("integer", "bigint"):
                row.append(str(rng.integers(0, 100)))
            else:
                row.append(f"{rng.normal(20, 1):.6f}")
        rows.append(row)
    path = write_csv(tmp_path / "full.csv", rows, columns=header)
    result = CliRunner().invoke(app, ["catalog", str(path), "--release", "pdr2_dud"])
    assert result.exit_code == 0, result.output
    assert "stored (new)" in result.output and "20" in result.output
    got = fetch(db_url, f"SELECT {', '.join(header)}, data_release FROM hsc_object WHERE object_id = %s", (BIG + 3,))[0]
    for value, raw, column in zip(got, rows[3], HSC_COLUMNS):
        expected = {"boolean": lambda: raw == "True", "integer": lambda: int(raw), "bigint": lambda: int(raw), "double": lambda: float(raw)}[column.kind]()
        assert value == expected, column.name
    assert got[-1] == "pdr2_dud"
    details = fetch(db_url, "SELECT details FROM ingest_batch")[0][0]
    assert details["missing_columns"] == [] and json.dumps(details)


@pytest.mark.parametrize("bulk", [True, False])
def test_bulk_and_incremental_loads_into_a_filled_table_agree(db_url, tmp_path, monkeypatch, bulk):
    from hscanom.ingest import catalog

    ingest_catalog(write_csv(tmp_path / "a.csv", good_rows(3)), url=db_url)
    monkeypatch.setattr(catalog, "BULK_FRACTION", 10**9 if bulk else 10**-9)
    rows = good_rows(3) + good_rows(2, start=BIG + 100)
    rows[1][1] = "10.75"
    rows.append(list(rows[3]))  # an exact repeat of a new row
    result = ingest_catalog(write_csv(tmp_path / "b.csv", rows), url=db_url)
    assert (result.rows_stored, result.rows_updated, result.rows_unchanged, result.rows_rejected) == (2, 1, 2, 0)
    indexes = {r[0] for r in fetch(db_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'hsc_object'")}
    assert {"pk_hsc_object", "ix_hsc_object_q3c", "ix_hsc_object_spoint"} <= indexes
    assert fetch(db_url, "SELECT count(*) FROM hsc_object WHERE q3c_radial_query(ra, dec, 10.5, -1.25, 0.01)") == [(1,)]


# -- issue 13.4 / 17.1-3: real inputs from the field ------------------------------------------
CAS_EXAMPLE = """# job_id: 1234
# SQL:
#   SELECT object_id, ra, dec, tract FROM pdr2_wide.forced WHERE isprimary
# object_id,ra,dec,tract
43158176442374224,150.10012,2.20034,9813
"""


def test_cas_output_with_its_information_block_stores_the_row_and_keeps_the_block(db_url, tmp_path):
    path = tmp_path / "cas.csv"
    path.write_text(CAS_EXAMPLE)
    result = ingest_catalog(path, url=db_url)
    assert (result.rows_read, result.rows_stored, result.rows_rejected) == (1, 1, 0)
    assert fetch(db_url, "SELECT object_id, ra, dec, tract FROM hsc_object") == [(43158176442374224, 150.10012, 2.20034, 9813)]
    block = "# job_id: 1234\n# SQL:\n#   SELECT object_id, ra, dec, tract FROM pdr2_wide.forced WHERE isprimary"
    assert result.provenance == block
    assert fetch(db_url, "SELECT provenance FROM ingest_batch WHERE id = %s", (result.batch_id,)) == [(block,)]


@pytest.mark.parametrize(
    "text, rows, provenance",
    [
        # a release line and a blank line in the block, CRLF line ends
        ("# job_id: 77\r\n# release: pdr2\r\n\r\n# SQL: SELECT object_id, ra, dec FROM t\r\n# object_id, ra, dec\r\n1,10,1\r\n2,11,2\r\n",
         2, "# job_id: 77\n# release: pdr2\n# SQL: SELECT object_id, ra, dec FROM t"),
        # comments with commas, then a plain header line (not commented)
        ("# made by me, on a Monday\n# columns: a, b\nobject_id,ra,dec\n1,10,1\n", 1, "# made by me, on a Monday\n# columns: a, b"),
        # the classic CAS header and no block
        ("# object_id,ra,dec\n1,10,1\n", 1, None),
        # a header of an empty result
        ("# job_id: 5\n# object_id,ra,dec\n", 0, "# job_id: 5"),
    ],
)
def test_information_block_variants(db_url, tmp_path, text, rows, provenance):
    path = tmp_path / "v.csv"
    path.write_bytes(text.encode())
    result = ingest_catalog(path, url=db_url)
    assert (result.rows_stored, result.rows_rejected) == (rows, 0)
    assert fetch(db_url, "SELECT provenance FROM ingest_batch") == [(provenance,)]


def test_leading_plus_is_the_number(db_url, tmp_path):
    path = tmp_path / "plus.csv"
    path.write_text("object_id,ra,dec,tract,parent_id,i_cmodel_mag\n+5000000000000011,+10.5,-1,+9557,+7,+21.5\n+-3,10,1,1,0,1\n")
    result = ingest_catalog(path, url=db_url)
    assert (result.rows_stored, result.rows_rejected) == (1, 1)
    assert fetch(db_url, "SELECT object_id, ra, tract, parent_id, i_cmodel_mag FROM hsc_object") == [(5000000000000011, 10.5, 9557, 7, 21.5)]
    assert rejects_of(db_url, result.batch_id) == [(3, "object_id", "+-3", "not a 64-bit integer")]


def test_invalid_utf8_and_nul_bytes_are_row_rejects_with_line_and_column(db_url, tmp_path):
    path = tmp_path / "bytes.csv"
    path.write_bytes(
        b"object_id,ra,dec,note\n"
        b"1,10,1,ok\n"
        b"2,10,1,caf\xe9\n"  # latin-1, not UTF-8, in an extra column
        b"3,10,1,a\x00b\n"  # NUL in an extra column
        b"4,1\x000,1,x\n"  # NUL in a number
        b"5,10,1,\xc3\xa9t\xc3\xa9\n"  # valid UTF-8
    )
    result = CliRunner().invoke(app, ["catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert fetch(db_url, "SELECT object_id, extra->>'note' FROM hsc_object ORDER BY 1") == [(1, "ok"), (5, "été")]
    batch = fetch(db_url, "SELECT id, rows_read, rows_stored, rows_rejected FROM ingest_batch")[0]
    assert batch[1:] == (5, 2, 3)
    assert rejects_of(db_url, batch[0]) == [
        (3, "note", "2,10,1,caf\\xe9", "not valid UTF-8 text"),
        (4, "note", "a\\x00b", "contains a NUL byte (\\x00), which text values cannot hold"),
        (5, "ra", "1\\x000", "not a number"),
    ]


def test_integral_floats_are_the_integer_in_csv_and_fits_alike(db_url, tmp_path):
    path = tmp_path / "pandas.csv"
    path.write_text(
        "object_id,ra,dec,tract,parent_id,i_cmodel_flag\n"
        "43158176442374224,150.1,2.2,9813.0,0.0,0\n"  # 2: pandas wrote integers as floats
        "43158176442374225,150.1,2.2,9.813e3,12.000,1\n"  # 3: exponent, trailing zeros
        "43158176442374226,150.1,2.2,9813.5,0,0\n"  # 4: not an integer
        "4.3158e16,150.1,2.2,9813,0,0\n"  # 5: object_id through a float
        "43158176442374227.0,150.1,2.2,9813,0,0\n"  # 6: object_id with a decimal point
        "43158176442374228,150.1,2.2,9813,4.3158176442374224e16,0\n"  # 7: a 64-bit id beyond 2**53 as a float
        "43158176442374229,150.1,2.2,1e10,0,0\n"  # 8: integral but beyond 32 bits
    )
    result = ingest_catalog(path, url=db_url)
    assert (result.rows_read, result.rows_stored, result.rows_rejected) == (7, 2, 5)
    assert fetch(db_url, "SELECT object_id, tract, parent_id FROM hsc_object ORDER BY 1") == [
        (43158176442374224, 9813, 0), (43158176442374225, 9813, 12)]  # fmt: skip
    got = {line: (f, raw, reason) for line, f, raw, reason in rejects_of(db_url, result.batch_id)}
    assert got[4] == ("tract", "9813.5", "not a 32-bit integer (has a fractional part)")
    assert got[5][:2] == ("object_id", "4.3158e16") and got[5][2].startswith("object_id written as a float")
    assert got[6][:2] == ("object_id", "43158176442374227.0") and "15-17 digits" in got[6][2]
    assert got[7][:2] == ("parent_id", "4.3158176442374224e16") and "beyond 2**53" in got[7][2]
    assert got[8] == ("tract", "1e10", "not a 32-bit integer (out of range)")
    # the same values from a FITS table give the same outcome, row by row
    n = 4
    fits.BinTableHDU.from_columns([
        fits.Column(name="object_id", format="K", array=np.arange(n, dtype=np.int64) + 100),
        fits.Column(name="ra", format="D", array=np.full(n, 150.1)),
        fits.Column(name="dec", format="D", array=np.full(n, 2.2)),
        fits.Column(name="tract", format="D", array=np.array([9813.0, 9813.5, 1e10, 9813.0])),
        fits.Column(name="parent_id", format="D", array=np.array([0.0, 0.0, 0.0, 4.3158176442374224e16])),
    ]).writeto(tmp_path / "pandas.fits")  # fmt: skip
    again = ingest_catalog(tmp_path / "pandas.fits", url=db_url)
    assert (again.rows_stored, again.rows_rejected) == (1, 3)
    assert fetch(db_url, "SELECT object_id, tract, parent_id FROM hsc_object WHERE object_id < 1000") == [(100, 9813, 0)]
    fits_rejects = {line: (f, reason) for line, f, _, reason in rejects_of(db_url, again.batch_id)}
    assert fits_rejects == {
        2: ("tract", got[4][2]),
        3: ("tract", got[8][2]),
        4: ("parent_id", got[7][2]),
    }


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_byte_order_mark_crlf_and_empty_lines_ingest_cleanly(db_url, tmp_path, monkeypatch, bom, newline):
    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 64)  # blank lines at block edges too
    lines = [b"object_id,ra,dec,tract", b"", b"1,10,1,9813", b"2,11,2,9813", b"", b"", b"   ", b"3,12,3,9814", b""]
    path = tmp_path / "excel.csv"
    path.write_bytes(bom + newline.join(lines) + newline)
    result = ingest_catalog(path, url=db_url)
    assert (result.rows_read, result.rows_stored, result.rows_rejected) == (3, 3, 0)
    assert fetch(db_url, "SELECT object_id, ra, tract FROM hsc_object ORDER BY 1") == [(1, 10.0, 9813), (2, 11.0, 9813), (3, 12.0, 9814)]
