// Stats: per-worker-thread command counters with memcached's `stats` names.
//
// Each worker thread owns one ThreadStats and is its only writer, so counting
// is a plain load and store (no locked instruction, no shared cache line);
// readers on other threads see each counter atomically. `stats` sums all
// threads; `stats reset` records a baseline that later sums subtract, so a
// reset never races with a writer (memcached instead locks each thread's
// stats; threadstats in memcached.h lists the same names).
#ifndef TWINCACHE_CORE_PROTOCOL_STATS_H_
#define TWINCACHE_CORE_PROTOCOL_STATS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace twincache {

/// Counters kept per thread; the order is the order `stats` prints them in.
enum class Stat : size_t {
  kCmdGet,
  kCmdSet,
  kCmdFlush,
  kCmdTouch,
  kCmdMeta,
  kGetHits,
  kGetMisses,
  kDeleteMisses,
  kDeleteHits,
  kIncrMisses,
  kIncrHits,
  kDecrMisses,
  kDecrHits,
  kCasMisses,
  kCasHits,
  kCasBadval,
  kTouchHits,
  kTouchMisses,
  kAuthCmds,    ///< SASL Auth/Step answered (authenticated or refused), memcached's auth_cmds
  kAuthErrors,  ///< SASL Auth/Step refused, memcached's auth_errors
  kBytesRead,
  kBytesWritten,
  kCount,
};

/// memcached's name for `stat` (e.g. "cmd_get"). Pure function.
std::string_view StatName(Stat stat);

/// One thread's counters. Thread safety: Add() only from the owning thread;
/// Get() from any thread.
class alignas(64) ThreadStats {
 public:
  void Add(Stat stat, uint64_t n = 1) {
    auto& c = counters_[static_cast<size_t>(stat)];
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get(Stat stat) const {
    return counters_[static_cast<size_t>(stat)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Stat::kCount)> counters_{};
};

/// Sums of all threads' counters.
using StatTotals = std::array<uint64_t, static_cast<size_t>(Stat::kCount)>;

/// The set of ThreadStats of a server plus the `stats reset` baseline.
/// Thread safety: all methods are safe from any thread.
class StatsRegistry {
 public:
  /// Creates `threads` ThreadStats; call once before workers start.
  explicit StatsRegistry(size_t threads);

  ThreadStats* ForThread(size_t index) { return threads_[index].get(); }

  /// Sums over threads minus the baseline of the last Reset().
  StatTotals Totals() const;

  /// `stats reset`: later Totals() count from now on.
  void Reset();

 private:
  StatTotals RawTotals() const;

  std::vector<std::unique_ptr<ThreadStats>> threads_;
  mutable std::mutex mu_;
  StatTotals baseline_{};  // guarded by mu_
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_STATS_H_
