"""Where the CPU of one confirm request goes, in-process: the whole Django + DRF stack (middleware, OAuth bearer
token, throttle, serializers, the service, the response), no network and no other load, on the database that
``run.py`` seeded (run it once first; this reuses it).

    .venv/bin/python bench/redemption/cpu_profile.py [--count 400] [--top 30] [--sort tottime]

Prints the CPU time per confirm (``time.process_time`` over ``--count`` confirms after a warm-up, each a fresh
code, every answer checked to be 201) and cProfile's top functions over a second pass. The figure a load run's
"CPU per confirm" should approach when the machine is quiet: the load adds context switches and the server's
own socket handling on top.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import itertools
import json
import pstats
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.redemption import run as bench


def confirms(client, token: str, work, count: int, profiler: cProfile.Profile | None = None) -> float:
    """``count`` confirms, their codes derived 50 at a time just before (a code lives minutes; deriving them is
    not counted): the CPU seconds the requests took, profiled by ``profiler`` if given."""
    cpu = 0.0
    bodies: list[dict] = []
    for _ in range(count):
        if not bodies:
            bodies = work.take(min(50, count))
        body = bodies.pop()
        started = time.process_time()
        if profiler is not None:
            profiler.enable()
        answer = client.post(
            "/api/v1/redemptions/confirm/",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        if profiler is not None:
            profiler.disable()
        cpu += time.process_time() - started
        if answer.status_code != 201:
            raise SystemExit(f"confirm answered {answer.status_code}: {answer.content[:300]!r}")
    return cpu


def take(pairs, count: int) -> list[dict]:
    """The next ``count`` confirm bodies: a fresh code for each (member, shop) pair."""
    from redemptions.counter.services import member_code

    return [
        {"merchant": shop, "code": member_code(member=person, ahead=1).qr, "bill_fen": 8650}
        for person, shop in itertools.islice(pairs, count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--callers", default="", help="also print the callers of functions matching this pattern")
    parser.add_argument("--dump", default="", help="write the profile to this file (pstats)")
    args = parser.parse_args()

    harness.migrate(bench.ENV)
    bench.flush_redis()
    harness.django_setup(bench.ENV)
    from datetime import timedelta

    from django.test import Client
    from django.utils.timezone import now

    from redemptions.models import Redemption

    info = bench.seeded()
    work = bench.Work(info["merchants"], 0)
    # Each member at a shop they have not used in the last day (whatever earlier runs did): no daily limit met.
    used = set(
        Redemption.objects.filter(confirmed_at__gte=now() - timedelta(days=1))
        .values_list("member_id", "merchant__public_id")
        .distinct()
    )
    shops = info["merchants"]
    shop_ids = [uuid.UUID(shop) for shop in shops]

    def free_shop(n: int, person) -> str | None:
        return next(
            (
                shops[i]
                for i in ((n + k) % len(shops) for k in range(len(shops)))
                if (person.pk, shop_ids[i]) not in used
            ),
            None,
        )

    # One pair per member (a member's code works once per window), at a shop they have not used today.
    pairs = ((person, shop) for n, person in enumerate(work.people) if (shop := free_shop(n, person)) is not None)
    work.take = functools.partial(take, iter(pairs))  # type: ignore[method-assign]
    client = Client(HTTP_HOST="127.0.0.1")  # production settings: ALLOWED_HOSTS has the loopback address
    confirms(client, info["token"], work, args.warmup)

    per_confirm = confirms(client, info["token"], work, args.count) * 1000 / args.count

    profiler = cProfile.Profile(time.process_time)  # CPU time: waits for the database do not count
    confirms(client, info["token"], work, args.count, profiler)
    print(f"CPU per confirm, in-process, {args.count} confirms: {per_confirm:.2f} ms")
    stats = pstats.Stats(profiler).sort_stats(args.sort)
    stats.print_stats(args.top)
    if args.callers:
        stats.print_callers(args.callers)
    if args.dump:
        stats.dump_stats(args.dump)


if __name__ == "__main__":
    main()
