"""Fixtures of the reliability suite (tests/reliability/pipeline.py starts the worlds)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where generated Andsend data sets are kept for the session (worlds serve copies)."""
    return tmp_path_factory.mktemp("reliability-andsend-templates")
