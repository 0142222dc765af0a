"""The wire between the coordinator (`banwatch run --redis`) and its fetch workers (`banwatch worker`): Redis
Streams with consumer groups (redis-py's asyncio client; Valkey speaks the same protocol).

Keys (all under `banwatch:`):

- `banwatch:checks:<platform>`: a stream of due checks. Entry fields: `id` (the check id, unique), `account`
  (the Account, msgpack), `slot` and `politeness` (the download slot and its {"concurrency", "delay"}). Group
  `workers`: each worker reads with XREADGROUP as its own consumer, and re-claims with XAUTOCLAIM what a
  consumer has held for longer than the claim timeout (a worker that died). A worker acknowledges (XACK) and
  deletes a check in the same MULTI that adds its result.
- `banwatch:results`: a stream of answers. Fields: `id` (the check id), `worker` (its name), `observation`
  (the Observation with its evidence, msgpack). Group `coordinator`: the coordinator acknowledges an answer
  only after the transaction recording it committed; one it was given before a crash is read again from its
  pending list at start. An answer is recorded once per check id (monitor.store: `remote_checks`).
- `banwatch:workers`: a hash, worker name -> its heartbeat (JSON: host, pid, platforms, bind_address,
  started, seen as Unix seconds), written every HEARTBEAT_S.

Values are msgpack (msgspec): an Observation's evidence body is bytes, and JSON would grow it by a third.
The Redis URL may carry a password: it is a secret, shown as `redact_url`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from banwatch.monitor.model import Account, Observation

PREFIX = "banwatch"
RESULTS = f"{PREFIX}:results"
WORKERS = f"{PREFIX}:workers"
WORKER_GROUP = "workers"
COORDINATOR_GROUP = "coordinator"
HEARTBEAT_S = 5.0  # a worker writes its heartbeat this often...
LIVE_S = 20.0  # ...and counts as gone when none came for this long
CLAIM_TIMEOUT_S = 120.0  # a check held this long by one consumer is re-claimed by another worker


def checks_stream(platform: str) -> str:
    """The stream of `platform`'s due checks."""
    return f"{PREFIX}:checks:{platform}"


def new_check_id() -> str:
    """A fresh check id (32 hex digits): an answer is recorded once per id."""
    return uuid.uuid4().hex


def redact_url(url: str) -> str:
    """The Redis URL without its password or user name, for messages: redis://host:port/db."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def encode_check(check_id: str, account: Account, slot: str, politeness: Mapping[str, Any]) -> dict[str, bytes]:
    """A checks-stream entry's fields."""
    return {"id": check_id.encode(), "account": msgspec.msgpack.encode(account), "slot": slot.encode(),
            "politeness": json.dumps(dict(politeness)).encode()}


def decode_check(fields: Mapping[Any, bytes]) -> tuple[str, Account, str, dict[str, Any]]:
    """(check id, account, slot, politeness) from a checks-stream entry. msgspec.DecodeError, KeyError or
    ValueError when it is not one (the worker logs and drops it)."""
    f = _names(fields)
    return (f["id"].decode(), msgspec.msgpack.decode(f["account"], type=Account), f["slot"].decode(),
            json.loads(f["politeness"]))


def encode_result(check_id: str, worker: str, obs: Observation) -> dict[str, bytes]:
    """A results-stream entry's fields."""
    return {"id": check_id.encode(), "worker": worker.encode(), "observation": msgspec.msgpack.encode(obs)}


def decode_result(fields: Mapping[Any, bytes]) -> tuple[str, str, Observation]:
    """(check id, worker, observation) from a results-stream entry; msgspec.DecodeError, KeyError or ValueError
    when it is not one (the coordinator logs and drops it)."""
    f = _names(fields)
    return f["id"].decode(), f["worker"].decode(), msgspec.msgpack.decode(f["observation"], type=Observation)


def _names(fields: Mapping[Any, bytes]) -> dict[str, bytes]:
    """Field names as text (redis-py gives bytes), values as bytes."""
    return {k.decode() if isinstance(k, bytes) else k: v if isinstance(v, bytes) else str(v).encode()
            for k, v in fields.items()}


def connect(url: str, connect_timeout: float) -> Any:
    """A redis-py asyncio client on `url` for the coordinator and the workers. A command that meets a closed
    connection is sent once more on a fresh one: after Redis restarted, every connection pooled before is
    closed, and without the retry each one's first use would fail as if Redis were still gone (a second outage
    logged and alerted). Redis really gone fails the retry at once (connection refused). Only ConnectionError is
    retried: a timed-out command may have run."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.from_url(url, socket_timeout=5, socket_connect_timeout=connect_timeout,
                                  health_check_interval=10,
                                  retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)))


async def ensure_group(client: Any, stream: str, group: str) -> None:
    """Create `group` on `stream` (and the stream) reading from its start, unless it exists."""
    import redis

    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def heartbeat(name: str, host: str, pid: int, platforms: list[str], bind_address: str | None, started: float,
              seen: float) -> str:
    """A worker's heartbeat value (JSON)."""
    return json.dumps({"host": host, "pid": pid, "platforms": platforms, "bind_address": bind_address,
                       "started": started, "seen": seen}, sort_keys=True)


def read_heartbeats(raw: Mapping[bytes, bytes]) -> dict[str, dict[str, Any]]:
    """Worker name -> heartbeat dict from the workers hash; a value that is not one is left out."""
    out = {}
    for name, value in raw.items():
        try:
            beat = json.loads(value)
        except ValueError:
            continue
        if isinstance(beat, dict) and isinstance(beat.get("seen"), (int, float)):
            out[name.decode(errors="replace")] = beat
    return out
