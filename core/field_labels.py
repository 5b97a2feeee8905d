"""Translatable labels for model fields that have none of their own.

Django names a field without ``verbose_name`` after its attribute (``public_id`` → "public id"), a plain string
no catalogue can translate, and the OAuth application our ``PartnerApplication`` extends comes with English-only
labels. At start-up :func:`translate_field_labels` gives such fields a lazy translation from :data:`LABELS`, so
that the console speaks one language. ``Field.deconstruct`` reads the name given in the model's source
(``_verbose_name``), not this attribute, so migrations are unaffected. A field that should read differently from
the shared label gets its own ``verbose_name`` in its model instead.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.utils.translation import gettext_lazy as _

#: Our apps: the fields of their models (history models included) are labelled.
OUR_APPS = ("core", "members", "merchants", "curation", "redemptions")

LABELS: dict[str, Any] = {  # lazy translations
    "public_id": _("public id"),
    "created_at": _("created at"),
    "updated_at": _("updated at"),
    "read_at": _("read at"),
    "received_at": _("received at"),
    "paid_at": _("paid at"),
    "merchant": _("merchant"),
    "city": _("city"),
    "user": _("user"),
    "member": _("member"),
    "staff": _("staff"),
    "partner": _("partner app"),
    "payer": _("payer"),
    "payment": _("payment"),
    "redemption": _("redemption"),
    "note": _("note"),
    "event": _("event"),
    "endpoint": _("endpoint"),
    "finding": _("finding"),
    "author": _("author"),
    "actor": _("actor"),
    "object_type": _("object type"),
    "decided_by": _("decided by"),
    "cleared_by": _("cleared by"),
    "msg_id": _("message id"),
    "out_trade_no": _("order number"),
    "transaction_id": _("gateway transaction id"),
    "notify_id": _("notification id"),
    "provider": _("payment provider"),
    "event_type": _("event type"),
    "outcome": _("outcome"),
    "payload": _("payload"),
    "description": _("description"),
    "return_url": _("return URL"),
    "currency": _("currency"),
    "amount_fen": _("amount (fen)"),
    "refunded_fen": _("refunded (fen)"),
    "status": _("status"),
    # django-oauth-toolkit's application, which PartnerApplication extends
    "client_id": _("client ID"),
    "client_secret": _("client secret"),
    "hash_client_secret": _("hash the client secret"),
    "client_type": _("client type"),
    "authorization_grant_type": _("authorization grant type"),
    "skip_authorization": _("skip the consent screen"),
    "redirect_uris": _("redirect URIs"),
    "post_logout_redirect_uris": _("post-logout redirect URIs"),
    "allowed_origins": _("allowed origins"),
    "algorithm": _("signing algorithm"),
    "registration_source": _("registration source"),
    "cimd_expires_at": _("client metadata document expires at"),
}

#: Fields inherited from a third-party model whose labels are English only.
THIRD_PARTY = {"core.PartnerApplication"}


def translate_field_labels() -> None:
    """Give every unlabelled field of our models (and the third-party fields above) its label from ``LABELS``."""
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS:
            continue
        third_party = model._meta.label in THIRD_PARTY
        for field in model._meta.fields:
            label = LABELS.get(field.name)
            if label is not None and (third_party or getattr(field, "_verbose_name", "") is None):
                field.verbose_name = label


#: Screen-reader texts of Django's admin sidebar that Django's own zh_Hans catalogue lacks; our catalogue
#: (consulted first) supplies them.
ADMIN_SIDEBAR = (_("Model name"), _("Add link"), _("Change or view list link"))
