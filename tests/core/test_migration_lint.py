"""Issue 18: migrations safe on live tables. The gate runs ``manage.py lint_migrations`` over the SQL of every
migration (core.migration_lint); here its rules, the rewritten redemptions/0007 and its batched backfill."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from core.migration_lint import ALLOWED, lint_statements
from redemptions.models import Redemption
from tests.factories import MerchantFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import history


def rules(sql: list[str], atomic: bool = True) -> list[str]:
    return [
        f.rule.split(" (")[0].split(":")[0] for f in lint_statements(app="x", migration="0001", sql=sql, atomic=atomic)
    ]


def test_unsafe_statements_on_existing_tables_are_refused():
    assert rules(['CREATE INDEX "i" ON "redemptions_redemption" ("merchant_id");']) == [
        "index built without CONCURRENTLY"
    ]
    assert rules(['ALTER TABLE "redemptions_redemption" ADD COLUMN "x" timestamptz DEFAULT (now()) NOT NULL;']) == [
        "NOT NULL column without a constant default added to a big table"
    ]
    assert rules(['ALTER TABLE "members_plan" ALTER COLUMN "name" TYPE text USING "name"::text;']) == [
        "column type changed"
    ]
    assert rules(['ALTER TABLE "members_plan" ALTER COLUMN "name" SET NOT NULL;']) == [
        "SET NOT NULL scans the table under an exclusive lock"
    ]
    assert rules(['ALTER TABLE "core_user" ADD CONSTRAINT "c" CHECK ("x" > 0);']) == [
        "constraint validated under an exclusive lock"
    ]
    assert rules(['ALTER TABLE "core_user" ADD CONSTRAINT "u" UNIQUE ("email");']) == [
        "unique constraint builds its index under an exclusive lock"
    ]
    assert rules(["UPDATE redemptions_redemption SET x = 1;"]) == ["rows written in one transaction"]


def test_safe_forms_pass():
    assert rules(['CREATE INDEX CONCURRENTLY "i" ON "redemptions_redemption" ("merchant_id");'], atomic=False) == []
    assert rules(['ALTER TABLE "redemptions_redemption" ADD COLUMN "x" integer NULL;']) == []
    assert rules(['ALTER TABLE "merchants_merchant" ADD COLUMN "x" timestamptz DEFAULT (now()) NOT NULL;']) == []
    # A constant default: kept in the catalogue by PostgreSQL 11+, no rewrite, even on a big table.
    assert rules(['ALTER TABLE "redemptions_redemption" ADD COLUMN "x" integer DEFAULT 0 NOT NULL;']) == []
    assert rules(["ALTER TABLE \"core_user\" ADD COLUMN \"x\" varchar(8) DEFAULT 'it''s' NOT NULL;"]) == []
    assert rules(['ALTER TABLE "core_user" ADD CONSTRAINT "c" CHECK ("x" > 0) NOT VALID;']) == []
    assert rules(["UPDATE redemptions_redemption SET x = 1 WHERE id >= 1 AND id < 5001;"], atomic=False) == []
    # Everything goes on a table the same migration creates (nobody uses it yet).
    created = [
        'CREATE TABLE "redemptions_new" ("id" bigint NOT NULL PRIMARY KEY);',
        'CREATE INDEX "n" ON "redemptions_new" ("id");',
        'ALTER TABLE "redemptions_new" ADD CONSTRAINT "u" UNIQUE ("id");',
    ]
    assert rules(created) == []


@pytest.mark.django_db(transaction=True)  # CONCURRENTLY refuses to run inside a transaction, even collected
def test_redemptions_0007_is_safe_and_not_excused():
    assert ("redemptions", "0007_redemption_member_birth_year") not in ALLOWED
    loader = MigrationLoader(connection)
    node = loader.graph.nodes[("redemptions", "0007_redemption_member_birth_year")]
    assert node.atomic is False
    sql = loader.collect_sql([(node, False)])
    assert lint_statements(app="redemptions", migration=node.name, sql=sql, atomic=False) == []
    text = "\n".join(sql)
    assert 'CREATE INDEX CONCURRENTLY "redemption_merchant_day_covers"' in text
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "redemption_merchant_day_cover"' in text
    assert text.index("CREATE INDEX CONCURRENTLY") < text.index("DROP INDEX CONCURRENTLY")  # never without an index


@pytest.mark.django_db
def test_the_backfill_writes_every_row_in_batches():
    shop = MerchantFactory()
    years = [1980, 1990, None, 2001, 1975]
    made = [history(member_with_card(birth_year=year), shop) for year in years]
    Redemption.objects.filter(pk__in=[r.pk for r in made]).update(member_birth_year=None)
    migration = import_module("redemptions.migrations.0007_redemption_member_birth_year")
    with connection.schema_editor(atomic=False) as editor:
        assert migration.backfill_birth_years(None, editor, batch=2) == 4
    filled = Redemption.objects.filter(pk__in=[r.pk for r in made]).order_by("pk")
    assert [r.member_birth_year for r in filled] == years
