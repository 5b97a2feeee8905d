"""The platform layer every app stands on: people, partner apps, the audit trail,
idempotency records and in-app notices."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import AbstractApplication

from .history import tracked


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person: member, merchant owner or staff, curator or operator.

    Roles: a member is anyone with a subscription (``members``); merchant roles
    are per merchant (``merchants.MerchantStaff``); curators and operators are
    the Django groups of the same names.
    """

    username = None  # type: ignore[assignment]
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("e-mail address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=60, blank=True)
    phone = models.CharField(_("mobile phone"), max_length=20, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()  # type: ignore[assignment,misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="core_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.display_name or self.email

    @property
    def masked_name(self) -> str:
        """What a shop counter may see: the first character and stars (张**)."""
        name = self.display_name or self.email.split("@")[0]
        return name[:1] + "**"

    def in_group(self, name: str) -> bool:
        return self.groups.filter(name=name).exists()


class PartnerApplication(AbstractApplication):
    """A partner app (content app, POS system, platform) with OAuth 2 client
    credentials. Its tokens reach only ``allowed_scopes``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    allowed_scopes = models.TextField(
        _("allowed scopes"),
        blank=True,
        help_text=_("Space-separated scopes this partner may request, e.g. 'members:read notes:write'."),
    )
    webhook_url = models.URLField(_("webhook URL"), blank=True)

    history = tracked(excluded_fields=["client_secret"])  # console edits kept with who, when, why (core.history)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = _("partner application")
        verbose_name_plural = _("partner applications")

    @property
    def scope_set(self) -> set[str]:
        return set(self.allowed_scopes.split())


class AuditEntry(models.Model):
    """Who did what to which object, when and why. Written only by
    ``core.services.audit_record``; never edited."""

    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        _("actor"), max_length=120, help_text=_("The person, partner app or job that acted.")
    )
    action = models.CharField(_("action"), max_length=80, db_index=True)
    object_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    reason = models.TextField(_("reason"), blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-at"], name="core_audit_object_idx")]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.at):%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


class IdempotencyRecord(models.Model):
    """The first response to an unsafe API request carrying an Idempotency-Key."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("in progress")
        DONE = "done", _("done")

    caller = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(null=True)
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="core_idempotency_caller_key")]

    def __str__(self) -> str:
        return f"{self.caller} {self.key} ({self.state})"


class Notification(models.Model):
    """An in-app notice; the same text is usually e-mailed too."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=60)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)  # when the event happened (``notify(at=...)``)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="core_notice_user_idx")]

    def __str__(self) -> str:
        return self.title


def new_webhook_secret() -> str:
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """Where a partner application receives events, signed per the Standard Webhooks scheme."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("partner application"),
    )
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"), max_length=80, default=new_webhook_secret, help_text=_("Shared with the partner.")
    )
    previous_secret = models.CharField(_("previous signing secret"), max_length=80, blank=True)
    previous_secret_until = models.DateTimeField(
        _("previous secret signs until"),
        null=True,
        blank=True,
        help_text=_("After a rotation, requests carry a signature with the previous secret too until then."),
    )
    event_types = models.JSONField(
        _("event types"),
        default=list,
        blank=True,
        help_text=_('Empty means every event, e.g. ["redemption.confirmed"].'),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = tracked(excluded_fields=["secret", "previous_secret"])  # console edits kept (core.history)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def live_secrets(self) -> list[str]:
        """The secrets that sign: the current one, and the previous one until its overlap ends."""
        live = [self.secret]
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > timezone.now():
            live.append(self.previous_secret)
        return live


class WebhookEvent(models.Model):
    """One event, sent to every endpoint that wants it. Its ``msg_id`` is the webhook-id header."""

    msg_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(_("type"), max_length=60, db_index=True)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.msg_id}"


class WebhookDelivery(models.Model):
    """The delivery log: one row per event and endpoint, retried with backoff for about a day."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed, will retry")
        DEAD = "dead", _("gave up")

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="core_webhook_delivery_once")]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="core_webhook_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint} ({self.state})"
