#include "engine/history_store.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/rocksdb_logger.h"
#include "engine/store_dir.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/perf_level.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/table.h"

namespace coffer::internal {
namespace {

static_assert(HistoryStore::kValueBytes == 96);

// Shorter than an entry key and a prefix of account 0's: first in key
// order, never between two keys of one account.
constexpr std::string_view kCoveredSeqKey("\0", 1);

void PutBigEndian(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    p[i] = static_cast<char>(v >> (8 * (bytes - 1 - i)));
  }
}

// Newest first: the number's complement orders an account's entries from
// the highest number down.
void EncodeKey(uint64_t account_id, uint32_t number, char* out) {
  PutBigEndian(out, account_id, 8);
  PutBigEndian(out + 8, ~number, 4);
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("history store: ", what, ": ", s.ToString()));
}

}  // namespace

HistoryStore::~HistoryStore() {
  if (db_ != nullptr) db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::unique_ptr<HistoryStore>> HistoryStore::Open(
    const HistoryStoreOptions& options) {
  std::unique_ptr<HistoryStore> store(new HistoryStore());
  store->dir_ = options.dir;
  PrepareStoreDir(options.dir);
  LowerCompactionPriority();
  rocksdb::BlockBasedTableOptions table;
  table.block_cache =
      rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/2);
  table.cache_index_and_filter_blocks = true;
  store->options_ = std::make_unique<rocksdb::Options>();
  rocksdb::Options& db_options = *store->options_;
  db_options.create_if_missing = true;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  db_options.max_background_jobs = 2;
  SetSharedStoreOptions(options.compaction_write_bytes_per_s, &db_options);
  // Every table file of an account-major store overlaps the others (each
  // holds the newest entries of many accounts): universal compaction merges
  // them with less rewriting than levels would. Measured with
  // history_store_bench, 1M entries: a full compaction took 1.7 s instead of
  // 7.7 s, with the same reads after it (bench/RESULTS.md).
  db_options.compaction_style = rocksdb::kCompactionStyleUniversal;
  // Entries repeat an account id and carry small numbers: LZ4 if this
  // RocksDB has it, else none (Snappy is the default and may be missing).
  db_options.compression = rocksdb::kLZ4Compression;
  // RocksDB's info log: warnings to stderr, no LOG file on the data disk
  // (engine/rocksdb_logger.h says why).
  db_options.info_log = StderrRocksLogger("history store");
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.dir, &db);
  if (s.IsInvalidArgument() || s.IsNotSupported()) {
    db_options.compression = rocksdb::kNoCompression;
    s = rocksdb::DB::Open(db_options, options.dir, &db);
  }
  if (absl::Status st = FromRocks(s, absl::StrCat("opening ", options.dir));
      !st.ok()) {
    return st;
  }
  store->db_.reset(db);
  std::string covered;
  s = db->Get(rocksdb::ReadOptions(),
              rocksdb::Slice(kCoveredSeqKey.data(), kCoveredSeqKey.size()),
              &covered);
  if (s.ok()) {
    if (covered.size() != 8) {
      return absl::DataLossError(absl::StrCat("history store ", options.dir,
                                              ": covered_seq has ",
                                              covered.size(), " bytes, not 8"));
    }
    uint64_t seq = 0;
    std::memcpy(&seq, covered.data(), 8);
    store->covered_seq_.store(seq, std::memory_order_release);
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading covered_seq");
  }
  return store;
}

absl::Status HistoryStore::Add(std::span<const HistoryEntry> entries,
                               uint64_t covered_seq) {
  // Nothing to write, and nothing to record: a batch of entries the store
  // had already claims no seq beyond covered_seq.
  if (entries.empty()) return absl::OkStatus();
  const uint64_t had = covered_seq_.load(std::memory_order_relaxed);
  covered_seq = std::max(covered_seq, had);
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  // A table file is written in key order: by account, newest first.
  sorted_.clear();
  for (const HistoryEntry& e : entries) sorted_.push_back(&e);
  std::sort(sorted_.begin(), sorted_.end(),
            [](const HistoryEntry* a, const HistoryEntry* b) {
              return a->account_id != b->account_id
                         ? a->account_id < b->account_id
                         : a->number > b->number;
            });
  const std::string file =
      absl::StrCat(dir_, "/", kIngestPrefix, ++files_written_, ".sst");
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), *options_);
  rocksdb::Status s = writer.Open(file);
  // First in key order, so first in the file.
  if (s.ok() && covered_seq > had) {
    s = writer.Put(
        rocksdb::Slice(kCoveredSeqKey.data(), kCoveredSeqKey.size()),
        rocksdb::Slice(reinterpret_cast<const char*>(&covered_seq), 8));
  }
  char key[kKeyBytes];
  for (size_t i = 0; s.ok() && i < sorted_.size(); ++i) {
    const HistoryEntry& e = *sorted_[i];
    if (i > 0 && e.account_id == sorted_[i - 1]->account_id &&
        e.number == sorted_[i - 1]->number) {
      return absl::InternalError(absl::StrCat("history store: entry ", e.number,
                                              " of account ", e.account_id,
                                              " twice in one batch"));
    }
    EncodeKey(e.account_id, e.number, key);
    s = writer.Put(
        rocksdb::Slice(key, kKeyBytes),
        rocksdb::Slice(reinterpret_cast<const char*>(&e), kValueBytes));
  }
  if (s.ok()) s = writer.Finish();
  if (absl::Status st = FromRocks(s, absl::StrCat("writing ", file));
      !st.ok()) {
    return st;
  }
  // Synced and recorded in the MANIFEST (synced) before it returns.
  rocksdb::IngestExternalFileOptions ingest;
  ingest.move_files = true;
  if (absl::Status st =
          FromRocks(db_->IngestExternalFile({file}, ingest), "ingesting");
      !st.ok()) {
    return st;
  }
  covered_seq_.store(covered_seq, std::memory_order_release);
  entries_written_.fetch_add(entries.size(), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status HistoryStore::Checkpoint(const std::string& dir) const {
  return CheckpointStore(db_.get(), dir);
}

absl::Status HistoryStore::CompactAll() {
  return FromRocks(
      db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr),
      "compacting");
}

absl::Status HistoryStore::Read(
    uint64_t account_id, uint32_t below,
    absl::FunctionRef<bool(const HistoryEntry&)> fn) const {
  if (below <= 1) return absl::OkStatus();
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  char from[kKeyBytes];
  EncodeKey(account_id, below - 1, from);
  char end[kKeyBytes];
  EncodeKey(account_id, 0, end);  // ~0: past the account's last key
  rocksdb::ReadOptions read;
  // Exclusive: the key of number 0, which no entry has.
  rocksdb::Slice upper(end, kKeyBytes);
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
  for (it->Seek(rocksdb::Slice(from, kKeyBytes)); it->Valid(); it->Next()) {
    const rocksdb::Slice v = it->value();
    if (it->key().size() != kKeyBytes || v.size() != kValueBytes) {
      return absl::DataLossError(absl::StrCat(
          "history store ", dir_, ": an entry of account ", account_id,
          " has a ", it->key().size(), "-byte key and a ", v.size(),
          "-byte value (expected 12 and 96)"));
    }
    HistoryEntry e;
    std::memcpy(&e, v.data(), kValueBytes);
    if (e.account_id != account_id || e.number == 0 || e.number >= below) {
      return absl::DataLossError(absl::StrCat(
          "history store ", dir_, ": the entry under account ", account_id,
          " is of account ", e.account_id, " number ", e.number));
    }
    if (!fn(e)) return absl::OkStatus();
  }
  return FromRocks(it->status(), "reading");
}

}  // namespace coffer::internal
