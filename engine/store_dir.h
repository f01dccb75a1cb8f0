// The directory of one of Coffer's RocksDB stores (the op-id index, the
// history store), made ready before RocksDB opens it.
#pragma once

#include <string>

namespace coffer::internal {

// Both stores write table files under this prefix, then ingest them.
inline constexpr char kIngestPrefix[] = "ingest-";

// Creates `dir` if missing (so that RocksDB does not report a new store's
// missing directory as an error), and deletes the table files a crash left
// between writing and ingesting them: what they held is written again from
// the log. Errors are left to RocksDB's open, which names them.
void PrepareStoreDir(const std::string& dir);

}  // namespace coffer::internal
