from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("django_jobs", "0006_worker_registry"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="worker",
            options={
                "permissions": [("stop_worker", "Can ask workers to stop gracefully")],
                "verbose_name": "worker",
            },
        ),
    ]
