"""Private uploaded files (complaint photos): served only through a view that has checked who asks.

On S3-compatible object storage (``MEDIA_S3_BUCKET``) the answer is a redirect to a signed URL that lives
``REDCARD_PRIVATE_FILE_URL_SECONDS`` (the bucket itself stays private); on the file system (the embedded
default) the file is streamed by the web process. Neither answer may be cached by a shared cache.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control

#: Content types a private file is served with; anything else goes out as a download.
INLINE_TYPES = {"image/jpeg", "image/png", "image/webp"}


def signs_urls(storage: object) -> bool:
    """Whether ``storage`` hands out signed, expiring URLs (object storage) rather than serving from disk."""
    return bool(getattr(storage, "querystring_auth", False))


def private_file_response(file: FieldFile) -> HttpResponseBase:
    """The answer for a permitted request of ``file``: a short-lived signed URL or the file's bytes."""
    if not file:
        raise Http404
    name = str(file.name)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    disposition = "inline" if content_type in INLINE_TYPES else "attachment"
    storage: Any = file.storage
    response: HttpResponseBase
    if signs_urls(storage):
        url = storage.url(
            name,
            parameters={"ResponseContentType": content_type, "ResponseContentDisposition": disposition},
            expire=settings.REDCARD_PRIVATE_FILE_URL_SECONDS,
        )
        response = HttpResponseRedirect(url)
    else:
        try:
            handle = storage.open(name, "rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        response = FileResponse(handle, content_type=content_type, as_attachment=disposition == "attachment")
    patch_cache_control(response, private=True, no_store=True)
    response["X-Content-Type-Options"] = "nosniff"
    return response
