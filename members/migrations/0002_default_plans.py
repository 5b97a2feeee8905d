"""Seed the default plans (annual ¥168 / 365 days, 90-day free trial) and the programme row."""

from django.db import migrations


def seed(apps, schema_editor):
    Plan = apps.get_model("members", "Plan")
    Programme = apps.get_model("members", "Programme")
    Plan.objects.get_or_create(
        code="annual",
        defaults={"name_zh": "年卡", "name_en": "Annual card", "price_fen": 16800, "duration_days": 365, "sort_order": 1},
    )
    Plan.objects.get_or_create(
        code="trial",
        defaults={
            "name_zh": "90天体验卡",
            "name_en": "90-day trial",
            "price_fen": 0,
            "duration_days": 90,
            "is_trial": True,
            "sort_order": 2,
        },
    )
    Programme.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
