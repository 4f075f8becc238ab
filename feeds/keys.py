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
    def recent_geo(self) -> str:
        """Geo set of recent reports ``case|category|ts`` for cross-channel duplicate linking."""
        return f"{self.prefix}:recent"

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
        """Hash: current state of one case."""
        return f"{self.prefix}:case:{case_id}"

    def heat_day(self, day: str) -> str:
        """Hash: per-day heat counters; field ``cell|category|channel|level|dept`` -> count."""
        return f"{self.prefix}:heat:{day}"
