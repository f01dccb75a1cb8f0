// The engine's log record payload decoder (engine/log_codec.h) on its own.
// Input: u64 first_seq, u64 last_seq (little-endian), then the payload.
// Properties: what decodes covers exactly first_seq..last_seq in order,
// every op belongs to exactly one txn, and re-encodes to bytes that decode
// to the same request. (Not to the input's own bytes: the decoder ignores
// the reserved fields, which the encoder writes as zero.)
#include <cstring>
#include <string>
#include <string_view>

#include "engine/log_codec.h"
#include "tests/fuzz/fuzz_bodies.h"

namespace coffer::fuzz {

void FuzzLogRecord(const uint8_t* data, size_t size) {
  if (size < 16) return;
  uint64_t first_seq;
  uint64_t last_seq;
  std::memcpy(&first_seq, data, 8);
  std::memcpy(&last_seq, data + 8, 8);
  const std::string_view payload(reinterpret_cast<const char*>(data + 16),
                                 size - 16);
  internal::LoggedRequest decoded;
  if (!internal::DecodeRequest(payload, first_seq, last_seq, &decoded).ok()) {
    return;
  }
  uint64_t expect_seq = first_seq;
  uint32_t expect_op = 0;
  std::string again;
  const size_t begin = internal::EncodeBegin(again);
  for (const internal::LoggedTxn& t : decoded.txns) {
    FuzzCheck(t.seq == expect_seq, "txn seqs not contiguous from first_seq");
    FuzzCheck(t.op_begin == expect_op && t.op_count >= 1 &&
                  t.op_count <= decoded.ops.size() - t.op_begin,
              "txn ops not contiguous");
    internal::EncodeTxn(again, t.seq, t.timestamp_ns,
                        decoded.ops.data() + t.op_begin, t.op_count);
    expect_seq += t.op_count;
    expect_op += t.op_count;
  }
  internal::EncodeEnd(again, begin, static_cast<uint32_t>(decoded.txns.size()));
  FuzzCheck(expect_op == decoded.ops.size(), "ops outside every txn");
  FuzzCheck(decoded.txns.empty() || expect_seq - 1 == last_seq,
            "txns do not end at last_seq");
  internal::LoggedRequest twice;
  FuzzCheck(internal::DecodeRequest(again, first_seq, last_seq, &twice).ok(),
            "re-encoded record does not decode");
  FuzzCheck(twice.txns.size() == decoded.txns.size() &&
                twice.ops.size() == decoded.ops.size() &&
                std::memcmp(twice.ops.data(), decoded.ops.data(),
                            decoded.ops.size() * sizeof(Op)) == 0,
            "re-encoded record decodes to other ops");
}

}  // namespace coffer::fuzz
