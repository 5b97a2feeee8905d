"""Issue 18: the dashboards and the operations overview served from a real streaming replica.

The deployment (tests/system/conftest.py) runs a PostgreSQL primary and a replica made from it with
``pg_basebackup -R`` on loopback ports of its own; the web nodes have ``DATABASE_REPLICA_URL``. With the replica's
replay paused, a change written on the primary is not on the owner's dashboard (the figures come from the
replica) while the owner check sees it at once (it reads the primary); replay resumed, the figures follow
within seconds; the replica stopped, the pages are served from the primary.
"""

from __future__ import annotations

import pytest
import requests

from .cluster import Cluster, wait_until

pytestmark = [pytest.mark.system, pytest.mark.slow]

VISITS = 3


@pytest.fixture(scope="module", autouse=True)
def replica(cluster):
    """The replica, made from the primary as it is after test_multinode's cases (``pg_basebackup -R``)."""
    if not (cluster.replica_data / "postmaster.pid").exists():
        cluster.replica_init()


def insights(cluster: Cluster, world: dict, node: int = 0) -> requests.Response:
    """The owner's dashboard figures (the insights API, signed in with the owner's session), through a web node."""
    url = f"{cluster.web_url(node)}/api/v1/insights/merchants/{world['shop']}/"
    return requests.get(url, cookies=world["cookie"], timeout=30)


def daily_visits(cluster: Cluster, world: dict, node: int = 0) -> int:
    """The redemptions the owner's dashboard counts."""
    response = insights(cluster, world, node)
    assert response.status_code == 200, cluster.log(f"web{node}")
    return response.json()["totals"]["redemptions"]


def web_connections_to_the_replica(cluster: Cluster) -> int:
    return cluster.replica_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'redcard' AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()"
    )[0][0]


def rollup_through(cluster: Cluster, world: dict, node: int = 0) -> str | None:
    """The operations overview's last rolled-up day, through the API."""
    response = requests.get(
        f"{cluster.web_url(node)}/api/v1/ops/overview/",
        headers={"Authorization": f"Bearer {world['ops_token']}"},
        timeout=30,
    )
    assert response.status_code == 200, cluster.log(f"web{node}")
    assert response.json()["figures"]
    return response.json()["rollup_through"]


FAR_DAY = "2099-01-01"


def test_the_dashboard_and_the_overview_are_served_from_the_streaming_replica(cluster):
    world = cluster.seed("dashboard", str(VISITS))
    cluster.replica_caught_up()
    assert cluster.replica_sql("SELECT pg_is_in_recovery()")[0][0] is True
    for node in (0, 1):
        assert daily_visits(cluster, world, node) == VISITS
        assert rollup_through(cluster, world, node) != FAR_DAY
    assert web_connections_to_the_replica(cluster) >= 1

    # Replay paused: a visit and a roll-up day written on the primary are not in the figures yet (read from the
    # replica) ...
    cluster.replica_sql("SELECT pg_wal_replay_pause()")
    try:
        cluster.sql(
            "UPDATE merchants_merchantday SET confirmed_count = confirmed_count + 1, gmv_fen = gmv_fen + 20000 "
            "WHERE merchant_id = (SELECT id FROM merchants_merchant WHERE public_id = %s) RETURNING 1",
            [world["shop"]],
        )
        cluster.sql(
            "INSERT INTO curation_opsdailytotal (city_id, local_date, redemptions, members, bill_fen, discount_fen, "
            "computed_at) SELECT id, %s, 1, 1, 0, 0, now() FROM merchants_city ORDER BY id LIMIT 1 RETURNING id",
            [FAR_DAY],
        )
        for node in (0, 1):
            assert daily_visits(cluster, world, node) == VISITS
            assert rollup_through(cluster, world, node) != FAR_DAY
    finally:
        cluster.replica_sql("SELECT pg_wal_replay_resume()")
    # ... and there within seconds once the replica replays again.
    wait_until(lambda: daily_visits(cluster, world) == VISITS + 1, timeout=15, step=0.5, what="the replica's figures")
    wait_until(lambda: rollup_through(cluster, world) == FAR_DAY, timeout=15, step=0.5, what="the replica's overview")
    cluster.sql("DELETE FROM curation_opsdailytotal WHERE local_date = %s RETURNING id", [FAR_DAY])

    # Who may see the dashboard is checked on the primary: the owner removed there is refused at once, while the
    # replica (paused again) still holds the owner's row.
    cluster.replica_sql("SELECT pg_wal_replay_pause()")
    try:
        cluster.sql("DELETE FROM merchants_merchantstaff WHERE user_id = %s RETURNING id", [world["owner"]])
        assert cluster.replica_sql(
            "SELECT count(*) FROM merchants_merchantstaff WHERE user_id = %s", [world["owner"]]
        ) == [(1,)]
        refused = insights(cluster, world)
        assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    finally:
        cluster.replica_sql("SELECT pg_wal_replay_resume()")


def test_with_the_replica_stopped_the_overview_is_served_from_the_primary(cluster):
    world = cluster.seed("dashboard", "1")
    cluster.replica_stop()
    try:
        for node in (0, 1):
            rollup_through(cluster, world, node)
            assert daily_visits(cluster, world, node) == 1
    finally:
        cluster.replica_start()
    assert "reading the primary" in cluster.log("web0", tail=None) + cluster.log("web1", tail=None)
