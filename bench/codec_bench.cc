// Frame encode/decode of the wire protocol (net/codec.h) at 1, 64 and 1024
// ops: what the server spends per request before the engine sees it, and
// per reply after. Items are ops (or results); bytes are frame bytes.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "engine/types.h"
#include "net/codec.h"
#include "net/protocol.h"

namespace {

using coffer::Op;
using coffer::OpKind;
using coffer::OpResult;
using coffer::ResultCode;
namespace net = coffer::net;

std::vector<Op> Debits(int64_t n) {
  std::vector<Op> ops(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    ops[i].op_id = 1000 + i;
    ops[i].account_id = 1 + i % 977;
    ops[i].amount = 1 + i % 10;
    ops[i].kind = OpKind::kDebit;
  }
  return ops;
}

std::vector<OpResult> Results(int64_t n) {
  std::vector<OpResult> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    r[i].code = i % 7 == 0 ? ResultCode::kInsufficientFunds : ResultCode::kOk;
    r[i].balance_after = 100 + i;
    r[i].seq = 5000 + i;
  }
  return r;
}

// Client side: an OPS request frame from ops (header, body, checksum).
void BM_EncodeOpsRequest(benchmark::State& state) {
  net::Message m = net::OpsRequest{Debits(state.range(0))};
  std::vector<uint8_t> out;
  uint64_t id = 1;
  for (auto _ : state) {
    out.clear();
    net::EncodeFrame(id++, m, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_EncodeOpsRequest)->ArgName("ops")->Arg(1)->Arg(64)->Arg(1024);

// Server side: header check, checksum, layout, then the ops into a vector
// (as the server decodes straight into an engine request).
void BM_DecodeOpsRequest(benchmark::State& state) {
  std::vector<uint8_t> frame;
  net::EncodeFrame(7, net::OpsRequest{Debits(state.range(0))}, frame);
  std::vector<Op> ops;
  ops.reserve(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    const net::FrameHeader h = net::DecodeHeader(frame.data());
    net::Problem problem;
    const std::span<const uint8_t> body(frame.data() + net::kHeaderBytes,
                                        h.body_bytes);
    if (h.magic != net::kMagic || !net::CheckLayout(h, &problem) ||
        net::BodyChecksum(body) != h.body_xxh3) {
      state.SkipWithError("frame refused");
      break;
    }
    ops.clear();
    net::DecodeOps(body, &ops);
    benchmark::DoNotOptimize(ops.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * frame.size());
}
BENCHMARK(BM_DecodeOpsRequest)->ArgName("ops")->Arg(1)->Arg(64)->Arg(1024);

// Server side: the OPS_REPLY frame from engine results.
void BM_EncodeOpsReply(benchmark::State& state) {
  const std::vector<OpResult> results = Results(state.range(0));
  std::vector<uint8_t> out;
  for (auto _ : state) {
    out.clear();
    net::EncodeOpsReply(9, results, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_EncodeOpsReply)->ArgName("ops")->Arg(1)->Arg(64)->Arg(1024);

// Client side: a reply frame fully decoded into a Message.
void BM_DecodeOpsReply(benchmark::State& state) {
  std::vector<uint8_t> frame;
  net::EncodeOpsReply(9, Results(state.range(0)), frame);
  for (auto _ : state) {
    const net::FrameHeader h = net::DecodeHeader(frame.data());
    const std::span<const uint8_t> body(frame.data() + net::kHeaderBytes,
                                        h.body_bytes);
    net::Message m;
    net::Problem problem;
    if (net::BodyChecksum(body) != h.body_xxh3 ||
        !net::CheckLayout(h, &problem) ||
        !net::DecodeBody(h, body, &m, &problem)) {
      state.SkipWithError("reply refused");
      break;
    }
    benchmark::DoNotOptimize(&m);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * frame.size());
}
BENCHMARK(BM_DecodeOpsReply)->ArgName("ops")->Arg(1)->Arg(64)->Arg(1024);

// The per-frame header check alone: decode the 32 bytes and validate the
// layout (no body).
void BM_HeaderCheck(benchmark::State& state) {
  std::vector<uint8_t> frame;
  net::EncodeFrame(7, net::OpsRequest{Debits(64)}, frame);
  for (auto _ : state) {
    benchmark::DoNotOptimize(frame.data());
    const net::FrameHeader h = net::DecodeHeader(frame.data());
    net::Problem problem;
    bool ok = h.magic == net::kMagic && net::CheckLayout(h, &problem);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderCheck);

}  // namespace

BENCHMARK_MAIN();
