"""Benchmark: a filtered catalogue page of 20 (city + category + near me) with N merchants on PostgreSQL.

    .venv/bin/python bench/catalogue/run.py --count 100000 [--requests 500] [--reuse]

Creates a scratch database (``redcard_bench_catalogue`` on 127.0.0.1:5432, dropped first unless
``--reuse``), migrates it, writes N merchants spread over the three demo cities (uniformly within 25 km of
each centre, categories uniform, 90% listed or on probation) with their offers and opening slots
(bulk inserts), runs ANALYZE, then measures in-process: ``GET /api/v1/merchants/?city=&category=&lat=&lng=
&page_size=20`` through Django's test client (the whole stack: URL routing, filters, the query, the
counters prefetch, serialisation, JSON rendering) from random points in the city, and the same page with
``open_now=true``. Prints p50/p95/p99 and the query plan of the page query.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import harness
from bench.harness import percentile

DB_NAME = "redcard_bench_catalogue"
ENV = harness.environment(DB_NAME, API_ANON_THROTTLE_RATE="1000000/min")
CITIES = {
    "shanghai": (31.230416, 121.473701),
    "hangzhou": (30.274085, 120.155070),
    "guangzhou": (23.129110, 113.264385),
}


def point_near(rng: random.Random, lat: float, lng: float, km: float) -> tuple[float, float]:
    r = km * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    return lat + r * math.cos(theta) / 111.32, lng + r * math.sin(theta) / (111.32 * math.cos(math.radians(lat)))


def seed(count: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from merchants import demo
    from merchants.models import Category, City, Merchant, Offer, OpeningSlot
    from merchants.validators import parse_opening_hours, uscc_check_char, week_slots

    demo.MERCHANTS_PER_CITY = {}  # reference data only
    demo.seed([])
    cities = {c.code: c for c in City.objects.all()}
    districts = {code: list(city.districts.all()) for code, city in cities.items()}
    categories = list(Category.objects.all())
    hours = {code: week_slots(parse_opening_hours(text)) for code, text in demo.HOURS.items()}
    hours_json = {code: parse_opening_hours(text) for code, text in demo.HOURS.items()}
    rng = random.Random(7)
    now = timezone.now()
    states = ["listed"] * 7 + ["probation"] * 2 + ["warned"]
    step = 5000
    started = time.perf_counter()
    for offset in range(0, count, step):
        batch = []
        for n in range(offset, min(count, offset + step)):
            code = list(CITIES)[n % 3]
            lat, lng = point_near(rng, *CITIES[code], 25)
            category = categories[rng.randrange(len(categories))]
            body = f"9131{n:014d}"[:17]
            batch.append(
                Merchant(
                    public_id=uuid.uuid4(),
                    city=cities[code],
                    district=districts[code][n % len(districts[code])],
                    category=category,
                    legal_name=f"Bench Co {n}",
                    name_zh=f"测试店{n}",
                    name_en=f"Bench {n}",
                    uscc=body + uscc_check_char(body),
                    food_licence=f"JY1{n:013d}" if category.is_food else "",
                    address="bench",
                    lat=lat,
                    lng=lng,
                    average_spend_fen=category.spend_min_fen,
                    external_rating="4.6",
                    opening_hours=hours_json[category.code],
                    state=rng.choice(states),
                    state_changed_at=now,
                    daily_capacity=50,
                )
            )
        Merchant.objects.bulk_create(batch)
        Offer.objects.bulk_create(Offer(merchant=m, rate_bp=1200) for m in batch)
        OpeningSlot.objects.bulk_create(
            OpeningSlot(merchant=m, start_minute=a, end_minute=b) for m in batch for a, b in hours[m.category.code]
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded {count} merchants in {time.perf_counter() - started:.1f} s")


def measure(requests: int) -> None:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from merchants.models import Category

    client = Client()
    rng = random.Random(11)
    codes = list(Category.objects.values_list("code", flat=True))

    def url(extra: str = "") -> str:
        city = rng.choice(list(CITIES))
        lat, lng = point_near(rng, *CITIES[city], 20)
        where = f"city={city}&category={rng.choice(codes)}&lat={lat:.6f}&lng={lng:.6f}"
        return f"/api/v1/merchants/?{where}&page_size=20{extra}"

    for _ in range(30):  # warm up connections, caches, the plan cache
        client.get(url())
    for label, extra in (("city + category + near me", ""), ("... + open now", "&open_now=true")):
        timings, cpu, sizes = [], [], []
        for _ in range(requests):
            target = url(extra)
            start, start_cpu = time.perf_counter(), time.thread_time()
            response = client.get(target)
            timings.append((time.perf_counter() - start) * 1000)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            assert response.status_code == 200, response.content[:300]
            sizes.append(len(response.json()["results"]))
        print(
            f"{label}: {requests} requests, rows/page mean {statistics.mean(sizes):.1f}; "
            f"p50 {percentile(timings, 0.50):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms, "
            f"p99 {percentile(timings, 0.99):.2f} ms, max {max(timings):.2f} ms; "
            f"CPU of this process p50 {percentile(cpu, 0.50):.2f} ms, p95 {percentile(cpu, 0.95):.2f} ms"
        )
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        client.get(url())
    print(f"queries per page: {len(queries.captured_queries)}")
    page_sql = max(queries.captured_queries, key=lambda q: len(q["sql"]))["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + page_sql)
        print("\n".join(row[0] for row in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--reuse", action="store_true", help="keep the database seeded by a previous run")
    args = parser.parse_args()
    if not args.reuse:
        harness.recreate_database(ENV, DB_NAME)
    harness.django_setup(ENV)
    if not args.reuse:
        seed(args.count)
    measure(args.requests)


if __name__ == "__main__":
    main()
