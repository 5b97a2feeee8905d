"""Real threads for concurrency tests: each callable in its own thread (its own database connection),
released at the same instant."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection

from core.errors import DomainError


def together(calls: Sequence[Callable[[], Any]], *, timeout: float = 120) -> list[Any]:
    """Run the calls at once; return each one's result, or its refusal code, or ``repr`` of an
    unexpected exception (so that it shows in the assertion)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def worker(index: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[index] = fn()
        except DomainError as exc:
            outcomes[index] = exc.code
        except Exception as exc:
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, fn)) for i, fn in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes
