"""Every table, index and view, as sqlite-utils migrations: the only DDL in the project.

A schema change is a new migration appended here; `PRAGMA user_version` records how many are applied
so an older banwatch refuses a newer database instead of misreading it.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("banwatch")


@migrations()
def m001_core(db: Database) -> None:
    """Migration 1: the core tables (entities, accounts, observations, evidence_bodies, evidence, changes, alerts,
    runs), their indexes, and the `current_status` and `suspensions` views."""
    db["entities"].create({"name": str, "tags": str, "line": int, "removed_at": str}, pk="name")
    db["accounts"].create(
        {
            "key": str, "platform": str, "handle": str, "platform_id": str, "display_name": str,
            "name": str, "entity": str, "tags": str, "url": str, "line": int,
            "interval_s": float, "confirmations": int, "confirm_delay_s": float,
            "status": str, "status_since": str, "last_seen_at": str, "last_rule": str,
            "pending_status": str, "pending_count": int, "pending_since": str,
            "last_checked_at": str, "next_check_at": str, "added_at": str, "removed_at": str,
        },
        pk="key", not_null={"platform", "handle"}, defaults={"pending_count": 0},
        foreign_keys=[("entity", "entities", "name")],
    )
    db["accounts"].create_index(["next_check_at"])
    db["accounts"].create_index(["platform", "status"])
    db["accounts"].create_index(["entity"])
    db["observations"].create(
        {
            "id": int, "account_key": str, "status": str, "rule": str, "reason": str,
            "first_checked_at": str, "last_checked_at": str, "checks": int, "last_http_status": int,
            "classifier_version": int,
        },
        pk="id", not_null={"account_key", "status", "rule"}, foreign_keys=[("account_key", "accounts", "key")],
    )
    db["observations"].create_index(["account_key", "last_checked_at"])
    db["evidence_bodies"].create({"sha256": str, "size": int, "body": bytes}, pk="sha256")
    db["evidence"].create(
        {
            "id": int, "account_key": str, "url": str, "http_status": int, "headers": str,
            "sha256": str, "truncated": int, "captured_at": str,
        },
        pk="id", foreign_keys=[("account_key", "accounts", "key"), ("sha256", "evidence_bodies", "sha256")],
    )
    db["changes"].create(
        {
            "id": int, "account_key": str, "from_status": str, "to_status": str, "rule": str, "reason": str,
            "last_seen_before_at": str, "first_seen_at": str, "confirmed_at": str, "evidence_id": int,
        },
        pk="id", not_null={"account_key", "from_status", "to_status", "confirmed_at"},
        foreign_keys=[("account_key", "accounts", "key"), ("evidence_id", "evidence", "id")],
    )
    db["changes"].create_index(["confirmed_at"])
    db["changes"].create_index(["account_key", "confirmed_at"])
    db["alerts"].create(
        {
            "id": int, "kind": str, "change_id": int, "account_key": str, "channel": str, "state": str,
            "attempts": int, "next_attempt_at": str, "last_error": str, "slack_ts": str,
            "created_at": str, "sent_at": str,
        },
        pk="id", not_null={"kind", "state", "created_at"}, defaults={"attempts": 0, "state": "pending"},
        foreign_keys=[("change_id", "changes", "id"), ("account_key", "accounts", "key")],
    )
    db["alerts"].create_index(["state", "next_attempt_at"])
    db["runs"].create(
        {
            "id": int, "command": str, "platform": str, "started_at": str, "finished_at": str,
            "accounts": int, "counts": str, "unknown": int, "finish_reason": str,
        },
        pk="id",
    )
    db["runs"].create_index(["platform", "started_at"])
    db.create_view("current_status", """
        SELECT a.key, a.platform, a.handle, a.entity, a.status, a.status_since, a.pending_status,
               a.last_checked_at, a.last_rule, a.tags
        FROM accounts a WHERE a.removed_at IS NULL""")
    db.create_view("suspensions", """
        SELECT c.id AS change_id, c.account_key, a.platform, a.handle, a.entity, c.from_status,
               c.last_seen_before_at, c.first_seen_at, c.confirmed_at, c.rule, c.evidence_id
        FROM changes c JOIN accounts a ON a.key = c.account_key
        WHERE c.to_status = 'suspended'""")


@migrations()
def m002_service(db: Database) -> None:
    """Service mode: the due query's index, health alerts in the outbox, the service's heartbeat."""
    db["accounts"].create_index(["platform", "next_check_at"], index_name="idx_accounts_due")
    db["alerts"].add_column("subject", str)  # health alerts: "platform:weibo", "watchlist"
    db["alerts"].add_column("detail", str)  # health alerts: what happened, in words
    db["service"].create({"key": str, "value": str, "updated_at": str}, pk="key")
    db["platform_health"].create({"platform": str, "state": str, "since": str, "changed_at": str}, pk="platform")
    db.execute("UPDATE accounts SET next_check_at = NULL WHERE removed_at IS NOT NULL")


@migrations()
def m003_outbox(db: Database) -> None:
    """Exactly-once delivery, give-up, waves."""
    for column, kind in (("give_up_at", str), ("channel_id", str), ("wave_id", int), ("thread_ts", str)):
        db["alerts"].add_column(column, kind)
    db["changes"].add_column("wave_id", int)
    db["waves"].create(
        {
            "id": int, "platform": str, "channel": str, "channel_id": str, "started_at": str, "state": str,
            "slack_ts": str, "members": int, "attempts": int, "last_error": str, "created_at": str,
            "updated_at": str, "sent_at": str,
        },
        pk="id", not_null={"platform", "state", "created_at"}, defaults={"members": 0, "attempts": 0},
    )
    db["waves"].create_index(["platform", "channel", "updated_at"])
    db["alerts"].create_index(["channel", "state", "id"])
    db.execute("UPDATE alerts SET give_up_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '+1 day')")


@migrations()
def m004_views(db: Database) -> None:
    """Views people read; the health table becomes platform_states so `platform_health` can be the view."""
    db.execute("ALTER TABLE platform_health RENAME TO platform_states")
    db.create_view("timeline", """
        SELECT c.confirmed_at, c.account_key, a.platform, a.handle, a.entity, c.from_status, c.to_status,
               c.last_seen_before_at, c.first_seen_at, c.rule, c.evidence_id, e.sha256 AS evidence_sha256,
               c.wave_id,
               (SELECT min(n.confirmed_at) FROM changes n WHERE n.account_key = c.account_key
                  AND (n.confirmed_at > c.confirmed_at OR (n.confirmed_at = c.confirmed_at AND n.id > c.id)))
                  AS until
        FROM changes c JOIN accounts a ON a.key = c.account_key LEFT JOIN evidence e ON e.id = c.evidence_id""")
    db.create_view("platform_health", """
        SELECT r.platform, coalesce(s.state, 'ok') AS state, s.since AS blind_since, max(r.finished_at) AS last_run,
               sum(r.accounts) AS checks_24h, sum(r.unknown) AS unknown_24h,
               round(1.0 * sum(r.unknown) / max(1, sum(r.accounts)), 3) AS unknown_rate_24h
        FROM runs r LEFT JOIN platform_states s ON s.platform = r.platform
        WHERE r.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')
        GROUP BY r.platform""")


@migrations()
def m005_identity(db: Database) -> None:
    """Renames (same stable id, new handle) and canaries (accounts of known status)."""
    db["accounts"].add_column("current_handle", str)  # the handle the platform reports now
    db["accounts"].add_column("canary", str)  # the status a canary account is known to have
    db["changes"].add_column("from_handle", str)
    db["changes"].add_column("to_handle", str)


@migrations()
def m006_drift(db: Database) -> None:
    """Unknown-rule drift: each run records how many unknown observations each rule produced and how many of
    them a drift rule read; `platform_health` shows the drift share of the last hour against the day before,
    the hour's top unknown rules, and whether the platform's pages look changed (`drifting`)."""
    db["runs"].add_column("unknown_rules", str)  # JSON {rule: observations} of the run's unknown observations
    db["runs"].add_column("drift", int)  # how many of them a drift rule read (NULL: not recorded, before v6)
    # A drift rule reads something the classifier does not know: `<platform>.unrecognised`, a named rule
    # (`x.user_unavailable:some_new_value`, a value no rule knows) or `<platform>.classifier_error`
    # (monitor.store.drift_rule). Drifting: any named rule in the last hour, or at least 3 drift observations
    # that are >= 20 % of the hour's checks and >= 3x the share of the rest of the day (docs/sql.md).
    # One pass over the day's runs; only the last hour's unknown_rules JSON is read (the per-platform index).
    db.create_view("platform_health", """
        WITH p AS (
            SELECT r.platform, max(r.finished_at) AS last_run, sum(r.accounts) AS checks_24h,
                   sum(r.unknown) AS unknown_24h, sum(r.drift) AS drift_24h,
                   sum(CASE WHEN r.drift IS NOT NULL THEN r.accounts END) AS drift_checks_24h,
                   sum(CASE WHEN r.drift IS NOT NULL
                             AND r.started_at >= (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour'))
                            THEN r.accounts END) AS checks_1h,
                   sum(CASE WHEN r.started_at >= (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour'))
                            THEN r.drift END) AS drift_1h
            FROM runs r WHERE r.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day') GROUP BY r.platform),
        q AS (  -- the baseline is the rest of the day: the 23 hours before the last one
            SELECT p.*, drift_24h - coalesce(drift_1h, 0) AS drift_day,
                   drift_checks_24h - coalesce(checks_1h, 0) AS checks_day FROM p)
        SELECT q.platform, coalesce(s.state, 'ok') AS state, s.since AS blind_since, q.last_run, q.checks_24h,
               q.unknown_24h,
               round(1.0 * q.unknown_24h / max(1, q.checks_24h), 3) AS unknown_rate_24h,
               q.checks_1h, q.drift_1h, round(1.0 * q.drift_1h / q.checks_1h, 3) AS drift_rate_1h,
               round(1.0 * q.drift_day / q.checks_day, 3) AS drift_rate_day,
               (SELECT group_concat(rule || ' ×' || n, ', ') FROM (
                    SELECT j.key AS rule, sum(j.value) AS n FROM runs u, json_each(u.unknown_rules) j
                    WHERE u.platform = q.platform AND u.unknown > 0
                      AND u.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')
                    GROUP BY j.key
                    ORDER BY (instr(j.key, ':') > 0 OR j.key GLOB '*.unrecognised'
                              OR j.key GLOB '*.classifier_error') DESC, n DESC, rule
                    LIMIT 3)) AS top_unknown_rules,
               CASE WHEN EXISTS (
                        SELECT 1 FROM runs u, json_each(u.unknown_rules) j
                        WHERE u.platform = q.platform AND u.unknown > 0 AND instr(j.key, ':') > 0
                          AND u.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour'))
                      OR (q.drift_1h >= 3 AND 5 * q.drift_1h >= q.checks_1h  -- in integers: exact at the bounds
                          AND coalesce(q.drift_1h * q.checks_day >= 3 * q.drift_day * q.checks_1h, 1))
                    THEN 1 ELSE 0 END AS drifting
        FROM q LEFT JOIN platform_states s ON s.platform = q.platform""", replace=True)


@migrations()
def m007_strength(db: Database) -> None:
    """Rule strength: a change read by a weak rule is recorded as unconfirmed until a proof rule agrees."""
    db["accounts"].add_column("status_weak", int, not_null_default=0)  # 1: the status was only read weakly
    db["changes"].add_column("strength", str)  # 'proof' or 'weak' (rows from before: proof)
    db["changes"].add_column("corroborated_at", str)  # when a proof rule first read a weak change's status
    db.execute("UPDATE changes SET strength = 'proof' WHERE strength IS NULL")
    db.create_view("current_status", """
        SELECT a.key, a.platform, a.handle, a.entity, a.status, a.status_since, a.pending_status,
               a.last_checked_at, a.last_rule, a.tags,
               CASE WHEN a.status_weak THEN 'unconfirmed' ELSE 'proof' END AS strength
        FROM accounts a WHERE a.removed_at IS NULL""", replace=True)
    db.create_view("timeline", """
        SELECT c.confirmed_at, c.account_key, a.platform, a.handle, a.entity, c.from_status, c.to_status,
               c.last_seen_before_at, c.first_seen_at, c.rule, c.evidence_id, e.sha256 AS evidence_sha256,
               c.wave_id,
               (SELECT min(n.confirmed_at) FROM changes n WHERE n.account_key = c.account_key
                  AND (n.confirmed_at > c.confirmed_at OR (n.confirmed_at = c.confirmed_at AND n.id > c.id)))
                  AS until,
               CASE WHEN c.strength = 'weak' AND c.corroborated_at IS NULL THEN 'unconfirmed'
                    ELSE 'proof' END AS strength, c.corroborated_at
        FROM changes c JOIN accounts a ON a.key = c.account_key LEFT JOIN evidence e ON e.id = c.evidence_id""",
                   replace=True)



@migrations()
def m008_attempts(db: Database) -> None:
    """A post whose outcome is unknown: when it was attempted (where to look for it in the channel's history)
    and, for a wave message, when to look."""
    db["alerts"].add_column("attempted_at", str)  # the last post attempt's start (our clock)
    db["waves"].add_column("next_attempt_at", str)  # a wave message in doubt is looked for from then on


@migrations()
def m009_paused(db: Database) -> None:
    """Paused accounts (`enabled: false` in the watchlist): since when; such an account has no next check."""
    db["accounts"].add_column("paused_at", str)


@migrations()
def m010_health_window(db: Database) -> None:
    """`platform_health` computes the health numbers as monitor.health.window_health does, over the same window
    (docs/sql.md): `state`, `blind_since`, and the new columns `window_s`, `checks`, `unknown`, `unknown_rate`,
    `unknown_rules`, `since`, `health` and `alerted` (what the last health alert said). The 24-hour and drift
    columns are unchanged."""
    # The window: service.health_window as the running service records it in `service`, else its default (900 s).
    # Its runs: the finished runs that started at or after its start, and the newest one before it (the edge), which
    # says whether the streak of blind runs (10·unknown >= 9·accounts, in integers) reaches back past the start.
    db.create_view("platform_health", """
        WITH w AS (
            SELECT window_s, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || window_s || ' seconds') AS start
            FROM (SELECT coalesce((SELECT CAST(value AS REAL) FROM service WHERE key = 'health_window'), 900.0)
                         AS window_s)),
        p AS (
            SELECT r.platform, max(r.finished_at) AS last_run, sum(r.accounts) AS checks_24h,
                   sum(r.unknown) AS unknown_24h, sum(r.drift) AS drift_24h,
                   sum(CASE WHEN r.drift IS NOT NULL THEN r.accounts END) AS drift_checks_24h,
                   sum(CASE WHEN r.drift IS NOT NULL
                             AND r.started_at >= (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour'))
                            THEN r.accounts END) AS checks_1h,
                   sum(CASE WHEN r.started_at >= (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour'))
                            THEN r.drift END) AS drift_1h
            FROM runs r WHERE r.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day') GROUP BY r.platform),
        q AS (  -- the baseline is the rest of the day: the 23 hours before the last one
            SELECT p.*, drift_24h - coalesce(drift_1h, 0) AS drift_day,
                   drift_checks_24h - coalesce(checks_1h, 0) AS checks_day FROM p),
        edge AS (
            SELECT q.platform, (SELECT e.id FROM runs e WHERE e.platform = q.platform AND e.started_at < w.start
                                  AND e.finished_at IS NOT NULL ORDER BY e.started_at DESC LIMIT 1) AS id
            FROM q, w),
        wr AS (
            SELECT r.platform, r.started_at, r.unknown_rules, 1 AS inside, coalesce(r.accounts, 0) AS accounts,
                   coalesce(r.unknown, 0) AS unknown,
                   coalesce(r.accounts, 0) > 0 AND 10 * coalesce(r.unknown, 0) >= 9 * r.accounts AS blind
            FROM runs r, w WHERE r.started_at >= w.start AND r.finished_at IS NOT NULL
            UNION ALL
            SELECT r.platform, r.started_at, r.unknown_rules, 0, coalesce(r.accounts, 0), coalesce(r.unknown, 0),
                   coalesce(r.accounts, 0) > 0 AND 10 * coalesce(r.unknown, 0) >= 9 * r.accounts
            FROM edge JOIN runs r ON r.id = edge.id),
        ws AS (
            SELECT platform, sum(inside * accounts) AS checks, sum(inside * unknown) AS unknown,
                   max(CASE WHEN NOT blind THEN started_at END) AS seen  -- the newest run that was not blind
            FROM wr GROUP BY platform),
        st AS (  -- since: the first run of the streak of blind runs after it; blind when it began by the start
            SELECT ws.platform, ws.checks, ws.unknown, s.since, s.since IS NOT NULL AND s.since <= w.start AS blind,
                   CAST(round((julianday(s.since) - julianday(w.start)) * 86400) AS INTEGER) AS blind_in_s
            FROM ws, w, (SELECT v.platform, min(v.started_at) AS since FROM wr v JOIN ws u ON u.platform = v.platform
                         WHERE v.blind AND v.started_at > coalesce(u.seen, '') GROUP BY v.platform) s
            WHERE s.platform = ws.platform
            UNION ALL
            SELECT ws.platform, ws.checks, ws.unknown, NULL, 0, NULL FROM ws
            WHERE NOT EXISTS (SELECT 1 FROM wr v WHERE v.platform = ws.platform AND v.blind
                                AND v.started_at > coalesce(ws.seen, '')))
        SELECT q.platform, CASE WHEN st.blind THEN 'blind' ELSE 'ok' END AS state,
               CASE WHEN st.blind THEN st.since END AS blind_since, q.last_run, q.checks_24h,
               q.unknown_24h,
               round(1.0 * q.unknown_24h / max(1, q.checks_24h), 3) AS unknown_rate_24h,
               q.checks_1h, q.drift_1h, round(1.0 * q.drift_1h / q.checks_1h, 3) AS drift_rate_1h,
               round(1.0 * q.drift_day / q.checks_day, 3) AS drift_rate_day,
               (SELECT group_concat(rule || ' ×' || n, ', ') FROM (
                    SELECT j.key AS rule, sum(j.value) AS n FROM runs u, json_each(u.unknown_rules) j
                    WHERE u.platform = q.platform AND u.unknown > 0
                      AND u.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')
                    GROUP BY j.key
                    ORDER BY (instr(j.key, ':') > 0 OR j.key GLOB '*.unrecognised'
                              OR j.key GLOB '*.classifier_error') DESC, n DESC, rule
                    LIMIT 3)) AS top_unknown_rules,
               CASE WHEN EXISTS (
                        SELECT 1 FROM runs u, json_each(u.unknown_rules) j
                        WHERE u.platform = q.platform AND u.unknown > 0 AND instr(j.key, ':') > 0
                          AND u.started_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour'))
                      OR (q.drift_1h >= 3 AND 5 * q.drift_1h >= q.checks_1h  -- in integers: exact at the bounds
                          AND coalesce(q.drift_1h * q.checks_day >= 3 * q.drift_day * q.checks_1h, 1))
                    THEN 1 ELSE 0 END AS drifting,
               w.window_s, coalesce(st.checks, 0) AS checks, coalesce(st.unknown, 0) AS unknown,
               round(1.0 * coalesce(st.unknown, 0) / max(1, coalesce(st.checks, 0)), 3) AS unknown_rate,
               coalesce((SELECT group_concat(rule || ' ×' || n, ', ') FROM (
                    SELECT j.key AS rule, sum(j.value) AS n FROM wr v, json_each(v.unknown_rules) j
                    WHERE v.platform = q.platform AND v.inside AND v.unknown_rules IS NOT NULL
                    GROUP BY j.key ORDER BY n DESC, rule LIMIT 3)), '') AS unknown_rules,
               st.since,
               CASE WHEN st.blind THEN 'blind'
                    WHEN st.since IS NOT NULL THEN 'ok (blind in ' || max(1, (st.blind_in_s + 59) / 60) || 'm)'
                    ELSE 'ok' END AS health,
               coalesce(s.state, 'ok') AS alerted
        FROM q CROSS JOIN w LEFT JOIN st ON st.platform = q.platform
        LEFT JOIN platform_states s ON s.platform = q.platform""", replace=True)

@migrations()
def m011_remote_checks(db: Database) -> None:
    """Checks the coordinator handed to fetch workers (`banwatch run --redis`, monitor.streams): one row per check
    id, answered once. `answered_at` is set in the transaction that records the answer, so an answer delivered
    twice is recorded once; a row never answered is outstanding until it expires (`given_up_at`). `worker` and
    `status` feed `banwatch status`' per-worker figures."""
    db["remote_checks"].create({"check_id": str, "account_key": str, "platform": str, "run_id": int,
                                "sent_at": str, "answered_at": str, "given_up_at": str, "worker": str,
                                "status": str}, pk="check_id")
    db.execute("CREATE INDEX idx_remote_checks_open ON remote_checks (sent_at) "
               "WHERE answered_at IS NULL AND given_up_at IS NULL")
    db.execute("CREATE INDEX idx_remote_checks_answered ON remote_checks (answered_at)")


SCHEMA_VERSION = len(migrations._migrations)  # noqa: SLF001 - the count is the version


def migrate(db: Database) -> None:
    """Bring an older database to this version in ONE transaction: all of it, or nothing.

    On the store's WriteDatabase `db.atomic()` begins IMMEDIATE: the migration waits for another writer's
    lock (the busy timeout), and a second banwatch migrating at once finds nothing left pending."""
    if not migrations.pending(db) and db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    with db.atomic():
        migrations.apply(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
