// The pieces of a replica bootstrap: a snapshot of one table read from an ACTIVE replica (the
// source) in key order, chunk by chunk, with the *cut* it includes; and the durable progress of
// the new replica that loads it.
//
// The cut: per origin region, the origin change-log position whose changes the source had
// applied when the snapshot began (for the source itself, its log head). Chunks read later
// include at least that much (item versions only move forward under LWW), so the new replica
// holds, after the last chunk, every write at or before the cut; it streams each origin's
// changes for the table from the cut on. Snapshot rows carry their LWW stamps and delete
// tombstones, and are loaded with LWW, so overlap with streamed changes is harmless.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/lww.h"

namespace gtsim {

// One stored item version, as the source holds it (encodings of key_codec.h / EncodeItem).
struct SnapshotRow {
  std::string hk, rk;
  std::optional<std::string> item;  // empty: a delete tombstone
  Stamp stamp;
};

struct SnapshotChunk {
  std::string table;
  Stamp table_created;  // the incarnation the snapshot belongs to
  std::string source;   // the region that read it ("": not said)
  // Set by the loader: the add whose bootstrap requested it (BootstrapState::added), so a chunk
  // still in flight for an earlier add of the same replica is refused. Empty: not said.
  Stamp for_add;
  std::map<std::string, int64_t> cut;  // per origin region; see above
  int64_t total_rows = 0;              // rows in the table when the snapshot began (progress)
  // The source's tombstone horizon for the table (Storage::TombstoneHorizon): the new replica
  // adopts the first chunk's before it applies any change of the table, since tombstones
  // stamped before it are missing from the rows.
  int64_t tombstone_horizon = 0;
  std::vector<SnapshotRow> rows;  // in (hk, rk) order, after the requested position
  bool last = false;              // no rows follow these
};

// A bootstrap in progress at the new replica, kept durably so a restart resumes it.
struct BootstrapState {
  std::string table;
  Stamp table_created;
  // The region snapshotting for us: where UpdateTable ran, or another ACTIVE replica when that
  // one was removed before the snapshot was loaded (TableEngine::RetargetBootstrap).
  std::string source;
  // The add this bootstrap serves (the region's ReplicaMembership::changed when it started).
  Stamp added;
  // Set by the first chunk loaded; cursors were rewound to it in the same transaction.
  std::optional<std::map<std::string, int64_t>> cut;
  // Key position of the last loaded row; empty before the first chunk.
  std::optional<std::pair<std::string, std::string>> after;
  int64_t loaded_rows = 0;
  int64_t total_rows = 0;
  bool loaded = false;  // every chunk is in; ACTIVE once the cursors reach the cut
};

}  // namespace gtsim
