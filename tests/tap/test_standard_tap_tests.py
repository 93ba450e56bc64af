"""The SDK's standard tap tests (discovery, CLI, sync, schema, primary keys...) against the emulator.

``get_tap_test_class`` builds the class at import time with a config dict that its runner keeps
by reference (``TapTestRunner.config``), so the module-scoped fixture below starts an emulator
and writes its URL into that same dict before the class-scoped sync runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_andsend.tap import TapAndsend

# Replaced by the fixture; nothing listens here, so a test that ran before it would fail loudly.
SAMPLE_CONFIG: dict = {"api_url": "http://127.0.0.1:9", "api_key": "set-by-fixture", "page_size": 100}


@pytest.fixture(scope="module", autouse=True)
def _emulator_for_standard_tests(
    andsend_template_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    from emulators.andsend.server import DEFAULT_API_KEY, create_app
    from emulators.serving import serve_in_thread

    db_path = tmp_path_factory.mktemp("andsend-standard") / "andsend.sqlite"
    shutil.copyfile(andsend_template_db, db_path)
    app = create_app(str(db_path))
    server = serve_in_thread(app)
    SAMPLE_CONFIG.update(api_url=server.base_url, api_key=DEFAULT_API_KEY)
    try:
        yield
    finally:
        server.stop()
        app.state.emulator.store.close()


TestTapAndsend = get_tap_test_class(
    TapAndsend,
    config=SAMPLE_CONFIG,
    # Enough records per stream to span several pages of 100 (and cap the run's length).
    suite_config=SuiteConfig(max_records_limit=250),
)
