"""Reader: the SQL behind `banwatch report` and `banwatch evidence`, over a read-only connection.

The report and the evidence commands open the file with `monitor.query.open_readonly` and never write, so
their reads live here rather than on the Store (which owns a write connection). Each read is one named
method; `monitor.report` and `monitor.evidence` keep only presentation and hashing.

Nothing here reads the clock: a time window is always given by the caller, and the views used here
(`timeline`) do not depend on the current time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any


class Reader:
    """The named reads behind `report` and `evidence`, over one read-only connection (monitor.query.open_readonly).
    Each returns rows as dicts (column -> value); times are stored ISO text."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    # -- the report --------------------------------------------------------------------------------

    def watched_accounts(self) -> list[dict[str, Any]]:
        """Accounts still on the watchlist, grouped by entity (accounts without one last), then platform."""
        return self._rows("SELECT key, platform, handle, entity, status, status_since FROM accounts "
                          "WHERE removed_at IS NULL ORDER BY entity IS NULL, entity, platform", [])

    def changes_since(self, since: str) -> list[dict[str, Any]]:
        """Confirmed changes (`timeline` rows) confirmed at or after `since`, oldest first."""
        return self._rows("SELECT * FROM timeline WHERE confirmed_at >= ? ORDER BY confirmed_at", [since])

    def checks_since(self, since: str) -> list[dict[str, Any]]:
        """Per platform: the checks (`checks`) and unknown answers (`unknown`) of the runs started since `since`."""
        return self._rows("SELECT platform, sum(accounts) AS checks, sum(unknown) AS unknown FROM runs "
                          "WHERE started_at >= ? GROUP BY platform ORDER BY platform", [since])

    # -- evidence ----------------------------------------------------------------------------------

    def evidence_body(self, sha256: str) -> bytes | None:
        """The stored (zlib-compressed) body with this hash, or None when there is none."""
        row = self.conn.execute("SELECT body FROM evidence_bodies WHERE sha256 = ?", [sha256]).fetchone()
        return None if row is None else row[0]

    def evidence(self, evidence_id: int) -> dict[str, Any] | None:
        """One evidence row, every column, or None."""
        rows = self._rows("SELECT * FROM evidence WHERE id = ?", [evidence_id])
        return rows[0] if rows else None

    def changes_proven_by(self, evidence_id: int) -> list[dict[str, Any]]:
        """The changes this evidence confirmed, as `change_id`, `account_key`, `from_status`, `to_status`,
        `confirmed_at`, `rule`, in order of id."""
        return self._rows("SELECT id AS change_id, account_key, from_status, to_status, confirmed_at, rule "
                          "FROM changes WHERE evidence_id = ? ORDER BY id", [evidence_id])

    def evidence_hashes(self) -> Iterator[tuple[int, str]]:
        """(evidence id, body sha256) of every evidence row in order of id, read as they are consumed."""
        for evidence_id, sha256 in self.conn.execute("SELECT id, sha256 FROM evidence ORDER BY id"):
            yield evidence_id, sha256
