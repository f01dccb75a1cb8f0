// The server's backups (BACKUP, net/PROTOCOL.md): each runs Engine::Backup
// on a thread of its own, never on an io thread or an engine thread, so a
// copy of gigabytes holds no connection and no request behind it.
//
// Contract:
// - One backup at a time per server: TryStart refuses a second while one
//   runs (the engine would refuse it too; this answers without a thread).
// - `done` runs once on the backup's thread when it ends; it must not
//   block (the connection posts the reply to its io thread).
// - Stop() (server shutdown) cancels the running backup at its next chunk
//   (it ends with kCancelled, nothing published) and refuses new ones;
//   Join() then waits for its thread; the destructor stops and joins.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace coffer::net {

class BackupRunner {
 public:
  // `before_step`: BackupOptions::before_step of every backup (tests).
  BackupRunner(
      Engine* engine,
      std::function<absl::Status(std::string_view step)> before_step = {})
      : engine_(engine), before_step_(std::move(before_step)) {}
  ~BackupRunner();
  BackupRunner(const BackupRunner&) = delete;
  BackupRunner& operator=(const BackupRunner&) = delete;

  enum class Start { kStarted, kBusy, kStopped };
  using Done = std::function<void(absl::StatusOr<BackupResult>)>;
  Start TryStart(std::string dir, Done done);
  void Stop();
  // After Stop(): waits for the running backup's thread to end (it ends at
  // its next chunk). The server calls it before its io threads go, so that
  // nothing the thread held outlives them.
  void Join();

 private:
  Engine* const engine_;
  const std::function<absl::Status(std::string_view step)> before_step_;
  std::mutex mu_;
  bool running_ = false;  // under mu_
  bool stopped_ = false;  // under mu_
  std::atomic<bool> cancel_{false};
  std::thread thread_;  // the last backup's; joined before the next
};

}  // namespace coffer::net
