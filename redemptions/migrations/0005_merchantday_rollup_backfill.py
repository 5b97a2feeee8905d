# The dashboard's daily roll-up on merchants.MerchantDay (merchants 0004) filled from the confirmed redemptions
# already stored, through the one rebuild service that tests, the demo and the benchmark use too. Member days
# are left alone: confirm and void have always kept them exact.
#
# Confirmations made by processes still running the previous release after this migration do not grow the
# roll-up: once every process runs this release, rebuild the days since the migration, e.g.
#     manage.py shell -c "from redemptions.attribution import dashboard_rollups_rebuild as r; r(first=..., member_days=False)"

from django.db import migrations


def backfill(apps, schema_editor):
    Redemption = apps.get_model("redemptions", "Redemption")
    if not Redemption.objects.exists():  # a fresh database (tests): nothing to roll up
        return
    from redemptions.attribution import dashboard_rollups_rebuild

    dashboard_rollups_rebuild(member_days=False)


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0004_merchantday_dashboard_rollup"),
        ("redemptions", "0004_dashboard_covering_index"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
