// The sequencer's share of an in-process snapshot: the remembered op ids up
// to the snapshot's seq, walked in seq order out of the op-id ring while
// new ops go on being ordered (engine/DESIGN.md "Snapshots").
//
// Contract:
// - Begin at the snapshot's seq S, on the sequencer's thread, like every
//   other call.
// - A record is written once its result is known (an op ordered before S
//   may still be at a shard): the walk waits at the first one that is not.
// - New ops reuse ring slots of old ones. Before ordering ops up to
//   `last_seq` the sequencer calls MakeRoom(last_seq), which writes the
//   records those slots hold now (into blocks kept until the writer takes
//   them: at most the ring's records, 56 bytes each), and orders them only
//   if HasRoom(last_seq). Only a record still without its result stops
//   MakeRoom; ordering then waits for it, and it waits only for ops already
//   ordered, so the walk always moves on.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "engine/op_id_table.h"
#include "engine/snapshot_codec.h"
#include "engine/snapshot_writer.h"

namespace coffer::internal {

class OpIdSnapshotWalk {
 public:
  void Begin(const OpIdTable& table, uint64_t seq, SnapshotWriter* writer,
             uint32_t producer);
  bool active() const { return writer_ != nullptr; }
  bool HasRoom(const OpIdTable& table, uint64_t last_seq) const {
    return !active() || last_seq < next_seq_ + table.capacity();
  }
  void MakeRoom(const OpIdTable& table, uint64_t last_seq);
  // One bounded step; returns progress.
  bool Step(const OpIdTable& table);
  bool HaveWork(const OpIdTable& table) const;

 private:
  bool Walk(const OpIdTable& table);
  // Writes the record at next_seq_ if it has its result; false if not.
  bool WriteNext(const OpIdTable& table);
  void CloseIfWalked();
  bool Send();

  SnapshotWriter* writer_ = nullptr;  // null: no walk
  uint32_t producer_ = 0;
  uint64_t next_seq_ = 0;  // the next seq to write
  uint64_t last_seq_ = 0;  // the snapshot's seq
  std::optional<SnapshotBlockBuilder> block_;
  std::deque<std::string> unsent_;
};

}  // namespace coffer::internal
