// AckWaiter: what a client connection needs from replication for
// `--repl-ack sync` (docs/replication.md, "Acknowledgement modes").
//
// A connection that ran a batch of requests containing a write asks for the
// stream offset then reached, which covers every write the batch made (the
// store reports a write to its RecordObserver before the write call returns,
// store.h SetObserver), and holds the batch's replies until the peer has
// applied the stream up to that offset, or until AckTimeoutMs() passes. The
// offset may also cover other connections' later writes: waiting for it is
// never too early, at worst an ack round later. The Replicator implements it.
#ifndef TWINCACHE_CORE_REPLICATION_ACK_WAITER_H_
#define TWINCACHE_CORE_REPLICATION_ACK_WAITER_H_

#include <cstdint>
#include <functional>

namespace twincache {

/// Thread safety: every method is safe from any thread.
class AckWaiter {
 public:
  virtual ~AckWaiter() = default;

  /// The offset of the newest record of this node's stream (0 before the
  /// first): every local write that has returned is at or below it.
  virtual uint64_t StreamOffset() const = 0;

  /// Calls `done(true)` once the peer has applied the stream up to `offset`
  /// (at once if it already has), or `done(false)` when the link is down (at
  /// once, or when it drops). `done` runs on the replication thread or, if
  /// decided at once, on the caller's; it must only post work elsewhere.
  virtual void WaitForAck(uint64_t offset, std::function<void(bool)> done) = 0;

  /// How long, in ms, a reply waits for the ack before it is sent anyway
  /// (--repl-ack-timeout-ms).
  virtual int64_t AckTimeoutMs() const = 0;

  /// Counts a write answered without the peer's ack (repl_degraded_writes).
  virtual void CountDegradedWrite() = 0;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_ACK_WAITER_H_
