"""Reading a request body within a size limit, whatever its framing.

The webhook and the signed links both read their bodies here. A ``Content-Length`` over the
limit is refused before a byte is read; a chunked body (no length) is read until it ends or
just past the limit. werkzeug's own limit is not used for the chunked case: behind a real
server it cuts the body at the limit and lets the request through.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHUNK_SIZE", "UnreadableBody", "read_body"]

#: Bytes asked of the server per read of a chunked body.
CHUNK_SIZE = 65536


class UnreadableBody(Exception):
    """The server could not deliver the body: broken chunked framing, or the client left.

    Callers answer 400: it is the client's request that is broken, not the app.
    """


def read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body from ``environ``, or ``None`` when it is over ``limit`` bytes.

    A malformed ``Content-Length`` reads as an empty body.

    :raises UnreadableBody: the server raised while reading (gunicorn's parse errors for a
        broken chunk, a disconnect); the message names the error, never the body.
    """
    stream = environ["wsgi.input"]
    announced = environ.get("CONTENT_LENGTH")
    try:
        if announced:
            try:
                length = int(announced)
            except ValueError:
                return b""
            if length > limit:
                return None
            # read(n) allocates n bytes up front: ask for what was announced, not the limit.
            return bytes(stream.read(length)) if length > 0 else b""
        if not environ.get("wsgi.input_terminated"):
            return b""  # no length and a server that does not end the stream: nothing to read
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = stream.read(CHUNK_SIZE)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        return None
    except Exception as exc:
        # Servers raise their own types (gunicorn's InvalidChunkSize is no OSError), so
        # anything raised by the stream is the request's fault.
        raise UnreadableBody(
            f"The request body could not be read ({type(exc).__name__})."
        ) from None
