"""Fixtures of the matching tests (the pipeline run reuses the reliability suite's worlds)."""

from __future__ import annotations

from tests.reliability.conftest import template_dir

__all__ = ["template_dir"]
