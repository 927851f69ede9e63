# Service tokens (issue 18): a token kind that may act for end users, and the end users they act for.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('endpoints', '0006_config_state'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='apitoken',
            name='kind',
            field=models.CharField(choices=[('personal', 'personal'), ('service', 'service: may act for end users')], default='personal', max_length=20),
        ),
        migrations.CreateModel(
            name='EndUser',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('external_id', models.CharField(blank=True, help_text="The app's id for them; empty: by email.", max_length=200)),
                ('email', models.CharField(blank=True, max_length=254)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('service_owner', models.ForeignKey(help_text='Who holds the service token.', on_delete=django.db.models.deletion.CASCADE, related_name='end_users', to=settings.AUTH_USER_MODEL)),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='end_user', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['service_owner_id', 'external_id', 'email'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('external_id', ''), _negated=True), fields=('service_owner', 'external_id'), name='unique_end_user_id'), models.UniqueConstraint(condition=models.Q(('external_id', '')), fields=('service_owner', 'email'), name='unique_end_user_email')],
            },
        ),
    ]
