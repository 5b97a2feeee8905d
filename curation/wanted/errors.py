"""Stable refusal codes of the shops members ask for."""

from django.utils.translation import gettext_lazy as _

from core.errors import register

register(
    {
        "wanted_already_listed": (409, _("%(shop)s already takes RedCard.")),
        "wanted_not_open": (409, _("This shop is no longer waiting for members' requests.")),
    }
)
