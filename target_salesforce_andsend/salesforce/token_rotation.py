"""Refresh-token rotation: when Salesforce hands out a new refresh token (rotation is on for the
connected app), the old one is spent, so the new one is stored where the old one came from before
the run does anything else:

1. `refresh_token_file` (it wins over `refresh_token` when set and non-empty): rewritten in place
   (atomically, mode 0600);
2. under Meltano (`MELTANO_PROJECT_ROOT` set, the token passed as
   `TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN`): that line of the project's `.env`, where
   `meltano config set` keeps sensitive settings;
3. nowhere: the run fails at sign-in with instructions, before it writes anything, so the failure
   is seen now rather than as `invalid_grant` on the next run.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings

from .errors import AuthenticationError

MELTANO_ENV_VAR = "TARGET_SALESFORCE_ANDSEND_REFRESH_TOKEN"


def token_from_file(settings: Settings) -> str | None:
    path = settings.refresh_token_path
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return token or None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _meltano_env_file(old_token: str | None) -> Path | None:
    root = os.environ.get("MELTANO_PROJECT_ROOT")
    if not root or not old_token or os.environ.get(MELTANO_ENV_VAR) != old_token:
        return None
    env = Path(root) / ".env"
    return env if env.is_file() else None


def store_rotated(settings: Settings, old_token: str | None, new_token: str) -> str:
    """Store `new_token` where `old_token` came from; returns where. Raises AuthenticationError
    with instructions when there is no such place."""
    path = settings.refresh_token_path
    if path is not None:
        _atomic_write(path, new_token + "\n")
        return f"refresh_token_file {path}"
    env = _meltano_env_file(old_token)
    if env is not None:
        text = env.read_text(encoding="utf-8")
        pattern = re.compile(rf"^(export\s+)?{MELTANO_ENV_VAR}\s*=.*$", re.MULTILINE)
        if pattern.search(text):
            value = f"{MELTANO_ENV_VAR}='{new_token}'"
            _atomic_write(env, pattern.sub(lambda m: (m.group(1) or "") + value, text, count=1))
            return f"the Meltano project's {env}"
    raise AuthenticationError(
        "Salesforce rotated the refresh token (refresh-token rotation is on for this connected app), so the "
        "configured one is now spent, and there is nowhere to store the new one. Nothing was written. Either set "
        "refresh_token_file to a writable file (the target keeps the current token there), or keep the token in "
        "the Meltano project's .env (`meltano config set target-salesforce-andsend refresh_token ...`), or turn "
        "refresh-token rotation off for the connected app; then run `target-salesforce-andsend connect` again "
        "for a new token.", flow="refresh_token", error="refresh_token_rotated")
