"""The page, the original app's front door: GET/POST /, PUT /update, DELETE /remove, image
URLs and health checks. It shares nothing with the API but the core and app/http."""

from app.http.errors import FrontDoor
from app.web import health, images, pages, records

# The page's form keeps the original contract: every failure is a flash and 302 back to /.
DOOR = FrontDoor("web", prefix="/",
                 flash_endpoints=frozenset({"pages.upload", "records.restyle"}))
BLUEPRINTS = (health.bp, pages.bp, records.bp, images.bp)
