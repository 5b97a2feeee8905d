"""Run by tests/system/test_multinode.py inside the cluster's environment (its PostgreSQL, its Redis, the
system settings), one JSON document on stdout:

    python -m tests.system.seed world RACE CAPPED LOAD PAID   # shops, a partner token, members, paid cards
    python -m tests.system.seed codes PUBLIC_ID...            # each member's code for the current window
    python -m tests.system.seed suspend BATCH_SIZE            # queue the programme suspension for the worker
    python -m tests.system.seed dashboard VISITS              # a shop with VISITS redemptions, its owner's session,
                                                              # an ops:read partner token
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.system.settings")
django.setup()

from django.conf import settings  # noqa: E402

# The seeded people never sign in: a cheap hash (production's PBKDF2 would take most of a second each).
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

from core.localtime import programme_day  # noqa: E402
from core.models import User  # noqa: E402
from members.services import seed_default_plans  # noqa: E402
from members.tasks import suspend_programme  # noqa: E402
from merchants.models import PartnerGrant  # noqa: E402
from redemptions.counter.services import member_code  # noqa: E402
from tests.factories import PartnerApplicationFactory, access_token_for  # noqa: E402
from tests.factories.members import paid_subscription  # noqa: E402
from tests.factories.redemptions import member_with_card, shop  # noqa: E402

SCOPE = "redemptions:write"


def world(race: int, capped: int, load: int, paid: int) -> dict:
    """Three shops granted to one partner app (the race's, one with capacity 10, one for the load), members
    with a running trial card for each case, and ``paid`` members with an annual card paid at the sandbox."""
    seed_default_plans()
    shops = {"race": shop(), "capped": shop(daily_capacity=10), "load": shop(daily_capacity=100_000)}
    app = PartnerApplicationFactory(allowed_scopes=SCOPE)
    for merchant in shops.values():
        PartnerGrant.objects.create(merchant=merchant, application=app, scopes=SCOPE)
    token = access_token_for(app, SCOPE, expires_in=3600)
    members = {
        name: [str(member_with_card().public_id) for _ in range(n)]
        for name, n in (("race", race), ("capped", capped), ("load", load))
    }
    paid_cards = [str(paid_subscription().public_id) for _ in range(paid)]
    return {
        "token": token.token,
        "shops": {name: str(merchant.public_id) for name, merchant in shops.items()},
        "members": members,
        "paid": paid_cards,
    }


def codes(public_ids: list[str]) -> dict:
    wanted = [uuid.UUID(public_id) for public_id in public_ids]
    members = User.objects.in_bulk(wanted, field_name="public_id")
    return {str(public_id): member_code(member=members[public_id]).qr for public_id in wanted}


def suspend(batch_size: int) -> dict:
    from django.utils import timezone

    today = programme_day(timezone.now())
    sent = suspend_programme.delay(today.isoformat(), "prorated", "system test", None, batch_size)
    return {"task": sent.id, "effective_date": today.isoformat()}


def dashboard(visits: int) -> dict:
    """A shop with ``visits`` confirmed redemptions of ¥200 today (its dashboard roll-up rebuilt), a session of its
    owner (as a sign-in leaves it), and a partner token that reads the operations overview."""
    import random

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from members.models import Subscription
    from merchants.models import MerchantStaff
    from redemptions.attribution.services import dashboard_rollups_rebuild
    from tests.factories import MerchantFactory, MerchantStaffFactory, UserFactory
    from tests.factories.standing import history

    # Each run is a new process whose factory sequences start again: numbers of their own, apart from "world"'s.
    offset = random.randrange(100_000, 900_000_000, 1_000)
    for factory_class in (MerchantFactory, UserFactory, PartnerApplicationFactory):
        factory_class.reset_sequence(offset)
    merchant = shop()
    # Members who had a card (the suspension case closed sales for good), new ones while sales are open.
    had_cards = list(User.objects.filter(pk__in=Subscription.objects.values("user")).order_by("pk")[:visits])
    for member in had_cards + [member_with_card() for _ in range(visits - len(had_cards))]:
        history(member, merchant, bill_fen=20_000)
    dashboard_rollups_rebuild(merchant_ids=[merchant.pk])
    owner = MerchantStaffFactory(merchant=merchant, user=UserFactory(), role=MerchantStaff.Role.OWNER).user
    session = SessionStore()
    session[SESSION_KEY] = str(owner.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    session.create()
    app = PartnerApplicationFactory(allowed_scopes="ops:read")
    return {
        "shop": str(merchant.public_id),
        "owner": owner.pk,
        "cookie": {settings.SESSION_COOKIE_NAME: session.session_key},
        "ops_token": access_token_for(app, "ops:read", expires_in=3600).token,
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "world":
        result = world(*(int(a) for a in args))
    elif command == "codes":
        result = codes(args)
    elif command == "suspend":
        result = suspend(int(args[0]))
    elif command == "dashboard":
        result = dashboard(int(args[0]))
    else:
        raise SystemExit(f"unknown command {command}")
    sys.stdout.write(json.dumps(result) + "\n")
