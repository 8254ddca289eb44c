"""Content-Encoding decoding with bounded memory, however many layers are stacked.

httpx decodes each received chunk in one call, so a few kilobytes of
``Content-Encoding: gzip, gzip`` become gigabytes in memory before any size
cap can look at them. Here every layer hands on at most :data:`PIECE_BYTES`
per call, and each layer's output is counted against a cap as it streams, so
a decompression bomb is refused after at most ``cap`` bytes, a piece at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

PIECE_BYTES = 64 * 1024
MAX_LAYERS = 4
ACCEPT_ENCODING = "gzip, deflate"
"""What requests advertise: only encodings :class:`BoundedDecoder` can decode."""

_GZIP_WBITS = zlib.MAX_WBITS | 16
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class DecodeError(ValueError):
    """A body that cannot be decoded within the limits; the message is the refusal reason."""


class OverCap(DecodeError):
    """Decoding produced more than the cap allows."""


class _Layer:
    """One content coding: a zlib stream whose output is drained a piece at a time."""

    def __init__(self, coding: str, cap: int) -> None:
        self.coding = coding
        self.cap = cap
        self.produced = 0
        self._started = False
        self._decompressor = zlib.decompressobj(
            _GZIP_WBITS if coding in ("gzip", "x-gzip") else _ZLIB_WBITS
        )

    def pieces(self, data: bytes, check: Callable[[], None]) -> Iterator[bytes]:
        """``data`` decoded, in pieces of at most :data:`PIECE_BYTES`."""
        while not self._decompressor.eof:
            try:
                piece = self._decompress(data)
            except zlib.error as exc:
                raise DecodeError(f"body does not decode as {self.coding} ({exc})") from exc
            data = self._decompressor.unconsumed_tail
            self.produced += len(piece)
            if self.produced > self.cap:
                raise OverCap(f"decoded {self.coding} body over {self.cap} bytes")
            if piece:
                yield piece
            check()
            if not data and len(piece) < PIECE_BYTES:
                return  # all input consumed and nothing held back: wait for more

    def _decompress(self, data: bytes) -> bytes:
        """A deflate body may be zlib-wrapped or raw; the first bytes tell (as httpx does)."""
        try:
            piece = self._decompressor.decompress(data, PIECE_BYTES)
        except zlib.error:
            if self._started or self.coding != "deflate":
                raise
            self._decompressor = zlib.decompressobj(_RAW_DEFLATE_WBITS)
            piece = self._decompressor.decompress(data, PIECE_BYTES)
        self._started = True
        return piece


class BoundedDecoder:
    """Decodes a body sent with ``content_encoding``, capping every layer's output at ``cap``.

    ``check`` runs after every piece so a caller's deadline also stops a body
    that decodes for a long time from a single received chunk.
    """

    def __init__(
        self, content_encoding: str | None, cap: int, check: Callable[[], None] = lambda: None
    ) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        unsupported = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
        if unsupported:
            raise DecodeError(f"unsupported Content-Encoding {unsupported[0]!r}")
        if len(codings) > MAX_LAYERS:
            raise DecodeError(f"more than {MAX_LAYERS} stacked Content-Encodings")
        # The last coding listed was applied last, so it is undone first.
        self._layers = [_Layer(coding, cap) for coding in reversed(codings)]
        self._check = check

    def decode(self, raw_chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The decoded body, in pieces of at most :data:`PIECE_BYTES`."""
        for chunk in raw_chunks:
            yield from self._through(0, chunk)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._layers):
            yield data
            return
        for piece in self._layers[index].pieces(data, self._check):
            yield from self._through(index + 1, piece)
