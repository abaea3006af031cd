"""The explorer's filter: score thresholds, cluster, bright-star mask and a user WHERE clause.

The whole filter is ONE query over ``scored_object`` run through
:func:`hscanom.readonly.open_query`: on its own connection logged in as the read-only role
``hscanom_reader`` (never the explorer's owner connection), as a cursor in a read-only
transaction with a statement timeout. Before that, :func:`check_clause` refuses a WHERE
clause that is not one self-contained expression: one that closes a parenthesis it did not
open (``1=1) UNION SELECT ...``), leaves one open, or holds a ``;`` outside strings,
quoted names and comments. A clause that writes, fails to parse or runs too long comes back
as :class:`hscanom.readonly.ReadOnlyQueryError` with the database's message, and nothing
changes.

Request body (JSON)::

    {"run": 1,
     "min_sigma": {"s_disc_sigma": 3.0, "s_gen_sigma": null, "s_anom_sigma": null},
     "cluster": {"method": "gmm", "label": 2},      # or null
     "mask": "any" | "in" | "out",                  # in/out of the newest bright-star mask
     "where": "g_r > 0.8 AND r_eff_arcsec < 1"}     # any SQL boolean over scored_object columns
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hscanom import readonly
from hscanom.explorer.params import ApiError, choice, integer, number, only_keys, text
from hscanom.explorer.queries import CLUSTER_COLUMNS, SIGMA_COLUMNS

#: Statement timeout of a filter [s].
FILTER_TIMEOUT_S = 20.0
#: Longest WHERE clause accepted [characters].
MAX_WHERE = 4000

MASK_CHOICES = ("any", "in", "out")

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")


def check_clause(where: str) -> None:
    """Refuse a WHERE clause that is not one self-contained expression.

    Scans the clause as PostgreSQL's lexer does: '...' and E'...' strings, "..." names,
    $tag$...$tag$ bodies, -- and nested /* */ comments. Outside those, parentheses must
    balance without ever closing more than were opened, and no ``;`` may appear.

    Raises:
        ApiError: 400 naming the character position of the problem.
    """
    i, n, depth = 0, len(where), 0
    prev_ident = False
    while i < n:
        c = where[i]
        if c in "-/":
            j = readonly.skip_comment(where, i)
            if j is None:
                raise ApiError(400, f"where: unterminated /* comment at character {i + 1}")
            if j > i:
                i, prev_ident = j, False
                continue
        if c in "'\"":
            escapes = c == "'" and i > 0 and where[i - 1] in "eE" and (i < 2 or not (where[i - 2].isalnum() or where[i - 2] in "_$"))
            j = i + 1
            while True:
                if j >= n:
                    raise ApiError(400, f"where: unterminated {'string' if c == chr(39) else 'quoted name'} at character {i + 1}")
                if escapes and where[j] == "\\":
                    j += 2
                    continue
                if where[j] == c:
                    if j + 1 < n and where[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            i, prev_ident = j + 1, False
            continue
        if c == "$" and not prev_ident:
            m = _DOLLAR_TAG.match(where, i)
            if m:
                end = where.find(m.group(0), m.end())
                if end < 0:
                    raise ApiError(400, f"where: unterminated {m.group(0)} quote at character {i + 1}")
                i, prev_ident = end + len(m.group(0)), False
                continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise ApiError(400, f"where: the clause closes a parenthesis it did not open (character {i + 1}); give one boolean expression")
        elif c == ";":
            raise ApiError(400, f"where: ';' at character {i + 1}: give one boolean expression, not statements")
        prev_ident = c.isalnum() or c in "_$" or ord(c) >= 0x80
        i += 1
    if depth:
        raise ApiError(400, f"where: {depth} parenthesis(es) left open; give one boolean expression")


@dataclass
class Filter:
    """A parsed filter request (see the module docstring)."""

    run: int
    min_sigma: dict[str, float] = field(default_factory=dict)
    cluster_method: str | None = None
    cluster_label: int | None = None
    mask: str = "any"
    where: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> "Filter":
        """Check a request body; :class:`ApiError` 400 names the bad field."""
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object")
        only_keys(body, ("run", "min_sigma", "cluster", "mask", "where"))
        if "run" not in body:
            raise ApiError(400, "run: required")
        f = cls(run=integer(body["run"], "run", lo=1))
        mins = body.get("min_sigma") or {}
        if not isinstance(mins, dict):
            raise ApiError(400, "min_sigma: expected an object like {\"s_disc_sigma\": 3}")
        only_keys(mins, SIGMA_COLUMNS, "min_sigma")
        f.min_sigma = {k: number(v, f"min_sigma.{k}") for k, v in mins.items() if v not in (None, "")}
        cluster = body.get("cluster")
        if cluster not in (None, {}):
            if not isinstance(cluster, dict):
                raise ApiError(400, "cluster: expected an object like {\"method\": \"gmm\", \"label\": 2}")
            only_keys(cluster, ("method", "label"), "cluster")
            f.cluster_method = choice(cluster.get("method"), "cluster.method", CLUSTER_COLUMNS)
            f.cluster_label = integer(cluster.get("label"), "cluster.label", lo=-1)
        f.mask = choice(body.get("mask") or "any", "mask", MASK_CHOICES)
        f.where = text(body.get("where"), "where", max_len=MAX_WHERE)
        if f.where:
            check_clause(f.where)
        return f

    def sql(self) -> tuple[str, dict[str, Any]]:
        """The statement and its parameters. The user clause is inserted as written
        (``%`` doubled for the driver), on its own lines so a trailing ``--`` comment
        cannot swallow the closing parenthesis."""
        parts = ["run_id = %(run)s"]
        params: dict[str, Any] = {"run": self.run}
        for col, value in self.min_sigma.items():
            parts.append(f"{col} >= %({col})s")
            params[col] = value
        if self.cluster_method is not None:
            parts.append(f"{CLUSTER_COLUMNS[self.cluster_method]} = %(cluster)s")
            params["cluster"] = self.cluster_label
        if self.mask == "in":
            parts.append("in_bright_star_mask IS TRUE")
        elif self.mask == "out":
            parts.append("in_bright_star_mask IS NOT TRUE")
        if self.where:
            parts.append("(\n" + self.where.replace("%", "%%") + "\n)")
        return "SELECT object_id FROM scored_object\n WHERE " + "\n   AND ".join(parts) + "\n ORDER BY object_id", params


def run_filter(url: str, f: Filter, timeout_s: float = FILTER_TIMEOUT_S) -> list[int]:
    """Object ids matching ``f``, in id order (read-only; see the module docstring).

    Raises:
        hscanom.readonly.ReadOnlyQueryError: the database refused the statement.
    """
    sql, params = f.sql()
    with readonly.open_query(url, sql, params, timeout_s) as cur:
        return [row[0] for row in cur.fetchall()]
