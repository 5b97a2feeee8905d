"""NFC tag SUN keys sealed at rest (core.sealing): the columns widen, and every stored key is sealed."""

from django.db import migrations

import core.sealing


def seal_keys(apps, schema_editor):
    NfcTag = apps.get_model("redemptions", "NfcTag")
    for tag in NfcTag.objects.exclude(meta_read_key="", file_read_key="").iterator():
        # Read as plain text (not yet sealed); saving seals them.
        tag.save(update_fields=["meta_read_key", "file_read_key"])


class Migration(migrations.Migration):
    dependencies = [("redemptions", "0005_merchantday_rollup_backfill")]

    operations = [
        migrations.AlterField(
            model_name="nfctag",
            name="file_read_key",
            field=core.sealing.SealedCharField(blank=True, max_length=200, verbose_name="SDM file read key (hex)"),
        ),
        migrations.AlterField(
            model_name="nfctag",
            name="meta_read_key",
            field=core.sealing.SealedCharField(blank=True, max_length=200, verbose_name="SDM meta read key (hex)"),
        ),
        migrations.RunPython(seal_keys, migrations.RunPython.noop),
    ]
