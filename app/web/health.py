"""`/health`: the process answers (the pod's liveness and, through the front, its
readiness); `/ready`: the database answers too, for alerts.

Kubernetes restarts a pod whose liveness fails and stops routing to one whose readiness
fails. A database outage must do neither: every pod shares it, and out of the Service they
could not say why (503, "The database is unavailable"). So `/health` checks nothing
external.
"""

import logging

from flask import Blueprint, jsonify

from app.http.context import services
from app.storage import StorageUnavailable

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/health")
def health():
    return jsonify(status="Healthy")


@bp.get("/ready")
def ready():
    # The engine needs no check: create_app loads the model (or fails) before serving.
    try:
        services().records.ping()
        ok = True
    except StorageUnavailable as exc:
        log.warning("Readiness: database unavailable: %s", exc)
        ok = False
    return jsonify(status="Ready" if ok else "Unavailable", engine=services().engines.name,
                   checks={"database": "ok" if ok else "unavailable"}), 200 if ok else 503
