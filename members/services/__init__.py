"""Every write of the members app, by concern (as Zulip's ``zerver/actions/``):

* ``common`` — the subscription state machine (``TRANSITIONS``), locked reads, the clock;
* ``subscriptions`` — trial, cancel, auto-renew, expiry, reminders, extensions, savings meter;
* ``checkout`` — checkout, provider notifications, settlement, reconciliation, renewal charges;
* ``refunds`` — quotes, allocation, the refund ledger and its reconciliation from the gateways;
* ``reconciliation`` — the daily bill of each gateway against the ledger;
* ``suspension`` — the programme suspension and its set-based refunds;
* ``guarantee`` — the savings guarantee settled at the end of each paid year.

State machine of a subscription (``TRANSITIONS``)::

    pending_payment -> active | payment_failed
    trialing        -> active (upgraded: the paid year follows the trial) | expired
    active          -> cancel_at_period_end | expired | refunded
    cancel_at_period_end -> active (undo) | expired | refunded

Guarantees and what holds them:

* one current subscription per member, one trial per person: partial unique constraints;
* activation exactly once: the payment row is locked (``select_for_update``) and moves
  ``pending -> paid`` once; the provider transaction id is unique; each notification is
  recorded once per notify id (unique);
* refunds never exceed what was paid: ``CHECK refunded_fen <= amount_fen`` on the payment,
  updated under the row lock, plus a unique (payment, request key) on the ledger row;
  a second concurrent refund waits for the subscription lock and then finds it refunded;
* the programme suspension processes each subscription once: a ``SuspensionRefund`` row
  (unique per subscription) is written in the same transaction as its refunds;
* the savings guarantee settles each paid year once: a ``GuaranteeSettlement`` row (one-to-one
  with the period) is written in the same transaction as its refund entry.

Code inside ``members`` imports the module it needs. Other apps call the few entry points
re-exported here.
"""

from .subscriptions import seed_default_plans, subscription_savings_add, subscription_savings_write, trial_start

__all__ = ["seed_default_plans", "subscription_savings_add", "subscription_savings_write", "trial_start"]
