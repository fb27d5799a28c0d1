"""The server's typed application state, and the dependencies routes reach it through.

:func:`~syncpose.server.app.create_app` builds one :class:`ServerState` per app (no module-level
state) and keeps it on ``app.state``; a route asks for it with the :data:`State` annotation, and
a state-changing route is guarded by :data:`AUTHORIZED`, one that gives pose data, the
calibration or recordings by :data:`READ` (the token, when one is configured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, status
from starlette.requests import HTTPConnection

from syncpose.camera import Rig
from syncpose.config import ServerConfig
from syncpose.server.auth import WRONG_TOKEN, bearer, token_ok
from syncpose.server.hub import PoseHub
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingStore
from syncpose.server.truth import SyntheticTruth
from syncpose.server.wizard import WizardSession


@dataclass
class ServerState:
    """Everything the routes of one server share."""

    settings: ServerConfig
    hub: PoseHub
    store: RecordingStore
    metrics: Metrics
    calibration: Rig | None = None
    rig_fps: float = 30.0
    rig_name: str = "rig"
    truth: SyntheticTruth | None = None
    wizard: WizardSession = field(default_factory=WizardSession)

    @property
    def calibrations_dir(self) -> Path:
        """Where the wizard writes the rigs it calibrates (beside the recordings)."""
        return self.settings.recordings_dir.parent / "calibrations"

    def token_ok(self, given: str | None) -> bool:
        """Whether ``given`` is the configured token (always, when none is configured)."""
        return token_ok(self.settings, given)


def get_state(connection: HTTPConnection) -> ServerState:
    """The state of the app serving ``connection`` (a request or a WebSocket)."""
    state: ServerState = connection.app.state.syncpose
    return state


#: A route parameter annotated ``State`` receives the app's :class:`ServerState`.
State = Annotated[ServerState, Depends(get_state)]


def require_token(state: State, authorization: Annotated[str | None, Header()] = None) -> None:
    """401 unless the request carries the configured token (``Authorization: Bearer …``)."""
    if not state.token_ok(bearer(authorization)):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, WRONG_TOKEN, headers={"WWW-Authenticate": "Bearer"}
        )


def require_read_token(
    state: State,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[
        str | None, Query(description="The API token, where no header can be sent.")
    ] = None,
) -> None:
    """401 unless the request carries the configured token, as the header or ``?token=``
    (a download link cannot send a header)."""
    if not state.token_ok(token):
        require_token(state, authorization)


#: The dependencies of every state-changing route.
AUTHORIZED = [Depends(require_token)]
#: The dependencies of every route that gives pose data, the calibration or recordings: with a
#: token configured, they are not for anyone who can reach the port.
READ = [Depends(require_read_token)]
