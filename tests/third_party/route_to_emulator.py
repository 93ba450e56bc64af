"""Run a third-party Salesforce client, unmodified, against the emulator (executed by the client's own
Python, in its own virtual environment, so it imports nothing of ours).

Clients hard-code ``https://login.salesforce.com`` and the instance host they are handed; this shim
only routes ``*.salesforce.com`` to the emulator's TLS port (Host header kept, the emulator's
self-signed certificate trusted), the same transport trick as the simple-salesforce tests, then
runs the client's own entry point:

    python route_to_emulator.py <module>:<function> [client args...]

Environment: ``EMULATOR_PORT``, ``EMULATOR_CAFILE``.
"""

from __future__ import annotations

import importlib
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

PORT = int(os.environ["EMULATOR_PORT"])
CAFILE = os.environ["EMULATOR_CAFILE"]
_send = HTTPAdapter.send


def _routed_send(self, request, **kwargs):  # type: ignore[no-untyped-def]
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    if host.endswith("salesforce.com"):
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(("https", f"127.0.0.1:{PORT}", parts.path, parts.query, ""))
        kwargs["verify"] = CAFILE
    elif host not in ("127.0.0.1", "localhost"):
        raise requests.ConnectionError(f"no route to {host} from the emulator tests")
    return _send(self, request, **kwargs)


HTTPAdapter.send = _routed_send  # type: ignore[method-assign]

if __name__ == "__main__":
    target, *args = sys.argv[1:]
    module, _, func = target.partition(":")
    sys.argv = [module, *args]
    sys.exit(getattr(importlib.import_module(module), func)())
