# A code is used once: a named unique constraint, so that the confirmation reads the name from the violation.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("redemptions", "0008_note_hidden_help"),
    ]

    operations = [
        migrations.AlterField(
            model_name="redemption",
            name="code_id",
            field=models.CharField(
                help_text="The member code (or claim) this redemption used up.", max_length=64, verbose_name="code id"
            ),
        ),
        migrations.AddConstraint(
            model_name="redemption",
            constraint=models.UniqueConstraint(fields=("code_id",), name="redemption_code_used_once"),
        ),
    ]
