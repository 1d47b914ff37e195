"""Socket options of stream connections, shared by the fast path and the ASGI path.

A stream is the one kind of response that a client can leave unread for hours, so
its socket is bounded by hand: Linux grows a socket's send buffer up to 4 MB by
autotuning, far beyond `TICKER_SUBSCRIBER_BUFFER`.
"""

from __future__ import annotations

import asyncio
import socket
import struct

# SO_LINGER on, with a zero timeout: close() resets the connection and frees its buffers
# at once, instead of holding them in FIN-WAIT-1 for a reader that is not reading.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def cap_send_buffer(transport: asyncio.BaseTransport, size: int) -> None:
    """Fix the kernel's send buffer of a stream socket at `size` bytes (Linux doubles it
    for its bookkeeping), so that what waits for a slow reader is counted in user space."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:
            pass  # not a TCP socket (a test transport, a Unix socket): nothing to cap


def abort(transport: asyncio.WriteTransport) -> None:
    """Drop a connection whose reader is stuck: reset it, discarding what it did not read."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        except OSError:
            pass
    transport.abort()
