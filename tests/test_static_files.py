"""Production serves the static files collectstatic made: hashed names, compressed, cached for a
year. Without them, or with an out-of-date set, the web server refuses to start (keydrop.E027)
instead of serving unstyled pages.
"""

import pytest
from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from portal.checks import refuse_to_start_on_errors

MANIFEST = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}


def production_storage(static_root):
    return override_settings(STATIC_ROOT=static_root, STORAGES={**settings.STORAGES, "staticfiles": MANIFEST})


def deploy_ids() -> set[str]:
    return {m.id for m in checks.run_checks(tags=["keydrop"], include_deployment_checks=True) if m.is_serious()}


def test_without_collectstatic_the_server_refuses_to_start_and_says_what_to_run(tmp_path):
    with production_storage(tmp_path / "static"):
        assert deploy_ids() == {"keydrop.E027"}
        with pytest.raises(ImproperlyConfigured, match="collectstatic"):
            refuse_to_start_on_errors()


@pytest.mark.django_db
def test_collected_files_are_served_hashed_compressed_and_cached_for_a_year(collected_static, institution):
    with production_storage(collected_static):
        served(institution)


def served(institution):
    assert deploy_ids() == set()
    page = Client().get(institution.intake_path()).content.decode()
    css = staticfiles_storage.url("portal/keydrop.css")
    assert css != "/static/portal/keydrop.css" and f'href="{css}"' in page
    response = Client().get(css, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=315360000, public, immutable"
    assert response["Content-Encoding"] == "gzip"
    # Admin pages use the same files.
    assert Client().get(staticfiles_storage.url("admin/css/base.css")).status_code == 200


def test_an_upgrade_without_collectstatic_is_refused(collected_static, settings, tmp_path):
    added = tmp_path / "new-static"
    (added / "portal").mkdir(parents=True)
    (added / "portal" / "new-feature.js").write_text("// added by an upgrade\n")
    settings.STATICFILES_DIRS = [added]
    with production_storage(collected_static):
        [message] = checks.run_checks(tags=["keydrop"], include_deployment_checks=True)
    assert message.id == "keydrop.E027" and "portal/new-feature.js" in message.msg
