import base64
import hashlib
import re

import pytest
from django.core.management import call_command
from django.test import Client

INTEGRITY = re.compile(
    r'(?:href|src)="(?P<url>/static/[^"]+)"[^>]*integrity="sha(?P<bits>\d+)-(?P<digest>[^"]+)"'
)


@pytest.mark.django_db
def test_collected_static_files_keep_the_design_system_integrity_hashes(settings, tmp_path):
    # given the production static storage, collected as the Dockerfile and make run do
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "platform_core.storage.StaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)

    # when a page is rendered with its hashed file names
    html = Client().get("/").content.decode()

    # then every file pinned by Subresource Integrity is served with the pinned bytes
    pinned = list(INTEGRITY.finditer(html))
    assert any("dsfr.min" in match["url"] and match["url"].endswith(".css") for match in pinned)
    for match in pinned:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", match["url"]), "not a hashed, cache-busting name"
        content = (tmp_path / match["url"].removeprefix("/static/")).read_bytes()
        digest = base64.b64encode(hashlib.new(f"sha{match['bits']}", content).digest()).decode()
        assert digest == match["digest"], match["url"]
