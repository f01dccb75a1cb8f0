#include "engine/engine.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"
#include "engine/log_codec.h"
#include "engine/log_replay.h"
#include "engine/log_thread.h"
#include "engine/partition.h"
#include "engine/queues.h"
#include "engine/sequencer.h"
#include "engine/shard.h"
#include "engine/snapshot_codec.h"
#include "engine/snapshot_load.h"
#include "wal/archive.h"
#include "wal/log_reader.h"
#include "wal/log_writer.h"
#include "wal/snapshot_file.h"
#include "wal/storage.h"

namespace coffer {

struct Engine::Threads {
  // First, so that it outlives every thread that uses it.
  std::unique_ptr<internal::OpIdIndex> op_id_index;
  std::unique_ptr<internal::HistoryStore> history_store;
  std::unique_ptr<internal::SubmitQueue> submit;
  std::vector<std::unique_ptr<internal::RequestQueue>> to_shard, from_shard;
  // peers[from * n + to]
  std::vector<std::unique_ptr<internal::PeerQueue>> peers;
  std::unique_ptr<internal::Sequencer> sequencer;
  std::vector<std::unique_ptr<internal::Shard>> shards;
  // After the shards and the sequencer (it rings their bells), so that it
  // stops first: once their threads are joined, it writes what it was
  // handed and the store closes after it.
  std::unique_ptr<internal::HistoryStoreWriter> history_writer;
  // Likewise: the sequencer waits for what it holds before it stops.
  std::unique_ptr<internal::HistoryReader> history_reader;
  std::atomic<bool> sequencer_stop{false};
  std::atomic<bool> shards_stop{false};
  std::thread sequencer_thread;
  std::vector<std::thread> shard_threads;
  std::unique_ptr<internal::LogThread> log;
};

namespace {

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

// `recovered`: false while the engine still recovers (a fault there, such
// as the op-id index's writes during replay on a full disk, means it could
// not start: exit 1, as when Create returns an error), true once it serves.
void DefaultOnFatal(const absl::Status& status, bool recovered) {
  if (!recovered) {
    std::fprintf(stderr, "coffer: cannot start: %s\n",
                 std::string(status.message()).c_str());
    std::fflush(stderr);
    _exit(1);
  }
  std::fprintf(stderr,
               "coffer: FATAL: %s\n"
               "coffer: stopping; nothing after this point was acknowledged. "
               "Restart to recover from the log.\n",
               std::string(status.message()).c_str());
  std::fflush(stderr);
  _exit(70);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (!config.clock_ns) config.clock_ns = RealtimeNs;
  auto recovered = std::make_shared<std::atomic<bool>>(false);
  if (!config.on_fatal) {
    config.on_fatal = [recovered](const absl::Status& status) {
      DefaultOnFatal(status, recovered->load(std::memory_order_acquire));
    };
  }
  if (config.storage == nullptr) config.storage = wal::PosixStorage();
  std::unique_ptr<Engine> engine(new Engine(std::move(config)));
  if (engine->config_.data_dir.empty()) {
    engine->StartThreads();
  } else if (absl::Status s = engine->Recover(); !s.ok()) {
    return s;
  }
  recovered->store(true, std::memory_order_release);
  return engine;
}

Engine::Engine(EngineConfig config)
    : config_(std::move(config)),
      shard_count_(config_.ResolvedShardCount()),
      threads_(std::make_unique<Threads>()) {
  Threads& t = *threads_;
  const uint32_t n = shard_count_;
  t.submit =
      std::make_unique<internal::SubmitQueue>(config_.submit_queue_capacity);
  for (uint32_t s = 0; s < n; ++s) {
    t.to_shard.push_back(std::make_unique<internal::RequestQueue>(
        config_.requests_in_flight_max));
    t.from_shard.push_back(std::make_unique<internal::RequestQueue>(
        config_.requests_in_flight_max));
  }
  t.peers.resize(static_cast<size_t>(n) * n);
  for (uint32_t a = 0; a < n; ++a) {
    for (uint32_t b = 0; b < n; ++b) {
      if (a != b) {
        t.peers[a * n + b] =
            std::make_unique<internal::PeerQueue>(config_.peer_queue_capacity);
      }
    }
  }
  t.sequencer = std::make_unique<internal::Sequencer>(config_, n);
  for (uint32_t s = 0; s < n; ++s) {
    t.shards.push_back(std::make_unique<internal::Shard>(s, n, config_));
  }

  internal::SequencerWiring sw;
  sw.submit = t.submit.get();
  sw.stop = &t.sequencer_stop;
  for (uint32_t s = 0; s < n; ++s) {
    sw.to_shard.push_back(t.to_shard[s].get());
    sw.from_shard.push_back(t.from_shard[s].get());
    sw.shard_bells.push_back(&t.shards[s]->bell());
    sw.shard_counters.push_back(&t.shards[s]->counters());
    sw.feed_pauses.push_back(&t.shards[s]->history_feed_pause());
    sw.snapshot_announcements.push_back(&t.shards[s]->snapshot_announcement());
  }
  if (inline_layout()) sw.inline_shard = t.shards[0].get();
  t.sequencer->Wire(std::move(sw));
  for (uint32_t s = 0; s < n; ++s) {
    internal::ShardWiring w;
    w.in = t.to_shard[s].get();
    w.done = t.from_shard[s].get();
    w.sequencer_bell = &t.sequencer->bell();
    w.stop = &t.shards_stop;
    for (uint32_t p = 0; p < n; ++p) {
      w.peer_in.push_back(p == s ? nullptr : t.peers[p * n + s].get());
      w.peer_out.push_back(p == s ? nullptr : t.peers[s * n + p].get());
      w.peer_bells.push_back(&t.shards[p]->bell());
    }
    t.shards[s]->Wire(std::move(w));
  }
}

void Engine::StartThreads() {
  Threads& t = *threads_;
  const uint32_t n = shard_count_;
  // The inline layout runs its one shard on the sequencer's thread.
  for (uint32_t s = 0; s < n && !inline_layout(); ++s) {
    t.shard_threads.emplace_back(
        [shard = t.shards[s].get()] { shard->Loop(); });
    NameThread(t.shard_threads.back(), "coffer-shard-" + std::to_string(s));
  }
  t.sequencer_thread = std::thread([seq = t.sequencer.get()] { seq->Run(); });
  NameThread(t.sequencer_thread, "coffer-seq");
}

Engine::~Engine() {
  closing_.store(true, std::memory_order_release);
  Threads& t = *threads_;
  if (!t.sequencer_thread.joinable()) return;  // recovery failed early
  t.sequencer_stop.store(true, std::memory_order_release);
  t.sequencer->bell().RingAlways();
  t.sequencer_thread.join();
  t.shards_stop.store(true, std::memory_order_release);
  for (auto& shard : t.shards) shard->bell().RingAlways();
  for (auto& th : t.shard_threads) th.join();
  // Everything answered is durable; stop the log thread. After the shards:
  // they read its durable seq to feed the history store.
  t.log.reset();
}

SubmitResult Engine::TrySubmit(Request* request) {
  if (closing_.load(std::memory_order_acquire)) return SubmitResult::kClosed;
  switch (request->kind) {
    case RequestKind::kOps:
    case RequestKind::kLookup:
    case RequestKind::kHistory:
    case RequestKind::kDigest:
      break;
    default:
      return SubmitResult::kInvalid;
  }
  if (request->ops.size() > config_.request_ops_max ||
      request->lookup_ids.size() > config_.request_ops_max) {
    return SubmitResult::kTooLarge;
  }
  // Stamped before the push: once pushed, the request is the sequencer's.
  // A refused push is stamped again on the next try.
  request->internal.submitted_ns = SteadyNowNs();
  if (!threads_->submit->bounded_push(request)) {
    return SubmitResult::kQueueFull;
  }
  threads_->sequencer->bell().Ring();
  return SubmitResult::kAccepted;
}

void Engine::SubmitInternal(Request* request) {
  request->internal.submitted_ns = 0;  // recovery replay: not measured
  while (!threads_->submit->bounded_push(request)) std::this_thread::yield();
  threads_->sequencer->bell().Ring();
}

SubmitResult Engine::Submit(Request* request) {
  for (;;) {
    SubmitResult r = TrySubmit(request);
    if (r != SubmitResult::kQueueFull) return r;
    std::this_thread::yield();
  }
}

SubmitResult Engine::Execute(Request& request) {
  std::promise<void> done;
  std::future<void> answered = done.get_future();
  auto user_callback = std::move(request.on_complete);
  request.on_complete = [&done](Request&) { done.set_value(); };
  SubmitResult r = Submit(&request);
  if (r == SubmitResult::kAccepted) answered.wait();
  request.on_complete = std::move(user_callback);
  return r;
}

std::vector<OpResult> Engine::Apply(std::vector<Op> ops, uint64_t issued_ns) {
  Request request;
  request.kind = RequestKind::kOps;
  request.ops = std::move(ops);
  request.issued_ns = issued_ns;
  if (Execute(request) != SubmitResult::kAccepted) return {};
  return std::move(request.results);
}

std::vector<AccountInfo> Engine::Lookup(std::vector<uint64_t> account_ids) {
  Request request;
  request.kind = RequestKind::kLookup;
  request.lookup_ids = std::move(account_ids);
  if (Execute(request) != SubmitResult::kAccepted) return {};
  return std::move(request.accounts);
}

StateDigest Engine::Digest() {
  Request request;
  request.kind = RequestKind::kDigest;
  Execute(request);
  return request.digest;
}

std::vector<StageSnapshot> Engine::Stages() const {
  const internal::SequencerStages& q = threads_->sequencer->stages();
  std::vector<StageSnapshot> out = {
      {Stage::kReceivedSubmitted, q.received_submitted_ns.Snapshot()},
      {Stage::kSubmittedOrdered, q.submitted_ordered_ns.Snapshot()},
      {Stage::kOrderedApplied, q.ordered_applied_ns.Snapshot()},
      {Stage::kAppliedReleased, q.applied_released_ns.Snapshot()},
      {Stage::kLogFsync, {}},
      {Stage::kLogBatchOps, {}},
  };
  if (threads_->log != nullptr) {
    out[4].histogram = threads_->log->fsync_ns().Snapshot();
    out[5].histogram = threads_->log->batch_ops().Snapshot();
  }
  // One sample: how long Engine::Create took to recover.
  const auto recovery_ns = static_cast<uint64_t>(recovery_.seconds * 1e9);
  StageSnapshot recovery{Stage::kRecovery, {}};
  recovery.histogram.counts[HistogramBucketOf(recovery_ns)] = 1;
  recovery.histogram.count = 1;
  recovery.histogram.max = recovery_ns;
  out.push_back(recovery);
  return out;
}

absl::StatusOr<std::vector<DiskAreaUsage>> Engine::MeasureDisk() const {
  std::vector<DiskAreaUsage> usage;
  if (config_.data_dir.empty()) return usage;
  wal::Storage* fs = wal::PosixStorage();
  auto add = [&](DiskArea area,
                 absl::StatusOr<wal::FileUsage> files) -> absl::Status {
    if (!files.ok()) return files.status();
    usage.push_back({area, files->files, files->bytes});
    return absl::OkStatus();
  };
  if (absl::Status s =
          add(DiskArea::kLog, wal::MeasureSegments(fs, config_.data_dir));
      !s.ok()) {
    return s;
  }
  if (!config_.wal_archive_dir.empty()) {
    if (absl::Status s = add(DiskArea::kArchive,
                             wal::MeasureSegments(fs, config_.wal_archive_dir));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = add(DiskArea::kSnapshots,
                           wal::MeasureSnapshots(fs, config_.data_dir));
      !s.ok()) {
    return s;
  }
  if (threads_->op_id_index != nullptr) {
    if (absl::Status s =
            add(DiskArea::kOpIdIndex,
                wal::MeasureFiles(fs, threads_->op_id_index->dir()));
        !s.ok()) {
      return s;
    }
  }
  if (threads_->history_store != nullptr) {
    if (absl::Status s =
            add(DiskArea::kHistoryStore,
                wal::MeasureFiles(fs, threads_->history_store->dir()));
        !s.ok()) {
      return s;
    }
  }
  return usage;
}

EngineStats Engine::Stats() const {
  EngineStats s;
  const auto& c = threads_->sequencer->counters();
  const auto& sc = threads_->sequencer->snapshot_counters();
  s.requests = c.requests.load(std::memory_order_relaxed);
  s.ops_sequenced = c.ops_sequenced.load(std::memory_order_relaxed);
  s.duplicates = c.duplicates.load(std::memory_order_relaxed);
  s.refused_before_ordering =
      c.refused_before_ordering.load(std::memory_order_relaxed);
  s.last_seq = c.last_seq.load(std::memory_order_relaxed);
  if (threads_->log != nullptr) {
    s.durable_seq = threads_->log->durable_seq();
    s.log_syncs = threads_->log->syncs();
    s.log_records = threads_->log->records();
  }
  s.snapshots = sc.snapshots.load(std::memory_order_relaxed);
  s.snapshot_failures = sc.snapshot_failures.load(std::memory_order_relaxed);
  s.snapshot_seq = sc.snapshot_seq.load(std::memory_order_relaxed);
  s.snapshot_pause_us = sc.snapshot_pause_us.load(std::memory_order_relaxed);
  const auto& rc = threads_->sequencer->remembered_counters();
  s.op_ids_indexed_seq = rc.index_fed_seq.load(std::memory_order_relaxed);
  s.op_id_index_lookups = rc.index_lookups.load(std::memory_order_relaxed);
  if (threads_->history_store != nullptr) {
    s.history_stored_seq = threads_->history_store->covered_seq();
    s.history_entries_stored = threads_->history_store->entries_written();
  }
  s.op_ids_found_on_disk = rc.index_found.load(std::memory_order_relaxed);
  for (const auto& shard : threads_->shards) {
    const auto& sc = shard->counters();
    ShardStats x;
    x.txns_applied = sc.txns_applied.load(std::memory_order_relaxed);
    x.multi_shard_txns = sc.multi_shard_txns.load(std::memory_order_relaxed);
    x.deferred_txns = sc.deferred_txns.load(std::memory_order_relaxed);
    x.accounts = sc.accounts.load(std::memory_order_relaxed);
    s.shards.push_back(x);
  }
  return s;
}

}  // namespace coffer

namespace coffer {

absl::Status Engine::Recover() {
  const auto started = std::chrono::steady_clock::now();
  wal::Storage* storage = config_.storage;
  // A backup that a crash or an error interrupted (engine/backup.h): it
  // may lack files, so it must not start as if it were a data directory.
  if (storage
          ->FileSize(wal::JoinPath(config_.data_dir, kBackupIncompleteMarker))
          .ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        config_.data_dir, " is an unfinished backup (it holds ",
        kBackupIncompleteMarker,
        "): a crash or an error stopped it before it was complete; take "
        "the backup again"));
  }
  if (!config_.read_only) {
    if (absl::Status s = storage->CreateDir(config_.data_dir); !s.ok()) {
      return s;
    }
    if (!config_.wal_archive_dir.empty()) {
      // Checked now rather than at the first snapshot, when a failed move
      // would only leave the segments in the live log.
      if (absl::Status s = wal::PrepareArchive(storage, config_.data_dir,
                                               config_.wal_archive_dir);
          !s.ok()) {
        return s;
      }
    }
  }
  if (absl::Status s = OpenOpIdIndex(); !s.ok()) return s;
  if (absl::Status s = OpenHistoryStore(); !s.ok()) return s;
  uint64_t last_seq = 0;
  uint64_t last_timestamp_ns = 0;
  if (absl::Status s = LoadSnapshot(&last_seq, &last_timestamp_ns); !s.ok()) {
    return s;
  }
  recovery_.snapshot_loaded_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  threads_->sequencer->ResumeAfter(last_seq, last_timestamp_ns);
  StartThreads();

  if (config_.on_recovery_progress) {
    RecoveryProgress loaded;
    loaded.phase = RecoveryProgress::Phase::kSnapshotLoaded;
    loaded.snapshot_seq = last_seq;
    loaded.seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - started)
                         .count();
    config_.on_recovery_progress(loaded);
  }
  internal::LogReplay replay(
      config_, [this](Request* r) { SubmitInternal(r); }, started);
  auto report = replay.Run(last_seq, &recovery_);
  const uint64_t expect = recovery_.last_seq + 1;
  if (!report.ok()) return report.status();
  for (const wal::TornTail& t : report->torn) {
    recovery_.notes.push_back(absl::StrCat("cut a torn log tail of ", t.bytes,
                                           " bytes at ", t.file, " offset ",
                                           t.offset));
  }

  // What replay handed the op-id index's writer is written before the
  // engine says it recovered: a failure there (a full disk) is a failed
  // start, not a fault while serving.
  const auto& rc = threads_->sequencer->remembered_counters();
  while (rc.index_fed_seq.load(std::memory_order_acquire) <
         rc.index_queued_seq.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
  if (threads_->op_id_index != nullptr &&
      threads_->op_id_index->covered_seq() > recovery_.last_seq) {
    return absl::DataLossError(absl::StrCat(
        "the op-id index covers ops up to seq ",
        threads_->op_id_index->covered_seq(), " but the log ends at seq ",
        recovery_.last_seq,
        " (is the index from another data directory, or the log cut?)"));
  }
  if (threads_->history_store != nullptr &&
      threads_->history_store->covered_seq() > recovery_.last_seq) {
    return absl::DataLossError(absl::StrCat(
        "the history store holds the entries of ops up to seq ",
        threads_->history_store->covered_seq(), " but the log ends at seq ",
        recovery_.last_seq,
        " (is the store from another data directory, or was the log cut by "
        "wal_repair?). The store holds copies of history that left memory: "
        "moving ",
        threads_->history_store->dir(),
        " aside lets the server start, without those entries"));
  }
  if (config_.read_only) {
    recovery_.seconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - started)
                            .count();
    return absl::OkStatus();
  }
  // Log from here on, in a new segment.
  wal::LogWriterOptions writer_options;
  writer_options.dir = config_.data_dir;
  writer_options.segment_bytes = config_.wal_segment_bytes;
  writer_options.storage = storage;
  auto writer = wal::LogWriter::Open(writer_options, expect);
  if (!writer.ok()) return writer.status();
  threads_->log = std::make_unique<internal::LogThread>(
      std::move(writer).value(), &threads_->sequencer->bell(),
      config_.on_fatal);
  // The inline layout syncs on the sequencer's thread when nothing else
  // waits, and hands the sync to the log thread under load
  // (DurabilityGate::Flush).
  threads_->log->Start();
  threads_->sequencer->AttachLog(threads_->log.get());
  recovery_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return absl::OkStatus();
}

absl::Status Engine::OpenOpIdIndex() {
  if (config_.read_only || !config_.op_id_index) return absl::OkStatus();
  internal::OpIdIndexOptions options;
  options.dir = config_.data_dir + "/op_ids";
  options.retention_ns = config_.op_id_retention_s * 1'000'000'000u;
  options.block_cache_bytes = config_.op_id_index_cache_bytes;
  options.compaction_write_bytes_per_s =
      config_.store_compaction_write_bytes_per_s;
  auto index = internal::OpIdIndex::Open(options);
  if (!index.ok()) return index.status();
  threads_->op_id_index = std::move(index).value();
  threads_->sequencer->AttachOpIdIndex(threads_->op_id_index.get());
  return absl::OkStatus();
}

absl::Status Engine::OpenHistoryStore() {
  if (config_.read_only || !config_.history_store) return absl::OkStatus();
  Threads& t = *threads_;
  internal::HistoryStoreOptions options;
  options.dir = config_.data_dir + "/history";
  options.block_cache_bytes = config_.history_store_cache_bytes;
  options.compaction_write_bytes_per_s =
      config_.store_compaction_write_bytes_per_s;
  auto store = internal::HistoryStore::Open(options);
  if (!store.ok()) return store.status();
  t.history_store = std::move(store).value();
  // The writer rings the thread each shard runs on.
  std::vector<internal::Doorbell*> bells;
  for (const auto& shard : t.shards) {
    bells.push_back(inline_layout() ? &t.sequencer->bell() : &shard->bell());
  }
  t.history_writer = std::make_unique<internal::HistoryStoreWriter>(
      t.history_store.get(), std::move(bells), config_.on_fatal);
  t.history_reader = std::make_unique<internal::HistoryReader>(
      t.history_store.get(), shard_count_, config_.requests_in_flight_max,
      &t.sequencer->bell(), config_.on_fatal);
  t.sequencer->AttachHistoryReader(t.history_reader->done());
  for (const auto& shard : t.shards) {
    shard->AttachHistoryStore(t.history_writer.get(), t.history_reader.get(),
                              &t.sequencer->gate(),
                              t.history_store->covered_seq());
  }
  return absl::OkStatus();
}

absl::Status Engine::LoadSnapshot(uint64_t* last_seq,
                                  uint64_t* last_timestamp_ns) {
  *last_seq = 0;
  *last_timestamp_ns = 0;
  Threads& t = *threads_;
  std::vector<std::string> skipped;
  auto snap =
      wal::ReadNewestSnapshot(config_.storage, config_.data_dir, &skipped);
  for (const std::string& s : skipped) {
    recovery_.notes.push_back(absl::StrCat("skipped damaged snapshot ", s));
  }
  uint64_t snapshot_seq = 0;
  if (snap.ok()) {
    absl::StatusOr<internal::LoadedSnapshot> loaded = internal::LoadSnapshot(
        snap->path, snap->payload, t.shards, t.sequencer.get());
    if (!loaded.ok()) return loaded.status();
    *last_seq = loaded->seq;
    *last_timestamp_ns = loaded->last_timestamp_ns;
    recovery_.from_snapshot = true;
    recovery_.snapshot_seq = *last_seq;
    snapshot_seq = *last_seq;
  } else if (!absl::IsNotFound(snap.status())) {
    return snap.status();
  }
  if (!config_.read_only) {
    t.sequencer->SetSnapshotWriter(
        [this](uint64_t seq, uint64_t ts) { return WriteSnapshot(seq, ts); },
        snapshot_seq);
  }
  return absl::OkStatus();
}

bool Engine::WriteSnapshot(uint64_t seq, uint64_t timestamp_ns) {
  // Runs in the forked child: the other threads do not exist here, and the
  // state is frozen at `seq`.
  Threads& t = *threads_;
  internal::SnapshotEncoder out(seq, timestamp_ns);
  out.BeginSection();
  for (const auto& shard : t.shards) shard->SaveAccounts(out);
  out.EndSection();
  out.BeginSection();
  for (const auto& shard : t.shards) shard->SaveHolds(out);
  out.EndSection();
  out.BeginSection();
  for (const auto& shard : t.shards) shard->SaveHistory(out);
  out.EndSection();
  out.BeginSection();
  t.sequencer->op_ids().ForEach(
      seq, [&](const internal::OpIdTable::Record& r) { out.OpId(r); });
  out.EndSection();
  absl::Status s = wal::WriteSnapshotFile(config_.storage, config_.data_dir,
                                          seq, {out.bytes()});
  if (!s.ok()) {
    std::fprintf(stderr, "coffer: writing the snapshot: %s\n",
                 std::string(s.message()).c_str());
    return false;
  }
  return true;
}

void Engine::RequestSnapshot() { threads_->sequencer->RequestSnapshot(); }

absl::StatusOr<BackupResult> Engine::Backup(const BackupOptions& options) {
  if (config_.data_dir.empty() || config_.read_only) {
    return absl::FailedPreconditionError(
        config_.data_dir.empty()
            ? "backup: the engine runs in memory (no data directory)"
            : "backup: the engine is read-only");
  }
  if (backup_running_.exchange(true, std::memory_order_acq_rel)) {
    return absl::FailedPreconditionError(
        "backup: another backup is running (one at a time)");
  }
  internal::BackupSources sources;
  sources.data_dir = config_.data_dir;
  sources.archive_dir = config_.wal_archive_dir;
  // Before the first sync after a restart the log thread says 0, though
  // the log holds everything recovery replayed.
  sources.durable_seq = [this] {
    return std::max(threads_->log->durable_seq(), recovery_.last_seq);
  };
  sources.op_id_index = threads_->op_id_index.get();
  sources.history_store = threads_->history_store.get();
  absl::StatusOr<BackupResult> r = internal::WriteBackup(sources, options);
  backup_running_.store(false, std::memory_order_release);
  if (r.ok()) {
    std::fprintf(
        stderr, "coffer: backup at seq %llu written to %s: %.1f MB in %.2f s\n",
        static_cast<unsigned long long>(r->seq), r->dir.c_str(), r->bytes / 1e6,
        r->seconds);
  } else {
    std::fprintf(stderr, "coffer: %s\n",
                 std::string(r.status().message()).c_str());
  }
  return r;
}

}  // namespace coffer
