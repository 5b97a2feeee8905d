"""Every write of the curation app: applications, rule evaluation, review, visits and decisions.

Approval admits the merchant through ``merchants.services.merchant_admit`` (which locks the city row, so
the last seat is taken once). Every transition is checked by ``core.services.transition_check`` and
recorded with ``core.services.audit_record``; every decision is notified to the owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.db import violates
from core.errors import DomainError
from core.models import User
from core.services import Actor, audit_record, notify, transition_check
from curation.models import AdmissionRule, Application, Decision, RuleResult, SiteVisit
from curation.wanted.services import wanted_listed
from merchants import selectors as merchant_selectors
from merchants import services as merchant_services
from merchants.validators import (
    Problem,
    check_coordinates,
    check_food_licence,
    check_offer,
    check_opening_hours,
    check_uscc,
    problems_error,
)

from . import errors as _errors  # noqa: F401  (registers the codes)
from .rules import DEFAULT_PARAMETERS, EVALUATORS

State = Application.State
TRANSITIONS: dict[str, frozenset[str]] = {
    State.DRAFT: frozenset({State.SUBMITTED, State.WITHDRAWN}),
    State.SUBMITTED: frozenset({State.IN_REVIEW, State.WITHDRAWN}),
    State.IN_REVIEW: frozenset({State.APPROVED, State.REJECTED, State.CHANGES_REQUESTED, State.WITHDRAWN}),
    State.CHANGES_REQUESTED: frozenset({State.SUBMITTED, State.WITHDRAWN}),
    State.APPROVED: frozenset(),
    State.REJECTED: frozenset(),
    State.WITHDRAWN: frozenset(),
}

#: Fields the owner fills in (the wizard and the API).
EDITABLE_FIELDS = (
    "legal_name",
    "name_zh",
    "name_en",
    "uscc",
    "food_licence",
    "category",
    "city",
    "district",
    "address",
    "lat",
    "lng",
    "average_spend_fen",
    "external_rating",
    "opening_hours",
    "dine_in",
    "offer_rate_bp",
    "offer_cap_fen",
    "offer_min_bill_fen",
    "daily_capacity",
    "contact_name",
    "contact_phone",
    "contact_email",
    "links",
)
REQUIRED_FIELDS = (
    "legal_name",
    "name_zh",
    "uscc",
    "category",
    "city",
    "district",
    "address",
    "lat",
    "lng",
    "average_spend_fen",
    "opening_hours",
    "offer_rate_bp",
    "daily_capacity",
    "contact_name",
    "contact_phone",
)


def _transition(app: Application, target: str) -> None:
    transition_check(model="application", current=app.state, target=target, allowed=TRANSITIONS)


def _lock(application: Application) -> Application:
    return (
        Application.objects.select_for_update(of=("self",))
        .select_related("city", "district", "category")
        .get(pk=application.pk)
    )


def _snapshot(app: Application) -> dict[str, Any]:
    return {
        name: getattr(app, f"{name}_id") if name in ("city", "district", "category") else getattr(app, name)
        for name in EDITABLE_FIELDS
    }


# --- Validation ------------------------------------------------------------------------------------


def validate_formats(app: Application) -> dict[str, Problem]:
    """Problems with the values given so far (a draft may still be incomplete)."""
    problems: dict[str, Problem] = {}
    if app.uscc and (p := check_uscc(app.uscc)):
        problems["uscc"] = p
    if app.food_licence and (p := check_food_licence(app.food_licence, required=False)):
        problems["food_licence"] = p
    if app.district is not None and app.city is not None and app.district.city_id != app.city.pk:
        problems["district"] = Problem("district_not_in_city", _("This district is not in the chosen city."))
    located = app.lat is not None and app.lng is not None and app.city is not None
    if located and (p := check_coordinates(lat=app.lat, lng=app.lng, city=app.city)):  # type: ignore[arg-type]
        problems["lat"] = p
    if app.opening_hours:
        hours, p = check_opening_hours(app.opening_hours)
        if p:
            problems["opening_hours"] = p
        else:
            app.opening_hours = hours
    if app.offer_rate_bp is not None:
        problems.update(
            check_offer(rate_bp=app.offer_rate_bp, cap_fen=app.offer_cap_fen, min_bill_fen=app.offer_min_bill_fen)
        )
    if app.average_spend_fen is not None and not 0 < app.average_spend_fen <= 10_000_000:
        problems["average_spend_fen"] = Problem(
            "spend_out_of_range", _("Average spend must be between ¥0.01 and ¥100,000.")
        )
    if app.external_rating is not None and not Decimal(0) <= app.external_rating <= Decimal(5):
        problems["external_rating"] = Problem("rating_out_of_range", _("Ratings run from 0.0 to 5.0."))
    if app.daily_capacity is not None and not 1 <= app.daily_capacity <= merchant_services.MAX_DAILY_CAPACITY:
        problems["daily_capacity"] = Problem(
            "capacity_out_of_range", _("Daily capacity must be between 1 and 5,000 redemptions.")
        )
    if app.contact_phone and not app.contact_phone.replace("+", "").replace("-", "").replace(" ", "").isdigit():
        problems["contact_phone"] = Problem("phone_invalid", _("Enter a phone number with digits only."))
    for line in app.links.split():
        if not line.startswith(("https://", "http://")):
            problems["links"] = Problem("link_invalid", _("Each link must start with http:// or https://."))
            break
    return problems


def validate_complete(app: Application) -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    for name in REQUIRED_FIELDS:
        value = getattr(app, name)
        if value is None or value in ("", {}):
            problems[name] = Problem("required", _("This information is required."))
    if app.category is not None and app.category.is_food and not app.food_licence:
        problems["food_licence"] = Problem(
            "food_licence_required", _("Food businesses must give their food business licence number.")
        )
    return problems


def _coerce(name: str, value: Any) -> Any:
    """Turn API/form values into model values; raise ``Problem`` via ValueError on nonsense."""
    if name in ("uscc", "food_licence"):
        return (value or "").strip().upper()
    if name in ("lat", "lng"):
        return None if value in (None, "") else float(value)
    if name in ("average_spend_fen", "offer_rate_bp", "offer_cap_fen", "offer_min_bill_fen", "daily_capacity"):
        return None if value in (None, "") else int(value)
    if name == "external_rating":
        if value in (None, ""):
            return None
        try:
            return Decimal(str(value)).quantize(Decimal("0.1"))
        except InvalidOperation as exc:
            raise ValueError(name) from exc
    if name == "dine_in":
        return bool(value)
    if name in ("city", "district", "category"):
        return value
    return (value or "") if isinstance(value, str) or value is None else value


# --- The owner's side --------------------------------------------------------------------------------


def application_save(*, owner: User, data: Mapping[str, Any], application: Application | None = None) -> Application:
    """Create the owner's draft or save changes to it (drafts may be incomplete; given values must be valid).

    Raises ``application_already_open`` for a second open application, ``application_read_only`` once
    submitted (until changes are requested), ``validation_failed`` with per-field codes. Nothing is saved
    on error.
    """
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise problems_error({name: Problem("unknown_field", _("This field does not exist.")) for name in unknown})
    with transaction.atomic():
        if application is None:
            app = Application(owner=owner)
        else:
            app = _lock(application)
            if app.owner_id != owner.pk:
                raise DomainError("not_found")
            if not app.is_editable:
                raise DomainError("application_read_only")
        before = _snapshot(app) if app.pk else None
        bad: dict[str, Problem] = {}
        for name, value in data.items():
            try:
                setattr(app, name, _coerce(name, value))
            except (TypeError, ValueError):
                bad[name] = Problem("invalid", _("This value is not valid."))
        if bad:
            raise problems_error(bad)
        problems = validate_formats(app)
        if problems:
            raise problems_error(problems)
        try:
            with transaction.atomic():
                app.save()
        except IntegrityError as exc:
            if violates(exc, "application_one_open_per_owner"):
                raise DomainError("application_already_open") from exc
            raise
        audit_record(
            actor=owner,
            action="curation.application_create" if before is None else "curation.application_update",
            obj=app,
            before=before,
            after=_snapshot(app),
        )
    if application is not None:
        application.__dict__.update({k: v for k, v in app.__dict__.items() if not k.startswith("_")})
    return app


def application_submit(*, application: Application, actor: User, now: datetime | None = None) -> Application:
    """Submit a complete draft (or a changed application) for review and evaluate the admission rules.

    Raises ``application_incomplete``, ``validation_failed``, ``licence_duplicate`` or ``invalid_transition``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        app = _lock(application)
        if app.owner_id != actor.pk:
            raise DomainError("not_found")
        _transition(app, State.SUBMITTED)
        missing = validate_complete(app)
        if missing:
            error = problems_error(missing)
            raise DomainError("application_incomplete", fields=error.fields)
        problems = validate_formats(app)
        if problems:
            raise problems_error(problems)
        if merchant_selectors.live_merchants_with_licence(food_licence=app.food_licence).exists():
            raise DomainError("licence_duplicate")
        before = app.state
        app.state = State.SUBMITTED
        app.submitted_at = now
        app.save(update_fields=["state", "submitted_at", "opening_hours", "updated_at"])
        audit_record(
            actor=actor,
            action="curation.application_submit",
            obj=app,
            before={"state": before},
            after={"state": app.state},
        )
        _evaluate(app, now=now)
    application.state, application.submitted_at = app.state, app.submitted_at
    return app


def application_withdraw(*, application: Application, actor: User, reason: str = "") -> Application:
    """The owner withdraws before a decision."""
    with transaction.atomic():
        app = _lock(application)
        if app.owner_id != actor.pk:
            raise DomainError("not_found")
        _transition(app, State.WITHDRAWN)
        before = app.state
        app.state = State.WITHDRAWN
        app.save(update_fields=["state", "updated_at"])
        audit_record(
            actor=actor,
            action="curation.application_withdraw",
            obj=app,
            reason=reason,
            before={"state": before},
            after={"state": app.state},
        )
    application.state = app.state
    return app


# --- Admission rules ---------------------------------------------------------------------------------


def rules_install_defaults() -> int:
    """Create version 1 of any rule type that has no version at all (as the data migration does).
    Returns how many were created."""
    created = 0
    start = timezone.now().replace(year=2024, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    for kind, params in DEFAULT_PARAMETERS.items():
        if not AdmissionRule.objects.filter(kind=kind).exists():
            AdmissionRule.objects.create(kind=kind, version=1, parameters=params, active_from=start)
            created += 1
    return created


def _evaluate(app: Application, *, now: datetime) -> list[RuleResult]:
    results = []
    RuleResult.objects.filter(application=app).delete()
    for rule in AdmissionRule.objects.in_force(at=now):
        params = {**DEFAULT_PARAMETERS.get(rule.kind, {}), **(rule.parameters or {})}
        outcome, evidence = EVALUATORS[rule.kind](app, params, now)
        results.append(
            RuleResult(
                application=app,
                rule=rule,
                kind=rule.kind,
                rule_version=rule.version,
                outcome=outcome,
                evidence=evidence,
                evaluated_at=now,
            )
        )
    RuleResult.objects.bulk_create(results)
    return results


def rules_evaluate(*, application: Application, actor: Actor, now: datetime | None = None) -> list[RuleResult]:
    """Evaluate every rule in force now and store the results (replacing the previous ones)."""
    now = now or timezone.now()
    with transaction.atomic():
        app = _lock(application)
        results = _evaluate(app, now=now)
        audit_record(
            actor=actor,
            action="curation.rules_evaluate",
            obj=app,
            after={r.kind: {"v": r.rule_version, "outcome": r.outcome} for r in results},
        )
    return results


# --- The curators' side ----------------------------------------------------------------------------


def _require_curator(actor: Actor) -> None:
    if not isinstance(actor, User) or not actor.has_perm("curation.change_application"):
        raise DomainError("permission_denied")


def application_assign(*, application: Application, reviewer: User, actor: User) -> Application:
    """Assign a reviewer; a submitted application moves into review."""
    _require_curator(actor)
    if not reviewer.has_perm("curation.change_application"):
        raise DomainError("permission_denied")
    with transaction.atomic():
        app = _lock(application)
        if app.state == State.SUBMITTED:
            _transition(app, State.IN_REVIEW)
            app.state = State.IN_REVIEW
        elif app.state != State.IN_REVIEW:
            raise DomainError("invalid_transition", model="application", current=app.state, target=State.IN_REVIEW)
        before = app.reviewer_id
        app.reviewer = reviewer
        app.save(update_fields=["state", "reviewer", "updated_at"])
        audit_record(
            actor=actor,
            action="curation.application_assign",
            obj=app,
            before={"reviewer": before},
            after={"reviewer": reviewer.pk, "state": app.state},
        )
    application.state, application.reviewer = app.state, reviewer
    return app


def visit_record(
    *, application: Application, visitor: User, visited_on: date, score: int, notes: str, actor: User
) -> SiteVisit:
    _require_curator(actor)
    if not 1 <= score <= 5:
        raise problems_error({"score": Problem("score_out_of_range", _("The score runs from 1 to 5."))})
    with transaction.atomic():
        app = _lock(application)
        visit = SiteVisit.objects.create(
            application=app, visitor=visitor, visited_on=visited_on, score=score, notes=notes
        )
        audit_record(
            actor=actor,
            action="curation.visit_record",
            obj=app,
            after={"visited_on": visited_on, "visitor": visitor.email, "score": score},
        )
    return visit


def _decide(
    app: Application, *, kind: str, target: str, actor: User, reason_code: str, message: str, override_reason: str = ""
) -> Decision:
    if reason_code not in Decision.REASONS_OF_KIND.get(kind, tuple(Decision.Reason.values)):
        raise problems_error({"reason_code": Problem("reason_invalid", _("Choose a reason from the list."))})
    decision = Decision.objects.create(
        application=app,
        kind=kind,
        reason_code=reason_code,
        message=message,
        override_reason=override_reason,
        overridden_rules=list(app.rule_results.filter(outcome=RuleResult.Outcome.FAIL).values_list("kind", flat=True))
        if override_reason
        else [],
        actor=actor,
    )
    before = app.state
    app.state = target
    app.decided_at = decision.at if target != State.CHANGES_REQUESTED else None
    app.save(update_fields=["state", "decided_at", "merchant", "updated_at"])
    audit_record(
        actor=actor,
        action=f"curation.application_{kind}",
        obj=app,
        reason=f"{reason_code}: {message}" + (f" | override: {override_reason}" if override_reason else ""),
        before={"state": before},
        after={"state": target, "merchant": app.merchant_id},
    )
    titles = {
        Decision.Kind.APPROVE: _("Welcome to RedCard: %(shop)s is approved"),
        Decision.Kind.REJECT: _("Your RedCard application for %(shop)s was not accepted"),
        Decision.Kind.REQUEST_CHANGES: _("Please update your RedCard application for %(shop)s"),
    }
    notify(
        user=app.owner,
        kind=f"curation.{kind}",
        title=titles[Decision.Kind(kind)],
        body=message,
        url="/curation/apply/",
        context={"shop": app.name_zh},
    )
    return decision


def application_approve(
    *,
    application: Application,
    actor: User,
    reason_code: str = Decision.Reason.MEETS_STANDARDS,
    message: str = "",
    override_reason: str = "",
    now: datetime | None = None,
) -> Application:
    """Approve an application in review: re-evaluate the rules, admit the merchant (probation, offer,
    capacity, owner role) and notify the owner.

    Raises ``invalid_transition`` unless in review, ``override_reason_required`` when a rule fails and no
    written reason is given, ``city_full`` when the city's last seat is gone, ``licence_duplicate``.
    """
    _require_curator(actor)
    now = now or timezone.now()
    with transaction.atomic():
        app = _lock(application)
        _transition(app, State.APPROVED)
        results = _evaluate(app, now=now)
        failed = [r.kind for r in results if r.outcome == RuleResult.Outcome.FAIL]
        if failed and not override_reason.strip():
            raise DomainError("override_reason_required", failed=failed)
        assert app.city is not None and app.district is not None and app.category is not None
        assert app.lat is not None and app.lng is not None and app.offer_rate_bp is not None
        merchant = merchant_services.merchant_admit(
            city_id=app.city.pk,
            district_id=app.district.pk,
            category_id=app.category.pk,
            legal_name=app.legal_name,
            name_zh=app.name_zh,
            name_en=app.name_en,
            uscc=app.uscc,
            food_licence=app.food_licence,
            address=app.address,
            lat=app.lat,
            lng=app.lng,
            average_spend_fen=app.average_spend_fen or 0,
            external_rating=app.external_rating,
            dine_in=app.dine_in,
            opening_hours=app.opening_hours,
            daily_capacity=app.daily_capacity or 1,
            rate_bp=app.offer_rate_bp,
            cap_fen=app.offer_cap_fen,
            min_bill_fen=app.offer_min_bill_fen,
            notes_url=next(iter(app.links.split()), ""),
            owner=app.owner,
            actor=actor,
            reason=f"application {app.public_id} approved",
            now=now,
        )
        app.merchant = merchant
        wanted_listed(merchant=merchant, now=now)  # members who asked for this shop are told
        _decide(
            app,
            kind=Decision.Kind.APPROVE,
            target=State.APPROVED,
            actor=actor,
            reason_code=reason_code,
            message=message,
            override_reason=override_reason.strip(),
        )
    application.state, application.merchant = app.state, app.merchant
    return app


def application_reject(*, application: Application, actor: User, reason_code: str, message: str) -> Application:
    """Reject an application in review with a reason code and a message to the owner."""
    _require_curator(actor)
    if not message.strip():
        raise DomainError("decision_message_required")
    with transaction.atomic():
        app = _lock(application)
        _transition(app, State.REJECTED)
        _decide(
            app, kind=Decision.Kind.REJECT, target=State.REJECTED, actor=actor, reason_code=reason_code, message=message
        )
    application.state = app.state
    return app


def application_request_changes(
    *, application: Application, actor: User, reason_code: str, message: str
) -> Application:
    """Send an application in review back to the owner for changes (it becomes editable again)."""
    _require_curator(actor)
    if not message.strip():
        raise DomainError("decision_message_required")
    with transaction.atomic():
        app = _lock(application)
        _transition(app, State.CHANGES_REQUESTED)
        _decide(
            app,
            kind=Decision.Kind.REQUEST_CHANGES,
            target=State.CHANGES_REQUESTED,
            actor=actor,
            reason_code=reason_code,
            message=message,
        )
    application.state = app.state
    return app
