"""Capacity holds under real concurrency on PostgreSQL."""

import threading
from datetime import date

import pytest
from django.db import connection

from core.errors import DomainError
from merchants.models import MerchantDay
from merchants.services import capacity_release, capacity_take
from tests.factories import MerchantFactory


def _run_threads(count, target):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(target())
        except DomainError as exc:
            errors.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_takes_against_capacity_ten_give_exactly_ten():
    assert connection.vendor == "postgresql"
    merchant = MerchantFactory(daily_capacity=10)
    day = date(2026, 11, 23)
    results, errors = _run_threads(
        30,
        lambda: capacity_take(merchant_id=merchant.pk, local_date=day, capacity=10, bill_fen=1_000, discount_fen=120),
    )
    assert sorted(results) == list(range(1, 11))
    assert errors == ["merchant_at_capacity"] * 20
    row = MerchantDay.objects.get(merchant=merchant, local_date=day)
    assert row.redemptions_count == 10
    assert (row.confirmed_count, row.gmv_fen, row.discount_fen) == (10, 10_000, 1_200)  # refused takes add nothing


@pytest.mark.django_db(transaction=True)
def test_release_gives_back_one_unit_and_never_goes_negative():
    merchant = MerchantFactory()
    day = date(2026, 11, 23)
    bill = {"bill_fen": 5_000, "discount_fen": 600}
    assert capacity_take(merchant_id=merchant.pk, local_date=day, capacity=1, **bill) == 1
    with pytest.raises(DomainError) as info:
        capacity_take(merchant_id=merchant.pk, local_date=day, capacity=1, **bill)
    assert info.value.code == "merchant_at_capacity"
    capacity_release(merchant_id=merchant.pk, local_date=day, **bill)
    capacity_release(merchant_id=merchant.pk, local_date=day, **bill)
    assert MerchantDay.objects.get(merchant=merchant, local_date=day).redemptions_count == 0
    assert capacity_take(merchant_id=merchant.pk, local_date=day, capacity=1, **bill) == 1
