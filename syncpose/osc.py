"""Open Sound Control 1.0 encoding: messages and bundles, as the bytes of a UDP datagram.

Only what the outputs send: int32 (``i``), float32 (``f``) and string (``s``) arguments, and
bundles with the "immediately" time tag. Strings and the type-tag string are NUL-terminated
and padded to a multiple of 4 bytes; numbers are big-endian. :func:`pack_bundles` groups
messages into as few bundles as fit a datagram limit (a UDP datagram over the path's MTU is
fragmented, and a lost fragment loses the whole bundle).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

#: A bundle's "immediately" time tag (NTP time 1: seconds 0, fraction 1).
IMMEDIATELY = struct.pack(">II", 0, 1)
_BUNDLE = b"#bundle\x00"
#: An Ethernet MTU's worth: a datagram this size is not fragmented on a LAN.
DATAGRAM_BYTES = 1500
#: A bundle's fixed part: "#bundle", the time tag. Each element adds its 4-byte size.
BUNDLE_OVERHEAD = len(_BUNDLE) + len(IMMEDIATELY)

Argument = int | float | str


def _string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def message(address: str, *args: Argument) -> bytes:
    """One OSC message: ``address`` (starting with "/") and its arguments, typed by their
    Python type (bool is refused: OSC's T/F tags are not used here)."""
    if not address.startswith("/"):
        raise ValueError(f"OSC address {address!r} does not start with '/'")
    tags, data = [","], []
    for arg in args:
        if isinstance(arg, bool):
            raise TypeError(f"{address}: a bool argument has no OSC type here")
        if isinstance(arg, int):
            tags.append("i")
            data.append(struct.pack(">i", arg))
        elif isinstance(arg, float):
            tags.append("f")
            data.append(struct.pack(">f", arg))
        elif isinstance(arg, str):
            tags.append("s")
            data.append(_string(arg))
        else:
            raise TypeError(f"{address}: argument {arg!r} is not int, float or str")
    return _string(address) + _string("".join(tags)) + b"".join(data)


def bundle(messages: Iterable[bytes]) -> bytes:
    """One bundle of encoded ``messages``, to be applied immediately."""
    parts = [_BUNDLE, IMMEDIATELY]
    for m in messages:
        parts += [struct.pack(">i", len(m)), m]
    return b"".join(parts)


def pack_bundles(messages: Sequence[bytes], limit: int = DATAGRAM_BYTES) -> list[bytes]:
    """``messages`` in order, in as few bundles of at most ``limit`` bytes as they fill
    (a message too big for any bundle is an error)."""
    out: list[bytes] = []
    group: list[bytes] = []
    size = BUNDLE_OVERHEAD
    for m in messages:
        need = 4 + len(m)
        if BUNDLE_OVERHEAD + need > limit:
            raise ValueError(f"an OSC message of {len(m)} bytes does not fit {limit}-byte bundles")
        if size + need > limit:
            out.append(bundle(group))
            group, size = [], BUNDLE_OVERHEAD
        group.append(m)
        size += need
    if group:
        out.append(bundle(group))
    return out
