"""Issue 18: the dashboards and the operations overview read the replica (``DATABASE_REPLICA_URL``), everything
else and every write the primary (core.replica).

The replica is Django's test mirror of the test database: a second connection to the same database, so the
queries each alias ran are counted apart (``CaptureQueriesContext`` per alias) and the replica sees what the
test committed (transactional tests). A real streaming replica: tests/system/test_replica.py.
"""

from __future__ import annotations

import logging

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import User
from core.replica import ReplicaRouter, read_alias, replica_reads
from curation.ops.selectors import ops_figures
from merchants.models import MerchantDay
from redemptions.attribution import services as attribution
from tests.factories import MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import curator_user, history, owner_of

#: The replica shows what was committed: the tests that read it commit (transactional tests, slower: two).
committed = pytest.mark.django_db(transaction=True, databases=["default", "replica"])
in_a_transaction = pytest.mark.django_db(databases=["default", "replica"])

#: Tables only the figures read: a query on one of them is a figures query.
FIGURE_TABLES = ("merchants_merchantday", "redemptions_redemption", "redemptions_attributioncredit")


@pytest.fixture
def replica_on(settings):
    settings.REDCARD_READ_REPLICA = "replica"


@pytest.fixture
def busy_shop():
    merchant = MerchantFactory()
    for _ in range(3):
        history(member_with_card(), merchant, bill_fen=20_000)
    attribution.dashboard_rollups_rebuild(merchant_ids=[merchant.pk])
    assert MerchantDay.objects.filter(merchant=merchant).exists()
    return merchant


class Queries:
    """The SQL each alias ran inside the block."""

    def __enter__(self) -> Queries:
        self.primary = CaptureQueriesContext(connections["default"])
        self.replica = CaptureQueriesContext(connections["replica"])
        self.primary.__enter__()
        self.replica.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.replica.__exit__(*exc)
        self.primary.__exit__(*exc)

    @staticmethod
    def _sql(captured: CaptureQueriesContext) -> list[str]:
        return [q["sql"] for q in captured.captured_queries]

    def on(self, alias: str) -> list[str]:
        return self._sql(self.primary if alias == "default" else self.replica)

    def figures_on(self, alias: str) -> list[str]:
        return [sql for sql in self.on(alias) if any(table in sql for table in FIGURE_TABLES)]


def dashboard_urls(merchant) -> list[str]:
    return [
        reverse("redemptions:dashboard", args=[merchant.public_id]),
        reverse("redemptions:dashboard_csv", args=[merchant.public_id, "daily"]),
        reverse("api-merchant-insights", args=[merchant.public_id]),
    ]


@committed
def test_the_dashboard_its_csv_and_the_insights_api_read_the_replica(client, replica_on, busy_shop):
    owner = owner_of(busy_shop)
    client.force_login(owner)
    for url in dashboard_urls(busy_shop):
        with Queries() as queries:
            response = client.get(url)
        assert response.status_code == 200, url
        # The figures (series, visitors, leaderboard, offline list) from the replica, none from the primary ...
        assert len(queries.figures_on("replica")) >= 3, url
        assert queries.figures_on("default") == [], url
        # ... while who may see them was checked on the primary (session, user, the owner's staff row).
        assert any("django_session" in sql for sql in queries.on("default")), url
        assert any("merchants_merchantstaff" in sql for sql in queries.on("default")), url
        assert not any("merchants_merchantstaff" in sql for sql in queries.on("replica")), url
    csv_text = client.get(dashboard_urls(busy_shop)[1]).content.decode()
    assert ",3,600.00,72.00" in csv_text  # the three bills of ¥200 read through the replica connection
    # Someone who is not the owner is refused on the primary, before any figure is read.
    client.force_login(UserFactory())
    with Queries() as queries:
        assert client.get(dashboard_urls(busy_shop)[0]).status_code == 404
    assert queries.on("replica") == []
    # Writes inside the scope go to the primary, an object read from the replica included.
    with replica_reads() as alias:
        assert alias == "replica" and read_alias() == "replica"
        with Queries() as queries:
            person = UserFactory()
            read_back = User.objects.get(pk=person.pk)  # read from the replica ...
            assert read_back._state.db == "replica"
            assert ReplicaRouter().db_for_write(User, instance=read_back) == "default"
            read_back.first_name = "改"
            read_back.save()  # ... and saved to the primary
    assert any(sql.startswith("INSERT") for sql in queries.on("default"))
    assert any(sql.startswith("UPDATE") for sql in queries.on("default"))
    assert not any(sql.startswith(("INSERT", "UPDATE", "DELETE")) for sql in queries.on("replica"))
    assert ReplicaRouter().allow_migrate("replica", "core") is False
    assert read_alias() == "default"  # outside the scope


@committed
def test_the_operations_overview_reads_the_replica_or_the_primary_when_it_is_away(
    client, replica_on, busy_shop, partner_client, caplog
):
    client.force_login(curator_user())
    api, _app = partner_client("ops:read")
    for get, url in (
        (client.get, reverse("admin:curation_opsdailytotal_changelist")),
        (client.get, reverse("curation:ops_json")),
        (api.get, reverse("api-ops-overview")),
    ):
        with Queries() as queries:
            response = get(url)
        assert response.status_code == 200, url
        overview = [sql for sql in queries.on("replica") if "curation_opsdailytotal" in sql]
        assert overview and len(queries.on("replica")) >= 8, url
        assert not any("curation_opsdailytotal" in sql for sql in queries.on("default")), url
    # The replica away: the same pages are served from the primary, and a warning is logged.
    replica = connections["replica"]
    replica.close()
    port = replica.settings_dict["PORT"]
    replica.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        with (
            caplog.at_level(logging.WARNING, logger="core.replica"),
            CaptureQueriesContext(connections["default"]) as primary,
        ):
            assert api.get(reverse("api-ops-overview")).status_code == 200
            client.force_login(owner_of(busy_shop))
            assert client.get(dashboard_urls(busy_shop)[0]).status_code == 200
        sql = [q["sql"] for q in primary.captured_queries]
        assert any("curation_opsdailytotal" in q for q in sql)
        assert len([q for q in sql if any(table in q for table in FIGURE_TABLES)]) >= 3
        assert any("replica database (replica) is unreachable" in r.getMessage() for r in caplog.records)
    finally:
        replica.close()
        replica.settings_dict["PORT"] = port


@in_a_transaction
def test_without_a_replica_everything_reads_the_primary(client, busy_shop):
    client.force_login(owner_of(busy_shop))
    with Queries() as queries:
        for url in dashboard_urls(busy_shop):
            assert client.get(url).status_code == 200
        ops_figures()
    assert queries.on("replica") == []
    assert len(queries.figures_on("default")) >= 9


@in_a_transaction
def test_a_transaction_that_wrote_reads_its_write_from_the_primary(replica_on, busy_shop):
    """Read-your-writes: inside a transaction on the primary, the scope reads the primary (the replica has not
    replayed an uncommitted write, and would not show it)."""
    with transaction.atomic():
        member = member_with_card()
        history(member, busy_shop)
        with replica_reads() as alias:
            assert alias == "default"
            assert ops_figures().figures  # computed on the primary, inside the caller's transaction
