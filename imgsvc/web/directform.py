"""Whether the upload form sends files straight to the bucket, and the bucket's origin.

With S3 storage and ``S3_CORS_ORIGINS`` set, the page's script sends a chosen
file as an API client would (:mod:`imgsvc.web.direct`): ``POST /api/uploads``
for a presigned POST, the file to the bucket, then
``POST /api/uploads/<id>/complete``. The page says so in the form's
``data-direct`` attribute, rendered from the settings (the script does not
probe). Otherwise, and whenever that way fails before the file is in the
bucket, the script posts the form to the web as before.

Not with ``API_KEYS``: every ``/api/*`` write then needs ``Authorization:
Bearer``, and a page must not hold a key.

CSRF. The form's own ``POST /`` checks the form's CSRF token; the two
``/api/uploads`` routes are exempt, as all of ``/api``, and the script sends
them no token. That opens nothing: those routes act on no ambient authority.
No session or cookie grants them anything (a browser attaches cookies, but
they read none), and with ``API_KEYS`` they need a bearer header that a
browser never adds by itself. A page of another site that made a visitor's
browser call them could do only what it can do from its own machine, with
the same per-address upload limit (``RATE_LIMIT_UPLOADS``) the form has. A
token would protect nothing more, so sending one would only suggest a check
that does not happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from imgsvc.settings import Settings
from imgsvc.storage import S3Storage, Storage


def form_posts_to_bucket(settings: Mapping[str, Any], storage: Storage, has_api_keys: bool) -> bool:
    """Whether the form's script sends files straight to the bucket (see the module)."""
    config = Settings(settings)
    return (
        isinstance(storage, S3Storage)
        and bool(config.S3_CORS_ORIGINS.strip())
        and config.FORM_UPLOADS
        and not has_api_keys
    )


def bucket_origin(storage: S3Storage) -> str:
    """The origin the presigned POSTs name (``S3_PUBLIC_ENDPOINT_URL``'s, or AWS's
    endpoint for the bucket), for the page's ``connect-src``. Signing is local."""
    parts = urlsplit(storage.presigned_post("images/origin-probe", 1, 60)["url"])
    return f"{parts.scheme}://{parts.netloc}"
