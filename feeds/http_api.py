"""HTTP ingest: ``POST /api/events`` and ``GET /api/health`` as a Flask Blueprint.

The dashboard registers this blueprint on Dash's Flask server; ``python -m feeds serve``
runs it alone. The endpoint is a thin adapter over :class:`feeds.ingest.Ingestor`: the body
(one JSON object, an array, or JSON lines) goes through the same path as every other source,
and the answer lists one result per item, in order. A body over ``Settings.max_batch_bytes``
is refused with 413 (its head is dead-lettered with the reason); a server that cannot reach
the log answers 503 and accepted nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, jsonify, request

from feeds.ingest import DLQ_RAW_LIMIT, Ingestor, IngestUnavailable, stream_stats
from feeds.validate import Reason

log = logging.getLogger(__name__)


def make_ingest_blueprint(ingestor: Ingestor) -> Blueprint:
    """The ingest endpoints bound to ``ingestor`` (register with ``app.register_blueprint``)."""
    bp = Blueprint("feeds_ingest", __name__)
    max_bytes = ingestor.settings.max_batch_bytes

    @bp.post("/api/events")
    def post_events() -> Any:
        declared = request.content_length
        if declared is not None and declared > max_bytes:
            return _too_large(ingestor, request.stream.read(DLQ_RAW_LIMIT), declared, max_bytes)
        body = request.stream.read(max_bytes + 1)
        if len(body) > max_bytes:  # chunked upload without a length
            return _too_large(ingestor, body[:DLQ_RAW_LIMIT], None, max_bytes)
        try:
            results = ingestor.ingest_body(body, request.content_type or "application/json", source="http")
        except IngestUnavailable as e:
            log.error("ingest unavailable: %s", e)
            return jsonify({"error": "the event log is unavailable; nothing was accepted, retry later"}), 503
        return jsonify({"results": [r.to_json() for r in results]})

    @bp.get("/api/health")
    def health() -> Any:
        try:
            stats = stream_stats(ingestor.client, ingestor.keys)
        except Exception as e:  # noqa: BLE001 - any failure means "not healthy"
            return jsonify({"status": "unavailable", "error": type(e).__name__}), 503
        return jsonify({"status": "ok", "namespace": ingestor.keys.namespace, **stats,
                        "ingested": dict(ingestor.totals)})

    return bp


def _too_large(ingestor: Ingestor, head: bytes, declared: int | None, max_bytes: int) -> Any:
    size = f"{declared} bytes" if declared is not None else "more than that"
    detail = f"request body is {size}; at most {max_bytes} (send smaller batches)"
    try:
        ingestor.dead_letter(Reason.BODY_TOO_LARGE, detail, head, source="http")
    except Exception as e:  # noqa: BLE001 - the 413 answer matters more than the record of it
        log.error("could not dead-letter an oversized body: %s", e)
    return jsonify({"error": f"{Reason.BODY_TOO_LARGE}: {detail}"}), 413


def make_app(ingestor: Ingestor) -> Flask:
    """A bare Flask app serving only the ingest endpoints (``python -m feeds serve``)."""
    app = Flask("feeds")
    app.register_blueprint(make_ingest_blueprint(ingestor))
    return app
