"""API keys on every route but ``/healthz`` and the OpenAPI pages: no key, no access.

``Authorization: Bearer sl_...`` (or ``X-API-Key: sl_...``). A missing or unknown key is 401, a key
whose scope is too small 403. Verified keys are remembered for ``CACHE_SECONDS``, so a revoked
key stops working within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger_pipelines.service import keys
from ledger_pipelines.service.api.errors import ApiError
from ledger_pipelines.service.keys import ApiKey

CACHE_SECONDS = 10.0
bearer = HTTPBearer(auto_error=False, description="An API key from `subledger keys create --scope read|write|admin`.")


class KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[bytes, tuple[ApiKey | None, float]] = {}

    def verify(self, request: Request, presented: str) -> ApiKey | None:
        token = keys.digest(presented)
        now = time.monotonic()
        with self._lock:
            found = self._known.get(token)
        if found is not None and found[1] > now:
            return found[0]
        with request.app.state.reader.connection() as conn:
            key = keys.verify(conn, presented)
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[token] = (key, now + CACHE_SECONDS)
        return key


def require(scope: str) -> Callable[..., ApiKey]:
    """A dependency that admits a key whose scope includes ``scope``."""

    def check(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiKey:
        presented = credentials.credentials if credentials else request.headers.get("x-api-key")
        challenge = {"WWW-Authenticate": "Bearer"}
        if not presented:
            raise ApiError(401, "unauthenticated", "no API key: send Authorization: Bearer <key> "
                           "(create one with `subledger keys create --scope read|write|admin`).", headers=challenge)
        key = request.app.state.keys.verify(request, presented)
        if key is None:
            raise ApiError(401, "unauthenticated", "the API key is unknown or revoked; create a new one.", headers=challenge)
        if not key.allows(scope):
            raise ApiError(403, "forbidden", f"key {key.key_id} has scope {key.scope!r}; this needs {scope!r} "
                           "(read < write < admin).")
        request.state.key = key
        return key

    return check
