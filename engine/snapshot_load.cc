#include "engine/snapshot_load.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/sequencer.h"
#include "engine/shard.h"
#include "engine/snapshot_codec.h"

namespace coffer::internal {
namespace {

// The op-id blocks' records in seq order. Version 2 writes them in seq
// order already (engine/op_id_snapshot_walk.h); version 1 in the table's
// map order, so those are sorted.
std::vector<OpIdTable::Record> CollectOpIds(const SnapshotLayout& layout) {
  std::vector<OpIdTable::Record> op_ids;
  op_ids.reserve(layout.Records(SnapshotBlockKind::kOpIds));
  SnapshotVisitor v;
  v.op_id = [&](const OpIdTable::Record& r) { op_ids.push_back(r); };
  for (const SnapshotBlockRef& b : layout.blocks) {
    if (b.kind == SnapshotBlockKind::kOpIds) VisitBlock(b, v);
  }
  auto by_seq = [](const auto& a, const auto& b) { return a.seq < b.seq; };
  if (!std::is_sorted(op_ids.begin(), op_ids.end(), by_seq)) {
    std::sort(op_ids.begin(), op_ids.end(), by_seq);
  }
  return op_ids;
}

}  // namespace

absl::StatusOr<LoadedSnapshot> LoadSnapshot(
    const std::string& path, std::string_view payload,
    std::span<const std::unique_ptr<Shard>> shards, Sequencer* sequencer) {
  absl::StatusOr<SnapshotLayout> layout = IndexSnapshot(payload);
  if (!layout.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", layout.status().message()));
  }
  std::vector<SnapshotRestoreCounts> counts(shards.size());
  std::vector<std::thread> loaders;
  loaders.reserve(shards.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    loaders.emplace_back(
        [&, i] { counts[i] = shards[i]->RestoreSnapshot(*layout); });
  }
  const std::vector<OpIdTable::Record> op_ids = CollectOpIds(*layout);
  absl::Status op_ids_status =
      sequencer->RestoreOpIds(op_ids, layout->seq, layout->last_timestamp_ns);
  for (std::thread& t : loaders) t.join();
  if (!op_ids_status.ok()) return op_ids_status;
  SnapshotRestoreCounts total;
  for (const SnapshotRestoreCounts& c : counts) {
    total.orphan_history += c.orphan_history;
    total.misplaced += c.misplaced;
  }
  if (total.orphan_history != 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", total.orphan_history,
        " history entries of accounts the snapshot does not hold"));
  }
  if (total.misplaced != 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": ", total.misplaced, " records in the blocks of a shard (of ",
        layout->shard_count, ") that another shard owns"));
  }
  LoadedSnapshot loaded;
  loaded.seq = layout->seq;
  loaded.last_timestamp_ns = layout->last_timestamp_ns;
  return loaded;
}

}  // namespace coffer::internal
