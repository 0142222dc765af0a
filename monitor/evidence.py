"""Evidence people can cite: write a change's proof back out, and check that nothing was altered.

Bodies are stored zlib-compressed, once per distinct sha256; each evidence row names its body's hash.
Verification decompresses every body and recomputes the hash, so a flipped byte anywhere is caught.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from banwatch.monitor.errors import BanwatchError
from banwatch.monitor.reads import Reader

_EXTENSIONS = (("json", ".json"), ("html", ".html"), ("xml", ".xml"))


@dataclass(frozen=True)
class Problem:
    """One evidence row that does not verify: its id, the sha256 it claims (hex) and what is wrong (a sentence)."""

    evidence_id: int
    sha256: str
    what: str


def body(conn: sqlite3.Connection, sha256: str) -> bytes:
    """The stored response body whose sha256 (hex) is `sha256`, decompressed (bytes). Raises BanwatchError when it is
    missing from evidence_bodies or does not decompress."""
    stored = Reader(conn).evidence_body(sha256)
    if stored is None:
        raise BanwatchError(f"the body {sha256[:16]}… is missing from evidence_bodies")
    try:
        return zlib.decompress(stored)
    except zlib.error as exc:
        raise BanwatchError(f"the body {sha256[:16]}… is corrupt: {exc}") from None


def manifest(conn: sqlite3.Connection, evidence_id: int) -> dict[str, Any]:
    """Evidence #`evidence_id` as a JSON-ready dict: account, URL, HTTP status, captured_at (ISO text), headers,
    sha256 (hex), whether the body was truncated at 2 MiB, and the changes it proves. Raises BanwatchError when there
    is no such evidence."""
    reader = Reader(conn)
    ev = reader.evidence(evidence_id)
    if ev is None:
        raise BanwatchError(f"no evidence #{evidence_id}")
    changes = reader.changes_proven_by(evidence_id)
    return {"evidence_id": ev["id"], "account_key": ev["account_key"], "url": ev["url"],
            "http_status": ev["http_status"], "captured_at": ev["captured_at"],
            "headers": json.loads(ev["headers"] or "{}"), "sha256": ev["sha256"],
            "truncated_at_2mb": bool(ev["truncated"]), "changes": changes}


def export(conn: sqlite3.Connection, evidence_id: int, out: Path) -> tuple[Path, Path]:
    """Write the body and a JSON manifest into `out`, then re-verify the written body's hash."""
    meta = manifest(conn, evidence_id)
    raw = body(conn, meta["sha256"])
    ctype = meta["headers"].get("content-type", "")
    ext = next((e for key, e in _EXTENSIONS if key in ctype), ".txt")
    out.mkdir(parents=True, exist_ok=True)
    body_path, meta_path = out / f"evidence-{evidence_id}{ext}", out / f"evidence-{evidence_id}.manifest.json"
    body_path.write_bytes(raw)
    written = hashlib.sha256(body_path.read_bytes()).hexdigest()
    if written != meta["sha256"]:
        raise BanwatchError(f"evidence #{evidence_id}: the body's sha256 is {written}, "
                            f"the record says {meta['sha256']}: it has been altered")
    meta["body_file"] = body_path.name
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return body_path, meta_path


def verify(conn: sqlite3.Connection) -> tuple[int, list[Problem]]:
    """Recompute every body's hash; return how many records were checked and what is wrong."""
    problems: list[Problem] = []
    checked = 0
    bodies: dict[str, str | None] = {}  # sha256 -> problem (None when fine), each body once
    for evidence_id, sha in Reader(conn).evidence_hashes():
        checked += 1
        if sha not in bodies:
            try:
                actual = hashlib.sha256(body(conn, sha)).hexdigest()
                bodies[sha] = None if actual == sha else f"body hashes to {actual}"
            except BanwatchError as exc:
                bodies[sha] = str(exc)
        if bodies[sha]:
            problems.append(Problem(evidence_id, sha, bodies[sha] or ""))
    return checked, problems
