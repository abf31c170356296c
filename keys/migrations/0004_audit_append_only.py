"""On PostgreSQL the database itself refuses to change or delete an audit event.

The model already refuses (save() of an existing row, queryset update() and delete()); the
trigger also stops raw SQL and other programs. TRUNCATE stays possible, because test
databases are emptied with it. SQLite is the single-machine default and keeps the model's guard.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION keys_auditevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused on keys_auditevent', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS keys_auditevent_append_only ON keys_auditevent;
CREATE TRIGGER keys_auditevent_append_only
    BEFORE UPDATE OR DELETE ON keys_auditevent
    FOR EACH ROW EXECUTE FUNCTION keys_auditevent_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS keys_auditevent_append_only ON keys_auditevent;
DROP FUNCTION IF EXISTS keys_auditevent_refuse_change();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no parameters: the % in RAISE stays literal


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("keys", "0003_workspace")]

    operations = [migrations.RunPython(create_trigger, drop_trigger, elidable=False)]
