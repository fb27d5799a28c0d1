"""The ``syncpose`` command line: one parser made of the command groups.

Each group is a module of :mod:`syncpose.app.commands` with ``register(subparsers)``, which
adds its commands, and ``run(args)``, which runs the one chosen. Groups import what they drive
lazily, inside each command, so ``syncpose validate-config`` stays quick. A user's error (a bad
file, flag or port) ends in one line and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from syncpose import __version__
from syncpose.app.commands import bench, calibration, rig, training, video
from syncpose.app.output import out
from syncpose.configfile import ConfigError
from syncpose.process import configure_logging

logger = logging.getLogger(__name__)

#: The command groups, in the order ``syncpose --help`` lists them.
GROUPS = (calibration, training, rig, video, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncpose",
        description="Real-time 3D human pose from several unsynchronised cameras.",
    )
    parser.add_argument("--version", action="version", version=f"syncpose {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        for problem in exc.problems:
            out(str(problem))
        return 1
    except (OSError, ValueError) as exc:  # a user's file, flag or port: one line, exit 1
        logger.debug("%s failed", args.command, exc_info=True)  # the trace, for --log-level DEBUG
        out(f"syncpose {args.command}: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
