"""Errors the server reports to clients, with their native protocol error codes."""


class CqlError(Exception):
    code = 0x0000  # SERVER_ERROR

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def extra(self) -> bytes:
        """Code-specific body following the message."""
        return b""


class ServerError(CqlError):
    code = 0x0000


class ProtocolError(CqlError):
    code = 0x000A


class SyntaxError_(CqlError):
    code = 0x2000


class InvalidRequest(CqlError):
    code = 0x2200


class ConfigurationError(CqlError):
    code = 0x2300


class AlreadyExists(CqlError):
    code = 0x2400

    def __init__(self, keyspace: str, table: str = ""):
        if table:
            message = "Cannot add already existing table \"%s\" to keyspace \"%s\"" % (table, keyspace)
        else:
            message = "Cannot add existing keyspace \"%s\"" % keyspace
        super().__init__(message)
        self.keyspace = keyspace
        self.table = table

    def extra(self) -> bytes:
        from .protocol import pack_string
        return pack_string(self.keyspace) + pack_string(self.table)


class Unprepared(CqlError):
    code = 0x2500

    def __init__(self, query_id: bytes):
        super().__init__("Prepared query with ID %s not found (either the query was not prepared on "
                         "this host (maybe the host has been restarted?) or you have prepared too many "
                         "queries)" % query_id.hex())
        self.query_id = query_id

    def extra(self) -> bytes:
        import struct
        return struct.pack(">H", len(self.query_id)) + self.query_id
