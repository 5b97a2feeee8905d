import django.db.models.deletion
from django.db import migrations, models


def ledger_backfill(apps, schema_editor):
    """Entries written before the ledger: one per payment (it was one-to-one), named after their
    payment; their payment counts every entry that did not fail."""
    EventRefund = apps.get_model("members", "EventRefund")
    EventPayment = apps.get_model("members", "EventPayment")
    for refund in EventRefund.objects.filter(request_key="").iterator():
        refund.request_key = f"legacy:{refund.payment_id}"
        refund.save(update_fields=["request_key"])
        if refund.state != "failed":
            EventPayment.objects.filter(pk=refund.payment_id).update(
                refunded_fen=models.F("refunded_fen") + refund.amount_fen
            )


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0007_console_history'),
    ]

    operations = [
        migrations.AddField(
            model_name='eventpayment',
            name='refunded_fen',
            field=models.BigIntegerField(default=0, verbose_name='refunded (fen)'),
        ),
        migrations.AddField(
            model_name='eventrefund',
            name='provider_state',
            field=models.CharField(blank=True, max_length=20, verbose_name='gateway state'),
        ),
        migrations.AddField(
            model_name='eventrefund',
            name='request_key',
            field=models.CharField(default='', max_length=255, verbose_name='request key'),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='eventrefund',
            name='payment',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='members.eventpayment', verbose_name='payment'),
        ),
        migrations.AlterField(
            model_name='eventrefund',
            name='state',
            field=models.CharField(choices=[('requested', 'requested'), ('processing', 'processing'), ('succeeded', 'refunded'), ('failed', 'failed')], default='requested', max_length=12, verbose_name='state'),
        ),
        migrations.RunPython(ledger_backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='eventpayment',
            constraint=models.CheckConstraint(condition=models.Q(('refunded_fen__gte', 0), ('refunded_fen__lte', models.F('amount_fen'))), name='members_eventpayment_refunded_within_amount'),
        ),
        migrations.AddConstraint(
            model_name='eventrefund',
            constraint=models.UniqueConstraint(fields=('payment', 'request_key'), name='members_eventrefund_payment_request_key'),
        ),
    ]
