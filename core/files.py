"""Private uploaded files (complaint photos): served only through a view that has checked who asks.

On S3-compatible object storage (``MEDIA_S3_BUCKET``) the answer is a redirect to a signed URL that lives
``REDCARD_PRIVATE_FILE_URL_SECONDS`` (the bucket itself stays private); on the file system (the embedded
default) the file is streamed by the web process. Neither answer may be cached by a shared cache.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
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


def image_kind(upload: UploadedFile, *, max_bytes: int) -> str | None:
    """The image type ("jpg", "png", "webp") of an upload judged by its bytes, not its name; ``None`` for anything
    else (the caller refuses it with its own code). Pillow is not installed, so the structure is checked by hand:
    JPEG starts with SOI and a marker and ends with EOI; PNG starts with its signature and an IHDR chunk; WebP is a
    RIFF container of type WEBP whose declared size matches the file. Raises ``ValueError`` above ``max_bytes``."""
    size = upload.size or 0
    if size > max_bytes:
        raise ValueError(size)
    upload.seek(0)
    head = upload.read(32)
    upload.seek(max(0, size - 2))
    tail = upload.read(2)
    upload.seek(0)
    if size >= 8 and head[:3] == b"\xff\xd8\xff" and tail == b"\xff\xd9":
        return "jpg"
    if size >= 33 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return "png"
    if size >= 20 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = int.from_bytes(head[4:8], "little") + 8
        if declared == size and head[12:15] == b"VP8":
            return "webp"
    return None
