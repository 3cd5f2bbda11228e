from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_jobs", "0007_trace_context"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="worker",
            options={
                "permissions": [("stop_worker", "Can ask workers to stop gracefully")],
                "verbose_name": "worker",
            },
        ),
        migrations.CreateModel(
            name='Schedule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=191, unique=True)),
                ('task', models.CharField(help_text='Dotted path of the task, e.g. myapp.tasks.send_report.', max_length=255)),
                ('cron', models.CharField(help_text="Five fields (minute hour day month weekday), a sixth for seconds: '0 3 * * *'.", max_length=100)),
                ('timezone', models.CharField(blank=True, help_text="IANA name such as 'Europe/Paris'; empty: TIME_ZONE.", max_length=64)),
                ('args', models.JSONField(blank=True, default=list, help_text='A JSON list.')),
                ('kwargs', models.JSONField(blank=True, default=dict, help_text='A JSON object.')),
                ('queue_name', models.CharField(blank=True, help_text="Empty: the task's own queue.", max_length=100)),
                ('priority', models.IntegerField(blank=True, help_text="Empty: the task's own priority.", null=True)),
                ('enabled', models.BooleanField(default=True, help_text='Occurrences while disabled are skipped.')),
                ('last_run', models.DateTimeField(blank=True, null=True)),
                ('next_run', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'schedule',
                'permissions': [('run_schedule', 'Can run schedules now')],
            },
        ),
    ]
