// The log thread (engine/log_thread.h) and the inline layout's two ways to
// sync: chunks handed to the thread and chunks synced on the caller's
// thread (SyncNow) alternate on one writer, and the log holds every record
// once, in seq order; SyncNow is refused while the thread holds a chunk.
#include "engine/log_thread.h"

#include <memory>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "wal/faulty_storage.h"
#include "wal/log_reader.h"
#include "wal/storage.h"

namespace coffer::testing {
namespace {

using internal::Doorbell;
using internal::LogChunk;
using internal::LogThread;

std::unique_ptr<LogThread> OpenLogThread(const std::string& dir,
                                         wal::Storage* storage,
                                         Doorbell* bell) {
  wal::LogWriterOptions options;
  options.dir = dir;
  options.segment_bytes = 1 << 20;
  options.storage = storage;
  auto writer = wal::LogWriter::Open(options, /*next_seq=*/1);
  EXPECT_TRUE(writer.ok()) << writer.status();
  return std::make_unique<LogThread>(
      std::move(writer).value(), bell,
      [](const absl::Status& s) { ADD_FAILURE() << s; });
}

// A chunk of one record of seq `seq` whose payload names it.
LogChunk* ChunkOf(LogThread& log, uint64_t seq) {
  LogChunk* c = log.TakeFree();
  EXPECT_NE(c, nullptr);
  const std::string payload = "record " + std::to_string(seq);
  c->records.push_back(
      LogChunk::Span{seq, seq, c->bytes.size(), payload.size()});
  c->bytes += payload;
  return c;
}

// Waits on `bell` until the log is durable up to `seq` and the thread is
// idle (bounded: the thread was handed exactly that).
void AwaitSynced(LogThread& log, Doorbell& bell, uint64_t seq) {
  while (log.durable_seq() < seq || !log.idle()) {
    const uint32_t token = bell.PrepareSleep();
    if (log.durable_seq() < seq || !log.idle()) bell.Sleep(token);
    bell.Awake();
  }
}

std::vector<std::string> ReadPayloads(const std::string& dir) {
  std::vector<std::string> payloads;
  uint64_t expect_seq = 1;
  auto report = wal::ReadLog(dir, wal::ReadOptions{},
                             [&](const wal::Record& r) -> absl::Status {
                               EXPECT_EQ(r.first_seq, expect_seq);
                               expect_seq = r.last_seq + 1;
                               payloads.emplace_back(r.payload);
                               return absl::OkStatus();
                             });
  EXPECT_TRUE(report.ok()) << report.status();
  return payloads;
}

TEST(LogThreadTest, HandedAndInlineSyncsAlternateOnOneWriter) {
  const std::string dir = FreshDir("log_thread_alternate");
  Doorbell bell;
  std::unique_ptr<LogThread> log =
      OpenLogThread(dir, wal::PosixStorage(), &bell);
  log->Start();
  EXPECT_TRUE(log->idle());
  uint64_t seq = 0;
  for (int round = 0; round < 20; ++round) {
    // Two chunks to the thread, then two synced here once it is done.
    log->Submit(ChunkOf(*log, ++seq));
    log->Submit(ChunkOf(*log, ++seq));
    AwaitSynced(*log, bell, seq);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(log->idle());
      log->SyncNow(ChunkOf(*log, ++seq));
      // Durable when SyncNow returns: nothing to wait for.
      EXPECT_EQ(log->durable_seq(), seq);
    }
  }
  EXPECT_EQ(log->records(), seq);
  EXPECT_EQ(log->syncs(), log->fsync_ns().Snapshot().count);
  log.reset();
  const std::vector<std::string> payloads = ReadPayloads(dir);
  ASSERT_EQ(payloads.size(), seq);
  for (uint64_t s = 1; s <= seq; ++s) {
    EXPECT_EQ(payloads[s - 1], "record " + std::to_string(s));
  }
  RemoveIfPassed(dir);
}

TEST(LogThreadTest, NotIdleWhileTheThreadSyncs) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string dir = FreshDir("log_thread_busy");
  wal::FaultyStorage storage(wal::PosixStorage());
  Doorbell bell;
  std::unique_ptr<LogThread> log = OpenLogThread(dir, &storage, &bell);
  log->Start();
  storage.BlockSyncs();
  log->Submit(ChunkOf(*log, 1));
  // The thread holds the chunk until its sync returns, and the writer with
  // it: an inline sync now would write beside it.
  EXPECT_FALSE(log->idle());
  EXPECT_DEATH(log->SyncNow(ChunkOf(*log, 2)), "inline log sync");
  storage.UnblockSyncs();
  AwaitSynced(*log, bell, 1);
  EXPECT_TRUE(log->idle());
  log.reset();
  RemoveIfPassed(dir);
}

}  // namespace
}  // namespace coffer::testing
