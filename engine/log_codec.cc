#include "engine/log_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace coffer::internal {
namespace {

template <typename T>
void Put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

constexpr size_t kRequestHeader = 8;
constexpr size_t kTxnHeader = 24;

}  // namespace

size_t EncodeBegin(std::string& out) {
  const size_t begin = out.size();
  Put<uint32_t>(out, 0);
  Put<uint32_t>(out, 0);
  return begin;
}

void EncodeTxn(std::string& out, uint64_t seq, uint64_t timestamp_ns,
               const Op* ops, uint32_t op_count) {
  Put<uint64_t>(out, seq);
  Put<uint64_t>(out, timestamp_ns);
  Put<uint32_t>(out, op_count);
  Put<uint32_t>(out, 0);
  out.append(reinterpret_cast<const char*>(ops), sizeof(Op) * op_count);
}

void EncodeEnd(std::string& out, size_t begin, uint32_t txn_count) {
  std::memcpy(&out[begin], &txn_count, sizeof(txn_count));
}

absl::Status DecodeRequest(std::string_view payload, uint64_t first_seq,
                           uint64_t last_seq, LoggedRequest* out) {
  out->txns.clear();
  out->ops.clear();
  if (payload.size() < kRequestHeader) {
    return absl::DataLossError("transactions record shorter than its header");
  }
  const uint32_t count = Get<uint32_t>(payload.data());
  size_t pos = kRequestHeader;
  uint64_t expect = first_seq;
  for (uint32_t i = 0; i < count; ++i) {
    if (payload.size() - pos < kTxnHeader) {
      return absl::DataLossError(
          absl::StrCat("transaction ", i, " header past the record's end"));
    }
    LoggedTxn t;
    t.seq = Get<uint64_t>(payload.data() + pos);
    t.timestamp_ns = Get<uint64_t>(payload.data() + pos + 8);
    t.op_count = Get<uint32_t>(payload.data() + pos + 16);
    pos += kTxnHeader;
    if (t.seq != expect) {
      return absl::DataLossError(absl::StrCat(
          "transaction seq ", t.seq, " where ", expect, " was expected"));
    }
    if (t.op_count == 0 || t.op_count > kChainOpsMax ||
        (payload.size() - pos) / sizeof(Op) < t.op_count) {
      return absl::DataLossError(
          absl::StrCat("transaction at seq ", t.seq, " has ", t.op_count,
                       " ops, impossible or past the record's end"));
    }
    t.op_begin = static_cast<uint32_t>(out->ops.size());
    const size_t n = out->ops.size();
    out->ops.resize(n + t.op_count);
    std::memcpy(&out->ops[n], payload.data() + pos, sizeof(Op) * t.op_count);
    pos += sizeof(Op) * t.op_count;
    expect = t.seq + t.op_count;
    out->txns.push_back(t);
  }
  if (pos != payload.size()) {
    return absl::DataLossError("trailing bytes after the last transaction");
  }
  if (count == 0 || expect != last_seq + 1) {
    return absl::DataLossError(absl::StrCat("transactions cover seqs up to ",
                                            expect - 1, " but the record says ",
                                            first_seq, "..", last_seq));
  }
  return absl::OkStatus();
}

}  // namespace coffer::internal
