// Back-pressure: a full submit queue answers kQueueFull and the rejected
// request has no effect; oversized requests answer kTooLarge. The sequencer
// is stalled deterministically by a completion callback that blocks (it runs
// on the sequencer thread), not by timing.
#include <atomic>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

TEST(QueueBackpressure, QueueFullWhileSequencerIsStalled) {
  constexpr uint32_t kCapacity = 2;
  EngineConfig config;
  config.submit_queue_capacity = kCapacity;
  auto e = MakeEngine(2, config);
  constexpr uint64_t kAccount = 1;
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);

  // The first request's callback blocks the sequencer until released.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::latch first_done(1);
  Request first;
  first.ops = {Credit(kAccount, 1)};
  first.on_complete = [&](Request&) {
    entered.set_value();
    released.wait();
    first_done.count_down();
  };
  ASSERT_EQ(e->TrySubmit(&first), SubmitResult::kAccepted);
  entered.get_future().wait();  // the sequencer is now inside the callback

  // Fill the submit queue: nothing drains it while the sequencer is stalled.
  struct Pending {
    Request request;
    std::promise<void> done;
  };
  std::vector<std::unique_ptr<Pending>> accepted;
  std::unique_ptr<Pending> rejected;
  uint64_t accepted_amount = 0;
  for (int i = 0; i < 100; ++i) {
    auto p = std::make_unique<Pending>();
    p->request.ops = {Credit(kAccount, uint64_t{10} << (i % 8))};
    p->request.on_complete = [done = &p->done](Request&) { done->set_value(); };
    const SubmitResult s = e->TrySubmit(&p->request);
    if (s == SubmitResult::kQueueFull) {
      rejected = std::move(p);
      break;
    }
    ASSERT_EQ(s, SubmitResult::kAccepted);
    accepted_amount += p->request.ops[0].amount;
    accepted.push_back(std::move(p));
  }
  ASSERT_NE(rejected, nullptr) << "the submit queue never filled up";
  // The queue holds (at least) its configured capacity.
  EXPECT_GE(accepted.size(), kCapacity);
  EXPECT_LE(accepted.size(), kCapacity + 2);
  // Still full: a second try is refused too, and so are reads.
  EXPECT_EQ(e->TrySubmit(&rejected->request), SubmitResult::kQueueFull);
  Request read;
  read.kind = RequestKind::kLookup;
  read.lookup_ids = {kAccount};
  EXPECT_EQ(e->TrySubmit(&read), SubmitResult::kQueueFull);

  release.set_value();
  first_done.wait();
  for (const auto& p : accepted) {
    p->done.get_future().wait();
    ASSERT_EQ(p->request.results.size(), 1u);
    EXPECT_EQ(p->request.results[0].code, ResultCode::kOk);
  }
  EXPECT_EQ(Balance(*e, kAccount), static_cast<int64_t>(1 + accepted_amount));
  EXPECT_TRUE(rejected->request.results.empty());  // never touched

  // The rejected op never happened: submitting it now applies it as new.
  const OpResult late = e->Apply(rejected->request.ops)[0];
  EXPECT_EQ(late.code, ResultCode::kOk);
  EXPECT_FALSE(late.duplicate());
  EXPECT_EQ(Balance(*e, kAccount),
            static_cast<int64_t>(1 + accepted_amount +
                                 rejected->request.ops[0].amount));
}

// Submit (blocking) waits while the queue is full and succeeds once it
// drains.
TEST(QueueBackpressure, SubmitWaitsForRoom) {
  EngineConfig config;
  config.submit_queue_capacity = 1;
  auto e = MakeEngine(1, config);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Request first;
  first.ops = {Credit(1, 1)};
  first.on_complete = [&](Request&) {
    entered.set_value();
    released.wait();
  };
  ASSERT_EQ(e->TrySubmit(&first), SubmitResult::kAccepted);
  entered.get_future().wait();
  Request filler;
  filler.ops = {Credit(1, 2)};
  std::latch filler_done(1);
  filler.on_complete = [&](Request&) { filler_done.count_down(); };
  ASSERT_EQ(e->TrySubmit(&filler), SubmitResult::kAccepted);
  Request extra;
  extra.ops = {Credit(1, 4)};
  ASSERT_EQ(e->TrySubmit(&extra), SubmitResult::kQueueFull);
  // Release the sequencer from another thread while Submit waits here.
  std::thread releaser([&] { release.set_value(); });
  std::latch extra_done(1);
  extra.on_complete = [&](Request&) { extra_done.count_down(); };
  EXPECT_EQ(e->Submit(&extra), SubmitResult::kAccepted);
  releaser.join();
  filler_done.wait();
  extra_done.wait();
  EXPECT_EQ(Balance(*e, 1), 7);
}

TEST(QueueBackpressure, TooLargeRequests) {
  EngineConfig config;
  config.request_ops_max = 100;
  auto e = MakeEngine(2, config);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);

  std::vector<Op> ops;
  for (int i = 0; i < 101; ++i) ops.push_back(Credit(1, 1));
  Request big;
  big.ops = ops;
  bool called = false;
  big.on_complete = [&called](Request&) { called = true; };
  EXPECT_EQ(e->TrySubmit(&big), SubmitResult::kTooLarge);
  EXPECT_EQ(e->Submit(&big), SubmitResult::kTooLarge);
  EXPECT_EQ(e->Execute(big), SubmitResult::kTooLarge);
  EXPECT_TRUE(e->Apply(ops).empty());
  EXPECT_FALSE(called);
  EXPECT_EQ(Balance(*e, 1), 0);

  Request lookup;
  lookup.kind = RequestKind::kLookup;
  lookup.lookup_ids.assign(101, 1);
  EXPECT_EQ(e->TrySubmit(&lookup), SubmitResult::kTooLarge);
  EXPECT_TRUE(e->Lookup(std::vector<uint64_t>(101, 1)).empty());

  // Exactly request_ops_max is fine.
  ops.pop_back();
  for (const OpResult& r : e->Apply(ops)) EXPECT_EQ(r.code, ResultCode::kOk);
  EXPECT_EQ(Balance(*e, 1), 100);
  EXPECT_EQ(e->Lookup(std::vector<uint64_t>(100, 1)).size(), 100u);
  // The rejected ids were never seen: they apply now as new ops.
  const OpResult r = e->Apply({big.ops.back()})[0];
  EXPECT_EQ(r.code, ResultCode::kOk);
  EXPECT_FALSE(r.duplicate());
}

// Requests beyond ops_in_flight_max wait in the engine (not refused) and
// all complete; many small concurrent submitters through a tiny queue.
TEST(QueueBackpressure, TinyBoundsUnderConcurrentLoad) {
  EngineConfig config;
  config.submit_queue_capacity = 4;
  config.request_ops_max = 8;
  config.ops_in_flight_max = 8;
  config.op_ids_remembered_max = 1024;
  config.requests_in_flight_max = 2;
  config.peer_queue_capacity = 2;
  auto e = MakeEngine(3, config);
  std::vector<uint64_t> ids;
  for (uint64_t id = 1; id <= 12; ++id) {
    ids.push_back(id);
    ASSERT_EQ(Code(*e, CreateAccount(id)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(id, 1000)), ResultCode::kOk);
  }
  constexpr int kThreads = 4;
  constexpr int kRequests = 30;
  std::vector<std::vector<std::vector<Op>>> plans(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int q = 0; q < kRequests; ++q) {
      std::vector<Op> ops;
      for (int k = 0; k < 1 + (q + t) % 8; ++k) {
        const uint64_t from = ids[(t * 5 + q * 3 + k) % ids.size()];
        const uint64_t to = ids[(t * 7 + q + k * 5 + 1) % ids.size()];
        if (from != to) ops.push_back(Transfer(from, to, 1 + (q * k) % 50));
      }
      if (ops.empty()) ops.push_back(Credit(ids[0], 0));  // amount_zero
      plans[t].push_back(std::move(ops));
    }
  }
  std::latch start(kThreads);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (const auto& ops : plans[t]) {
        const std::vector<OpResult> r = e->Apply(ops);
        if (r.size() != ops.size()) bad.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  int64_t sum = 0;
  // One id per lookup: a lookup is bounded by request_ops_max (8) too.
  for (uint64_t id : ids) sum += Balance(*e, id);
  EXPECT_EQ(sum, 12 * 1000);
}

}  // namespace
}  // namespace coffer::testing
