"""A third front door: remove.bg's API (`POST /v1.0/removebg`, `GET /v1.0/account`), so a
program written for remove.bg works here by changing its base URL. It translates remove.bg's
fields into ours and our answers into remove.bg's, over the same core as `POST
/api/v1/remove`; it never imports the other doors (app/web, app/api), and makes no image
itself. It takes API keys only (X-Api-Key, or Authorization: Bearer), as remove.bg does."""

from app.http.errors import FrontDoor
from app.removebg import answers
from app.removebg.routes import PREFIX, bp

DOOR = FrontDoor("removebg", prefix=PREFIX + "/", json=True, keys=True, key_required=True,
                 photos_in_text=True,
                 problem_body=answers.problem,
                 no_such_path=("There is no such endpoint: remove.bg's API here is POST "
                               f"{PREFIX}/removebg and GET {PREFIX}/account."))
BLUEPRINTS = (bp,)
