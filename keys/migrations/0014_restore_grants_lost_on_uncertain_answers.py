"""Grants that earlier versions marked lost on an answer that does not mean it (a throttled or failed
refresh, a token refused because another holder refreshed, a scope check) are restored: the next
check asks Canvas again, and only a certain answer (invalid_grant "refresh_token not found",
invalid_client) marks one lost now."""

from django.db import migrations

UNCERTAIN = (
    "Canvas did not renew the access token (HTTP",
    "Canvas refuses the authorization's token",
    "The authorization lacks the scope",
)


def restore(apps, schema_editor):
    CanvasGrant = apps.get_model("keys", "CanvasGrant")
    for prefix in UNCERTAIN:
        CanvasGrant.objects.filter(
            lost_at__isnull=False,
            lost_reason__startswith=prefix,
            refresh_token__isnull=False,
            purged_at__isnull=True,
        ).update(lost_at=None, lost_reason="")


class Migration(migrations.Migration):
    dependencies = [("keys", "0013_authorization_pkce")]

    operations = [migrations.RunPython(restore, migrations.RunPython.noop)]
