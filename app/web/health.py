"""Liveness: the process answers. (Readiness, which checks dependencies, is separate.)"""

from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    return jsonify(status="Healthy")
