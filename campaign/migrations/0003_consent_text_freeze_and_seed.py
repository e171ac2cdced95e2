from django.db import migrations

# A consent text that a consent points at is evidence: PostgreSQL itself refuses to change it,
# whatever code (or SQL console) tries. New wording is a new version row.
FREEZE = """
CREATE OR REPLACE FUNCTION campaign_consenttext_freeze() RETURNS trigger AS $$
BEGIN
    IF OLD.first_used_at IS NOT NULL AND
       (NEW.topic, NEW.language, NEW.version, NEW.text, NEW.first_used_at)
       IS DISTINCT FROM (OLD.topic, OLD.language, OLD.version, OLD.text, OLD.first_used_at) THEN
        RAISE EXCEPTION 'consent text % is in use and never changes; add a new version', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER campaign_consenttext_freeze
    BEFORE UPDATE ON campaign_consenttext
    FOR EACH ROW EXECUTE FUNCTION campaign_consenttext_freeze();
"""

UNFREEZE = """
DROP TRIGGER IF EXISTS campaign_consenttext_freeze ON campaign_consenttext;
DROP FUNCTION IF EXISTS campaign_consenttext_freeze();
"""


def seed(apps, schema_editor):
    from campaign.consent_defaults import DEFAULT_CONSENT_TEXTS

    ConsentText = apps.get_model("campaign", "ConsentText")
    for (topic, language), text in DEFAULT_CONSENT_TEXTS.items():
        ConsentText.objects.get_or_create(
            topic=topic, language=language, version=1, defaults={"text": text}
        )


class Migration(migrations.Migration):
    dependencies = [("campaign", "0002_supporters")]

    operations = [
        migrations.RunSQL(FREEZE, UNFREEZE),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
