"""Each redemption keeps the member's birth year as it was at the visit: the shop's audience figures group the
redemptions without joining every member (issue 6). Existing redemptions take today's profile value.

Safe on a live redemptions table (issue 18): not atomic; the column is added nullable (no rewrite), the backfill
commits every 5,000 redemptions (no long row locks), the new covering index is built CONCURRENTLY before the old
one is dropped CONCURRENTLY (the counter never waits, the dashboards always have an index). Rewritten in place:
databases that applied the first version keep it (same name, same final schema).
"""

from django.conf import settings
from django.db import migrations, models

from core.migration_lint import AddIndexConcurrentlyOnPostgres, RemoveIndexConcurrentlyOnPostgres, backfill_in_batches


def backfill_birth_years(apps, schema_editor, batch=5000):
    return backfill_in_batches(
        schema_editor,
        table="redemptions_redemption",
        sql=(
            "UPDATE redemptions_redemption AS r SET member_birth_year = u.birth_year FROM core_user AS u "
            "WHERE u.id = r.member_id AND u.birth_year IS NOT NULL AND r.member_birth_year IS NULL "
            "AND r.id >= %(lo)s AND r.id < %(hi)s"
        ),
        batch=batch,
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("members", "0002_default_plans"),
        ("merchants", "0004_merchantday_dashboard_rollup"),
        ("redemptions", "0006_seal_nfc_tag_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        migrations.swappable_dependency(settings.OAUTH2_PROVIDER_APPLICATION_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="redemption",
            name="member_birth_year",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="As the member's profile gave it when the visit was confirmed (the shop's audience figures).",
                null=True,
                verbose_name="member's birth year at the visit",
            ),
        ),
        migrations.RunPython(backfill_birth_years, migrations.RunPython.noop),
        AddIndexConcurrentlyOnPostgres(
            model_name="redemption",
            index=models.Index(
                fields=["merchant", "local_date", "status", "member", "member_birth_year", "bill_fen", "discount_fen"],
                name="redemption_merchant_day_covers",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(
            model_name="redemption",
            name="redemption_merchant_day_cover",
        ),
    ]
