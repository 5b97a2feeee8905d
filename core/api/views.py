"""Base classes for every RedCard API view.

All API views derive from these so that ``Idempotency-Key`` holds on every
POST/PUT/PATCH/DELETE (a test walks the URLconf and checks it).
"""

from __future__ import annotations

from typing import Any

from rest_framework import generics, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView as DRFAPIView

from . import idempotency


class IdempotentMixin:
    """Claims the Idempotency-Key after authentication and stores the first response."""

    _idempotency = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._idempotency = None
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotency = idempotency.begin(request)

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, idempotency.Replay):
            self._idempotency = None
            return exc.response
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        record, self._idempotency = self._idempotency, None
        if record is not None:
            idempotency.finish(record, response)
        return response


class APIView(IdempotentMixin, DRFAPIView):
    pass


class GenericAPIView(IdempotentMixin, generics.GenericAPIView):
    pass


class ListAPIView(IdempotentMixin, generics.ListAPIView):
    pass


class RetrieveAPIView(IdempotentMixin, generics.RetrieveAPIView):
    pass


class ReadOnlyModelViewSet(IdempotentMixin, viewsets.ReadOnlyModelViewSet):
    pass


class GenericViewSet(IdempotentMixin, viewsets.GenericViewSet):
    pass


class ModelViewSet(IdempotentMixin, viewsets.ModelViewSet):
    pass


__all__ = [
    "APIView",
    "GenericAPIView",
    "GenericViewSet",
    "IdempotentMixin",
    "ListAPIView",
    "ModelViewSet",
    "ReadOnlyModelViewSet",
    "Response",
    "RetrieveAPIView",
]
