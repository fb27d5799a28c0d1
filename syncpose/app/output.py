"""What the commands print and write, how they read lists given as flags, and where they find
the shared data (shared by every command group)."""

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


def floats(text: str) -> list[float]:
    """A flag's list of numbers, comma- or space-separated: ``'0,0,16.7'``."""
    return [float(x) for x in text.replace(",", " ").split()]


def ints(text: str) -> list[int]:
    """A flag's list of whole numbers, comma- or space-separated: ``'1,2,4'``."""
    return [int(x) for x in text.replace(",", " ").split()]
