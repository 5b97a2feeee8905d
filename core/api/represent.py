"""A serializer's output without building its fields again on every call.

``Serializer(instance).data`` deep-copies the class's declared fields into the new serializer first (DRF's
``Serializer.get_fields``): for a flat output of a dozen fields that copy costs more than the representation
itself (about a tenth of a confirm request's CPU, bench/redemption). ``represent`` keeps one instance of each
output serializer class, whose fields are built once, and asks it for ``to_representation``. That is only
reading: the fields hold no per-call state (no ``context``, no ``instance``, no validation), so threads may
share it. For output serializers only, never for input (validation keeps errors on the instance).
"""

from __future__ import annotations

import functools
from typing import Any

from rest_framework import serializers


@functools.cache
def _output(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    serializer = serializer_class()
    serializer.fields  # noqa: B018 (built now, once, before any thread shares it)
    return serializer


def represent(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    """What ``serializer_class(instance).data`` gives, for an output serializer used without context."""
    return _output(serializer_class).to_representation(instance)
