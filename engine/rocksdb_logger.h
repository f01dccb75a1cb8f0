// RocksDB's info log for Coffer's stores (the op-id index, the history
// store): warnings and errors to stderr, beside cofferd's own lines, and
// nothing on disk.
//
// Why not RocksDB's own LOG file: after one failed write to it (a full
// disk), its next line trips an assertion in RocksDB's file writer
// (Debian's build keeps its assertions), so a full disk at start-up
// aborted cofferd instead of refusing to start with the reason (seen in
// the tmpfs torture test: a core showed DB::Open -> WriteOptionsFile ->
// EnvLogger::Logv -> WritableFileWriter::Append).
#pragma once

#include <memory>
#include <string>

namespace rocksdb {
class Logger;
}  // namespace rocksdb

namespace coffer::internal {

// A logger whose lines read "coffer: <name>: <message>".
std::shared_ptr<rocksdb::Logger> StderrRocksLogger(std::string name);

}  // namespace coffer::internal
