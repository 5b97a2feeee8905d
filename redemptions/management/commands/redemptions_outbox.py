"""Process the counter's outbox now (what the periodic catch-up job does every minute).

    manage.py redemptions_outbox              # drain every pending row, then stop
    manage.py redemptions_outbox --batch 50   # rows per transaction

Safe beside running workers and another copy of itself: rows are locked with SKIP LOCKED and each is
done exactly once (``redemptions.counter.outbox``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from redemptions.counter.outbox import BATCH, outbox_catch_up


class Command(BaseCommand):
    help = "Process pending outbox rows of confirmations and voids (credit, webhook, notice) until none is free."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch", type=int, default=BATCH, help="rows per transaction (default %(default)s)")

    def handle(self, *args: Any, **options: Any) -> None:
        done = outbox_catch_up(batch=max(1, options["batch"]))
        self.stdout.write(f"{done} outbox rows processed")
