"""Stable refusal codes of the curation app."""

from django.utils.translation import gettext_lazy as _

from core.errors import register

register(
    {
        "application_already_open": (
            409,
            _("You already have an open application; finish or withdraw it before starting another."),
        ),
        "application_read_only": (
            409,
            _("This application was submitted and cannot be changed until the curators decide or ask for changes."),
        ),
        "application_incomplete": (400, _("Some required information is missing.")),
        "override_reason_required": (
            400,
            _("Some admission rules failed; approving needs a written override reason."),
        ),
        "decision_message_required": (400, _("Please write a message to the merchant explaining the decision.")),
    }
)
