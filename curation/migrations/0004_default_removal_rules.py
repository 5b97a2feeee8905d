"""Version 1 of every removal rule (淘汰机制), with the programme's thresholds (editable in admin)."""

from django.db import migrations

RULES = [
    ("complaint_rate", {"window_days": 30, "max_rate_percent": 5, "min_redemptions": 20},
     "Upheld complaints above 5% of redemptions over 30 days, with at least 20 redemptions."),
    ("refused_card", {"window_days": 30, "min_upheld": 2}, "Two or more upheld “refused the card” complaints in 30 days."),
    ("rating_floor", {"min_rating": "4.0"}, "External rating (e.g. Dianping) below 4.0."),
    ("dormant", {"days": 60}, "No redemptions for 60 days (merchants admitted at least 60 days ago)."),
    ("licence_expired", {"grace_days": 0}, "A recorded licence has expired."),
    ("surge_unaddressed", {"window_days": 30, "min_flags": 2, "max_open_hours": 24},
     "Two or more surge flags in 30 days that stayed open more than 24 hours."),
]


def create(apps, schema_editor):
    RemovalRule = apps.get_model("curation", "RemovalRule")
    from django.utils import timezone

    start = timezone.now().replace(year=2024, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    for kind, params, description in RULES:
        RemovalRule.objects.get_or_create(
            kind=kind, version=1, defaults={"parameters": params, "description": description, "active_from": start}
        )


def remove(apps, schema_editor):
    apps.get_model("curation", "RemovalRule").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("curation", "0003_standing")]

    operations = [migrations.RunPython(create, remove)]
