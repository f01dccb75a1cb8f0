// One history page as it is gathered, newest entry first, from memory (on
// the shard's thread) and then from the store (on the history reader's
// thread, engine/history_reader.h): the same rules for both.
#pragma once

#include <cstdint>

#include "engine/request.h"
#include "engine/types.h"

namespace coffer::internal {

class HistoryPage {
 public:
  // `examined`: entries already examined for this page (by the part of it
  // gathered before), so the scan bound counts the whole page.
  explicit HistoryPage(Request* r, uint32_t examined = 0)
      : r_(r), examined_(examined) {}

  // Takes the next older entry; false once the page is complete (the
  // cursor, r->history_next_before, is then set if more may follow).
  bool Offer(const HistoryEntry& e) {
    const HistoryFilter& filter = r_->history_filter;
    // An account's entries are stamped in the order they are numbered (the
    // engine time of their ops, which grows with seq): none further on is
    // young enough.
    if (e.timestamp_ns < filter.timestamp_min_ns) return false;
    if (filter.Passes(e)) {
      if (r_->history.size() == r_->history_limit) {
        r_->history_next_before = r_->history.back().number;
        return false;
      }
      r_->history.push_back(e);
    }
    if (++examined_ == kHistoryScanEntriesMax) {
      r_->history_next_before = e.number;  // a short page; go on below it
      return false;
    }
    return true;
  }

  uint32_t examined() const { return examined_; }

 private:
  Request* const r_;
  uint32_t examined_ = 0;
};

}  // namespace coffer::internal
