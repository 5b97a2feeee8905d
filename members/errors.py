"""Stable refusal codes of the members app (registered once, never change meaning)."""

from django.utils.translation import gettext_lazy as _

from core.errors import register

register(
    {
        "membership_inactive": (403, _("You do not have an active RedCard membership.")),
        "sales_closed": (409, _("RedCard is not selling new cards at the moment.")),
        "plan_unavailable": (404, _("This plan is not available.")),
        "subscription_already_current": (409, _("You already have a current RedCard.")),
        "trial_already_used": (409, _("The free trial can be taken only once per person.")),
        "subscription_not_found": (404, _("No such subscription.")),
        "subscription_not_paid": (409, _("This subscription has no paid, unrefunded payment.")),
        "subscription_already_refunded": (409, _("This subscription has already been refunded.")),
        "refund_exceeds_paid": (409, _("The refund would exceed what was paid.")),
        "refund_nothing_due": (409, _("Nothing is left to refund for this subscription.")),
        "refund_reason_required": (400, _("A reason is required for a refund.")),
        "refund_not_failed": (409, _("Only a failed refund can be sent again.")),
        "refund_already_retried": (409, _("This failed refund was already sent again.")),
        "payment_unknown": (404, _("The notification names a payment we do not know.")),
        "payment_amount_mismatch": (
            409,
            _("The amount or currency paid does not match the order; the payment was flagged for an operator."),
        ),
        "payment_state_conflict": (
            409,
            _("The payment was settled after its order was closed; it was flagged for an operator."),
        ),
        "notification_signature_invalid": (401, _("The notification signature is missing or invalid.")),
        "notification_stale": (401, _("The notification timestamp is too old or in the future.")),
        "notification_malformed": (400, _("The notification body is not valid.")),
        "provider_unknown": (404, _("Unknown payment provider.")),
        "payments_unavailable": (503, _("RedCard cannot take payments at the moment.")),
        "payment_gateway_unavailable": (
            503,
            _("The payment gateway did not answer. Nothing was lost: try again in a moment."),
        ),
        "payment_merchant_mismatch": (
            409,
            _("The payment names another application or merchant account; it was flagged for an operator."),
        ),
        "payment_agreement_missing": (
            409,
            _("There is no auto-renewal agreement with the payment gateway: renew from the membership page."),
        ),
        "refund_unknown": (404, _("The payment gateway does not know this refund.")),
        "renewal_too_early": (409, _("Your card can be renewed from %(date)s.")),
        "renewal_already_paid": (409, _("The next year of your card is already paid.")),
        "sandbox_order_closed": (409, _("This payment order is closed and can no longer be paid.")),
        "payment_gateway_refused": (
            502,
            _("The payment gateway refused the request (%(reason)s). Nothing was charged twice: try again later."),
        ),
        "wechatpay_openid_required": (
            409,
            _(
                "To pay inside WeChat we need your WeChat sign-in, which this page does not have. Open the page in "
                "your browser (menu: Open in browser) to pay with WeChat Pay."
            ),
        ),
        "wechat_signin_state_invalid": (
            400,
            _("This WeChat sign-in was not started here or has expired. Go back and tap pay again."),
        ),
        "wechat_signin_declined": (
            409,
            _("WeChat did not sign you in, so WeChat Pay cannot open by itself. You can still pay with the QR code."),
        ),
        "wechat_signin_refused": (
            409,
            _("WeChat refused the sign-in (%(reason)s). You can still pay with the QR code."),
        ),
        "wechat_signin_unavailable": (
            503,
            _("WeChat did not answer the sign-in. You can still pay with the QR code, or try again in a moment."),
        ),
        "programme_already_suspended": (
            409,
            _("The programme is already suspended with other settings (effective %(effective_date)s, %(mode)s)."),
        ),
        "programme_suspended": (409, _("The RedCard programme is suspended.")),
        "extension_days_invalid": (400, _("The extension must be between 1 and 366 days.")),
    }
)
