"""Result rows as the server serialized them: every column's bytes, undecoded.

The CHECKSUM strategy compares rows in their serialized form (docs/canonical-form.md, "Wire
comparison") and decodes only rows whose bytes differ. Decoding every value into Python
objects (Decimal, datetime, sortedset, ...) is most of a scan's client cost; with this handler a
row is a tuple of ``bytes`` (``None`` for a null) produced by the driver's own row parser
(Cython when compiled), so a page costs little more than the frame it came in.

``RawProtocolHandler`` is a public extension point of the driver (``Session.client_protocol_handler``):
it only changes how *rows* results are decoded. Prepared statements keep their real column types
(``PreparedStatement.result_metadata``), which ``row_decoder`` uses to decode the few rows needed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence


def _bytes_columns(metadata):
    from cassandra.cqltypes import BytesType

    return [(m[0], m[1], m[2], BytesType) for m in metadata]


@lru_cache(maxsize=1)
def raw_protocol_handler():
    """The driver's protocol handler with rows results decoded as bytes per column."""
    from cassandra.protocol import ProtocolHandler, ResultMessage

    base = ProtocolHandler.message_types_by_opcode[ResultMessage.opcode]

    class RawResultMessage(base):  # type: ignore[misc, valid-type]
        _raw_rows = False

        def recv_results_metadata(self, f, user_type_map):
            super().recv_results_metadata(f, user_type_map)
            if self._raw_rows and self.column_metadata:
                self.column_metadata = _bytes_columns(self.column_metadata)

        def recv_results_rows(self, f, protocol_version, user_type_map, result_metadata, column_encryption_policy):
            self._raw_rows = True
            if result_metadata:
                result_metadata = _bytes_columns(result_metadata)
            return base.recv_results_rows(self, f, protocol_version, user_type_map, result_metadata,
                                          column_encryption_policy)

    class RawProtocolHandler(ProtocolHandler):  # type: ignore[misc, valid-type]
        message_types_by_opcode = {**ProtocolHandler.message_types_by_opcode, RawResultMessage.opcode: RawResultMessage}

    return RawProtocolHandler


def row_decoder(result_metadata: Sequence[Any], protocol_version: int) -> Callable[[Sequence[bytes | None]], tuple]:
    """Decode one raw row (tuple of bytes / None) into the values the driver would have given,
    with the column types of a prepared statement's ``result_metadata``."""
    types = [m[3] for m in result_metadata]

    def decode(row: Sequence[bytes | None]) -> tuple:
        return tuple(None if b is None else t.from_binary(b, protocol_version) for t, b in zip(types, row))

    return decode
