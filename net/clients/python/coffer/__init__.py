"""Coffer client: the binary protocol of cofferd (net/PROTOCOL.md).

    import asyncio, coffer

    async def main() -> None:
        async with await coffer.AsyncClient.connect("127.0.0.1", 7300) as c:
            r = await c.apply_one(coffer.debit(42, 5))
            print(r.code.name, r.balance_after, r.duplicate)

`AsyncClient` (asyncio) is the primary API; `Client` is a blocking,
thread-safe wrapper that runs one on its own event-loop thread.
"""

from .client import AsyncClient, ClientOptions
from .errors import (AuthFailedError, BackupFailedError, CallTimeoutError,
                     ClientClosedError, CofferError, ConnectionClosedError,
                     ConnectionError_, HandshakeError, ProtocolError,
                     QueueFullError, RequestRefusedError, ServerBusyError,
                     ServerError, ServerInternalError, UnsupportedFeatureError,
                     UnsupportedVersionError)
from .opid import OpIdGenerator, new_op_id
from .ops import (capture, chain, create_account, credit, debit, hold, release,
                  transfer)
from .protocol import (ACCOUNT_FLAG_CAP, ACCOUNT_FLAG_OVERDRAFT, OP_FLAG_LINKED,
                       Account, BackupReply, CurrencyTotal, DigestReply,
                       DiskArea, DiskRecord, DiskReply, EntryKind, ErrorCode,
                       HelloOk, HistoryEntry, HistoryReply, LookupReply,
                       MessageKind, Op, OpKind, OpResult, ResultCode,
                       ShardStats, Stage, StageRecord, StagesReply, StatsReply)
from .sync import Client

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "Client", "ClientOptions",
    "CofferError", "ConnectionError_", "ConnectionClosedError", "HandshakeError",
    "AuthFailedError", "UnsupportedVersionError", "ServerError", "ServerBusyError",
    "RequestRefusedError", "ServerInternalError", "BackupFailedError",
    "ProtocolError", "CallTimeoutError", "QueueFullError",
    "UnsupportedFeatureError", "ClientClosedError",
    "OpIdGenerator", "new_op_id",
    "create_account", "credit", "debit", "transfer", "hold", "capture",
    "release", "chain",
    "ACCOUNT_FLAG_CAP", "ACCOUNT_FLAG_OVERDRAFT", "OP_FLAG_LINKED",
    "Account", "BackupReply", "CurrencyTotal", "DigestReply", "DiskArea",
    "DiskRecord", "DiskReply", "EntryKind", "ErrorCode", "HelloOk",
    "HistoryEntry", "HistoryReply", "LookupReply", "MessageKind", "Op",
    "OpKind", "OpResult", "ResultCode", "ShardStats", "Stage", "StageRecord",
    "StagesReply", "StatsReply",
]
