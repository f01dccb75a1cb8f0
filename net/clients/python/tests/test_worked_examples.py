"""Conformance 1: every frame of PROTOCOL.md "Worked examples" (copied into
testdata/worked_examples.txt) decodes to its documented fields, and every
request frame re-encodes byte for byte (through the same code path the
client sends with)."""

from __future__ import annotations

import os
import re
import unittest

from coffer import protocol as p
from coffer.client import _Req
from coffer.ops import credit, transfer

DATA = os.path.join(os.path.dirname(__file__), "testdata", "worked_examples.txt")


def load_examples() -> dict[str, tuple[bytes, list[str]]]:
    """name -> (frame bytes, the documented field of each line)."""
    out: dict[str, tuple[bytes, list[str]]] = {}
    name = None
    raw = bytearray()
    notes: list[str] = []
    with open(DATA, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if line.startswith("== "):
                name = line[3:].strip()
                raw = bytearray()
                notes = []
                out[name] = (b"", notes)
                continue
            if not line.strip() or name is None:
                continue
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            hex_part = parts[0]
            note = parts[1] if len(parts) > 1 else ""
            raw += bytes.fromhex(hex_part)
            if note.strip():
                notes.append(note.strip())
            out[name] = (bytes(raw), notes)
    return out


EXAMPLES = load_examples()

# The story's ops (PROTOCOL.md, "Worked examples", the purchase).
ISSUED = 1796155200000000000  # 2026-12-01T20:00:00Z
PURCHASE = [
    transfer(2001, 2002, 120, op_id=0x5001, reason=7, user_data=43981),
    credit(2003, 1, op_id=0x5002, reason=7),
]
PURCHASE[0].flags = p.OP_FLAG_LINKED


def decode_one(frame: bytes) -> tuple[p.FrameHeader, p.Message]:
    d = p.FrameDecoder()
    d.feed(frame)
    frames, error = d.frames()
    assert error is None, error
    assert len(frames) == 1 and d.buffered == 0
    return frames[0]


class WorkedExamplesTest(unittest.TestCase):
    def test_all_examples_present(self) -> None:
        self.assertEqual(sorted(EXAMPLES), sorted([
            "hello", "hello_ok", "ops", "ops_v1", "ops_reply",
            "ops_reply_refused", "lookup", "lookup_reply", "history",
            "history_filtered", "ping", "stages_reply", "error"]))

    def test_documented_checksums_match(self) -> None:
        # Each block documents its body_xxh3; it must be XXH3-64 of the body
        # and what the header carries.
        for name, (frame, notes) in EXAMPLES.items():
            with self.subTest(name):
                doc = [n for n in notes if n.startswith("body_xxh3 ")]
                self.assertEqual(len(doc), 1)
                want = int(doc[0].split()[1], 16)
                self.assertEqual(p.body_checksum(frame[p.HEADER_BYTES:]), want)
                self.assertEqual(p.decode_header(frame).body_xxh3, want)
        self.assertEqual(p.body_checksum(b""), 0x2D06800538D394C2)

    def header(self, name: str, version: int, kind: int, request_id: int,
               count: int, body_bytes: int) -> tuple[p.FrameHeader, p.Message]:
        h, m = decode_one(EXAMPLES[name][0])
        self.assertEqual((h.magic, h.version, h.kind, h.request_id, h.count,
                          h.body_bytes),
                         (p.MAGIC, version, kind, request_id, count, body_bytes))
        return h, m

    def test_hello(self) -> None:
        _, m = self.header("hello", 1, 0x01, 1, 0, 14)
        self.assertEqual(m, p.Hello(1, 2, b"s3cret"))
        self.assertEqual(p.encode_frame(1, p.Hello(1, 2, b"s3cret")),
                         EXAMPLES["hello"][0])

    def test_hello_ok(self) -> None:
        _, m = self.header("hello_ok", 2, 0x81, 1, 0, 24)
        self.assertEqual(m, p.HelloOk(2, 4, 1048576, 8192, 128, 1000))
        self.assertEqual(p.encode_frame(1, m, 2), EXAMPLES["hello_ok"][0])

    def check_purchase(self, m: p.Message, issued: int) -> None:
        assert isinstance(m, p.OpsRequest)
        self.assertEqual(m.issued_ns, issued)
        self.assertEqual(len(m.ops), 2)
        a, b = m.ops
        self.assertEqual((a.op_id, a.account_id, a.other_account_id, a.amount,
                          a.aux, a.user_data, a.reason, a.currency,
                          a.account_flags, a.kind, a.reserved, a.flags),
                         (20481, 2001, 2002, 120, 0, 43981, 7, 0, 0,
                          p.OpKind.TRANSFER, 0, 1))
        self.assertTrue(a.linked)
        self.assertEqual((b.op_id, b.account_id, b.other_account_id, b.amount,
                          b.aux, b.user_data, b.reason, b.currency,
                          b.account_flags, b.kind, b.reserved, b.flags),
                         (20482, 2003, 0, 1, 0, 0, 7, 0, 0, p.OpKind.CREDIT, 0, 0))

    def test_ops_v2(self) -> None:
        _, m = self.header("ops", 2, 0x02, 2, 2, 136)
        self.check_purchase(m, ISSUED)
        want = EXAMPLES["ops"][0]
        self.assertEqual(p.encode_frame(2, p.OpsRequest(PURCHASE, ISSUED), 2), want)
        # The client's own send path (ops packed at call time).
        req = _Req(p.MessageKind.OPS, 2, p.pack_ops(PURCHASE), ISSUED, None)
        self.assertEqual(req.frame(2, 2), want)

    def test_ops_v1(self) -> None:
        _, m = self.header("ops_v1", 1, 0x02, 2, 2, 128)
        self.check_purchase(m, 0)
        want = EXAMPLES["ops_v1"][0]
        self.assertEqual(p.encode_frame(2, p.OpsRequest(PURCHASE, ISSUED), 1), want)
        req = _Req(p.MessageKind.OPS, 2, p.pack_ops(PURCHASE), ISSUED, None)
        self.assertEqual(req.frame(2, 1), want)

    def test_ops_reply(self) -> None:
        _, m = self.header("ops_reply", 2, 0x82, 2, 2, 48)
        assert isinstance(m, p.OpsReply)
        self.assertEqual([(r.code, r.flags, r.balance_after, r.seq, r.duplicate)
                          for r in m.results],
                         [(p.ResultCode.OK, 0, 380, 41, False),
                          (p.ResultCode.OK, 0, 1, 42, False)])
        self.assertEqual(p.encode_frame(2, m, 2), EXAMPLES["ops_reply"][0])

    def test_ops_reply_refused(self) -> None:
        _, m = self.header("ops_reply_refused", 2, 0x82, 3, 1, 24)
        assert isinstance(m, p.OpsReply)
        r = m.results[0]
        self.assertEqual(r.code, p.ResultCode.INSUFFICIENT_FUNDS)
        self.assertEqual(int(r.code), 16)
        self.assertTrue(r.duplicate)
        self.assertEqual((r.balance_after, r.seq), (380, 43))

    def test_lookup(self) -> None:
        _, m = self.header("lookup", 2, 0x03, 4, 1, 8)
        self.assertEqual(m, p.LookupRequest([2001]))
        want = EXAMPLES["lookup"][0]
        self.assertEqual(p.encode_frame(4, p.LookupRequest([2001]), 2), want)
        req = _Req(p.MessageKind.LOOKUP, 1, b"", 0, p.LookupRequest([2001]))
        self.assertEqual(req.frame(4, 2), want)

    def test_lookup_reply(self) -> None:
        _, m = self.header("lookup_reply", 2, 0x83, 4, 1, 64)
        assert isinstance(m, p.LookupReply)
        self.assertEqual(m.seq, 43)
        self.assertEqual(m.accounts, [p.Account(2001, 380, 0, 0, 0, 2, 0, 3)])
        self.assertEqual(p.encode_frame(4, m, 2), EXAMPLES["lookup_reply"][0])

    def test_history(self) -> None:
        _, m = self.header("history", 2, 0x04, 5, 0, 40)
        self.assertEqual(m, p.HistoryRequest(2001, 0, 20, 0, 0, 0, 0))
        self.assertEqual(p.encode_frame(5, p.HistoryRequest(2001, 0, 20), 2),
                         EXAMPLES["history"][0])

    def test_history_filtered(self) -> None:
        _, m = self.header("history_filtered", 2, 0x04, 8, 0, 40)
        want_msg = p.HistoryRequest(2001, 0, 20, 1796083200000000000,
                                    1796169599999999999, 7, p.HISTORY_FILTER_REASON)
        self.assertEqual(m, want_msg)
        self.assertEqual(p.encode_frame(8, want_msg, 2),
                         EXAMPLES["history_filtered"][0])

    def test_ping(self) -> None:
        _, m = self.header("ping", 2, 0x07, 6, 0, 0)
        self.assertEqual(m, p.Ping())
        self.assertEqual(p.encode_frame(6, p.Ping(), 2), EXAMPLES["ping"][0])

    def test_stages_reply(self) -> None:
        _, m = self.header("stages_reply", 2, 0x88, 7, 2, 96)
        assert isinstance(m, p.StagesReply)
        self.assertEqual(m.stages, [
            p.StageRecord(p.Stage.RECEIVED_SUBMITTED, 1, 2150, 2150, 2150, 2150),
            p.StageRecord(p.Stage.TOTAL, 1, 812000, 812000, 812000, 812000)])
        self.assertEqual(p.encode_frame(7, m, 2), EXAMPLES["stages_reply"][0])

    def test_error(self) -> None:
        _, m = self.header("error", 2, 0xFF, 0, 0, 49)
        assert isinstance(m, p.ErrorReply)
        self.assertEqual(m.code, p.ErrorCode.BAD_MAGIC)
        self.assertTrue(m.closing)
        self.assertEqual(m.message, "bad magic 0x4f4c4c45, expected 0x52464f43")
        self.assertEqual(p.encode_frame(0, m, 2), EXAMPLES["error"][0])

    def test_stream_of_every_example(self) -> None:
        # All frames back to back, fed a byte at a time, decode in order.
        stream = b"".join(f for f, _ in EXAMPLES.values())
        d = p.FrameDecoder()
        got = []
        for i in range(len(stream)):
            d.feed(stream[i:i + 1])
            frames, error = d.frames()
            self.assertIsNone(error)
            got += frames
        self.assertEqual(len(got), len(EXAMPLES))
        self.assertEqual(d.buffered, 0)

    def test_malformed_frames_are_refused(self) -> None:
        good = EXAMPLES["ops_reply"][0]
        cases = {
            "bad_magic": (b"ELLO" + good[4:], p.ErrorCode.BAD_MAGIC),
            "bad_checksum": (good[:-1] + bytes([good[-1] ^ 1]), p.ErrorCode.BAD_CHECKSUM),
            "bad_length": (good[:16] + (3).to_bytes(4, "little") + good[20:],
                           p.ErrorCode.BAD_LENGTH),
            "unknown_kind": (good[:6] + (0x70).to_bytes(2, "little") + good[8:],
                             p.ErrorCode.UNKNOWN_KIND),
            "version": (good[:4] + (9).to_bytes(2, "little") + good[6:],
                        p.ErrorCode.UNSUPPORTED_VERSION),
        }
        for name, (frame, code) in cases.items():
            with self.subTest(name):
                d = p.FrameDecoder()
                d.feed(frame)
                frames, error = d.frames()
                self.assertEqual(frames, [])
                assert error is not None
                self.assertEqual(error.error_code, code)

    def test_unknown_codes_decode_as_refusals(self) -> None:
        self.assertEqual(p.ResultCode(99).name, "unknown_99")
        self.assertNotEqual(p.ResultCode(99), p.ResultCode.OK)
        self.assertEqual(int(p.ErrorCode(77)), 77)


if __name__ == "__main__":
    unittest.main()
