"""Group permissions of the members app (merged into core.roles)."""

PERMISSIONS: dict[str, list[str]] = {
    "operator": [
        "members.view_plan",
        "members.add_plan",
        "members.change_plan",
        "members.view_subscription",
        "members.change_subscription",
        "members.view_payment",
        "members.view_flaggedpayment",
        "members.change_flaggedpayment",
        "members.view_refund",
        "members.add_refund",
        "members.view_programme",
        "members.change_programme",
        "members.view_subscriptionperiod",
        "members.view_paymentnotification",
        "members.view_reconciliationissue",
        "members.change_reconciliationissue",
    ],
    "curator": [
        "members.view_plan",
        "members.view_subscription",
        "members.view_payment",
        "members.view_refund",
        "members.view_programme",
    ],
}
