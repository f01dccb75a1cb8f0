// op_id_index_bench: what the on-disk op-id index (engine/op_id_index.h)
// costs per op at a given number of remembered ids.
//
//   op_id_index_bench [--dir=/tmp] [--ids=10000000] [--lookups=1000000]
//                     [--batch=65536] [--request=512]
//
// Fills a fresh index with --ids records (random ids) in batches of --batch
// (one table file each, as the sequencer's feeder writes them), waits for
// its compactions, then looks ids up in requests of --request ids, as the
// sequencer does for one request: new ids (never added: the common case,
// answered by bloom filters) and remembered ids (retries). Prints the add
// cost per id, the lookup cost per id of each kind, the disk bytes per
// remembered id, and the bytes the process wrote to the disk per id during
// the fill and the settle (/proc/self/io: the table files plus RocksDB's
// compactions, so its ratio to the disk bytes is the write amplification).
// The index lives in a fresh directory under --dir, removed at the end.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "engine/op_id_index.h"
#include "net/program_flags.h"
#include "wal/archive.h"

ABSL_FLAG(std::string, dir, "/tmp", "parent directory of the index");
ABSL_FLAG(uint64_t, ids, 10'000'000, "remembered ids to fill in");
ABSL_FLAG(uint64_t, lookups, 1'000'000, "ids looked up, of each kind");
ABSL_FLAG(uint64_t, batch, 65536, "records per Add (table file)");
ABSL_FLAG(uint64_t, request, 512, "ids per Find (one request)");
ABSL_FLAG(uint32_t, settle_s, 0,
          "seconds to wait after the fill before the lookups (compactions "
          "catch up)");

namespace {

using Clock = std::chrono::steady_clock;
using coffer::internal::OpIdIndex;
using coffer::internal::OpIdTable;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The i-th remembered id: a bijection of i, so that ids look random and
// `Remembered(i)` can be asked again without storing them.
uint64_t Remembered(uint64_t i) { return (i + 1) * 0x9E3779B97F4A7C15ull; }

// Bytes this process has caused to be written to the disk (the kernel's
// write_bytes); 0 where /proc does not say.
uint64_t ProcessWriteBytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

double LookUpNsPerId(OpIdIndex& index, uint64_t count, uint64_t request,
                     bool remembered, uint64_t ids, uint64_t* found) {
  std::mt19937_64 rng(remembered ? 7 : 11);
  std::vector<uint64_t> ask(request);
  const auto started = Clock::now();
  for (uint64_t done = 0; done < count; done += request) {
    for (uint64_t& id : ask) {
      // Odd multiples of the golden ratio constant are never even ids.
      id = remembered ? Remembered(rng() % ids) : (rng() | 1) * 2;
    }
    absl::Status s =
        index.Find(ask, 1, [&](size_t, const OpIdIndex::Entry&) { ++*found; });
    if (!s.ok()) {
      std::fprintf(stderr, "op_id_index_bench: %s\n",
                   std::string(s.message()).c_str());
      std::exit(1);
    }
  }
  return Seconds(started) * 1e9 / static_cast<double>(count);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> rest = coffer::net::ParseProgramFlags(
      argc, argv,
      "Cost of the on-disk op-id index per id.\n"
      "Usage: op_id_index_bench [--flag=value ...]",
      "bench/op_id_index_bench");
  if (!rest.empty()) {
    std::fprintf(stderr, "op_id_index_bench: unexpected argument\n");
    return 2;
  }
  const uint64_t ids = absl::GetFlag(FLAGS_ids);
  const uint64_t batch_max = absl::GetFlag(FLAGS_batch);
  const uint64_t request = absl::GetFlag(FLAGS_request);
  const uint64_t lookups = absl::GetFlag(FLAGS_lookups);
  if (batch_max == 0 || request == 0 || ids == 0) {
    std::fprintf(stderr,
                 "op_id_index_bench: --ids, --batch and --request "
                 "must be positive\n");
    return 2;
  }
  const std::string dir = absl::GetFlag(FLAGS_dir) + "/coffer_op_id_bench." +
                          std::to_string(getpid());
  std::filesystem::create_directories(dir);
  coffer::internal::OpIdIndexOptions options;
  options.dir = dir + "/op_ids";
  {
    auto index = OpIdIndex::Open(options);
    if (!index.ok()) {
      std::fprintf(stderr, "op_id_index_bench: %s\n",
                   std::string(index.status().message()).c_str());
      return 1;
    }
    std::vector<OpIdTable::Record> records;
    const uint64_t written_before = ProcessWriteBytes();
    const auto fill_started = Clock::now();
    for (uint64_t seq = 1; seq <= ids;) {
      records.clear();
      for (; seq <= ids && records.size() < batch_max; ++seq) {
        OpIdTable::Record r;
        r.op_id = Remembered(seq - 1);
        r.fingerprint = seq * 31;
        r.seq = seq;
        r.result.seq = seq;
        r.done = true;
        records.push_back(r);
      }
      if (absl::Status s = (*index)->Add(records, seq - 1, 1); !s.ok()) {
        std::fprintf(stderr, "op_id_index_bench: %s\n",
                     std::string(s.message()).c_str());
        return 1;
      }
    }
    const double fill_s = Seconds(fill_started);
    std::this_thread::sleep_for(
        std::chrono::seconds(absl::GetFlag(FLAGS_settle_s)));
    auto usage = coffer::wal::MeasureFiles(nullptr, options.dir);
    const uint64_t written = ProcessWriteBytes() - written_before;
    uint64_t new_found = 0;
    uint64_t old_found = 0;
    const double new_ns =
        LookUpNsPerId(**index, lookups, request, false, ids, &new_found);
    const double old_ns =
        LookUpNsPerId(**index, lookups, request, true, ids, &old_found);
    std::printf(
        "op_id_index_bench: ids=%llu batch=%llu request=%llu\n"
        "add: %.0f ns/id (%.2f s, compactions running behind)\n"
        "lookup new ids: %.0f ns/id (%llu of %llu found: bloom false "
        "positives read a block)\n"
        "lookup remembered ids: %.0f ns/id (%llu of %llu found)\n"
        "disk: %.1f bytes/id (%llu files, %llu bytes)\n"
        "written during the fill and the settle: %.1f bytes/id\n",
        static_cast<unsigned long long>(ids),
        static_cast<unsigned long long>(batch_max),
        static_cast<unsigned long long>(request),
        fill_s * 1e9 / static_cast<double>(ids), fill_s, new_ns,
        static_cast<unsigned long long>(new_found),
        static_cast<unsigned long long>(lookups), old_ns,
        static_cast<unsigned long long>(old_found),
        static_cast<unsigned long long>(lookups),
        usage.ok()
            ? static_cast<double>(usage->bytes) / static_cast<double>(ids)
            : 0.0,
        usage.ok() ? static_cast<unsigned long long>(usage->files) : 0ull,
        usage.ok() ? static_cast<unsigned long long>(usage->bytes) : 0ull,
        static_cast<double>(written) / static_cast<double>(ids));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
