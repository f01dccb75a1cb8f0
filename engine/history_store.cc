#include "engine/history_store.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/perf_level.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace coffer::internal {
namespace {

static_assert(HistoryStore::kValueBytes == 96);

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
  rocksdb::BlockBasedTableOptions table;
  table.block_cache =
      rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/2);
  table.cache_index_and_filter_blocks = true;
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  db_options.max_background_jobs = 2;
  // Entries repeat an account id and carry small numbers: LZ4 if this
  // RocksDB has it, else none (Snappy is the default and may be missing).
  db_options.compression = rocksdb::kLZ4Compression;
  db_options.max_log_file_size = 1 << 20;
  db_options.keep_log_file_num = 2;
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
  return store;
}

absl::Status HistoryStore::Add(std::span<const HistoryEntry> entries) {
  if (entries.empty()) return absl::OkStatus();
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  rocksdb::WriteBatch batch(entries.size() * (kKeyBytes + kValueBytes + 8));
  char key[kKeyBytes];
  for (const HistoryEntry& e : entries) {
    EncodeKey(e.account_id, e.number, key);
    rocksdb::Status s = batch.Put(
        rocksdb::Slice(key, kKeyBytes),
        rocksdb::Slice(reinterpret_cast<const char*>(&e), kValueBytes));
    if (!s.ok()) return FromRocks(s, "batching");
  }
  rocksdb::WriteOptions write;
  write.sync = true;
  return FromRocks(db_->Write(write, &batch), "writing");
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
