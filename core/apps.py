from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Platform")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .roles import sync_role_groups

        post_migrate.connect(sync_role_groups, dispatch_uid="core.sync_role_groups")
        from allauth.mfa.signals import authenticator_added

        from .api import schema  # noqa: F401  (registers the OpenAPI extension)
        from .console import record_enrolment_as_second_factor
        from .field_labels import translate_field_labels

        translate_field_labels()

        authenticator_added.connect(record_enrolment_as_second_factor, dispatch_uid="core.console.enrolment")
