"""Member pages: join, my membership, and the sandbox gateway's hosted checkout page."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.links import links

from . import selectors
from .models import CURRENT_STATES, Payment, SandboxOrder, SubscriptionPeriod, SubscriptionState
from .payments import agreements_supported, sandbox, sandbox_enabled, wechat_signin
from .payments.base import CHANNEL_WECHAT, channel_of
from .services.agreements import agreement_offered, agreement_sign_start, auto_renew_switch
from .services.checkout import RENEWAL_WINDOW, checkout_start, payment_sync, renewal_checkout_start
from .services.common import programme_get
from .services.payers import wechat_openid_keep
from .services.subscriptions import subscription_cancel, subscription_cancel_undo, trial_start


@login_required
def membership(request: HttpRequest) -> HttpResponse:
    user = request.user
    subscription = selectors.current_subscription(user=user)  # type: ignore[arg-type]
    savings = selectors.member_savings(user=user)  # type: ignore[arg-type]
    percent = min(100, round(100 * savings.saved_fen / savings.fee_fen)) if savings.fee_fen else 0
    ent = selectors.entitlement(user=user)  # type: ignore[arg-type]
    context = {
        "subscription": subscription,
        "entitlement": ent,
        "trial_days_left": selectors.trial_days_left(ent),
        "card_url": card_url(request),
        "savings": savings,
        "savings_percent": percent,
        "savings_step": min(10, percent // 10),
        "payments": selectors.member_payments(user=user)[:50],  # type: ignore[arg-type]
        "refunds": selectors.member_refunds(user=user)[:50],  # type: ignore[arg-type]
        "agreement": selectors.member_agreement(user=user),  # type: ignore[arg-type]
        "States": SubscriptionState,
        "pending_payment": (
            subscription.payments.filter(state=Payment.State.PENDING, flagged_at__isnull=True)
            .exclude(checkout_url="")
            .last()
            if subscription and subscription.state in CURRENT_STATES
            else None
        ),
        "renew_now": (
            subscription is not None
            and subscription.state in (SubscriptionState.ACTIVE, SubscriptionState.CANCEL_AT_PERIOD_END)
            and not (
                subscription.state == SubscriptionState.ACTIVE
                and subscription.auto_renew
                and agreements_supported(user=user)
            )
            and subscription.period_end is not None
            and subscription.period_end - timezone.now() <= RENEWAL_WINDOW
        ),
        "upgrade_plan": (
            selectors.default_plan() if subscription and subscription.state == SubscriptionState.TRIALING else None
        ),
        "agreement_offered": (
            subscription is not None
            and subscription.state == SubscriptionState.ACTIVE
            and subscription.auto_renew
            and agreement_offered(user=user)  # type: ignore[arg-type]
        ),
    }
    return render(request, "members/membership.html", context)


#: The plan a signed-out visitor chose on the join page, kept through sign-up and verification.
JOIN_PLAN_SESSION_KEY = "members.join_plan"


def join(request: HttpRequest) -> HttpResponse:
    """The join page. A signed-out visitor's choice is kept in the session while they sign up (or sign in)
    and verify their address; ``join_continue`` then starts the checkout or the trial by itself."""
    if request.method == "POST":
        plan_code = request.POST.get("plan", "")
        if not request.user.is_authenticated:
            request.session[JOIN_PLAN_SESSION_KEY] = plan_code
            return redirect(f"{reverse('account_signup')}?{urlencode({'next': reverse('members:join_continue')})}")
        return _join_start(request, plan_code)
    user = request.user
    context = {
        "plans": selectors.plans_on_sale(),
        "trial_used": user.is_authenticated and selectors.trial_used(user=user),
        "entitlement": selectors.entitlement(user=user) if user.is_authenticated else None,
        "sales_open": programme_get().sales_open,
        "pitch": selectors.join_pitch(),
    }
    return render(request, "members/join.html", context)


@login_required
def join_continue(request: HttpRequest) -> HttpResponse:
    """Where sign-up and verification lead: the plan chosen before signing in, taken once."""
    plan_code = request.session.pop(JOIN_PLAN_SESSION_KEY, None)
    if not plan_code:
        return redirect("members:join")
    return _join_start(request, plan_code)


def _join_start(request: HttpRequest, plan_code: str) -> HttpResponse:
    """Start the trial (and show the card) or open the checkout of ``plan_code``."""
    if plan_code != "trial" and wechat_signin.signin_needed(request):
        # Inside WeChat without the member's openid: WeChat's silent sign-in first, then this checkout.
        request.session[JOIN_PLAN_SESSION_KEY] = plan_code
        return redirect(wechat_signin.signin_start(request, then=reverse("members:join_continue")))
    try:
        if plan_code == "trial":
            trial_start(user=request.user)  # type: ignore[arg-type]
            messages.success(request, _("Your free trial has started. Here is your card."))
            return redirect(card_url(request))
        payer = wechat_signin.payer_of(request)
        payment = checkout_start(
            user=request.user,  # type: ignore[arg-type]
            plan_code=plan_code,
            channel=payer.channel,
            client_ip=payer.client_ip,
            openid=payer.openid,
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("members:join")
    return redirect(payment.checkout_url)


@login_required
def wechat_signin_return(request: HttpRequest) -> HttpResponse:
    """Where WeChat's sign-in sends the member back (``code`` and our ``state``): the openid is kept and the
    payment goes on. A state we did not issue is refused; a refused or cancelled sign-in (no code, an error
    from WeChat) shows why and goes on with the QR code instead (not asked again in this session)."""
    pending = request.session.pop(wechat_signin.SESSION_KEY, None)
    state = request.GET.get("state", "")
    if not isinstance(pending, dict) or not state or not constant_time_compare(state, str(pending.get("state"))):
        error = DomainError("wechat_signin_state_invalid")
        return render(request, "members/wechat_signin.html", {"error": error}, status=error.status)
    then = str(pending.get("then") or reverse("members:membership"))
    code = request.GET.get("code", "")
    try:
        if not code:  # the member refused or closed WeChat's page
            raise DomainError("wechat_signin_declined")
        openid = wechat_signin.openid_for_code(code)
    except DomainError as error:
        # A page with a way on (not an error status: the session, which remembers the fallback, is saved).
        request.session[wechat_signin.DECLINED_KEY] = wechat_signin.app_id()
        return render(request, "members/wechat_signin.html", {"error": error, "then": then})
    wechat_openid_keep(user=request.user, app_id=wechat_signin.app_id(), openid=openid)  # type: ignore[arg-type]
    return redirect(then)


def card_url(request: HttpRequest) -> str:
    """The member's card at the counter (a page of a higher app, offered through the ``members.card`` slot),
    else the membership page."""
    offered = links("members.card", request)
    return offered[0].url if offered else reverse("members:membership")


@login_required
def join_return(request: HttpRequest, payment_id: str) -> HttpResponse:
    """Where the gateway sends the payer back. Asks the gateway at once (the notification may
    still be on its way), then shows the card or a "confirming" page that refreshes itself."""
    payment = get_object_or_404(Payment, public_id=payment_id, subscription__user=request.user)
    try:
        payment_sync(payment=payment)
    except DomainError as exc:
        messages.error(request, exc.detail)
    payment.refresh_from_db()
    if payment.state == Payment.State.PAID and payment.flagged_at is None:
        messages.success(request, _("Payment received. Welcome to RedCard! Here is your card."))
        if payment.kind == Payment.Kind.INITIAL and agreement_offered(user=request.user):  # type: ignore[arg-type]
            # At purchase: the gateway's agreement (Alipay 周期扣款) is what renews the card by itself.
            messages.info(
                request, _("To renew your card by itself each year, sign auto-renewal on your membership page.")
            )
        return redirect(card_url(request))
    return render(request, "members/join_return.html", {"payment": payment})


@login_required
@require_POST
def agreement_sign(request: HttpRequest) -> HttpResponse:
    """Sign the gateway's auto-renewal agreement (Alipay 周期扣款) from the membership page."""
    try:
        url = agreement_sign_start(
            user=request.user,  # type: ignore[arg-type]
            channel=channel_of(request.headers.get("User-Agent", "")),
            openid=wechat_signin.openid_of(request),
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("members:membership")
    return redirect(url)


#: A renewal asked for inside WeChat while its sign-in runs (``renew_continue`` takes it once).
RENEW_SESSION_KEY = "members.renew"


@login_required
@require_POST
def renew(request: HttpRequest) -> HttpResponse:
    """One-tap renewal from the membership page (where the reminders lead)."""
    if wechat_signin.signin_needed(request):
        request.session[RENEW_SESSION_KEY] = True
        return redirect(wechat_signin.signin_start(request, then=reverse("members:renew_continue")))
    return _renew(request)


@login_required
def renew_continue(request: HttpRequest) -> HttpResponse:
    """Where WeChat's sign-in leads after a renewal tap: the renewal asked for, taken once."""
    if not request.session.pop(RENEW_SESSION_KEY, False):
        return redirect("members:membership")
    return _renew(request)


def _renew(request: HttpRequest) -> HttpResponse:
    payer = wechat_signin.payer_of(request)
    try:
        payment = renewal_checkout_start(
            user=request.user,  # type: ignore[arg-type]
            channel=payer.channel,
            client_ip=payer.client_ip,
            openid=payer.openid,
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("members:membership")
    return redirect(payment.checkout_url)


@login_required
def receipt(request: HttpRequest, payment_id: str) -> HttpResponse:
    """The member's receipt of one paid payment: what it bought, how it was paid, what came back."""
    payment = get_object_or_404(
        Payment.objects.select_related("subscription__plan", "plan"),
        public_id=payment_id,
        subscription__user=request.user,
        state=Payment.State.PAID,
    )
    context = {
        "payment": payment,
        "plan": payment.plan or payment.subscription.plan,
        "period": SubscriptionPeriod.objects.filter(payment=payment).first(),
        "refunds": payment.refunds.order_by("created_at", "pk"),
        "net_fen": payment.amount_fen - payment.refunded_fen,
    }
    return render(request, "members/receipt.html", context)


def _member_action(request: HttpRequest, action: Callable[[], object], done: str) -> HttpResponse:
    try:
        action()
        messages.success(request, done)
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("members:membership")


@login_required
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    return _member_action(
        request,
        partial(subscription_cancel, user=request.user),  # type: ignore[arg-type]
        _("Your card will not renew and ends at the end of the period."),
    )


@login_required
@require_POST
def undo_cancel(request: HttpRequest) -> HttpResponse:
    return _member_action(
        request,
        partial(subscription_cancel_undo, user=request.user),  # type: ignore[arg-type]
        _("Cancellation undone: your card continues."),
    )


@login_required
@require_POST
def auto_renew(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("auto_renew") == "on"
    return _member_action(
        request,
        partial(auto_renew_switch, user=request.user, auto_renew=wanted),  # type: ignore[arg-type]
        _("Auto-renew is on.") if wanted else _("Auto-renew is off."),
    )


@login_required
def sandbox_checkout(request: HttpRequest, order_id: str) -> HttpResponse:
    """The sandbox gateway's hosted checkout page (only while the sandbox provider is enabled)."""
    if not sandbox_enabled():
        raise Http404
    order = sandbox.order_for_checkout(order_id)
    if order is None or (order.payer_id and order.payer_id != request.user.pk):
        raise Http404
    return_url = order.return_url if url_has_allowed_host_and_scheme(order.return_url, None) else "/"
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "pay":
                sandbox.pay(order)
                return redirect(return_url)
            if action == "decline":
                sandbox.decline(order)
                messages.error(request, _("The bank declined the payment (sandbox). Try again or choose abandon."))
                return redirect("members:sandbox_checkout", order_id=order.public_id)
            return redirect(return_url)  # abandon: the order stays unpaid until it times out
        except DomainError as exc:
            messages.error(request, exc.detail)
            return redirect(return_url)
    return render(
        request,
        "members/sandbox_checkout.html",
        {"order": order, "payable": order.status in (SandboxOrder.Status.NOTPAY, SandboxOrder.Status.PAYERROR)},
    )


@login_required
def wechatpay_checkout(request: HttpRequest, order_id: str) -> HttpResponse:
    """WeChat Pay's checkout on our site: the Native QR code to scan on a desktop, or (inside WeChat) the
    JSAPI payment started by static/js/wechatpay.js. Its URL carries the gateway's answer, signed."""
    from .payments import get_provider
    from .payments.wechatpay import checkout_page

    page = checkout_page(request.GET.get("t", ""), order=str(order_id))
    if page is None:
        raise Http404
    back = page["back"] if url_has_allowed_host_and_scheme(page["back"], None) else "/"
    context: dict[str, object] = {"back": back, "signing": page.get("purpose") == "sign"}
    if "code_url" in page:
        import segno

        qr = segno.make(page["code_url"], error="m")
        if channel_of(request.headers.get("User-Agent", "")) == CHANNEL_WECHAT:
            # Inside WeChat (no sign-in for JSAPI): the member presses and holds the code, which WeChat
            # recognises in an image only.
            context["qr_image"] = qr.png_data_uri(scale=6, dark="#1f1f1f")
        else:
            context["qr_svg"] = mark_safe(qr.svg_inline(scale=6, dark="#1f1f1f"))  # noqa: S308 (segno's own SVG)
    else:
        try:
            context["jsapi"] = get_provider("wechatpay").jsapi_parameters(page["prepay_id"])  # type: ignore[attr-defined]
        except DomainError as exc:
            messages.error(request, exc.detail)
            return redirect(back)
    return render(request, "members/wechatpay_checkout.html", context)
