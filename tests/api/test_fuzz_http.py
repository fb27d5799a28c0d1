"""HTTP fuzzing from the server's own OpenAPI schema (schemathesis, over hypothesis) against the
real app: whatever a client sends that the schema allows — or nearly allows — the answer is
never a server error, and never larger than a bound (no input echoed back)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.api.test_server import Rig

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

MAX_ANSWER_BYTES = 64 * 1024


_FOLDER = Path(tempfile.mkdtemp(prefix="syncpose-fuzz-"))
atexit.register(shutil.rmtree, _FOLDER, True)
_RIG = Rig(_FOLDER, max_upload_mb=0.5)
for _k in range(3):
    _RIG.feed(_k)
schema = schemathesis.openapi.from_asgi("/openapi.json", _RIG.app)


@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error_or_an_oversized_answer(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code)
    assert len(response.content) <= MAX_ANSWER_BYTES, (case.method, case.path)
