"""What the CLI commands print and write, and where they find the shared data (shared by
``cli`` and ``cli_video``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def out(text: str) -> None:
    """One line of the command's output on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def write_json(path: Path | None, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` (creating its folder); nothing when None."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")


def shared_data() -> Path:
    """The shared data folder: ``$SYNCPOSE_SHARED_DATA``, else ``../shared/data``."""
    return Path(os.environ.get("SYNCPOSE_SHARED_DATA", "../shared/data"))
