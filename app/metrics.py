"""Prometheus metrics, counted where the work happens; /metrics (app/http/observability.py)
serves them, added up across gunicorn workers."""

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("ibp_http_requests_total", "HTTP requests answered",
                   ["method", "endpoint", "status"])
REQUEST_SECONDS = Histogram("ibp_http_request_duration_seconds", "Time to answer a request",
                            ["endpoint"])
# Names of API keys, never the keys: an operator's few, so a bounded set of labels.
KEY_MEGAPIXELS = Counter("ibp_api_key_megapixels_total",
                         "Megapixels of work paid for with each API key", ["key"])
UPLOADS = Counter("ibp_uploads_total", "Uploads by outcome (success or the error code)",
                  ["outcome"])
EDITS = Counter("ibp_edits_total", "Edits of a record by outcome (success or the error code)",
                ["outcome"])
ENGINE_SECONDS = Histogram("ibp_engine_seconds", "Time an engine took to make a mask",
                           ["engine"], buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))
ENGINE_USED = Counter("ibp_engine_used_total", "Masks made, by the engine that made them",
                      ["engine"])
UPLOADS_WAITING = Gauge("ibp_uploads_waiting", "Uploads waiting for a work slot",
                        multiprocess_mode="livesum")
