"""Each redemption keeps the member's birth year as it was at the visit: the shop's audience figures group the
redemptions without joining every member (issue 6). Existing redemptions take today's profile value."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0002_default_plans"),
        ("merchants", "0004_merchantday_dashboard_rollup"),
        ("redemptions", "0006_seal_nfc_tag_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        migrations.swappable_dependency(settings.OAUTH2_PROVIDER_APPLICATION_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="redemption",
            name="redemption_merchant_day_cover",
        ),
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
        migrations.RunSQL(
            "UPDATE redemptions_redemption AS r SET member_birth_year = u.birth_year "
            "FROM core_user AS u WHERE u.id = r.member_id AND u.birth_year IS NOT NULL",
            migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="redemption",
            index=models.Index(
                fields=["merchant", "local_date", "status", "member", "member_birth_year", "bill_fen", "discount_fen"],
                name="redemption_merchant_day_covers",
            ),
        ),
    ]
