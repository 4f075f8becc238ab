"""Every Redis key and channel name, in one place.

All keys of a jurisdiction share the hash tag ``{<namespace>}`` so that on a Redis Cluster
they live on one shard (multi-key Lua scripts and pipelines stay legal) while different
jurisdictions spread over the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    namespace: str = "330212"

    @property
    def prefix(self) -> str:
        return "{" + self.namespace + "}"

    # --- the durable log and its side streams -------------------------------------------
    @property
    def log(self) -> str:
        """Stream: every accepted report, update and command (the truth)."""
        return f"{self.prefix}:log"

    @property
    def dead_letters(self) -> str:
        """Stream: every rejected item with its reason and raw payload."""
        return f"{self.prefix}:dlq"

    @property
    def audit(self) -> str:
        """Stream: append-only audit of human actions (actor, role, time, reason)."""
        return f"{self.prefix}:audit"

    # --- ingest bookkeeping ---------------------------------------------------------------
    @property
    def idempotency(self) -> str:
        """Hash: ``channel|source_id`` -> case id (the same report twice is one case)."""
        return f"{self.prefix}:idem"

    @property
    def case_seq(self) -> str:
        """String counter for case ids."""
        return f"{self.prefix}:seq"

    @property
    def versions(self) -> str:
        """Hash: case id -> highest version appended to the log."""
        return f"{self.prefix}:ver"

    @property
    def recent(self) -> str:
        """Prefix of the duplicate-candidate keys (feeds/ingest.lua): :meth:`recent_bucket`,
        :meth:`recent_buckets`, :meth:`recent_closed`; before 2026-12-04 a bucket was the geo set
        ``{recent}:<bucket>`` (the script still drops those)."""
        return f"{self.prefix}:recent"

    def recent_bucket(self, bucket: int) -> str:
        """String of the reports received in time bucket ``bucket`` (ms // bucket size) that may
        be linked to: ``;category|channel|ms|case|lon|lat`` records (lon, lat in 1e-7 degrees),
        appended per batch. Whole buckets are dropped once out of the window."""
        return f"{self.prefix}:recent:r:{bucket}"

    @property
    def recent_buckets(self) -> str:
        """Sorted set: existing :meth:`recent_bucket` ids by their start (ms), to drop old ones."""
        return f"{self.prefix}:recent:b"

    @property
    def recent_closed(self) -> str:
        """Sorted set: cases closed or merged (score ms) within the window: no longer link targets."""
        return f"{self.prefix}:recent:c"

    # --- pub/sub --------------------------------------------------------------------------
    @property
    def deltas(self) -> str:
        """Pub/sub channel: small versioned 'X changed' messages (a hint, not the data)."""
        return f"{self.prefix}:deltas"

    @property
    def socketio_channel(self) -> str:
        """Flask-SocketIO message-queue channel name."""
        return f"{self.prefix}:socketio"

    # --- read models (kept by the supervision worker) -------------------------------------
    def case(self, case_id: str) -> str:
        """String: current state of one case (JSON, the supervision lifecycle's state)."""
        return f"{self.prefix}:case:{case_id}"

    def heat_day(self, day: str) -> str:
        """Hash: per-day heat counters; field ``cell|category|channel|level|dept`` -> count."""
        return f"{self.prefix}:heat:{day}"

    # --- supervision read models (feeds.supervision; layout in docs/READ_MODELS.md) -------
    @property
    def sv_group(self) -> str:
        """Consumer-group name of the supervision worker on :attr:`log` (a name, not a key)."""
        return "supervision"

    def sv(self, name: str) -> str:
        """Any supervision read-model key ``{ns}:sv:<name>`` (rebuild deletes ``{ns}:sv:*``)."""
        return f"{self.prefix}:sv:{name}"

    @property
    def deadlines(self) -> str:
        """Sorted set: case id -> ms of its next timer (stage near/due, alert escalation/ack timeout)."""
        return self.sv("deadlines")

    @property
    def facts(self) -> str:
        """Hash: case id -> compact JSON summary + KPI facts (one HMGET serves KPIs and lists)."""
        return self.sv("facts")

    @property
    def alerts(self) -> str:
        """Hash: alert id ``case:stage:kind`` -> alert JSON (mirror of the alert kept in the case)."""
        return self.sv("alerts")

    @property
    def alert_queue(self) -> str:
        """Sorted set: live alert ids scored by urgency (lower = more urgent)."""
        return self.sv("alertq")

    @property
    def alert_history(self) -> str:
        """Sorted set: resolved alert ids scored by resolution time (ms)."""
        return self.sv("alerth")

    def backlog(self, scope: str, code: str, kind: str) -> str:
        """Sorted set of open cases of ``scope`` (dept|street|comm|grid) ``code``.

        ``kind``: ``open`` (score received ms), ``near`` (earliest near-due ms), ``due``
        (earliest due ms); counts at any ``now`` are ZCARD / ZCOUNT(-inf, now).
        """
        return self.sv(f"bl:{scope}:{code}:{kind}")

    def backlog_codes(self, scope: str) -> str:
        """Set: every dept that ever held a case / every street with a case (``scope`` dept|street)."""
        return self.sv(f"codes:{scope}")

    def received_index(self, scope: str) -> str:
        """Sorted set: counted case ids by received ms for ``district``, ``street:X`` or ``dept:X``."""
        return self.sv(f"recv:{scope}")

    def closed_index(self, scope: str) -> str:
        """Sorted set: closed case ids by closure ms for ``district``, ``street:X`` or ``dept:X``."""
        return self.sv(f"closed:{scope}")

    @property
    def reports_index(self) -> str:
        """Sorted set: every report (duplicates included) by received ms (ticker, playback)."""
        return self.sv("reports")

    def grid_category_day(self, day: str) -> str:
        """Hash: per local day, ``grid|category`` -> count of counted reports (high-frequency)."""
        return self.sv(f"gc:{day}")

    @property
    def vetoes(self) -> str:
        """Sorted set: veto events (摘星) JSON by time ms."""
        return self.sv("vetoes")

    @property
    def delta_seq(self) -> str:
        """String counter: ``seq`` of every message published on :attr:`deltas`."""
        return f"{self.prefix}:deltaseq"

    @property
    def sv_meta(self) -> str:
        """Hash: worker bookkeeping (watermark, last processed id, last scan)."""
        return self.sv("meta")

    @property
    def sv_marks(self) -> str:
        """Hash: write-once markers so dead letters and system audit lines are written once, even on rebuild."""
        return f"{self.prefix}:svmarks"
