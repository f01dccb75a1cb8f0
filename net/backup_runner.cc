#include "net/backup_runner.h"

#include <utility>

#include "common/assert.h"
#include "common/thread_name.h"

namespace coffer::net {

BackupRunner::~BackupRunner() {
  Stop();
  Join();
}

void BackupRunner::Join() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    COFFER_ASSERT(stopped_);  // else TryStart could start another meanwhile
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

BackupRunner::Start BackupRunner::TryStart(std::string dir, Done done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return Start::kStopped;
  if (running_) return Start::kBusy;
  // The previous backup's thread has cleared running_ as its last act:
  // this join waits only for it to return.
  if (thread_.joinable()) thread_.join();
  running_ = true;
  thread_ = std::thread([this, dir = std::move(dir), done = std::move(done)] {
    BackupOptions options;
    options.dir = dir;
    options.cancel = &cancel_;
    options.before_step = before_step_;
    absl::StatusOr<BackupResult> result = engine_->Backup(options);
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = false;
    }
    done(std::move(result));
  });
  NameThread(thread_, "coffer-backup");
  return Start::kStarted;
}

void BackupRunner::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  cancel_.store(true, std::memory_order_release);
}

}  // namespace coffer::net
