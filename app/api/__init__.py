"""JSON API v1 at /api/v1: the page's features for programs, described by an OpenAPI
document at /api/v1/openapi.json that is generated from the same models the routes use.

Beside the page, not above it: it answers with the same visitor identity (the signed
`user_id` cookie), the same core (rules, limit, upload walk) and the shared HTTP pieces
(app/http); only the delivery differs: status codes and JSON bodies, never a redirect.
"""

from app.api.routes import PREFIX, bp
from app.api.schemas import CSRF_STATUS
from app.http.callers import CSRF_HEADER
from app.http.errors import FrontDoor

DOOR = FrontDoor(
    "api", prefix=PREFIX.rsplit("/", 1)[0] + "/", json=True, csrf_status=CSRF_STATUS,
    keys=True, keyless=frozenset({"api.openapi_document"}),
    csrf_help=(f"Get a token from GET {PREFIX}/session, keep the cookies it sets, and send "
               f"the token in the {CSRF_HEADER} header; or send an API key (Authorization: "
               "Bearer KEY)."),
    no_such_path=(f"There is no such API endpoint. The API is described at "
                  f"{PREFIX}/openapi.json."))
BLUEPRINTS = (bp,)
