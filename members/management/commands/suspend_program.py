"""Suspend the RedCard programme: stop sales, end every card at the effective date and refund
every paid subscription, in resumable batches (run it again after an interruption)."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.errors import DomainError
from core.localtime import programme_zone
from members.services.suspension import (
    programme_preview,
    programme_suspend,
    suspension_close_pending,
    suspension_remaining,
    suspension_run,
)


class Progress:
    """A progress bar on stderr (no dependency): ``[#####.....] 4,000/10,000 40%  3.1s  ETA 4.6s``."""

    def __init__(self, total: int, stream: Any, width: int = 30) -> None:
        self.total, self.done, self.stream, self.width = total, 0, stream, width
        self.started = time.monotonic()

    def __call__(self, scanned: int, report: Any) -> None:
        self.done = report.processed + len(report.failures)
        self.draw()

    def draw(self, end: str = "") -> None:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * min(1.0, fraction))
        elapsed = time.monotonic() - self.started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done:,}/{self.total:,} "
            f"{fraction:4.0%}  {elapsed:5.1f}s  ETA {eta:5.1f}s{end}",
            ending="",  # the command's OutputWrapper: redraw the line in place
        )
        self.stream.flush()


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--effective-date", required=True, help="YYYY-MM-DD: no card works from this day on.")
        parser.add_argument("--refund", required=True, choices=["full", "prorated"])
        parser.add_argument("--reason", default="", help="Shown to members and kept in the audit trail.")
        parser.add_argument("--dry-run", action="store_true", help="Count and total the refunds; change nothing.")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--fail-after-batches",
            type=int,
            default=None,
            help="Testing aid: crash after N batches (a re-run must resume).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            effective = date.fromisoformat(options["effective_date"])
        except ValueError as exc:
            raise CommandError("--effective-date must be YYYY-MM-DD") from exc
        mode = options["refund"]
        reason = options["reason"] or "RedCard programme suspended"
        actor = "system:suspend_program"
        if options["dry_run"]:
            programme = programme_preview(effective_date=effective, refund_mode=mode, reason=reason)
        else:
            try:
                programme = programme_suspend(effective_date=effective, refund_mode=mode, reason=reason, actor=actor)
            except DomainError as exc:
                raise CommandError(f"{exc.code}: {exc.detail}") from exc
            ends = timezone.localtime(programme.effective_at, programme_zone())
            self.stderr.write(f"Sales stopped. Cards end at {ends:%Y-%m-%d %H:%M} ({ends.tzinfo}).")
            closed = suspension_close_pending(actor=actor)
            if closed:
                self.stderr.write(f"Closed {closed} unpaid checkout(s).")
        total = suspension_remaining().count()
        progress = Progress(total, self.stderr)
        progress.draw()
        report = suspension_run(
            programme=programme,
            actor=actor,
            batch_size=options["batch_size"],
            dry_run=options["dry_run"],
            progress=progress,
            fail_after_batches=options["fail_after_batches"],
        )
        progress.draw(end="\n")
        prefix = "DRY RUN — nothing was changed. Would process" if options["dry_run"] else "Processed"
        self.stdout.write(
            f"{prefix} {report.processed} subscription(s); refunded {report.refunded_count} "
            f"for ¥{report.refunded_fen / 100:,.2f} in total."
        )
        if report.failures:
            self.stdout.write(self.style.ERROR(f"{len(report.failures)} failure(s):"))
            for subscription, code in report.failures:
                self.stdout.write(f"  {subscription}: {code}")
            self.stdout.write(
                "Fix the cause, then run the same command again: processed subscriptions are skipped, "
                "failures are retried. Refunds the gateway refused are listed under Admin → Reconciliation issues."
            )
        elif not options["dry_run"]:
            self.stdout.write(self.style.SUCCESS("No failures. Running the command again is safe and changes nothing."))
