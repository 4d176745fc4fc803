"""The results store: one embedded DuckDB file holding every study, fleet and optimize run written with
``--db FILE``, read back by `trainperf results list|show|compare`.

Tables (each declared once below, in TABLES; created when missing):
- runs: one row per run: run_id, kind (study | fleet | optimize), created (UTC), trainperf_version,
  git_rev (of the trainperf source tree; 'unknown' outside a checkout), hardware, args (JSON).
- study_points: run_id + study/sweep.py STUDY_SCHEMA; fleet_rows: run_id + fleet.FLEET_SCHEMA;
  optimize_rows: run_id + one row per measured candidate (optimize/device.py Candidate.to_dict).

A run is written in one transaction: a failure leaves the file as it was. The path may not lie inside the
installed package, and a file that is not a DuckDB database is refused with one line naming it.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from trainperf.fleet.sweep import FLEET_SCHEMA
from trainperf.study.sweep import STUDY_SCHEMA

_DUCK: dict[object, str] = {pl.Utf8: "VARCHAR", pl.Float64: "DOUBLE", pl.Int64: "BIGINT", pl.Boolean: "BOOLEAN"}

OPTIMIZE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "workload": pl.Utf8, "device": pl.Utf8, "label": pl.Utf8, "knobs": pl.Utf8, "status": pl.Utf8,
    "reason": pl.Utf8, "measured_step_s": pl.Float64, "measured_speedup": pl.Float64,
    "predicted_speedup": pl.Float64, "compile_s": pl.Float64, "peak_memory_bytes": pl.Float64,
    "baseline": pl.Boolean, "best": pl.Boolean,
}
RUNS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "run_id": pl.Utf8, "kind": pl.Utf8, "created": pl.Utf8, "trainperf_version": pl.Utf8, "git_rev": pl.Utf8,
    "hardware": pl.Utf8, "args": pl.Utf8,
}
"""created: ISO 8601 UTC, seconds (stored as a TIMESTAMP)."""

TABLES: dict[str, dict[str, pl.DataType | type[pl.DataType]]] = {
    "runs": RUNS_SCHEMA, "study_points": STUDY_SCHEMA, "fleet_rows": FLEET_SCHEMA, "optimize_rows": OPTIMIZE_SCHEMA,
}
ROW_TABLE = {"study": "study_points", "fleet": "fleet_rows", "optimize": "optimize_rows"}
"""kind -> the table of its rows."""


def _ddl(name: str) -> str:
    cols = TABLES[name]
    if name == "runs":
        body = ", ".join("created TIMESTAMP NOT NULL" if c == "created" else
                         f"{c} VARCHAR PRIMARY KEY" if c == "run_id" else f"{c} {_DUCK[t]}" for c, t in cols.items())
    else:
        body = "run_id VARCHAR NOT NULL, " + ", ".join(f"{c} {_DUCK[t]}" for c, t in cols.items())
    return f"CREATE TABLE IF NOT EXISTS {name} ({body})"


def check_db_path(path: Path) -> Path:
    """Refuse a --db inside the trainperf package (installs must stay read-only) or that is a folder."""
    import trainperf

    pkg = Path(trainperf.__file__).resolve().parent
    p = path.expanduser().resolve()
    if p == pkg or pkg in p.parents:
        raise ValueError(f"--db {path}: inside the trainperf package ({pkg}); keep results elsewhere")
    if p.is_dir():
        raise ValueError(f"--db {path} is a folder; give a database file name, e.g. {path}/results.duckdb")
    if not p.parent.is_dir():
        raise ValueError(f"--db {path}: folder {p.parent} does not exist; create it first")
    return p


@contextmanager
def connect(path: Path, *, write: bool) -> Iterator[Any]:
    """A DuckDB connection to the store; ValueError (one line, naming the file) when it is not a DuckDB
    database, is locked by another process, or (reading) does not exist."""
    import duckdb

    p = check_db_path(path)
    if not write and not p.exists():
        raise ValueError(f"--db {path}: no such results database; write one with `trainperf study --db {path}`")
    try:
        con = duckdb.connect(str(p), read_only=not write)
    except duckdb.Error as e:
        first = str(e).splitlines()[0][:200]
        raise ValueError(f"--db {path}: not a DuckDB results database, or in use by another process ({first})") from None
    try:
        if write:
            for name in TABLES:
                con.execute(_ddl(name))
        yield con
    finally:
        con.close()


def git_rev() -> str:
    """The commit of the trainperf source tree ('+dirty' with uncommitted changes; 'unknown' if none)."""
    here = Path(__file__).resolve().parents[1]  # the trainperf package: "." below covers all of it
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=here,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "") if rev else "unknown"


@dataclass(frozen=True, kw_only=True)
class Run:
    run_id: str
    kind: str
    created: str
    trainperf_version: str
    git_rev: str
    hardware: str
    args: str
    rows: int = 0


def write_run(path: Path, kind: str, rows: pl.DataFrame, *, hardware: str, args: dict[str, Any]) -> str:
    """Store one run and its rows in one transaction; returns the new run_id."""
    from trainperf import __version__

    table = ROW_TABLE[kind]
    cols = list(TABLES[table])
    missing = [c for c in cols if c not in rows.columns]
    if missing:
        raise ValueError(f"store: {kind} rows lack columns {missing}")
    run_id = uuid.uuid4().hex[:12]
    created = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    rev = git_rev()
    with connect(path, write=True) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [run_id, kind, created, __version__, rev, hardware, orjson.dumps(args, default=str).decode()])
            data = rows.select(cols).with_columns(pl.lit(run_id).alias("run_id")).select(["run_id", *cols])
            con.register("_new_rows", data.to_arrow())
            con.execute(f"INSERT INTO {table} SELECT * FROM _new_rows")
            con.unregister("_new_rows")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return run_id


def list_runs(path: Path, *, kind: str | None = None) -> list[Run]:
    """Every run, newest first, with its row count."""
    with connect(path, write=False) as con:
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "runs" not in have:
            raise ValueError(f"--db {path}: a DuckDB file without trainperf results (no runs table)")
        counts = " UNION ALL ".join(f"SELECT run_id, count(*) AS n FROM {t} GROUP BY run_id"
                                    for t in ROW_TABLE.values() if t in have) or "SELECT NULL AS run_id, 0 AS n"
        q = (f"SELECT r.*, coalesce(c.n, 0) FROM runs r LEFT JOIN ({counts}) c USING (run_id)"
             + (" WHERE kind = ?" if kind else "") + " ORDER BY created DESC, run_id")
        out = con.execute(q, [kind] if kind else []).fetchall()
    return [Run(run_id=r[0], kind=r[1], created=r[2].isoformat(sep=" "), trainperf_version=r[3], git_rev=r[4],
                hardware=r[5], args=r[6], rows=int(r[7])) for r in out]


def find_run(path: Path, run_id: str) -> Run:
    """The run whose id is ``run_id`` or starts with it; one line naming the choices otherwise."""
    runs = list_runs(path)
    hits = [r for r in runs if r.run_id == run_id] or [r for r in runs if r.run_id.startswith(run_id)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ValueError(f"run {run_id!r}: not in {path} (runs: {', '.join(r.run_id for r in runs[:8]) or 'none'}"
                         f"{' ...' if len(runs) > 8 else ''}; see `trainperf results list --db {path}`)")
    raise ValueError(f"run {run_id!r}: ambiguous in {path} ({', '.join(r.run_id for r in hits[:8])}); give more of it")


def read_rows(path: Path, run: Run) -> pl.DataFrame:
    """The rows of one run, in their table's schema."""
    table = ROW_TABLE[run.kind]
    cols = list(TABLES[table])
    with connect(path, write=False) as con:
        res = con.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ?", [run.run_id]).fetchall()
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in res], schema=TABLES[table], orient="row")


def optimize_rows(res: Any) -> pl.DataFrame:
    """An OptimizeResult as OPTIMIZE_SCHEMA rows (baseline first)."""
    out = []
    best = res.best.knobs.label()
    for i, c in enumerate((res.baseline, *res.candidates)):
        d = c.to_dict()
        out.append({"workload": res.workload, "device": res.device, "label": d["label"],
                    "knobs": orjson.dumps(d["knobs"]).decode(), "status": d["status"], "reason": d["reason"],
                    **{k: d[k] for k in ("measured_step_s", "measured_speedup", "predicted_speedup", "compile_s",
                                         "peak_memory_bytes")},
                    "baseline": i == 0, "best": d["label"] == best})
    return pl.DataFrame(out, schema=OPTIMIZE_SCHEMA)


COMPARE_KEYS = {"study": (("workload", "gpus", "point"), "step_time_s"), "fleet": (("workload", "gpu"), "step_time_s"),
                "optimize": (("workload", "label"), "measured_step_s")}
"""kind -> (the columns that match a row of one run to a row of another, the time compared)."""


def compare_runs(path: Path, a: Run, b: Run) -> pl.DataFrame:
    """Rows of runs ``a`` and ``b`` matched on their kind's key: each one's time and b / a (a full join,
    so a row only one run has shows with the other's time empty)."""
    if a.kind != b.kind:
        raise ValueError(f"runs {a.run_id} ({a.kind}) and {b.run_id} ({b.kind}): compare runs of one kind")
    keys, t = COMPARE_KEYS[a.kind]
    left = read_rows(path, a).select([*keys, pl.col(t).alias("a_s"), pl.col("status").alias("a_status")])
    right = read_rows(path, b).select([*keys, pl.col(t).alias("b_s"), pl.col("status").alias("b_status")])
    # row order: a's, then rows only b has in b's order (sorted by hand: join's maintain_order needs polars 1.19)
    both = left.with_row_index("_a").join(right.with_row_index("_b"), on=list(keys), how="full", coalesce=True)
    both = both.sort(["_a", "_b"], nulls_last=True).drop(["_a", "_b"])
    return both.with_columns((pl.col("b_s") / pl.col("a_s")).alias("b_over_a"))
