#include "engine/history_reader.h"

#include "absl/strings/str_cat.h"
#include "common/assert.h"
#include "common/thread_name.h"
#include "engine/fail_stop.h"
#include "engine/history_page.h"

namespace coffer::internal {

HistoryReader::HistoryReader(const HistoryStore* store, uint32_t lanes,
                             uint32_t requests_in_flight_max,
                             Doorbell* sequencer_bell,
                             std::function<void(const absl::Status&)> on_fatal,
                             std::function<void()> before_read)
    : store_(store),
      sequencer_bell_(sequencer_bell),
      on_fatal_(std::move(on_fatal)),
      before_read_(std::move(before_read)),
      done_(requests_in_flight_max) {
  COFFER_ASSERT(requests_in_flight_max > 0);
  for (uint32_t s = 0; s < lanes; ++s) {
    lanes_.push_back(std::make_unique<RequestQueue>(requests_in_flight_max));
  }
  thread_ = std::thread([this] { Run(); });
  NameThread(thread_, "coffer-histread");
}

HistoryReader::~HistoryReader() {
  stop_.store(true, std::memory_order_release);
  bell_.RingAlways();
  thread_.join();
}

void HistoryReader::Hand(uint32_t lane, Request* r) {
  COFFER_ASSERT(lane < lanes_.size());
  COFFER_ASSERT(r->internal.history_store_below != 0);
  const bool pushed = lanes_[lane]->push(r);
  COFFER_ASSERT_MSG(pushed, "history reader lane over requests_in_flight_max");
  bell_.Ring();
}

bool HistoryReader::ReadOne(size_t s) {
  Request* r = nullptr;
  if (!lanes_[s]->pop(r)) return false;
  if (before_read_) before_read_();
  RequestState& in = r->internal;
  HistoryPage page(r, in.history_examined);
  absl::Status status =
      store_->Read(r->history_account, in.history_store_below,
                   [&](const HistoryEntry& e) { return page.Offer(e); });
  if (!status.ok()) {
    FailStop(on_fatal_,
             absl::Status(status.code(),
                          absl::StrCat("the history store could not be read: ",
                                       status.message())));
  }
  in.history_store_below = 0;
  in.history_examined = 0;
  // Capacity is requests_in_flight_max, which admission respects.
  const bool pushed = done_.push(r);
  COFFER_ASSERT_MSG(pushed,
                    "history reader done queue over "
                    "requests_in_flight_max");
  sequencer_bell_->Ring();
  return true;
}

void HistoryReader::Run() {
  for (;;) {
    // One request per lane per round, so that no shard waits behind another.
    bool read = false;
    for (size_t s = 0; s < lanes_.size(); ++s) read |= ReadOne(s);
    if (read) continue;
    // Everything handed over is read: stop now if asked.
    if (stop_.load(std::memory_order_acquire)) return;
    const uint32_t token = bell_.PrepareSleep();
    bool empty = true;
    for (const auto& lane : lanes_) empty &= lane->read_available() == 0;
    if (empty && !stop_.load(std::memory_order_acquire)) bell_.Sleep(token);
    bell_.Awake();
  }
}

}  // namespace coffer::internal
