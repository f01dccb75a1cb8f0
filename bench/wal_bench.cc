// LogWriter throughput: Append a batch of records, then Sync (one write and
// one fdatasync), as the engine's log thread does. Reports records/s, syncs/s
// and payload bytes/s for several record sizes and batch sizes (records per
// sync). Read the figures against bench/disk_probe on the same disk: with
// small batches the log can do at most one batch per fdatasync.
//
//   wal_bench [--wal_dir=D] [benchmark flags]
//
// Segments go to a fresh directory under --wal_dir (default: the current
// directory, so run it from the build directory), removed after each
// benchmark. Segments are the engine's default 64 MiB, so the figures include
// creating (and zero-filling) a new segment whenever one fills up. The
// default run takes about 10 s.
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"
#include "wal/format.h"
#include "wal/log_writer.h"

namespace coffer::wal {
namespace {

std::string& BaseDir() {
  static std::string* dir = new std::string(".");
  return *dir;
}

void BM_AppendSync(benchmark::State& state) {
  const auto record_bytes = static_cast<size_t>(state.range(0));
  const auto per_sync = static_cast<int>(state.range(1));
  std::string dir = BaseDir() + "/wal_bench.XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    LogWriterOptions options;
    options.dir = dir;
    auto writer = LogWriter::Open(options, 1);
    if (!writer.ok()) {
      state.SkipWithError(std::string(writer.status().message()).c_str());
      return;
    }
    // Non-zero, not constant: like encoded transactions, not like a hole.
    std::string payload(record_bytes, '\0');
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<char>(1 + (i * 131) % 251);
    }
    uint64_t seq = 1;
    for (auto _ : state) {
      for (int i = 0; i < per_sync; ++i, ++seq) {
        absl::Status s =
            (*writer)->Append(RecordType::kTransactions, seq, seq, payload);
        if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
      }
      absl::Status s = (*writer)->Sync();
      if (!s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        break;
      }
    }
    const auto records = static_cast<double>(state.iterations()) * per_sync;
    state.SetBytesProcessed(static_cast<int64_t>(records * record_bytes));
    state.counters["records/s"] =
        benchmark::Counter(records, benchmark::Counter::kIsRate);
    state.counters["syncs/s"] = benchmark::Counter(
        static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
// record payload bytes x records per Sync.
BENCHMARK(BM_AppendSync)
    ->ArgNames({"bytes", "per_sync"})
    ->ArgsProduct({{64, 512, 4096}, {1, 16, 128}})
    ->UseRealTime()
    ->MinTime(0.3)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace coffer::wal

int main(int argc, char** argv) {
  // Take --wal_dir=D out before Google Benchmark sees the flags.
  std::vector<char*> args;
  constexpr std::string_view kDirFlag = "--wal_dir=";
  for (int i = 0; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg.substr(0, kDirFlag.size()) == kDirFlag) {
      coffer::wal::BaseDir() = std::string(arg.substr(kDirFlag.size()));
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
