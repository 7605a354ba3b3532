"""Settings for the test suite: the platform's own settings, read from the environment as always,
in development mode (plain static storage, no HTTPS redirect). pytest-django still runs every test
with settings.DEBUG = False, so error pages are the production ones; production hardening itself is
tested by starting the platform with DEBUG=0 (tests/platform_core/test_configuration.py)."""

import os

os.environ["DEBUG"] = "1"

from platform_core.settings import *  # noqa: E402, F403

# WhiteNoise warns (an error in tests) when STATIC_ROOT is missing on a fresh checkout.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

# Django's test framework empties tables with TRUNCATE between transactional tests; the journal's
# triggers allow it only on these test connections (protection/migrations/0002_journal_append_only.py).
DATABASES["default"]["OPTIONS"] = {  # noqa: F405
    **DATABASES["default"]["OPTIONS"],  # noqa: F405
    "options": "-c maillage.allow_truncate=on",
}
