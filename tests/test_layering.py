"""Layering rules: which modules may do what."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# == SQL lives behind the store =====================================================================
# Only these modules hold SQL or run it: the schema, the Store (writes and the reads the monitor needs),
# the outbox (delivery state), the read-only connections for people (`sql`, `status`, `history`) and the
# Reader behind `report` and `evidence`. Everything else asks them through a named method.

SQL_OWNERS = {
    "monitor/schema.py",
    "monitor/store.py",
    "monitor/outbox.py",
    "monitor/query.py",
    "monitor/reads.py",
}

# There are no exceptions: the CLI modules' own queries, meant to be a listed temporary exception here, had
# already moved behind monitor.query (the CLI change) when this test was written. Do not add one.

SQL_PACKAGES = ("monitor", "alerts", "spiders")

_STATEMENT = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|PRAGMA|BEGIN)\b")
_RUNS_SQL = {"execute", "executemany", "executescript", "query"}


def sql_in(source: str) -> list[tuple[int, str]]:
    """Where `source` holds or runs SQL, as (line, what): a string with an SQL statement keyword (docstrings
    are prose about the code, not SQL, and are not read), a call of `.execute(`/`.executemany(`/
    `.executescript(`/`.query(` with a statement (a Redis pipeline's bare `.execute()` runs none), or a table
    taken as `db[...]`."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            match = _STATEMENT.search(node.value)
            if match:
                found.append((node.lineno, f"SQL in a string: {match.group(0)} …"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _RUNS_SQL
              and (node.args or node.keywords)):  # a statement to run: a Redis pipeline's bare execute() is not SQL
            found.append((node.lineno, f"runs SQL: .{node.func.attr}("))
        elif isinstance(node, ast.Subscript) and (
                isinstance(node.value, ast.Name) and node.value.id == "db"
                or isinstance(node.value, ast.Attribute) and node.value.attr == "db"):
            found.append((node.lineno, "takes a table: db[...]"))
    return sorted(found)


def _sql_outside_owners() -> dict[str, list[tuple[int, str]]]:
    out = {}
    for package in SQL_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in SQL_OWNERS:
                continue
            hits = sql_in(path.read_text(encoding="utf-8"))
            if hits:
                out[name] = hits
    return out


def test_sql_only_in_the_store_modules() -> None:
    outside = _sql_outside_owners()
    assert not outside, "SQL outside the store modules (give it a named method in store.py, outbox.py or " \
                        "reads.py):\n" + "\n".join(f"  {name}:{line}: {what}" for name, hits in outside.items()
                                                    for line, what in hits)


def test_the_sql_check_finds_sql() -> None:
    """Control: the checker reports each kind of SQL it looks for, and not prose or other subscripts."""
    source = '''
def counts(conn, store, since):
    """Prose may name an UPDATE or a SELECT."""
    rows = conn.execute("SELECT platform, count(*) FROM runs WHERE started_at >= ?", [since])
    store.db.query("select 1")
    alert = store.db["alerts"].get(1)
    sql = f"UPDATE alerts SET state = 'sent' WHERE id = {alert['id']}"
    return rows, sql, {"a": 1}["a"], "select the platform to update", pipe.execute()
'''
    assert sql_in(source) == [(4, "SQL in a string: SELECT …"), (4, "runs SQL: .execute("),
                              (5, "runs SQL: .query("), (6, "takes a table: db[...]"),
                              (7, "SQL in a string: UPDATE …")]
    assert sql_in("def f(x):\n    return x.get('a'), 'no statements here'\n") == []
