"""The Coffer wire protocol (net/PROTOCOL.md): constants, code tables,
message types, and the frame encoder and decoder.

Everything here is pure: no sockets, no event loop. `encode_frame` turns a
message into the bytes of one frame; `FrameDecoder` turns a byte stream back
into `(header, message)` pairs. Both directions are decoded (requests too),
so the same code checks the worked examples and serves the tests' fake
servers.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Union

import xxhash

__all__ = [
    "MAGIC", "HEADER_BYTES", "VERSION_MIN", "VERSION_MAX", "HELLO_HEADER_VERSION",
    "OP_BYTES", "OP_RESULT_BYTES", "OPS_FIXED_BYTES_V2", "MAX_REPLY_BODY_BYTES",
    "OP_FLAG_LINKED", "ACCOUNT_FLAG_OVERDRAFT", "ACCOUNT_FLAG_CAP",
    "RESULT_FLAG_DUPLICATE", "ERROR_FLAG_CLOSING", "HISTORY_FILTER_REASON",
    "MessageKind", "OpKind", "ResultCode", "ErrorCode", "EntryKind", "Stage",
    "DiskArea",
    "FrameHeader", "Hello", "HelloOk", "Op", "OpsRequest", "OpResult", "OpsReply",
    "LookupRequest", "Account", "LookupReply", "HistoryRequest", "HistoryEntry",
    "HistoryReply", "StatsRequest", "ShardStats", "StatsReply", "DigestRequest",
    "CurrencyTotal", "DigestReply", "Ping", "Pong", "StagesRequest", "StageRecord",
    "StagesReply", "DiskRequest", "DiskRecord", "DiskReply", "BackupRequest",
    "BackupReply", "ErrorReply", "Message", "FrameError", "body_checksum",
    "encode_frame", "encode_body", "decode_header", "decode_body", "FrameDecoder",
    "kind_of", "reply_kind_of", "pack_ops", "encode_raw_frame", "pack_u64",
    "expected_body_bytes", "VERSION_ISSUE_TIME",
]

MAGIC = 0x52464F43  # "COFR" little-endian
HEADER_BYTES = 32
VERSION_MIN = 1
VERSION_MAX = 2
VERSION_ISSUE_TIME = 2  # first version with issued_ns and history filters
HELLO_HEADER_VERSION = 1
OP_BYTES = 64
OP_RESULT_BYTES = 24
OPS_FIXED_BYTES_V2 = 8
AUTH_TOKEN_BYTES_MAX = 256
ERROR_MESSAGE_BYTES_MAX = 1024
BACKUP_PATH_BYTES_MAX = 4095
# The largest reply body this client accepts (the C++ client's bound).
MAX_REPLY_BODY_BYTES = 64 << 20
REPLY_BIT = 0x80

OP_FLAG_LINKED = 1 << 0
ACCOUNT_FLAG_OVERDRAFT = 1 << 0
ACCOUNT_FLAG_CAP = 1 << 1
RESULT_FLAG_DUPLICATE = 1 << 0
ERROR_FLAG_CLOSING = 1 << 0
HISTORY_FILTER_REASON = 1 << 0

EMPTY_BODY_XXH3 = 0x2D06800538D394C2


class _OpenIntEnum(enum.IntEnum):
    """An IntEnum that maps values it does not know to a pseudo-member named
    `unknown_<n>` instead of raising: later servers may add codes."""

    @classmethod
    def _missing_(cls, value: object) -> "_OpenIntEnum | None":
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"unknown_{value}"
        member._value_ = value
        return member


class MessageKind(_OpenIntEnum):
    HELLO = 0x01
    OPS = 0x02
    LOOKUP = 0x03
    HISTORY = 0x04
    STATS = 0x05
    DIGEST = 0x06
    PING = 0x07
    STAGES = 0x08
    DISK = 0x09
    BACKUP = 0x0A
    HELLO_OK = 0x81
    OPS_REPLY = 0x82
    LOOKUP_REPLY = 0x83
    HISTORY_REPLY = 0x84
    STATS_REPLY = 0x85
    DIGEST_REPLY = 0x86
    PONG = 0x87
    STAGES_REPLY = 0x88
    DISK_REPLY = 0x89
    BACKUP_REPLY = 0x8A
    ERROR = 0xFF


class OpKind(_OpenIntEnum):
    CREATE_ACCOUNT = 1
    CREDIT = 2
    DEBIT = 3
    TRANSFER = 4
    HOLD = 5
    CAPTURE = 6
    RELEASE = 7


class ResultCode(_OpenIntEnum):
    """Every result code of PROTOCOL.md; an unknown code decodes to a
    pseudo-member `unknown_<n>` and should be treated as a refusal."""

    OK = 0
    LINKED_OP_FAILED = 1
    LINKED_CHAIN_OPEN = 2
    LINKED_CHAIN_TOO_LONG = 3
    OP_ID_ZERO = 4
    ACCOUNT_ID_ZERO = 5
    INVALID_KIND = 6
    INVALID_FLAGS = 7
    INVALID_FIELD = 8
    AMOUNT_ZERO = 9
    SAME_ACCOUNT = 10
    CURRENCY_ZERO = 11
    ACCOUNT_NOT_FOUND = 12
    ACCOUNT_EXISTS = 13
    ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS = 14
    CURRENCY_MISMATCH = 15
    INSUFFICIENT_FUNDS = 16
    BALANCE_CAP_EXCEEDED = 17
    OVERFLOW = 18
    OP_ID_REUSED_WITH_DIFFERENT_FIELDS = 19
    HOLD_NOT_FOUND = 20
    HOLD_ALREADY_CLOSED = 21
    HOLD_EXPIRED = 22
    CAPTURE_EXCEEDS_HOLD = 23
    OVERDRAFT_LIMIT_TOO_LARGE = 24
    OP_ID_REPEATED_IN_CHAIN = 25
    OP_ISSUED_IN_FUTURE = 26
    OP_EXPIRED = 27


class ErrorCode(_OpenIntEnum):
    BAD_MAGIC = 1
    UNSUPPORTED_VERSION = 2
    UNKNOWN_KIND = 3
    FRAME_TOO_LARGE = 4
    BAD_CHECKSUM = 5
    BAD_LENGTH = 6
    INVALID_FIELD = 7
    HANDSHAKE_REQUIRED = 8
    AUTH_FAILED = 9
    BUSY = 10
    SHUTTING_DOWN = 11
    DUPLICATE_REQUEST_ID = 12
    TOO_MANY_CONNECTIONS = 13
    IDLE_TIMEOUT = 14
    TRUNCATED_FRAME = 15
    UNEXPECTED_KIND = 16
    INTERNAL = 17
    BACKUP_FAILED = 18


class EntryKind(_OpenIntEnum):
    CREATE = 1
    CREDIT = 2
    DEBIT = 3
    TRANSFER_OUT = 4
    TRANSFER_IN = 5
    HOLD = 6
    CAPTURE_OUT = 7
    CAPTURE_IN = 8
    RELEASE = 9
    HOLD_EXPIRED = 10


class Stage(_OpenIntEnum):
    RECEIVED_SUBMITTED = 1
    SUBMITTED_ORDERED = 2
    ORDERED_APPLIED = 3
    APPLIED_RELEASED = 4
    RELEASED_WRITTEN = 5
    TOTAL = 6
    LOG_FSYNC = 7
    LOG_BATCH_OPS = 8
    RECOVERY = 9


class DiskArea(_OpenIntEnum):
    LOG = 1
    ARCHIVE = 2
    SNAPSHOTS = 3
    OP_ID_INDEX = 4
    HISTORY_STORE = 5


# ---- Messages -------------------------------------------------------------


@dataclass(slots=True)
class FrameHeader:
    magic: int
    version: int
    kind: int
    request_id: int
    count: int
    body_bytes: int
    body_xxh3: int


@dataclass(slots=True)
class Hello:
    min_version: int = VERSION_MIN
    max_version: int = VERSION_MAX
    auth_token: bytes = b""


@dataclass(slots=True)
class HelloOk:
    version: int = VERSION_MAX
    shard_count: int = 0
    max_body_bytes: int = 0
    max_ops_per_request: int = 0
    max_requests_in_flight: int = 0
    max_history_limit: int = 0


@dataclass(slots=True)
class Op:
    """One 64-byte operation. `kind` and every field are sent as given (a
    raw int is accepted where an enum is expected, so that refusals such as
    invalid_kind can be provoked); validation is the ledger's."""

    kind: int
    op_id: int
    account_id: int
    other_account_id: int = 0
    amount: int = 0
    aux: int = 0
    user_data: int = 0
    reason: int = 0
    currency: int = 0
    account_flags: int = 0
    flags: int = 0
    reserved: int = 0

    @property
    def linked(self) -> bool:
        return bool(self.flags & OP_FLAG_LINKED)


@dataclass(slots=True)
class OpsRequest:
    ops: list[Op]
    issued_ns: int = 0  # version 2 only; 0: unknown


@dataclass(slots=True)
class OpResult:
    code: ResultCode
    flags: int
    balance_after: int
    seq: int

    @property
    def duplicate(self) -> bool:
        """The answer to a retry of an op already applied (or refused)."""
        return bool(self.flags & RESULT_FLAG_DUPLICATE)

    @property
    def ok(self) -> bool:
        return self.code == ResultCode.OK


@dataclass(slots=True)
class OpsReply:
    results: list[OpResult]


@dataclass(slots=True)
class LookupRequest:
    account_ids: list[int]


@dataclass(slots=True)
class Account:
    id: int  # 0 if the account does not exist
    balance: int
    held: int
    overdraft_limit: int
    balance_cap: int
    currency: int
    flags: int
    history_count: int

    @property
    def exists(self) -> bool:
        return self.id != 0

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(slots=True)
class LookupReply:
    seq: int
    accounts: list[Account]


@dataclass(slots=True)
class HistoryRequest:
    account_id: int
    before: int = 0
    limit: int = 100
    timestamp_min_ns: int = 0  # v2 filters
    timestamp_max_ns: int = 0
    reason: int = 0
    filter_flags: int = 0

    @property
    def filtered(self) -> bool:
        return bool(self.timestamp_min_ns or self.timestamp_max_ns
                    or self.reason or self.filter_flags)


@dataclass(slots=True)
class HistoryEntry:
    seq: int
    op_id: int
    account_id: int
    other_account_id: int
    amount: int
    held_delta: int
    balance_after: int
    held_after: int
    user_data: int
    timestamp_ns: int
    reason: int
    number: int
    kind: EntryKind


@dataclass(slots=True)
class HistoryReply:
    seq: int
    next_before: int
    found: bool
    entries: list[HistoryEntry]


@dataclass(slots=True)
class StatsRequest:
    pass


@dataclass(slots=True)
class ShardStats:
    txns_applied: int
    multi_shard_txns: int
    deferred_txns: int
    accounts: int


_STATS_FIELDS = (
    "requests", "ops_sequenced", "duplicates", "refused_before_ordering",
    "last_seq", "durable_seq", "log_syncs", "log_records", "snapshots",
    "snapshot_failures", "snapshot_seq", "snapshot_pause_us",
    "connections_open", "connections_accepted", "connections_refused",
    "frames_received", "replies_sent", "protocol_errors", "submit_retries",
    "busy_replies",
)


@dataclass(slots=True)
class StatsReply:
    requests: int = 0
    ops_sequenced: int = 0
    duplicates: int = 0
    refused_before_ordering: int = 0
    last_seq: int = 0
    durable_seq: int = 0
    log_syncs: int = 0
    log_records: int = 0
    snapshots: int = 0
    snapshot_failures: int = 0
    snapshot_seq: int = 0
    snapshot_pause_us: int = 0
    connections_open: int = 0
    connections_accepted: int = 0
    connections_refused: int = 0
    frames_received: int = 0
    replies_sent: int = 0
    protocol_errors: int = 0
    submit_retries: int = 0
    busy_replies: int = 0
    shards: list[ShardStats] = field(default_factory=list)


@dataclass(slots=True)
class DigestRequest:
    pass


@dataclass(slots=True)
class CurrencyTotal:
    currency: int
    accounts: int
    balance: int  # i128 sum
    held: int  # i128 sum


@dataclass(slots=True)
class DigestReply:
    seq: int
    digest_lo: int
    digest_hi: int
    accounts: int
    holds: int
    currencies: list[CurrencyTotal]

    @property
    def digest(self) -> int:
        """The 128-bit digest, hi:lo."""
        return (self.digest_hi << 64) | self.digest_lo


@dataclass(slots=True)
class Ping:
    pass


@dataclass(slots=True)
class Pong:
    pass


@dataclass(slots=True)
class StagesRequest:
    pass


@dataclass(slots=True)
class StageRecord:
    stage: Stage
    count: int
    p50_ns: int
    p99_ns: int
    p999_ns: int
    max_ns: int


@dataclass(slots=True)
class StagesReply:
    stages: list[StageRecord]


@dataclass(slots=True)
class DiskRequest:
    pass


@dataclass(slots=True)
class DiskRecord:
    area: DiskArea
    files: int
    bytes: int


@dataclass(slots=True)
class DiskReply:
    areas: list[DiskRecord]


@dataclass(slots=True)
class BackupRequest:
    path: bytes


@dataclass(slots=True)
class BackupReply:
    seq: int
    snapshot_seq: int
    files: int
    bytes: int
    duration_us: int


@dataclass(slots=True)
class ErrorReply:
    """An ERROR frame (named so as not to shadow the builtin)."""

    code: ErrorCode
    flags: int
    message: str

    @property
    def closing(self) -> bool:
        return bool(self.flags & ERROR_FLAG_CLOSING)


Message = Union[
    Hello, HelloOk, OpsRequest, OpsReply, LookupRequest, LookupReply,
    HistoryRequest, HistoryReply, StatsRequest, StatsReply, DigestRequest,
    DigestReply, Ping, Pong, StagesRequest, StagesReply, DiskRequest,
    DiskReply, BackupRequest, BackupReply, ErrorReply,
]

_KIND_OF: dict[type, MessageKind] = {
    Hello: MessageKind.HELLO, OpsRequest: MessageKind.OPS,
    LookupRequest: MessageKind.LOOKUP, HistoryRequest: MessageKind.HISTORY,
    StatsRequest: MessageKind.STATS, DigestRequest: MessageKind.DIGEST,
    Ping: MessageKind.PING, StagesRequest: MessageKind.STAGES,
    DiskRequest: MessageKind.DISK, BackupRequest: MessageKind.BACKUP,
    HelloOk: MessageKind.HELLO_OK, OpsReply: MessageKind.OPS_REPLY,
    LookupReply: MessageKind.LOOKUP_REPLY,
    HistoryReply: MessageKind.HISTORY_REPLY,
    StatsReply: MessageKind.STATS_REPLY, DigestReply: MessageKind.DIGEST_REPLY,
    Pong: MessageKind.PONG, StagesReply: MessageKind.STAGES_REPLY,
    DiskReply: MessageKind.DISK_REPLY, BackupReply: MessageKind.BACKUP_REPLY,
    ErrorReply: MessageKind.ERROR,
}


def kind_of(message: Message) -> MessageKind:
    return _KIND_OF[type(message)]


def reply_kind_of(kind: int) -> MessageKind:
    return MessageKind(kind | REPLY_BIT)


class FrameError(Exception):
    """A frame that does not follow PROTOCOL.md (bad magic, length, checksum,
    kind); `error_code` is the ERROR code a server would answer."""

    def __init__(self, message: str, error_code: ErrorCode) -> None:
        super().__init__(message)
        self.error_code = error_code


# ---- Encoding -------------------------------------------------------------

_HEADER = struct.Struct("<IHHQIIQ")
_HELLO = struct.Struct("<HHHH")
_HELLO_OK = struct.Struct("<HHIIIII")
_OP = struct.Struct("<QQQQQQIIIBBH")
_U64 = struct.Struct("<Q")
_OP_RESULT = struct.Struct("<HHIqQ")
_ACCOUNT = struct.Struct("<QqQQQIII4x")
_HISTORY_V1 = struct.Struct("<QII")
_HISTORY_V2 = struct.Struct("<QIIQQII")
_HISTORY_REPLY = struct.Struct("<QIB3x")
_ENTRY = struct.Struct("<QQQQqqqQQQIIB7x")
_STATS = struct.Struct("<20Q")
_SHARD = struct.Struct("<4Q")
_DIGEST = struct.Struct("<5Q")
_CURRENCY = struct.Struct("<I4xQ16s16s")
_STAGE = struct.Struct("<H6x5Q")
_DISK = struct.Struct("<H6xQQ")
_BACKUP = struct.Struct("<II")
_BACKUP_REPLY = struct.Struct("<5Q")
_ERROR = struct.Struct("<HHI")

assert _HEADER.size == HEADER_BYTES and _OP.size == OP_BYTES
assert _OP_RESULT.size == OP_RESULT_BYTES and _ACCOUNT.size == 56
assert _ENTRY.size == 96 and _HISTORY_V2.size == 40 and _STATS.size == 160
assert _CURRENCY.size == 48 and _STAGE.size == 48 and _DISK.size == 24

_xxh3 = xxhash.xxh3_64_intdigest


def body_checksum(body: bytes | bytearray | memoryview) -> int:
    """XXH3-64 of the body, seed 0 (PROTOCOL.md "Frame")."""
    return _xxh3(body)


def _pack_op(buf: bytearray, offset: int, op: Op) -> None:
    _OP.pack_into(buf, offset, op.op_id, op.account_id, op.other_account_id,
                  op.amount, op.aux, op.user_data, op.reason, op.currency,
                  op.account_flags, op.kind, op.reserved, op.flags)


def encode_body(message: Message, version: int = VERSION_MAX) -> tuple[int, bytes]:
    """(count, body) of a message as it is sent in `version`."""
    if isinstance(message, OpsRequest):
        ops = message.ops
        fixed = OPS_FIXED_BYTES_V2 if version >= VERSION_ISSUE_TIME else 0
        buf = bytearray(fixed + OP_BYTES * len(ops))
        if fixed:
            _U64.pack_into(buf, 0, message.issued_ns)
        at = fixed
        for op in ops:
            _pack_op(buf, at, op)
            at += OP_BYTES
        return len(ops), bytes(buf)
    if isinstance(message, LookupRequest):
        ids = message.account_ids
        return len(ids), struct.pack(f"<{len(ids)}Q", *ids)
    if isinstance(message, HistoryRequest):
        if version >= VERSION_ISSUE_TIME:
            return 0, _HISTORY_V2.pack(
                message.account_id, message.before, message.limit,
                message.timestamp_min_ns, message.timestamp_max_ns,
                message.reason, message.filter_flags)
        return 0, _HISTORY_V1.pack(message.account_id, message.before,
                                   message.limit)
    if isinstance(message, (StatsRequest, DigestRequest, Ping, StagesRequest,
                            DiskRequest, Pong)):
        return 0, b""
    if isinstance(message, Hello):
        token = bytes(message.auth_token)
        return 0, _HELLO.pack(message.min_version, message.max_version,
                              len(token), 0) + token
    if isinstance(message, BackupRequest):
        path = bytes(message.path)
        return 0, _BACKUP.pack(len(path), 0) + path
    if isinstance(message, HelloOk):
        return 0, _HELLO_OK.pack(
            message.version, 0, message.shard_count, message.max_body_bytes,
            message.max_ops_per_request, message.max_requests_in_flight,
            message.max_history_limit)
    if isinstance(message, OpsReply):
        rs = message.results
        buf = bytearray(OP_RESULT_BYTES * len(rs))
        for i, r in enumerate(rs):
            _OP_RESULT.pack_into(buf, i * OP_RESULT_BYTES, int(r.code), r.flags,
                                 0, r.balance_after, r.seq)
        return len(rs), bytes(buf)
    if isinstance(message, LookupReply):
        buf = bytearray(_U64.pack(message.seq))
        for a in message.accounts:
            buf += _ACCOUNT.pack(a.id, a.balance, a.held, a.overdraft_limit,
                                 a.balance_cap, a.currency, a.flags,
                                 a.history_count)
        return len(message.accounts), bytes(buf)
    if isinstance(message, HistoryReply):
        buf = bytearray(_HISTORY_REPLY.pack(message.seq, message.next_before,
                                            1 if message.found else 0))
        for e in message.entries:
            buf += _ENTRY.pack(e.seq, e.op_id, e.account_id, e.other_account_id,
                               e.amount, e.held_delta, e.balance_after,
                               e.held_after, e.user_data, e.timestamp_ns,
                               e.reason, e.number, int(e.kind))
        return len(message.entries), bytes(buf)
    if isinstance(message, StatsReply):
        buf = bytearray(_STATS.pack(*(getattr(message, f) for f in _STATS_FIELDS)))
        for s in message.shards:
            buf += _SHARD.pack(s.txns_applied, s.multi_shard_txns,
                               s.deferred_txns, s.accounts)
        return len(message.shards), bytes(buf)
    if isinstance(message, DigestReply):
        buf = bytearray(_DIGEST.pack(message.seq, message.digest_lo,
                                     message.digest_hi, message.accounts,
                                     message.holds))
        for c in message.currencies:
            buf += _CURRENCY.pack(c.currency, c.accounts,
                                  c.balance.to_bytes(16, "little", signed=True),
                                  c.held.to_bytes(16, "little", signed=True))
        return len(message.currencies), bytes(buf)
    if isinstance(message, StagesReply):
        buf = bytearray()
        for s in message.stages:
            buf += _STAGE.pack(int(s.stage), s.count, s.p50_ns, s.p99_ns,
                               s.p999_ns, s.max_ns)
        return len(message.stages), bytes(buf)
    if isinstance(message, DiskReply):
        buf = bytearray()
        for d in message.areas:
            buf += _DISK.pack(int(d.area), d.files, d.bytes)
        return len(message.areas), bytes(buf)
    if isinstance(message, BackupReply):
        return 0, _BACKUP_REPLY.pack(message.seq, message.snapshot_seq,
                                     message.files, message.bytes,
                                     message.duration_us)
    if isinstance(message, ErrorReply):
        text = message.message.encode("utf-8")
        return 0, _ERROR.pack(int(message.code), message.flags, len(text)) + text
    raise TypeError(f"not a message: {message!r}")


def encode_frame(request_id: int, message: Message,
                 version: int = VERSION_MAX) -> bytes:
    """One complete frame: header + body. HELLO's header always carries
    version 1 (its layout is frozen)."""
    count, body = encode_body(message, version)
    header_version = HELLO_HEADER_VERSION if isinstance(message, Hello) else version
    header = _HEADER.pack(MAGIC, header_version, int(kind_of(message)),
                          request_id, count, len(body), _xxh3(body))
    return header + body


# ---- Decoding -------------------------------------------------------------


def decode_header(data: bytes | bytearray | memoryview) -> FrameHeader:
    return FrameHeader(*_HEADER.unpack_from(data, 0))


def _expect(h: FrameHeader, want: int, what: str) -> None:
    if h.body_bytes != want:
        raise FrameError(
            f"{what}: body_bytes {h.body_bytes} with count {h.count}, "
            f"expected {want}", ErrorCode.BAD_LENGTH)


def expected_body_bytes(h: FrameHeader) -> int | None:
    """The body length the kind's layout gives for `h` (None for kinds that
    carry their own length: HELLO, BACKUP, ERROR), or raises FrameError for
    an unknown kind."""
    k, n, v = h.kind, h.count, h.version
    if k == MessageKind.OPS:
        return (OPS_FIXED_BYTES_V2 if v >= VERSION_ISSUE_TIME else 0) + n * OP_BYTES
    if k == MessageKind.LOOKUP:
        return n * 8
    if k == MessageKind.HISTORY:
        return _HISTORY_V2.size if v >= VERSION_ISSUE_TIME else _HISTORY_V1.size
    if k in (MessageKind.STATS, MessageKind.DIGEST, MessageKind.PING,
             MessageKind.STAGES, MessageKind.DISK, MessageKind.PONG):
        return 0
    if k == MessageKind.HELLO_OK:
        return _HELLO_OK.size
    if k == MessageKind.OPS_REPLY:
        return n * OP_RESULT_BYTES
    if k == MessageKind.LOOKUP_REPLY:
        return 8 + n * _ACCOUNT.size
    if k == MessageKind.HISTORY_REPLY:
        return _HISTORY_REPLY.size + n * _ENTRY.size
    if k == MessageKind.STATS_REPLY:
        return _STATS.size + n * _SHARD.size
    if k == MessageKind.DIGEST_REPLY:
        return _DIGEST.size + n * _CURRENCY.size
    if k == MessageKind.STAGES_REPLY:
        return n * _STAGE.size
    if k == MessageKind.DISK_REPLY:
        return n * _DISK.size
    if k == MessageKind.BACKUP_REPLY:
        return _BACKUP_REPLY.size
    if k in (MessageKind.HELLO, MessageKind.BACKUP, MessageKind.ERROR):
        return None
    raise FrameError(f"unknown kind 0x{k:02x}", ErrorCode.UNKNOWN_KIND)


def _check_header(h: FrameHeader, max_body_bytes: int) -> None:
    if h.magic != MAGIC:
        raise FrameError(f"bad magic 0x{h.magic:08x}, expected 0x{MAGIC:08x}",
                         ErrorCode.BAD_MAGIC)
    if not VERSION_MIN <= h.version <= VERSION_MAX:
        raise FrameError(f"frame of version {h.version}",
                         ErrorCode.UNSUPPORTED_VERSION)
    if h.body_bytes > max_body_bytes:
        raise FrameError(f"body of {h.body_bytes} bytes, at most {max_body_bytes}",
                         ErrorCode.FRAME_TOO_LARGE)
    want = expected_body_bytes(h)
    if want is not None:
        _expect(h, want, MessageKind(h.kind).name.lower())


def decode_body(h: FrameHeader, body: bytes | bytearray | memoryview) -> Message:
    """The message of a frame whose header passed the layout check; raises
    FrameError for a self-described length that disagrees."""
    k, n = h.kind, h.count
    if k == MessageKind.OPS_REPLY:
        return OpsReply([OpResult(ResultCode(c), f, b, s)
                         for c, f, _, b, s in _OP_RESULT.iter_unpack(body)])
    if k == MessageKind.PONG:
        return Pong()
    if k == MessageKind.ERROR:
        if len(body) < _ERROR.size:
            raise FrameError("error body too short", ErrorCode.BAD_LENGTH)
        code, flags, size = _ERROR.unpack_from(body, 0)
        if _ERROR.size + size != len(body):
            raise FrameError(f"error message_bytes {size} disagrees with "
                             f"body_bytes {len(body)}", ErrorCode.BAD_LENGTH)
        text = bytes(body[_ERROR.size:]).decode("utf-8", errors="replace")
        return ErrorReply(ErrorCode(code), flags, text)
    if k == MessageKind.HELLO_OK:
        v, _, *rest = _HELLO_OK.unpack_from(body, 0)
        return HelloOk(v, *rest)
    if k == MessageKind.LOOKUP_REPLY:
        (seq,) = _U64.unpack_from(body, 0)
        return LookupReply(seq, [Account(*a) for a in
                                 _ACCOUNT.iter_unpack(memoryview(body)[8:])])
    if k == MessageKind.HISTORY_REPLY:
        seq, nb, found = _HISTORY_REPLY.unpack_from(body, 0)
        entries = []
        for e in _ENTRY.iter_unpack(memoryview(body)[_HISTORY_REPLY.size:]):
            entries.append(HistoryEntry(*e[:12], EntryKind(e[12])))
        return HistoryReply(seq, nb, bool(found), entries)
    if k == MessageKind.STATS_REPLY:
        s = StatsReply(*_STATS.unpack_from(body, 0))
        s.shards = [ShardStats(*x) for x in
                    _SHARD.iter_unpack(memoryview(body)[_STATS.size:])]
        return s
    if k == MessageKind.DIGEST_REPLY:
        seq, lo, hi, accounts, holds = _DIGEST.unpack_from(body, 0)
        cs = [CurrencyTotal(c, a, int.from_bytes(b, "little", signed=True),
                            int.from_bytes(hd, "little", signed=True))
              for c, a, b, hd in _CURRENCY.iter_unpack(
                  memoryview(body)[_DIGEST.size:])]
        return DigestReply(seq, lo, hi, accounts, holds, cs)
    if k == MessageKind.STAGES_REPLY:
        return StagesReply([StageRecord(Stage(s), *rest)
                            for s, *rest in _STAGE.iter_unpack(body)])
    if k == MessageKind.DISK_REPLY:
        return DiskReply([DiskRecord(DiskArea(a), f, b)
                          for a, f, b in _DISK.iter_unpack(body)])
    if k == MessageKind.BACKUP_REPLY:
        return BackupReply(*_BACKUP_REPLY.unpack_from(body, 0))
    # Requests (for tests and fake servers).
    if k == MessageKind.HELLO:
        if len(body) < _HELLO.size:
            raise FrameError("hello body too short", ErrorCode.BAD_LENGTH)
        lo, hi, size, _ = _HELLO.unpack_from(body, 0)
        if _HELLO.size + size != len(body):
            raise FrameError("hello token_bytes disagrees with body_bytes",
                             ErrorCode.BAD_LENGTH)
        return Hello(lo, hi, bytes(body[_HELLO.size:]))
    if k == MessageKind.OPS:
        fixed = OPS_FIXED_BYTES_V2 if h.version >= VERSION_ISSUE_TIME else 0
        issued = _U64.unpack_from(body, 0)[0] if fixed else 0
        ops = [Op(kind, op_id, acct, other, amount, aux, ud, reason, cur, af,
                  flags, reserved)
               for (op_id, acct, other, amount, aux, ud, reason, cur, af, kind,
                    reserved, flags) in _OP.iter_unpack(memoryview(body)[fixed:])]
        for op in ops:
            op.kind = OpKind(op.kind)
        return OpsRequest(ops, issued)
    if k == MessageKind.LOOKUP:
        return LookupRequest(list(struct.unpack(f"<{n}Q", body)))
    if k == MessageKind.HISTORY:
        if h.version >= VERSION_ISSUE_TIME:
            return HistoryRequest(*_HISTORY_V2.unpack_from(body, 0))
        return HistoryRequest(*_HISTORY_V1.unpack_from(body, 0))
    if k == MessageKind.BACKUP:
        if len(body) < _BACKUP.size:
            raise FrameError("backup body too short", ErrorCode.BAD_LENGTH)
        size, _ = _BACKUP.unpack_from(body, 0)
        if _BACKUP.size + size != len(body):
            raise FrameError("backup path_bytes disagrees with body_bytes",
                             ErrorCode.BAD_LENGTH)
        return BackupRequest(bytes(body[_BACKUP.size:]))
    simple: dict[int, type] = {
        MessageKind.STATS: StatsRequest, MessageKind.DIGEST: DigestRequest,
        MessageKind.PING: Ping, MessageKind.STAGES: StagesRequest,
        MessageKind.DISK: DiskRequest,
    }
    if k in simple:
        return simple[k]()
    raise FrameError(f"unknown kind 0x{k:02x}", ErrorCode.UNKNOWN_KIND)


class FrameDecoder:
    """Incremental decoder of a byte stream into frames.

    `feed(data)` appends bytes; `frames()` returns `(frames, error)`: every
    complete frame as `(header, message)`, up to the first malformed one,
    and that frame's FrameError (else None). After an error the stream
    cannot be trusted: drop the connection.
    """

    def __init__(self, max_body_bytes: int = MAX_REPLY_BODY_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_body_bytes

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def frames(self) -> tuple[list[tuple[FrameHeader, Message]], FrameError | None]:
        out: list[tuple[FrameHeader, Message]] = []
        buf = self._buf
        at = 0
        end = len(buf)
        error: FrameError | None = None
        try:
            while end - at >= HEADER_BYTES:
                h = FrameHeader(*_HEADER.unpack_from(buf, at))
                _check_header(h, self._max)
                stop = at + HEADER_BYTES + h.body_bytes
                if stop > end:
                    break
                body = bytes(buf[at + HEADER_BYTES:stop])
                sum_ = _xxh3(body)
                if sum_ != h.body_xxh3:
                    raise FrameError(
                        f"bad checksum of a {MessageKind(h.kind).name.lower()} "
                        f"body: 0x{sum_:016x}, the header says "
                        f"0x{h.body_xxh3:016x}", ErrorCode.BAD_CHECKSUM)
                out.append((h, decode_body(h, body)))
                at = stop
        except FrameError as e:
            error = e
        except (struct.error, ValueError) as e:
            error = FrameError(f"undecodable frame: {e}", ErrorCode.BAD_LENGTH)
        if at:
            del buf[:at]
        return out, error


def pack_ops(ops: "list[Op] | tuple[Op, ...]") -> bytes:
    """The ops records of an OPS body (without the v2 issue time)."""
    buf = bytearray(OP_BYTES * len(ops))
    at = 0
    for op in ops:
        _pack_op(buf, at, op)
        at += OP_BYTES
    return bytes(buf)


def encode_raw_frame(request_id: int, version: int, kind: int, count: int,
                     body: bytes) -> bytes:
    """A frame from an already encoded body."""
    return _HEADER.pack(MAGIC, version, kind, request_id, count, len(body),
                        _xxh3(body)) + body


def pack_u64(value: int) -> bytes:
    return _U64.pack(value)
