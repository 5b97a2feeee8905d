"""Version 1 of every admission rule, with the thresholds of the programme (editable in admin)."""

from django.db import migrations

RULES = [
    ("seats_left", {"min_left": 1}, "The city still has a seat for a new merchant."),
    ("category_open", {}, "The category is open for new merchants in the city."),
    ("min_rating", {"min": "4.5"}, "External rating (e.g. Dianping) at least 4.5."),
    ("dine_in", {"required": True}, "The shop serves customers on site."),
    ("min_offer", {"min_bp": 1000}, "The member discount is at least 10%."),
    ("spend_in_band", {"tolerance_pct": 10}, "Average spend within the category's band (±10% needs judgement)."),
    ("licences_valid", {}, "Credit code and food licence numbers are well-formed."),
    ("unique_licence", {}, "No other live merchant or open application holds the same licence."),
    ("not_recently_removed", {"days": 180}, "Not removed from RedCard in the last 180 days."),
]


def create(apps, schema_editor):
    AdmissionRule = apps.get_model("curation", "AdmissionRule")
    from django.utils import timezone

    start = timezone.now().replace(year=2024, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    for kind, params, description in RULES:
        AdmissionRule.objects.get_or_create(
            kind=kind, version=1, defaults={"parameters": params, "description": description, "active_from": start}
        )


def remove(apps, schema_editor):
    apps.get_model("curation", "AdmissionRule").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
