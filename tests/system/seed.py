"""Run by tests/system/test_multinode.py inside the cluster's environment (its PostgreSQL, its Redis, the
system settings), one JSON document on stdout:

    python -m tests.system.seed world RACE CAPPED LOAD PAID   # shops, a partner token, members, paid cards
    python -m tests.system.seed codes PUBLIC_ID...            # each member's code for the current window
    python -m tests.system.seed suspend BATCH_SIZE            # queue the programme suspension for the worker
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


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "world":
        result = world(*(int(a) for a in args))
    elif command == "codes":
        result = codes(args)
    elif command == "suspend":
        result = suspend(int(args[0]))
    else:
        raise SystemExit(f"unknown command {command}")
    sys.stdout.write(json.dumps(result) + "\n")
