#include "engine/op_id_index.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/assert.h"
#include "engine/rocksdb_logger.h"
#include "engine/store_dir.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/perf_level.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/table.h"

namespace coffer::internal {
namespace {

// Keys: an op id is its 8 bytes, big-endian (table files must be written
// in key order, and this makes it the ids' order); the one other key is
// longer, so the two can never meet.
constexpr std::string_view kCoveredSeqKey = "coffer.covered_seq";
constexpr size_t kIdKeyBytes = 8;

void PutIdKey(uint64_t op_id, char* out) {
  for (size_t i = 0; i < kIdKeyBytes; ++i) {
    out[i] = static_cast<char>(op_id >> (56 - 8 * i));
  }
}

std::string IdKey(uint64_t op_id) {
  std::string key(kIdKeyBytes, '\0');
  PutIdKey(op_id, key.data());
  return key;
}

// Where kCoveredSeqKey falls among the id keys: an id key sorts before it
// when its 8 bytes, read as a big-endian id, are at most this (a key that
// is a prefix of another sorts first).
constexpr uint64_t CoveredSeqKeyPrefix() {
  uint64_t prefix = 0;
  for (size_t i = 0; i < kIdKeyBytes; ++i) {
    prefix = (prefix << 8) | static_cast<uint8_t>(kCoveredSeqKey[i]);
  }
  return prefix;
}

void Put64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// The value: fingerprint, seq, added_ns, then the OpResult (24 bytes) as
// the wire has it. Little-endian, like every format of Coffer's.
void EncodeValue(const OpIdTable::Record& r, uint64_t added_ns, char* out) {
  Put64(out, r.fingerprint);
  Put64(out + 8, r.seq);
  Put64(out + 16, added_ns);
  uint16_t code = static_cast<uint16_t>(r.result.code);
  std::memcpy(out + 24, &code, 2);
  std::memcpy(out + 26, &r.result.flags, 2);
  std::memcpy(out + 28, &r.result.reserved, 4);
  Put64(out + 32, static_cast<uint64_t>(r.result.balance_after));
  Put64(out + 40, r.result.seq);
}

absl::Status DecodeValue(uint64_t op_id, std::string_view in,
                         OpIdIndex::Entry* e) {
  if (in.size() != OpIdIndex::kValueBytes) {
    return absl::DataLossError(absl::StrCat("op-id index: the value of id ",
                                            op_id, " has ", in.size(),
                                            " bytes, not 48"));
  }
  const char* p = in.data();
  e->record.op_id = op_id;
  e->record.fingerprint = Get64(p);
  e->record.seq = Get64(p + 8);
  e->added_ns = Get64(p + 16);
  uint16_t code;
  std::memcpy(&code, p + 24, 2);
  e->record.result.code = static_cast<ResultCode>(code);
  std::memcpy(&e->record.result.flags, p + 26, 2);
  std::memcpy(&e->record.result.reserved, p + 28, 4);
  e->record.result.balance_after = static_cast<int64_t>(Get64(p + 32));
  e->record.result.seq = Get64(p + 40);
  e->record.done = true;
  return absl::OkStatus();
}

bool Expired(uint64_t added_ns, uint64_t retention_ns, uint64_t now_ns) {
  return retention_ns != 0 && now_ns > added_ns &&
         now_ns - added_ns > retention_ns;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("op-id index: ", what, ": ", s.ToString()));
}

}  // namespace

// Deletes records older than the retention while RocksDB compacts. It runs
// on RocksDB's threads: the engine time it judges by is an atomic.
class OpIdIndex::RetentionFilter : public rocksdb::CompactionFilter {
 public:
  explicit RetentionFilter(uint64_t retention_ns)
      : retention_ns_(retention_ns) {}
  void set_now_ns(uint64_t now_ns) {
    now_ns_.store(now_ns, std::memory_order_relaxed);
  }
  bool Filter(int /*level*/, const rocksdb::Slice& key,
              const rocksdb::Slice& value, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    if (key.size() != kIdKeyBytes || value.size() != kValueBytes) return false;
    return Expired(Get64(value.data() + 16), retention_ns_,
                   now_ns_.load(std::memory_order_relaxed));
  }
  const char* Name() const override { return "coffer.op_id_retention"; }

 private:
  const uint64_t retention_ns_;
  std::atomic<uint64_t> now_ns_{0};
};

OpIdIndex::OpIdIndex() = default;

OpIdIndex::~OpIdIndex() {
  values_.clear();  // they may pin blocks of the DB
  if (db_ != nullptr) db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::unique_ptr<OpIdIndex>> OpIdIndex::Open(
    const OpIdIndexOptions& options) {
  std::unique_ptr<OpIdIndex> index(new OpIdIndex());
  index->dir_ = options.dir;
  index->retention_ns_ = options.retention_ns;
  index->filter_ = std::make_unique<RetentionFilter>(options.retention_ns);
  PrepareStoreDir(options.dir);
  LowerCompactionPriority();

  rocksdb::BlockBasedTableOptions table;
  // Most lookups are of new ids: one bloom filter per table file answers
  // them without reading a data block. Whole-file filters, not partitioned
  // ones: a partitioned filter first searches its own index (perf: that
  // search was most of a lookup). Filters and indexes live in the block
  // cache, so the cache is the memory bound however many ids are
  // remembered.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Few cache shards: a whole-file filter (about 1 MB per 64 MB table
  // file) larger than a shard is never kept, and every lookup would read it
  // from the file again (perf: 64 shards of 1 MB made each lookup a pread).
  table.block_cache =
      rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/2);
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  index->options_ = std::make_unique<rocksdb::Options>();
  rocksdb::Options& db_options = *index->options_;
  db_options.create_if_missing = true;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  db_options.compaction_filter = index->filter_.get();
  db_options.max_background_jobs = 2;
  SetSharedStoreOptions(options.compaction_write_bytes_per_s, &db_options);
  // Random ids: every ingested file overlaps every other. Universal
  // compaction merges such files into sorted runs with less rewriting than
  // levels, whose level 1 is rewritten whole for each level-0 compaction.
  // Measured with op_id_index_bench at 10M ids (bench/RESULTS.md): 14% fewer
  // bytes written, 15% less disk, lookups of new ids 3x faster; under load
  // 8-25 table files behind instead of 46-51. A lookup probes each sorted
  // run: merge from 2 on.
  db_options.compaction_style = rocksdb::kCompactionStyleUniversal;
  db_options.level0_file_num_compaction_trigger = 2;
  // Values are mostly a fingerprint and seqs: compression saves little and
  // costs the compactions' CPU.
  db_options.compression = rocksdb::kNoCompression;
  // RocksDB's info log: warnings to stderr, no LOG file on the data disk
  // (engine/rocksdb_logger.h says why).
  db_options.info_log = StderrRocksLogger("op-id index");
  rocksdb::DB* db = nullptr;
  if (absl::Status s =
          FromRocks(rocksdb::DB::Open(db_options, options.dir, &db),
                    absl::StrCat("opening ", options.dir));
      !s.ok()) {
    return s;
  }
  index->db_.reset(db);
  std::string covered;
  rocksdb::Status got =
      db->Get(rocksdb::ReadOptions(), kCoveredSeqKey, &covered);
  if (got.IsNotFound()) {
    index->created_ = true;
  } else if (!got.ok()) {
    return FromRocks(got, "reading covered_seq");
  } else if (covered.size() != 8) {
    return absl::DataLossError(absl::StrCat("op-id index ", options.dir,
                                            ": covered_seq has ",
                                            covered.size(), " bytes, not 8"));
  } else {
    index->covered_seq_.store(Get64(covered.data()), std::memory_order_release);
  }
  return index;
}

absl::Status OpIdIndex::Checkpoint(const std::string& dir) const {
  return CheckpointStore(db_.get(), dir);
}

absl::Status OpIdIndex::Add(std::span<const OpIdTable::Record> records,
                            uint64_t covered_seq, uint64_t now_ns) {
  // RocksDB's per-thread counters cost a TLS lookup per key: off.
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  filter_->set_now_ns(now_ns);
  const uint64_t covered =
      std::max(covered_seq_.load(std::memory_order_relaxed), covered_seq);
  // Sorted as integers: a big-endian key's bytes sort as its id does, and
  // sorting 16-byte pairs costs far less than sorting strings (perf: the
  // strings' allocations and compares were most of the writer's own time).
  COFFER_ASSERT(records.size() <= std::numeric_limits<uint32_t>::max());
  order_.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    order_[i] = {records[i].op_id, static_cast<uint32_t>(i)};
  }
  std::sort(order_.begin(), order_.end());
  const auto twice = std::adjacent_find(
      order_.begin(), order_.end(),
      [](const auto& x, const auto& y) { return x.first == y.first; });
  if (twice != order_.end()) {
    return absl::InternalError(
        absl::StrCat("op-id index: one op id twice in a batch (",
                     records.size(), " records up to seq ", covered_seq, ")"));
  }
  const std::string file =
      absl::StrCat(dir_, "/", kIngestPrefix, ++files_written_, ".sst");
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), *options_);
  rocksdb::Status s = writer.Open(file);
  char key[kIdKeyBytes];
  char value[kValueBytes];
  auto put_id = [&](const std::pair<uint64_t, uint32_t>& entry) {
    PutIdKey(entry.first, key);
    EncodeValue(records[entry.second], now_ns, value);
    return writer.Put(rocksdb::Slice(key, kIdKeyBytes),
                      rocksdb::Slice(value, kValueBytes));
  };
  // The ids that sort before kCoveredSeqKey, the key, then the rest.
  size_t i = 0;
  for (;
       s.ok() && i < order_.size() && order_[i].first <= CoveredSeqKeyPrefix();
       ++i) {
    s = put_id(order_[i]);
  }
  char covered_value[8];
  Put64(covered_value, covered);
  if (s.ok()) s = writer.Put(kCoveredSeqKey, rocksdb::Slice(covered_value, 8));
  for (; s.ok() && i < order_.size(); ++i) s = put_id(order_[i]);
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
  covered_seq_.store(covered, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status OpIdIndex::Find(
    std::span<const uint64_t> ids, uint64_t now_ns,
    absl::FunctionRef<void(size_t, const Entry&)> found) {
  const size_t n = ids.size();
  if (n == 0) return absl::OkStatus();
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  keys_.resize(n);
  values_.resize(n);
  statuses_.resize(n);
  slices_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    keys_[i] = IdKey(ids[i]);
    slices_[i] = rocksdb::Slice(keys_[i]);
    values_[i].Reset();
  }
  db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), n,
                slices_.data(), values_.data(), statuses_.data());
  absl::Status status;
  for (size_t i = 0; i < n && status.ok(); ++i) {
    if (statuses_[i].IsNotFound()) continue;
    status = FromRocks(statuses_[i], "reading");
    Entry e;
    if (status.ok()) {
      status = DecodeValue(ids[i], values_[i].ToStringView(), &e);
    }
    if (status.ok() && !Expired(e.added_ns, retention_ns_, now_ns)) {
      found(i, e);
    }
  }
  // Found values pin blocks of the DB's cache: let them go now.
  for (size_t i = 0; i < n; ++i) values_[i].Reset();
  return status;
}

}  // namespace coffer::internal
