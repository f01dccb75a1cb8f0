// `coffer stats --watch`: a live view of a server, one line per interval
// (as `redis-cli --stat` gives), computed from two STATS replies: the
// rates of ops, requests, duplicates, log syncs and busy answers over the
// interval, the ops per sync (the group commit), open connections, the
// last seq and how far durability trails it, and the snapshots written.
//
// Contract:
// - Stops after `count` lines (0: until the process is interrupted), or at
//   the first failed STATS (the error is returned; what was printed stays).
// - A header line first, and again every 20 lines, in text; in JSON one
//   object per line and no header, 64-bit values as strings (as every
//   `coffer --json` output).
// - Paces itself with a sleep of `interval_ms` between samples: a display
//   interval, never a synchronisation.
#pragma once

#include <cstdint>
#include <ostream>

#include "absl/status/status.h"
#include "net/client.h"

namespace coffer::net {

struct WatchOptions {
  uint32_t interval_ms = 1000;
  uint32_t count = 0;  // lines; 0: until interrupted
  bool json = false;
};

absl::Status WatchStats(Client& client, const WatchOptions& options,
                        std::ostream& out);

}  // namespace coffer::net
