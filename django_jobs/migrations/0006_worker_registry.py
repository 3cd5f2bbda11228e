import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_jobs", "0005_notify_per_statement"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="lost_attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="Worker",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("worker_id", models.CharField(max_length=100, unique=True)),
                ("backend", models.CharField(default="default", max_length=100)),
                ("host", models.CharField(max_length=255)),
                ("pid", models.PositiveIntegerField()),
                ("queues", models.JSONField(blank=True, default=list)),
                ("concurrency", models.PositiveIntegerField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("stopping", "Stopping"),
                            ("stopped", "Stopped"),
                            ("gone", "Gone"),
                        ],
                        default="running",
                        max_length=16,
                    ),
                ),
                ("started_at", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ("last_heartbeat", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ("stopped_at", models.DateTimeField(blank=True, null=True)),
                ("running", models.PositiveIntegerField(default=0)),
                ("stop_requested", models.BooleanField(default=False)),
            ],
            options={
                "verbose_name": "worker",
                "indexes": [
                    models.Index(
                        condition=models.Q(("status__in", ["running", "stopping"])),
                        fields=["last_heartbeat"],
                        name="django_jobs_worker_live_idx",
                    )
                ],
            },
        ),
    ]
