// Backlog: the ring of a node's most recent outgoing replication records,
// kept as encoded RECORD frames so that a peer cut off briefly can be sent
// just what it missed (docs/replication.md, "Streams, replication id and
// offsets" and "Catching up"; Redis's repl_backlog, but counted in records).
//
// Offsets are record counts in this node's stream: the first record appended
// gets offset 1, and offsets are contiguous. The backlog holds the newest
// records whose frames fit in `capacity_bytes`; appending evicts the oldest.
//
// Memory: one byte ring of capacity_bytes, allocated up front (pages are
// touched only as the ring fills), plus an index of 16 bytes per record held
// (a circular array that doubles when full and never shrinks). Frames may wrap
// around the ring's end. Appending allocates nothing once the index has grown
// to the steady-state record count: each writing thread encodes into its own
// reused buffer, and the mutex is held only to copy the frame in.
#ifndef TWINCACHE_CORE_REPLICATION_REPL_BACKLOG_H_
#define TWINCACHE_CORE_REPLICATION_REPL_BACKLOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/store/record.h"

namespace twincache {

/// Thread safety: every method is safe from any thread (one internal mutex,
/// never held while calling out of the backlog). Append is meant to be called
/// by worker threads under a store shard lock (from a RecordObserver).
class Backlog {
 public:
  /// `capacity_bytes`: the most frame bytes held (--repl-backlog-size), > 0.
  explicit Backlog(size_t capacity_bytes);

  Backlog(const Backlog&) = delete;
  Backlog& operator=(const Backlog&) = delete;

  /// Encodes `record` as a RECORD frame (AppendRecord) with the next offset,
  /// stamped with `now_ms` (unix milliseconds), evicting the oldest frames
  /// until it fits. A frame larger than the capacity evicts everything and is
  /// held alone (the ring grows to its size and stays that size). Returns the
  /// record's offset.
  uint64_t Append(const Record& record, int64_t now_ms);

  /// Continues a stream resumed after a warm restart: the next record
  /// appended gets offset `last_offset` + 1, and last_offset() is
  /// `last_offset` meanwhile (no record is held, so a peer that holds the
  /// stream up to exactly there can be partially synced). Only before the
  /// first Append().
  void StartAfter(uint64_t last_offset);

  /// Offset of the newest record appended; 0 before the first.
  uint64_t last_offset() const;
  /// Offset of the oldest record still held; 0 when none is.
  uint64_t first_offset() const;
  /// Bytes of the frames held (at most capacity_bytes, or one oversize frame).
  size_t used_bytes() const;
  size_t capacity_bytes() const { return capacity_bytes_; }

  /// True when the record at `offset` is still held.
  bool Contains(uint64_t offset) const;

  /// Appends to *out the frames of the records from `from_offset` on, as many
  /// whole frames as fit in `max_bytes` but at least one, and sets
  /// *last_copied to the offset of the last frame appended. Returns the number
  /// of frames appended: 0 (and *last_copied untouched) when `from_offset` is
  /// not held. A sender after record N calls CopyFrom(N + 1, ...) while
  /// last_offset() > N; partial sync from N is possible when N == last_offset()
  /// or Contains(N + 1).
  size_t CopyFrom(uint64_t from_offset, size_t max_bytes, std::string* out, uint64_t* last_copied) const;

  /// The `now_ms` given when the record at `offset` was appended; -1 when it
  /// is not held. For replication lag in milliseconds.
  int64_t AppendTimeOf(uint64_t offset) const;

 private:
  struct Entry {
    uint64_t pos;     ///< logical byte position of the frame (bytes appended before it)
    int64_t time_ms;  ///< append time
  };

  // The index entry of a held offset (count_ > 0, first ≤ offset ≤ last).
  const Entry& EntryOf(uint64_t offset) const;
  // Logical byte position where the frame after `offset` starts (or would).
  uint64_t EndOf(uint64_t offset) const;
  void EvictOldest();
  void GrowIndex();
  // Copies `n` bytes at logical position `pos` into the ring / out of it.
  void WriteRing(uint64_t pos, const char* bytes, size_t n);
  void ReadRing(uint64_t pos, size_t n, std::string* out) const;

  const size_t capacity_bytes_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::unique_ptr<char[]> ring_;  // ring_size_ bytes; logical position p is at p % ring_size_
  size_t ring_size_;              // capacity_bytes_, or the largest oversize frame
  uint64_t end_pos_ = 0;          // logical position after the newest frame
  uint64_t last_offset_ = 0;
  std::vector<Entry> index_;  // circular: oldest at index_head_, count_ entries
  size_t index_head_ = 0;
  size_t count_ = 0;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPL_BACKLOG_H_
