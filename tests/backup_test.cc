// Online backup (engine/backup.h, BACKUP, `coffer backup`): a copy taken
// while the ledger serves starts with exactly the state of the live log's
// prefix up to the copy's seq, remembers every op of that prefix, and a
// backup that did not finish is never taken for one.
#include "engine/backup.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/backup_files.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "net/cli.h"
#include "net/local_server.h"
#include "tests/test_util.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"

namespace coffer {
namespace {

namespace fs = std::filesystem;
using testing::Capture;
using testing::CreateAccount;
using testing::Credit;
using testing::Debit;
using testing::FreshDir;
using testing::Hold;
using testing::MakeEngine;
using testing::Release;
using testing::TakeSnapshot;
using testing::Transfer;

// Small everything, so that a few hundred ops reach every part of a data
// directory: several segments, archived ones, op ids in the index (the
// ring holds 256) and history entries in the store (64 per shard).
EngineConfig SmallDurable(const std::string& dir, uint32_t shards) {
  EngineConfig c;
  c.data_dir = dir;
  c.shard_count = shards;
  c.wal_segment_bytes = 16 << 10;
  c.wal_archive_dir = dir + "/archive";
  c.snapshot_every_log_bytes = 0;  // only when a test asks
  c.request_ops_max = 256;
  c.ops_in_flight_max = 256;
  c.op_ids_remembered_max = 256;
  c.history_entries_per_shard_max = 64;
  return c;
}

// Removes a test's directory once the test passed, after every engine and
// server of the test is gone (declared first, destroyed last): a store
// whose directory is removed under it reports errors from its compactions.
struct Cleanup {
  std::string dir;
  ~Cleanup() { testing::RemoveIfPassed(dir); }
};

BackupOptions To(std::string dir) {
  BackupOptions o;
  o.dir = std::move(dir);
  return o;
}

struct Applied {
  Op op;
  OpResult result;
};

// A mix of every kind of change on accounts 1..8: credits, debits (some
// refused), transfers, holds captured or released. Returns each op with
// its answer.
std::vector<Applied> ApplyMix(Engine& e, uint32_t rounds, uint64_t seed) {
  std::vector<Applied> out;
  auto apply = [&](const Op& op) {
    std::vector<OpResult> r = e.Apply({op});
    EXPECT_EQ(r.size(), 1u);
    if (!r.empty()) out.push_back({op, r[0]});
    return r.empty() ? OpResult{} : r[0];
  };
  for (uint64_t id = 1; id <= 8; ++id) {
    apply(CreateAccount(id));
    apply(Credit(id, 1000));
  }
  std::mt19937_64 rng(seed);
  for (uint32_t i = 0; i < rounds; ++i) {
    const uint64_t a = 1 + rng() % 8, b = 1 + (a + rng() % 7) % 8;
    apply(Debit(a, 1 + rng() % 40));
    apply(Transfer(a, b, 1 + rng() % 30));
    const Op hold = Hold(b, 1 + rng() % 20);
    if (apply(hold).ok()) {
      apply(i % 2 ? Capture(b, hold.op_id, a, 0) : Release(b, hold.op_id));
    }
  }
  return out;
}

std::unique_ptr<Engine> OpenCopy(const std::string& dir, uint32_t shards) {
  EngineConfig c = SmallDurable(dir, shards);
  auto e = Engine::Create(std::move(c));
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(e).value() : nullptr;
}

// Every op whose seq the copy holds is a duplicate there, with its
// original answer (and, up to the copy's seq, none is new).
void ExpectRemembered(Engine& copy, const std::vector<Applied>& ops,
                      uint64_t upto_seq) {
  size_t checked = 0;
  for (const Applied& a : ops) {
    if (a.result.seq == 0 || a.result.seq > upto_seq) continue;
    std::vector<OpResult> r = copy.Apply({a.op});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].duplicate()) << "seq " << a.result.seq;
    EXPECT_EQ(r[0].code, a.result.code) << "seq " << a.result.seq;
    EXPECT_EQ(r[0].seq, a.result.seq);
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

size_t CountSegments(const std::string& dir) {
  size_t n = 0;
  for (const std::string& name : Names(dir)) {
    uint64_t seq = 0;
    n += wal::ParseSegmentFileName(name, &seq) ? 1 : 0;
  }
  return n;
}

// The temporary directories ("DIR.tmp-XXXXXX") next to `dir`.
std::vector<std::string> TempDirsOf(const std::string& dir) {
  std::vector<std::string> out;
  const std::string prefix = fs::path(dir).filename().string() + ".tmp-";
  for (const std::string& name : Names(fs::path(dir).parent_path())) {
    if (name.starts_with(prefix)) {
      out.push_back((fs::path(dir).parent_path() / name).string());
    }
  }
  return out;
}

TEST(Backup, WithoutASnapshotTheCopyHoldsTheLogFromSeqOne) {
  const std::string root = FreshDir("backup-no-snapshot");
  const Cleanup cleanup{root};
  std::vector<Applied> ops;
  StateDigest live_digest;
  BackupResult r;
  {
    auto live = MakeEngine(1, SmallDurable(root + "/live", 1));
    ops = ApplyMix(*live, 150, 1);
    live_digest = live->Digest();
    auto got = live->Backup(To(root + "/copy"));
    ASSERT_TRUE(got.ok()) << got.status();
    r = *got;
    EXPECT_EQ(r.snapshot_seq, 0u);
    EXPECT_EQ(r.seq, live->Stats().durable_seq);
    EXPECT_GT(r.files, 1u);
    EXPECT_GT(r.bytes, 0u);
  }
  const std::vector<std::string> names = Names(root + "/copy");
  EXPECT_EQ(std::count(names.begin(), names.end(), kBackupIncompleteMarker), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "archive"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "op_ids"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "history"), 1);
  EXPECT_TRUE(TempDirsOf(root + "/copy").empty());

  auto copy = OpenCopy(root + "/copy", 1);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->recovery().last_seq, r.seq);
  EXPECT_FALSE(copy->recovery().from_snapshot);
  EXPECT_EQ(copy->Digest(), live_digest);
  // Early ops left memory for the index (the ring holds 256 of ~700).
  ExpectRemembered(*copy, ops, r.seq);
}

TEST(Backup, AfterSeveralSnapshotsWithSegmentsArchived) {
  const std::string root = FreshDir("backup-snapshots");
  const Cleanup cleanup{root};
  std::vector<Applied> ops;
  StateDigest live_digest;
  BackupResult r;
  uint64_t live_snapshot_seq = 0;
  {
    auto live = MakeEngine(3, SmallDurable(root + "/live", 3));
    for (int round = 0; round < 3; ++round) {
      auto more = ApplyMix(*live, 60, 10 + round);
      ops.insert(ops.end(), more.begin(), more.end());
      TakeSnapshot(*live);
    }
    auto more = ApplyMix(*live, 30, 20);  // log after the last snapshot
    ops.insert(ops.end(), more.begin(), more.end());
    live_snapshot_seq = live->Stats().snapshot_seq;
    ASSERT_GT(CountSegments(root + "/live/archive"), 0u);
    live_digest = live->Digest();
    auto got = live->Backup(To(root + "/copy"));
    ASSERT_TRUE(got.ok()) << got.status();
    r = *got;
  }
  EXPECT_EQ(r.snapshot_seq, live_snapshot_seq);
  EXPECT_GT(r.seq, r.snapshot_seq);
  // One snapshot, and only the segments after it: fewer than the live log.
  size_t snapshots = 0;
  uint64_t first_segment = UINT64_MAX;
  for (const std::string& name : Names(root + "/copy")) {
    uint64_t seq = 0;
    snapshots += wal::ParseSnapshotFileName(name, &seq) ? 1 : 0;
    if (wal::ParseSegmentFileName(name, &seq)) {
      first_segment = std::min(first_segment, seq);
    }
  }
  EXPECT_EQ(snapshots, 1u);
  EXPECT_LE(first_segment, r.snapshot_seq + 1);
  EXPECT_LT(CountSegments(root + "/copy"), CountSegments(root + "/live"));

  // Restored with another shard count: nothing stored depends on it.
  auto copy = OpenCopy(root + "/copy", 2);
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(copy->recovery().from_snapshot);
  EXPECT_EQ(copy->recovery().snapshot_seq, r.snapshot_seq);
  EXPECT_EQ(copy->recovery().last_seq, r.seq);
  EXPECT_EQ(copy->Digest(), live_digest);
  ExpectRemembered(*copy, ops, r.seq);
}

TEST(Backup, RefusesDestinationsItCannotUse) {
  const std::string root = FreshDir("backup-destinations");
  const Cleanup cleanup{root};
  auto live = MakeEngine(1, SmallDurable(root + "/live", 1));
  ApplyMix(*live, 5, 2);
  auto relative = live->Backup(To("copy"));
  EXPECT_TRUE(absl::IsInvalidArgument(relative.status()));
  EXPECT_NE(relative.status().message().find("absolute"), std::string::npos)
      << relative.status();

  fs::create_directories(root + "/full");
  std::ofstream(root + "/full/something") << "x";
  auto full = live->Backup(To(root + "/full"));
  EXPECT_TRUE(absl::IsFailedPrecondition(full.status()));
  EXPECT_NE(full.status().message().find("not empty"), std::string::npos)
      << full.status();

  std::ofstream(root + "/file") << "x";
  auto file = live->Backup(To(root + "/file"));
  EXPECT_NE(file.status().message().find("not a directory"), std::string::npos)
      << file.status();

  auto orphan = live->Backup(To(root + "/no/such/parent"));
  EXPECT_NE(orphan.status().message().find("parent"), std::string::npos)
      << orphan.status();
  for (const char* d : {"/full", "/file", "/no/such/parent"}) {
    EXPECT_TRUE(TempDirsOf(root + d).empty()) << d;
  }

  // An empty directory is fine: the copy replaces it.
  fs::create_directories(root + "/empty");
  auto empty = live->Backup(To(root + "/empty/"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->dir, root + "/empty");
  EXPECT_FALSE(Names(root + "/empty").empty());
}

TEST(Backup, AnEngineInMemoryHasNothingToCopy) {
  auto e = MakeEngine(1);
  auto r = e->Backup(To("/tmp/never-written"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status()));
  EXPECT_NE(r.status().message().find("in memory"), std::string::npos)
      << r.status();
  EXPECT_FALSE(fs::exists("/tmp/never-written"));
}

TEST(Backup, OneAtATime) {
  const std::string root = FreshDir("backup-one-at-a-time");
  const Cleanup cleanup{root};
  auto live = MakeEngine(1, SmallDurable(root + "/live", 1));
  ApplyMix(*live, 5, 3);
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  BackupOptions first;
  first.dir = root + "/first";
  first.before_step = [&, done = false](std::string_view step) mutable {
    if (step == "stores" && !done) {
      done = true;
      entered.set_value();
      released.wait();
    }
    return absl::OkStatus();
  };
  auto running =
      std::async(std::launch::async, [&] { return live->Backup(first); });
  entered.get_future().wait();
  auto second = live->Backup(To(root + "/second"));
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status()));
  EXPECT_NE(second.status().message().find("another backup"), std::string::npos)
      << second.status();
  release.set_value();
  auto r = running.get();
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(fs::exists(root + "/second"));
  // And the next one runs.
  EXPECT_TRUE(live->Backup(To(root + "/third")).ok());
}

// A backup stopped at any step (as a crash there would stop it) leaves no
// DIR; what it leaves is refused by Engine::Create; and the next backup to
// the same DIR works.
TEST(Backup, AnInterruptedBackupIsNeverMistakenForOne) {
  const std::string root = FreshDir("backup-interrupted");
  const Cleanup cleanup{root};
  auto live = MakeEngine(1, SmallDurable(root + "/live", 1));
  ApplyMix(*live, 40, 4);
  TakeSnapshot(*live);
  ApplyMix(*live, 10, 5);
  const std::string dir = root + "/copy";
  for (const char* at : {"stores", "snapshot", "log", "sync", "publish"}) {
    BackupOptions o;
    o.dir = dir;
    o.keep_temp_on_failure = true;  // what a crash at that step leaves
    o.before_step = [at](std::string_view step) {
      return step == at ? absl::AbortedError("stopped here") : absl::OkStatus();
    };
    auto r = live->Backup(o);
    ASSERT_FALSE(r.ok()) << at;
    EXPECT_NE(r.status().message().find("stopped here"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir)) << at;
    const std::vector<std::string> temps = TempDirsOf(dir);
    ASSERT_EQ(temps.size(), 1u) << at;
    EXPECT_TRUE(fs::exists(fs::path(temps[0]) / kBackupIncompleteMarker));
    auto started = Engine::Create(SmallDurable(temps[0], 1));
    ASSERT_FALSE(started.ok()) << at;
    EXPECT_NE(started.status().message().find("unfinished backup"),
              std::string::npos)
        << started.status();
    fs::remove_all(temps[0]);
  }
  // Without the test's keep, a failure cleans up after itself.
  BackupOptions o;
  o.dir = dir;
  o.before_step = [](std::string_view step) {
    return step == "log" ? absl::AbortedError("stopped") : absl::OkStatus();
  };
  EXPECT_FALSE(live->Backup(o).ok());
  EXPECT_TRUE(TempDirsOf(dir).empty());
  EXPECT_FALSE(fs::exists(dir));

  const StateDigest digest = live->Digest();
  auto r = live->Backup(To(dir));
  ASSERT_TRUE(r.ok()) << r.status();
  live.reset();
  auto copy = OpenCopy(dir, 1);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->Digest(), digest);
}

// ---- Over the protocol ------------------------------------------------------

namespace netbackup {

using net::Client;
using net::LocalServer;
using net::ServerConfig;

std::unique_ptr<LocalServer> StartServer(EngineConfig ec,
                                         ServerConfig sc = {}) {
  ec.idle_spin_iterations = 64;  // tests share two cores: sleep soon
  sc.port = 0;
  sc.io_threads = 1;
  auto local = LocalServer::Start(std::move(ec), std::move(sc));
  EXPECT_TRUE(local.ok()) << local.status();
  return local.ok() ? std::move(local).value() : nullptr;
}

std::unique_ptr<Client> Connect(const LocalServer& s) {
  auto c = s.Connect();
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(c).value() : nullptr;
}

// A data directory holding the live log (archive and live segments) from
// seq 1 up to `seq` only, cut just past seq's record, and nothing else: no
// snapshot, no store. Recovering it replays exactly ops 1..seq.
void WriteLogPrefix(const std::string& live, const std::string& out,
                    uint64_t seq) {
  std::vector<std::pair<uint64_t, std::string>> segments;
  for (const std::string& dir : {live + "/archive", live}) {
    for (const std::string& name : Names(dir)) {
      uint64_t first = 0;
      if (wal::ParseSegmentFileName(name, &first) && first <= seq) {
        segments.emplace_back(first, wal::JoinPath(dir, name));
      }
    }
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_FALSE(segments.empty());
  ASSERT_EQ(segments.front().first, 1u);
  fs::create_directories(out);
  for (size_t i = 0; i < segments.size(); ++i) {
    auto f = internal::SourceFile::Open(segments[i].second);
    ASSERT_TRUE(f.ok()) << f.status();
    uint64_t bytes = f->size();
    if (i + 1 == segments.size()) {
      auto end = internal::RecordEndOffset(*f, segments[i].first, seq, nullptr);
      ASSERT_TRUE(end.ok()) << end.status();
      bytes = *end;
    }
    const std::string to =
        wal::JoinPath(out, fs::path(segments[i].second).filename().string());
    ASSERT_TRUE(internal::CopyPrefix(*f, bytes, to, nullptr).ok());
  }
}

// Clients apply debits, transfers and holds while the backup is taken.
// The copy must start at the backup's seq N with the state of the live
// log's first N ops (a third engine replays exactly those), answer every
// op up to N as a duplicate with its original result, and know no later
// op.
TEST(NetBackup, UnderLoadTheCopyIsThePrefixOfTheLiveLog) {
  const std::string root = FreshDir("backup-under-load");
  const Cleanup cleanup{root};
  constexpr uint64_t kAccounts = 24;
  EngineConfig ec = SmallDurable(root + "/live", 2);
  ec.wal_segment_bytes = 64 << 10;
  ec.snapshot_every_log_bytes = 128 << 10;  // snapshots during the load
  auto server = StartServer(ec);
  ASSERT_NE(server, nullptr);
  {
    auto setup = Connect(*server);
    ASSERT_NE(setup, nullptr);
    for (uint64_t id = 1; id <= kAccounts; ++id) {
      ASSERT_TRUE(
          setup->Apply({CreateAccount(id), Credit(id, 1'000'000)}).ok());
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done_ops{0};
  std::mutex mu;
  std::vector<Applied> ops;  // under mu
  auto load = [&](uint64_t seed) {
    auto c = Connect(*server);
    if (c == nullptr) return;
    std::mt19937_64 rng(seed);
    std::vector<Applied> mine;
    while (!stop.load(std::memory_order_acquire)) {
      const uint64_t a = 1 + rng() % kAccounts;
      const uint64_t b = 1 + (a + rng() % (kAccounts - 1)) % kAccounts;
      Op op = rng() % 3 == 0   ? Debit(a, 1 + rng() % 50)
              : rng() % 2 == 0 ? Transfer(a, b, 1 + rng() % 50)
                               : Hold(a, 1 + rng() % 50);
      auto r = c->Apply({op});
      ASSERT_TRUE(r.ok()) << r.status();
      mine.push_back({op, r->at(0)});
      done_ops.fetch_add(1, std::memory_order_release);
    }
    std::lock_guard<std::mutex> lock(mu);
    ops.insert(ops.end(), mine.begin(), mine.end());
  };
  std::vector<std::thread> clients;
  for (uint64_t t = 0; t < 3; ++t) clients.emplace_back(load, 100 + t);
  auto wait_for_ops = [&](uint64_t n) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (done_ops.load(std::memory_order_acquire) < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    EXPECT_GE(done_ops.load(), n);
  };
  wait_for_ops(3000);
  auto admin = Connect(*server);
  ASSERT_NE(admin, nullptr);
  const uint64_t before = done_ops.load();
  auto r = admin->Backup(root + "/copy");
  const uint64_t during = done_ops.load() - before;
  wait_for_ops(done_ops.load() + 500);  // ops after the copy's seq
  stop.store(true, std::memory_order_release);
  for (auto& t : clients) t.join();
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("backup at seq %llu (snapshot %llu) while %llu ops applied\n",
              static_cast<unsigned long long>(r->seq),
              static_cast<unsigned long long>(r->snapshot_seq),
              static_cast<unsigned long long>(during));
  EXPECT_GT(r->snapshot_seq, 0u);  // snapshots were taken during the load
  server.reset();                  // the live log is final now

  WriteLogPrefix(root + "/live", root + "/prefix", r->seq);
  EngineConfig pc;
  pc.data_dir = root + "/prefix";
  pc.shard_count = 1;
  pc.op_id_index = false;
  pc.history_store = false;
  auto prefix = MakeEngine(1, pc);
  ASSERT_EQ(prefix->recovery().last_seq, r->seq);
  auto copy = OpenCopy(root + "/copy", 2);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->recovery().last_seq, r->seq);
  EXPECT_EQ(copy->Digest(), prefix->Digest());
  ExpectRemembered(*copy, ops, r->seq);
  // An op after the copy's seq is new there.
  auto later = std::find_if(ops.begin(), ops.end(), [&](const Applied& a) {
    return a.result.seq > r->seq;
  });
  ASSERT_NE(later, ops.end());
  std::vector<OpResult> again = copy->Apply({later->op});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].duplicate());
}

TEST(NetBackup, RefusalsAreAnsweredAndTheConnectionStaysOpen) {
  auto memory = StartServer({});
  ASSERT_NE(memory, nullptr);
  auto c = Connect(*memory);
  ASSERT_NE(c, nullptr);
  auto r = c->Backup("/tmp/coffer-backup-never");
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status()));
  EXPECT_NE(r.status().message().find("backup_failed"), std::string::npos);
  EXPECT_NE(r.status().message().find("in memory"), std::string::npos)
      << r.status();
  EXPECT_TRUE(c->Ping().ok());

  const std::string root = FreshDir("backup-net-refusals");
  const Cleanup cleanup{root};
  auto durable = StartServer(SmallDurable(root + "/live", 1));
  ASSERT_NE(durable, nullptr);
  auto d = Connect(*durable);
  ASSERT_NE(d, nullptr);
  r = d->Backup("relative/copy");
  EXPECT_NE(r.status().message().find("absolute"), std::string::npos)
      << r.status();
  fs::create_directories(root + "/full/x");
  r = d->Backup(root + "/full");
  EXPECT_NE(r.status().message().find("not empty"), std::string::npos)
      << r.status();
  EXPECT_TRUE(d->Ping().ok());
  EXPECT_EQ(d->reconnects(), 0u);
}

TEST(NetBackup, ASecondBackupWhileOneRunsIsRefused) {
  const std::string root = FreshDir("backup-net-busy");
  const Cleanup cleanup{root};
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> held{false};
  ServerConfig sc;
  sc.backup_before_step = [&](std::string_view step) {
    if (step == "snapshot" && !held.exchange(true)) {
      entered.set_value();
      released.wait();
    }
    return absl::OkStatus();
  };
  auto server = StartServer(SmallDurable(root + "/live", 1), sc);
  ASSERT_NE(server, nullptr);
  auto first = Connect(*server), second = Connect(*server);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->Apply({CreateAccount(1), Credit(1, 5)}).ok());
  auto running = std::async(std::launch::async,
                            [&] { return first->Backup(root + "/a"); });
  entered.get_future().wait();
  auto busy = second->Backup(root + "/b");
  EXPECT_NE(busy.status().message().find("another backup is running"),
            std::string::npos)
      << busy.status();
  release.set_value();
  auto r = running.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->seq, 2u);
  EXPECT_TRUE(second->Backup(root + "/b").ok());
}

// Shutdown stops a backup in flight rather than wait for the copy: it
// ends, and leaves either a whole backup or nothing.
TEST(NetBackup, ShutdownDuringABackupEnds) {
  const std::string root = FreshDir("backup-net-shutdown");
  const Cleanup cleanup{root};
  std::promise<void> entered;
  std::atomic<bool> once{false};
  ServerConfig sc;
  sc.backup_before_step = [&](std::string_view step) {
    if (step == "snapshot" && !once.exchange(true)) entered.set_value();
    return absl::OkStatus();
  };
  auto server = StartServer(SmallDurable(root + "/live", 1), sc);
  ASSERT_NE(server, nullptr);
  auto c = Connect(*server);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Apply({CreateAccount(1), Credit(1, 5)}).ok());
  auto running =
      std::async(std::launch::async, [&] { return c->Backup(root + "/copy"); });
  entered.get_future().wait();
  auto stopped = std::async(std::launch::async, [&] { server.reset(); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(60)),
            std::future_status::ready);
  running.wait();
  EXPECT_TRUE(TempDirsOf(root + "/copy").empty());
  if (fs::exists(root + "/copy")) {
    EXPECT_FALSE(fs::exists(root + "/copy/" + kBackupIncompleteMarker));
  }
}

TEST(NetBackup, CliCommand) {
  const std::string root = FreshDir("backup-cli");
  const Cleanup cleanup{root};
  auto server = StartServer(SmallDurable(root + "/live", 1));
  ASSERT_NE(server, nullptr);
  net::CliOptions o;
  o.server = "127.0.0.1:" + std::to_string(server->port());
  std::ostringstream out, err;
  EXPECT_EQ(net::RunCli({"create-account", "1", "1"}, o, out, err),
            net::kExitOk);
  EXPECT_EQ(net::RunCli({"backup", "relative"}, o, out, err), net::kExitUsage);
  EXPECT_NE(err.str().find("absolute path on the server's host"),
            std::string::npos)
      << err.str();
  out.str("");
  EXPECT_EQ(net::RunCli({"backup", root + "/copy"}, o, out, err), net::kExitOk)
      << err.str();
  EXPECT_EQ(out.str().rfind("backup at seq 1: ", 0), 0u) << out.str();
  EXPECT_NE(out.str().find("-> " + root + "/copy"), std::string::npos);
  err.str("");
  EXPECT_EQ(net::RunCli({"backup", root + "/copy"}, o, out, err),
            net::kExitRefused);
  EXPECT_NE(err.str().find("not empty"), std::string::npos) << err.str();
  o.json = true;
  out.str("");
  EXPECT_EQ(net::RunCli({"backup", root + "/copy2"}, o, out, err),
            net::kExitOk);
  EXPECT_NE(out.str().find("\"seq\":\"1\""), std::string::npos) << out.str();
}

}  // namespace netbackup

}  // namespace
}  // namespace coffer
