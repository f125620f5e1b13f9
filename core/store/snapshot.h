// Snapshot: the state file of a warm restart (-e, --memory-file PATH).
//
// At a graceful stop the daemon writes every live item and tombstone of the
// store, its flush_all point and the node's replication identity to PATH; at
// the next start it reads them back, so the cache survives a planned restart
// and a node with a twin asks only for the writes it missed
// (docs/replication.md, "Warm restart"). The file format is specified there,
// "State file format"; in short, all integers little-endian:
//
//   header   magic "TWCSTATE", u32 format version (1), u32 header body length,
//            body: u64 node_id, i64 saved_at_ms, the StreamIdentity (16-byte
//            replid, u64 offset, 16-byte peer replid, u64 applied offset), the
//            flush point (u64 hlc, u64 origin, i64 at_ms), u16 identity
//            length, identity bytes
//   entries  u8 1 (item): u8 bits (1 stale, 2 win token sent), u8 key length,
//            u32 flags, i64 exptime, u64 cas, u64 origin, u64 exptime_version,
//            u32 value length, key, value
//            u8 2 (tombstone): u8 key length, u64 cas, u64 origin, key
//   end      u8 0xff, u64 items, u64 tombstones
//   trailer  SHA-256 of every byte before it (OpenSSL EVP)
//
// Writing is atomic (a temporary file in the same directory, fsync, rename,
// fsync of the directory): PATH holds either the old file, or none, or the
// whole new one. Reading maps the file, consumes it (unlinks PATH, so a later
// crash cannot load it again), and verifies all of it — magic, version,
// identity, every entry's shape and the checksum — before the first entry
// reaches the store; a file that fails any check is refused whole.
//
// The store knows nothing of replication: the replication identity is handed
// in and out as the plain StreamIdentity, and the daemon moves it between the
// Replicator and this file (data flows server → protocol → store, replication
// → store). Follows memcached's restart file (-e, restart.c: a versioned
// metadata file beside the memory image) and Redis's RDB (replid and offset
// saved for PSYNC after a restart, rdb.c rdbSaveInfoAuxFields), in a format of
// its own.
#ifndef TWINCACHE_CORE_STORE_SNAPSHOT_H_
#define TWINCACHE_CORE_STORE_SNAPSHOT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/store/store.h"

namespace twincache {

/// The state file's format version; a file of another version is refused.
inline constexpr uint32_t kSnapshotFormatVersion = 1;

/// A node's replication identity (docs/replication.md, "Streams, replication
/// id and offsets"): its own stream, and its position in the twin's. All
/// zeros for a node without a twin. Plain data.
struct StreamIdentity {
  std::array<uint8_t, 16> replid{};       ///< this node's stream id
  uint64_t offset = 0;                    ///< last record produced in this node's stream
  std::array<uint8_t, 16> peer_replid{};  ///< the twin's stream applied here; zeros = none
  uint64_t applied_offset = 0;            ///< last record of the twin's stream applied here
};

/// What a state file says about the node that wrote it.
struct SnapshotMeta {
  uint64_t node_id = 0;     ///< the writer's node id (origin of its writes), resumed at load
  std::string identity;     ///< the node's configuration identity (at most 65535 bytes): a file
                            ///< written under another one is foreign and refused
  int64_t saved_at_ms = 0;  ///< unix ms when written (SaveSnapshot fills it in)
  StreamIdentity stream;
};

/// Counts of a save or a load.
struct SnapshotCounts {
  uint64_t items = 0;        ///< items written / stored
  uint64_t tombstones = 0;   ///< tombstones written / stored
  uint64_t item_bytes = 0;   ///< key + value bytes of those items
  uint64_t file_bytes = 0;   ///< size of the file
  uint64_t dropped = 0;      ///< load: expired items, flushed items, tombstones past their TTL
                             ///< (or without replication), entries the store already held newer
  uint64_t not_fitting = 0;  ///< load: items over -m (kOutOfMemory) or over -I (kTooLarge)
};

/// Writes the store's live items and tombstones (Store::Scan), its flush
/// point (Store::LatestFlush) and `meta` (saved_at_ms is set to now) to
/// `path` atomically: `path` + ".tmp" in the same directory, written in
/// large buffered writes, fsync, rename over `path`, fsync of the directory;
/// mode 0600. The store should not change meanwhile (the daemon saves after
/// clients and replication have stopped); an item written during the scan
/// may or may not be in the file. On failure (I/O, OpenSSL) returns false
/// with a one-line reason in *error and leaves no temporary file; an older
/// file at `path` stays as it was. *counts (may be null) gets what was
/// written. Thread safety: one call at a time per path.
bool SaveSnapshot(const std::string& path, Store* store, const SnapshotMeta& meta, SnapshotCounts* counts,
                  std::string* error);

/// A state file opened for loading: mapped, consumed and verified whole.
/// Thread safety: none; one thread at start.
class SnapshotFile {
 public:
  enum class OpenStatus {
    kOk,       ///< verified; meta() and LoadInto() may be used
    kAbsent,   ///< no file at the path (a first or cold start)
    kRefused,  ///< unreadable, or failed a check: *error says why; nothing may be loaded
  };

  SnapshotFile() = default;
  ~SnapshotFile();
  SnapshotFile(const SnapshotFile&) = delete;
  SnapshotFile& operator=(const SnapshotFile&) = delete;

  /// Opens and maps `path`, then unlinks it (the file is consumed whether or
  /// not it is accepted; if it cannot be unlinked it is refused, since it
  /// could be loaded twice), then checks in this order: magic, format version
  /// (kSnapshotFormatVersion), header shape, the SHA-256 trailer, `identity`
  /// (must equal the writer's), every entry's shape (kinds, key lengths
  /// 1..250, lengths within the file, the end counts). kRefused with
  /// a one-line reason in *error (e.g. "format version 2, this build reads
  /// 1", "checksum mismatch", "written by another node (port=... peer=...)",
  /// "truncated") on any failure.
  OpenStatus Open(const std::string& path, std::string_view identity, std::string* error);

  /// The writer's node id, identity, time and replication identity; after kOk.
  const SnapshotMeta& meta() const { return meta_; }

  /// Stores the file's flush point and entries with Store::Restore (the two
  /// halves of the file on two threads, each in file order), and counts them
  /// in *counts (may be null): what the store took, what it dropped
  /// (expired, flushed, stale), what did not fit (-m, -I). Only after Open
  /// returned kOk; the store should be new and not shared yet.
  void LoadInto(Store* store, SnapshotCounts* counts) const;

 private:
  void Unmap();
  bool CheckEntries(size_t body_length, size_t limit, std::string* error);
  void LoadRange(size_t begin, size_t end, Store* store, SnapshotCounts* counts) const;

  const char* data_ = nullptr;  // the mapping
  size_t size_ = 0;
  size_t entries_begin_ = 0;  // offset of the first entry
  size_t entries_end_ = 0;    // offset of the end marker
  size_t middle_ = 0;         // offset of the first entry of the second half
  uint64_t entry_count_ = 0;  // items and tombstones
  Record flush_{};            // kFlush; hlc 0: none
  SnapshotMeta meta_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_SNAPSHOT_H_
