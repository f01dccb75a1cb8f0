#include "engine/rocksdb_logger.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "rocksdb/env.h"

namespace coffer::internal {
namespace {

class StderrLogger : public rocksdb::Logger {
 public:
  explicit StderrLogger(std::string name)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL),
        name_(std::move(name)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[1024];  // longer messages are cut
    const int n = std::vsnprintf(line, sizeof(line), format, ap);
    size_t len = n < 0 ? 0 : std::min<size_t>(n, sizeof(line) - 1);
    while (len > 0 && line[len - 1] == '\n') --len;  // one line each
    std::fprintf(stderr, "coffer: %s: %.*s\n", name_.c_str(),
                 static_cast<int>(len), line);
  }

 private:
  const std::string name_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> StderrRocksLogger(std::string name) {
  return std::make_shared<StderrLogger>(std::move(name));
}

}  // namespace coffer::internal
