// Record: one replicated change of the store, as docs/replication.md defines it.
//
// The store produces a Record for every local write (through a
// RecordObserver) and applies Records from the peer (Store::Apply); the frame
// codec (repl_frame.h) turns them into bytes and back. A Record only views
// its key and value: the views live as long as the call that hands the Record
// over (the observer callback, or the frame buffer being decoded).
#ifndef TWINCACHE_CORE_STORE_RECORD_H_
#define TWINCACHE_CORE_STORE_RECORD_H_

#include <cstdint>
#include <string_view>

namespace twincache {

/// What a record does (docs/replication.md, "Wire format": record kind).
enum class RecordKind : uint8_t {
  kSet = 1,     ///< the item as it now is (set/add/replace/append/prepend/cas/incr/decr,
                ///< meta md I's stale mark, mg N's vivified item)
  kDelete = 2,  ///< a tombstone for `key`
  kTouch = 3,   ///< the item with a new exptime and exptime_version, same data version
  kFlush = 4,   ///< flush_all: items below (hlc, origin) are invalid from at_ms on
};

/// One change. Versions compare by (hlc, origin); see docs/replication.md
/// "Versions and the winner rule".
struct Record {
  RecordKind kind = RecordKind::kSet;
  uint64_t hlc = 0;              ///< version: HLC value, also the item's cas unique
  uint64_t origin = 0;           ///< node id of the node that accepted the write (never 0)
  std::string_view key;          ///< kSet, kDelete, kTouch: 1..250 bytes
  std::string_view value;        ///< kSet, kTouch
  uint32_t flags = 0;            ///< kSet, kTouch: client flags
  int64_t exptime = 0;           ///< kSet, kTouch: absolute unix seconds, 0 = never
  uint64_t exptime_version = 0;  ///< kSet, kTouch: hlc of the last exptime change (= hlc for kSet)
  int64_t at_ms = 0;             ///< kFlush: unix milliseconds from which the flush applies
  bool stale = false;            ///< kSet, kTouch: the item is marked stale (meta md I / ms I)
  bool win_token_sent = false;   ///< kSet, kTouch: the item's recache win token was handed out
};

/// Receives the store's local changes. Thread safety: OnRecord is called from
/// the writing thread while it holds the key's shard mutex (so records of one
/// key arrive in the order they happened); it must be quick, must not call
/// back into the Store, and may only take locks that are never held while
/// calling into the Store.
class RecordObserver {
 public:
  virtual ~RecordObserver() = default;
  virtual void OnRecord(const Record& record) = 0;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_RECORD_H_
