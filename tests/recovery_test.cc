// Durability: kill -9 under load, injected storage faults, and the rule that
// no answer leaves before the fsync that covers it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "tests/test_util.h"
#include "wal/faulty_storage.h"
#include "wal/storage.h"

namespace coffer::testing {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kAccounts = 200;
constexpr uint64_t kFunding = 1'000'000;
constexpr uint64_t kFirstAccount = 1;

EngineConfig DurableConfig(const std::string& dir, uint32_t shards) {
  EngineConfig c;
  c.data_dir = dir;
  c.shard_count = shards;
  c.wal_segment_bytes = 1 << 20;
  c.snapshot_every_log_bytes = 256 << 10;  // snapshots happen during the test
  c.idle_spin_iterations = 64;
  // These tests fork children that run engines; RocksDB's background
  // threads (the op-id index, the history store) outlive every engine in a
  // process, and TSan cannot follow a fork of a multi-threaded process (its
  // children stopped with "dup thread with used id"). The index and the
  // store have their own tests (op_id_retention_test, history_store_test)
  // and are killed with -9 in torture_test, where the server is a process
  // of its own.
  c.op_id_index = false;
  c.history_store = false;
  return c;
}

// An acknowledged op as the client saw it.
struct Ack {
  Op op;
  OpResult result;
};

void WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) _exit(3);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Child process: serve random transfers (single and linked pairs) among the
// accounts from several threads until killed, reporting every answer.
[[noreturn]] void RunLoadChild(const std::string& dir, uint32_t shards,
                               uint64_t op_id_base, int ack_fd,
                               wal::Storage* storage) {
  EngineConfig config = DurableConfig(dir, shards);
  config.storage = storage;
  auto created = Engine::Create(config);
  if (!created.ok()) {
    std::fprintf(stderr, "child: %s\n", created.status().ToString().c_str());
    _exit(2);
  }
  std::unique_ptr<Engine> engine = std::move(created).value();
  std::atomic<uint64_t> next_id{op_id_base};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(op_id_base + t);
      for (;;) {
        std::vector<Op> ops;
        const int n = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < n; ++i) {
          const uint64_t from = kFirstAccount + rng() % kAccounts;
          uint64_t to = kFirstAccount + rng() % kAccounts;
          if (to == from) to = kFirstAccount + (to % kAccounts);
          if (to == from) continue;
          Op op = Transfer(from, to, 1 + rng() % 5000);
          op.op_id = next_id.fetch_add(1);
          ops.push_back(op);
        }
        if (ops.size() == 2 && rng() % 2 == 0) ops[0].flags |= kOpFlagLinked;
        std::vector<OpResult> results = engine->Apply(ops);
        if (results.size() != ops.size()) _exit(4);
        // One write per request (< PIPE_BUF, so atomic): a linked pair's
        // acks never interleave with other threads' or get split by a kill.
        Ack acks[3];
        for (size_t i = 0; i < ops.size(); ++i)
          acks[i] = Ack{ops[i], results[i]};
        WriteAll(ack_fd, acks, sizeof(Ack) * ops.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

// Reads acks from the child until `want` arrived or the pipe closed.
void ReadAcks(int fd, size_t want, std::vector<Ack>* acks) {
  Ack a;
  size_t have = 0;
  char* buf = reinterpret_cast<char*>(&a);
  while (acks->size() < want) {
    ssize_t r = read(fd, buf + have, sizeof(a) - have);
    if (r <= 0) return;
    have += static_cast<size_t>(r);
    if (have == sizeof(a)) {
      acks->push_back(a);
      have = 0;
    }
  }
}

int64_t TotalBalance(Engine& e) {
  std::vector<uint64_t> ids;
  for (uint64_t id = kFirstAccount; id < kFirstAccount + kAccounts; ++id) {
    ids.push_back(id);
  }
  int64_t sum = 0;
  for (const AccountInfo& a : e.Lookup(ids)) {
    EXPECT_NE(a.id, 0u);
    EXPECT_GE(a.balance, 0) << "account " << a.id;
    sum += a.balance;
  }
  return sum;
}

// Every acknowledged op must come back, on retry, as a duplicate carrying
// exactly the original answer.
void ExpectAcksPresent(Engine& e, const std::vector<Ack>& acks) {
  constexpr size_t kBatch = 512;
  for (size_t i = 0; i < acks.size();) {
    // Retry chains whole: never split a linked pair across batches.
    std::vector<Op> ops;
    size_t j = i;
    while (j < acks.size() &&
           (ops.size() < kBatch || (ops.back().flags & kOpFlagLinked))) {
      ops.push_back(acks[j++].op);
    }
    std::vector<OpResult> again = e.Apply(ops);
    ASSERT_EQ(again.size(), ops.size());
    for (size_t k = 0; k < ops.size(); ++k) {
      const OpResult& before = acks[i + k].result;
      ASSERT_TRUE(again[k].duplicate())
          << "acknowledged op " << ops[k].op_id << " was lost";
      ASSERT_EQ(again[k].code, before.code) << ops[k].op_id;
      ASSERT_EQ(again[k].seq, before.seq) << ops[k].op_id;
      ASSERT_EQ(again[k].balance_after, before.balance_after) << ops[k].op_id;
    }
    i = j;
  }
}

void SetUpAccounts(const std::string& dir) {
  auto e = Engine::Create(DurableConfig(dir, 2));
  ASSERT_TRUE(e.ok()) << e.status();
  std::vector<Op> ops;
  for (uint64_t id = kFirstAccount; id < kFirstAccount + kAccounts; ++id) {
    ops.push_back(CreateAccount(id));
    ops.push_back(Credit(id, kFunding));
  }
  for (const OpResult& r : (*e)->Apply(ops)) ASSERT_TRUE(r.ok());
}

int CyclesFromEnv() {
  return static_cast<int>(
      std::max<uint64_t>(1, TestScale("COFFER_KILL_CYCLES", 20, 5)));
}

TEST(RecoveryTest, KillNineUnderLoadLosesNothingAcknowledged) {
  const std::string dir = FreshDir("kill");
  SetUpAccounts(dir);
  std::mt19937_64 rng(42);
  const int cycles = CyclesFromEnv();
  std::vector<Ack> all_acks;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const uint64_t op_id_base = (static_cast<uint64_t>(cycle) + 1) << 40;
    const uint32_t shards = 1 + static_cast<uint32_t>(cycle % 3);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      RunLoadChild(dir, shards, op_id_base, fds[1], wal::PosixStorage());
    }
    close(fds[1]);
    // Kill after a random number of acknowledgements: a random moment that
    // needs no sleeping.
    const size_t kill_after = 50 + rng() % 400;
    std::vector<Ack> acks;
    ReadAcks(fds[0], kill_after, &acks);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ReadAcks(fds[0], SIZE_MAX, &acks);  // whatever was in the pipe
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "child ended on its own, status " << status;
    ASSERT_GE(acks.size(), kill_after) << "cycle " << cycle;
    all_acks.insert(all_acks.end(), acks.begin(), acks.end());

    // Restart with yet another shard count and check.
    auto e = Engine::Create(DurableConfig(dir, 1 + (cycle + 1) % 4));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(TotalBalance(**e), static_cast<int64_t>(kAccounts * kFunding))
        << "cycle " << cycle;
    ExpectAcksPresent(**e, acks);
    const StateDigest recovered = (*e)->Digest();
    e->reset();
    // An independent recovery of the same data with another shard count
    // reaches the same state.
    const std::string copy = dir + "-copy";
    fs::remove_all(copy);
    fs::copy(dir, copy, fs::copy_options::recursive);
    auto replayed = Engine::Create(DurableConfig(copy, 3));
    ASSERT_TRUE(replayed.ok()) << replayed.status();
    EXPECT_EQ((*replayed)->Digest(), recovered) << "cycle " << cycle;
    replayed->reset();
    fs::remove_all(copy);
  }
  // Across all cycles (and snapshots taken meanwhile) nothing was lost.
  auto e = Engine::Create(DurableConfig(dir, 2));
  ASSERT_TRUE(e.ok()) << e.status();
  ExpectAcksPresent(**e, all_acks);
  EXPECT_GT((*e)->recovery().snapshot_seq + (*e)->recovery().log_ops, 0u);
}

TEST(RecoveryTest, InjectedStorageFaultsStopWithoutAcknowledging) {
  const std::pair<wal::Fault, const char*> faults[] = {
      {wal::Fault::kFailSync, "fsync"},
      {wal::Fault::kFailWrite, "write"},
      {wal::Fault::kNoSpace, "ENOSPC"},
      {wal::Fault::kShortWrite, "short write"},
  };
  for (const auto& [fault, name] : faults) {
    SCOPED_TRACE(name);
    const std::string dir = FreshDir(std::string("fault-") + name);
    SetUpAccounts(dir);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      static wal::FaultyStorage faulty(wal::PosixStorage());
      faulty.Arm(fault, 25);  // well into the load
      // Keep stderr quiet in the test log except for the fatal message.
      RunLoadChild(dir, 2, uint64_t{7} << 40, fds[1], &faulty);
    }
    close(fds[1]);
    std::vector<Ack> acks;
    ReadAcks(fds[0], SIZE_MAX, &acks);  // until the child dies
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 70) << "fail-stop exit code";
    auto e = Engine::Create(DurableConfig(dir, 2));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(TotalBalance(**e), static_cast<int64_t>(kAccounts * kFunding));
    ExpectAcksPresent(**e, acks);
  }
}

TEST(RecoveryTest, NoAnswerBeforeTheSyncThatCoversIt) {
  const std::string dir = FreshDir("nosync");
  wal::FaultyStorage storage(wal::PosixStorage());
  EngineConfig config = DurableConfig(dir, 2);
  config.storage = &storage;
  auto created = Engine::Create(config);
  ASSERT_TRUE(created.ok()) << created.status();
  Engine& e = **created;
  ASSERT_TRUE(e.Apply({CreateAccount(1)})[0].ok());

  storage.BlockSyncs();
  std::atomic<bool> write_answered{false}, read_answered{false};
  Request write;
  write.ops = {Credit(1, 10)};
  write.on_complete = [&](Request&) { write_answered = true; };
  ASSERT_EQ(e.Submit(&write), SubmitResult::kAccepted);
  // Wait (bounded) until the log thread is inside the blocked sync.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!storage.sync_waiting()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::yield();
  }
  // A read ordered after the credit must not show it before it is durable.
  Request read;
  read.kind = RequestKind::kLookup;
  read.lookup_ids = {1};
  read.on_complete = [&](Request&) { read_answered = true; };
  ASSERT_EQ(e.Submit(&read), SubmitResult::kAccepted);
  // The sync cannot finish while blocked, so nothing may be answered.
  EXPECT_FALSE(write_answered.load());
  EXPECT_FALSE(read_answered.load());
  storage.UnblockSyncs();
  while (!write_answered || !read_answered) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::yield();
  }
  EXPECT_TRUE(write.results[0].ok());
  EXPECT_EQ(read.accounts[0].balance, 10);
}

TEST(RecoveryTest, SnapshotThenRestartWithOtherShardCounts) {
  const std::string dir = FreshDir("snap");
  std::vector<Op> ops;
  for (uint64_t id = 1; id <= 300; ++id) ops.push_back(CreateAccount(id));
  for (uint64_t id = 1; id <= 300; ++id) ops.push_back(Credit(id, 1000));
  for (uint64_t id = 1; id < 300; ++id) ops.push_back(Transfer(id, id + 1, 7));
  Op hold = Hold(5, 100);
  ops.push_back(hold);
  StateDigest before;
  {
    auto e = Engine::Create(DurableConfig(dir, 2));
    ASSERT_TRUE(e.ok()) << e.status();
    for (const OpResult& r : (*e)->Apply(ops)) ASSERT_TRUE(r.ok());
    TakeSnapshot(**e);
    // More work after the snapshot: recovery = snapshot + log.
    ASSERT_TRUE((*e)->Apply({Capture(5, hold.op_id, 6, 60)})[0].ok());
    before = (*e)->Digest();
  }
  // 2: the same count (each shard reads its own blocks); the others route
  // every record by its owner.
  for (uint32_t shards : {2u, 1u, 3u, 4u}) {
    auto e = Engine::Create(DurableConfig(dir, shards));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_TRUE((*e)->recovery().from_snapshot);
    EXPECT_EQ((*e)->Digest(), before) << shards << " shards";
    EXPECT_EQ(Account(**e, 6).balance, 1000 + 60);
    // History survived the snapshot too.
    Request h;
    h.kind = RequestKind::kHistory;
    h.history_account = 6;
    (*e)->Execute(h);
    ASSERT_TRUE(h.history_found);
    EXPECT_EQ(h.history.front().kind, EntryKind::kCaptureIn);
    // The original answers are remembered across the restart.
    EXPECT_TRUE((*e)->Apply({hold})[0].duplicate());
  }
}

}  // namespace
}  // namespace coffer::testing
