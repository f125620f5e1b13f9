// Store, replication side (see store.h and docs/replication.md): the
// tombstones a delete leaves and Apply(), the winner rule for the peer's
// records. Apply() compares versions against the raw entry of the key,
// expired or not: the entry's version is what the node holds. Shares the
// item layout with store.cc through store_internal.h.
#include <algorithm>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "core/store/store.h"
#include "core/store/store_internal.h"

namespace twincache {

using store_internal::CopyBytes;
using store_internal::ExptimeVersion;
using store_internal::HashKey;
using store_internal::kFlushUpdating;
using store_internal::kHlcCounterBits;
using store_internal::kMaxFlushMillis;
using store_internal::Version;

// ---------------------------------------------------------------------------
// Tombstones of local deletes.

// When the TTL of a tombstone of `version` ends: unix seconds, counted from
// the version's wall-clock time so that both nodes agree.
int64_t Store::TombstoneExpiry(uint64_t version) const {
  const auto version_s = static_cast<int64_t>((version >> kHlcCounterBits) / 1000);
  return std::max(version_s + options_.tombstone_ttl_s, kExptimeExpired);
}

// Replaces the live `item` by a tombstone of a new local version and reports
// the delete. False (nothing changed) when the tombstone cannot be allocated.
bool Store::LeaveTombstone(Shard& shard, Item* item, uint64_t hash, int64_t now_ms) {
  const uint64_t version = NextVersion();
  Item* tombstone =
      NewItem(item->key(), 0, 0, TombstoneExpiry(version), options_.node_id, false, &shard, item, now_ms);
  if (tombstone == nullptr) {
    return false;
  }
  tombstone->tombstone = true;
  tombstone->cas = version;
  tombstone->set_exptime_version(version);
  if (!Charge(shard, memory_->SizeOf(*item), tombstone, item, now_ms)) {
    DestroyItem(tombstone);
    return false;
  }
  Replace(shard, item, tombstone, hash, now_ms);
  Notify(RecordKind::kDelete, *tombstone);
  return true;
}

// ---------------------------------------------------------------------------
// Apply: the peer's records, by the winner rule.

ApplyStatus Store::Apply(const Record& record) {
  switch (record.kind) {
    case RecordKind::kSet:
    case RecordKind::kTouch:
      ObserveVersion(record.hlc);
      return ApplyItem(record);
    case RecordKind::kDelete:
      ObserveVersion(record.hlc);
      return ApplyDelete(record);
    case RecordKind::kFlush:
      return ApplyFlush(record);
  }
  return ApplyStatus::kStale;  // not a RecordKind: nothing to apply
}

// kSet and kTouch: both carry the whole item, so they apply alike (a kTouch
// may arrive before the kSet it follows, and a full sync ships touched items
// as kSet). A kSet's item is built before locking, as StoreItem() does; a
// kTouch usually only moves the exptime, so its item is built only if needed.
ApplyStatus Store::ApplyItem(const Record& record) {
  const std::string_view key = record.key;
  if (key.size() > kKeyMaxLength) {
    return ApplyStatus::kTooLarge;  // no such key is held here
  }
  if (!ItemFits(key.size(), record.value.size(), options_.item_size_max)) {
    DropOlder(record);
    return ApplyStatus::kTooLarge;
  }
  // One clock read serves the item built before locking and the checks under
  // the lock.
  const int64_t now_ms = clock_->NowMillis();
  Item* fresh = nullptr;
  if (record.kind == RecordKind::kSet) {
    fresh = BuildApplied(record, nullptr, nullptr, now_ms);
    if (fresh == nullptr) {
      DropOlder(record);
      return ApplyStatus::kOutOfMemory;
    }
  }
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::unique_lock<std::mutex> lock(shard.mu);
  const ApplyStatus status = ApplyItemLocked(shard, record, hash, now_ms, &fresh);
  lock.unlock();
  if (fresh != nullptr) {
    DestroyItem(fresh);
  }
  return status;
}

// The item of a kSet or kTouch record, not linked; nullptr when memory cannot
// be had (`held` and `keep` as NewItem's). The exptime_version field is
// stored when it differs from the cas unique.
Store::Item* Store::BuildApplied(const Record& record, Shard* held, const Item* keep, int64_t now_ms) {
  Item* item = NewItem(record.key, record.value.size(), record.flags, record.exptime, record.origin,
                       record.exptime_version != record.hlc, held, keep, now_ms);
  if (item == nullptr) {
    return nullptr;
  }
  CopyBytes(item->value_data(), record.value);
  item->cas = record.hlc;
  item->set_exptime_version(record.exptime_version);
  item->stale = record.stale;
  item->win_token_sent = record.win_token_sent;
  return item;
}

// ApplyItem's part under the key's shard lock (held by the caller). `*fresh`
// is the record's item built beforehand, or nullptr to build it here when it
// is needed; on return it is an item the caller must free (DestroyItem), or
// nullptr when none is left over.
ApplyStatus Store::ApplyItemLocked(Shard& shard, const Record& record, uint64_t hash, int64_t now_ms,
                                   Item** fresh) {
  const Version version{record.hlc, record.origin};
  Item* held = shard.table.Find(record.key, hash);
  if (IsFlushed(LoadFlush(), record.hlc, record.origin, now_ms) ||
      (held != nullptr && version < held->version(memory_->origins))) {
    return ApplyStatus::kStale;  // written before a flush_all that has happened, or older than held
  }
  if (held != nullptr && version == held->version(memory_->origins)) {
    const ExptimeVersion incoming{record.exptime_version, record.exptime};
    if (held->tombstone || !(incoming > ExptimeVersion{held->exptime_version(), held->exptime()})) {
      return ApplyStatus::kStale;
    }
    // The same data with a later touch: take its exptime only.
    Item* touched = WithExptimeVersion(shard, held, hash, now_ms);
    if (touched == nullptr) {
      return ApplyStatus::kOutOfMemory;
    }
    touched->set_exptime(record.exptime);
    touched->set_exptime_version(record.exptime_version);
    return ApplyStatus::kApplied;
  }
  if (*fresh == nullptr) {
    *fresh = BuildApplied(record, &shard, held, now_ms);
  }
  if (*fresh != nullptr &&
      Charge(shard, held != nullptr ? memory_->SizeOf(*held) : 0, *fresh, held, now_ms)) {
    Replace(shard, held, *fresh, hash, now_ms);
    *fresh = nullptr;
    return ApplyStatus::kApplied;
  }
  if (held != nullptr && !held->tombstone) {
    Drop(shard, held, hash);  // older than the record: see DropOlder
  }
  return ApplyStatus::kOutOfMemory;
}

// Values up to this many bytes are copied under the shard lock by
// ApplyBatch (a 100-byte value's copy is cheaper than a lock round trip).
constexpr size_t kBatchValueMax = size_t{64} << 10;

void Store::ApplyBatch(std::span<const Record> records, std::vector<ApplyStatus>* statuses) {
  statuses->assign(records.size(), ApplyStatus::kStale);
  // Records of one key, in order: sets, touches and deletes that fit. They
  // wait in `pending`, grouped by shard, until a record of another kind (a
  // flush, one refused for its size) or the end of the batch.
  struct Pending {
    size_t shard;
    size_t index;
    uint64_t hash;
  };
  std::vector<Pending> pending;
  pending.reserve(records.size());
  int64_t now_ms = clock_->NowMillis();
  const auto apply_pending = [&] {
    // Stable: records of one key (one shard) keep their order.
    std::stable_sort(pending.begin(), pending.end(),
                     [](const Pending& a, const Pending& b) { return a.shard < b.shard; });
    for (size_t begin = 0; begin < pending.size();) {
      Shard& shard = *shards_[pending[begin].shard];
      std::lock_guard<std::mutex> lock(shard.mu);
      size_t end = begin;
      for (; end < pending.size() && pending[end].shard == pending[begin].shard; ++end) {
        const Record& record = records[pending[end].index];
        ApplyStatus& status = (*statuses)[pending[end].index];
        if (record.kind == RecordKind::kDelete) {
          status = ApplyDeleteLocked(shard, record, pending[end].hash, now_ms);
          continue;
        }
        Item* fresh = nullptr;
        status = ApplyItemLocked(shard, record, pending[end].hash, now_ms, &fresh);
        if (fresh != nullptr) {
          DestroyItem(fresh);  // the shard lock before a class lock, as NewItem takes them
        }
      }
      begin = end;
    }
    pending.clear();
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& record = records[i];
    const bool per_key = record.kind == RecordKind::kSet || record.kind == RecordKind::kTouch ||
                         record.kind == RecordKind::kDelete;
    // A large value is copied before locking, as Apply() does, so that no
    // client of its shard waits for the copy.
    if (!per_key || record.key.size() > kKeyMaxLength || record.value.size() > kBatchValueMax ||
        (record.kind != RecordKind::kDelete &&
         !ItemFits(record.key.size(), record.value.size(), options_.item_size_max))) {
      apply_pending();
      (*statuses)[i] = Apply(record);  // the rare ones, in turn
      now_ms = clock_->NowMillis();    // a flush's time may have come meanwhile
      continue;
    }
    ObserveVersion(record.hlc);
    const uint64_t hash = HashKey(record.key);
    pending.push_back(Pending{ShardIndex(hash), i, hash});
  }
  apply_pending();
}

// A newer version of the key that this node cannot store must not leave the
// older one readable: the twin has overwritten it. memcached does the same for
// a failed set ("avoid stale data persisting in cache because we failed
// alloc", proto_text.c, process_update_command): it unlinks the old item. So
// a held live item older than `record` is freed (no tombstone: a later
// retry, e.g. a full sync after the operator raised -m, may still store the
// record).
void Store::DropOlder(const Record& record) {
  const uint64_t hash = HashKey(record.key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  Item* held = shard.table.Find(record.key, hash);
  if (held != nullptr && !held->tombstone &&
      held->version(memory_->origins) < Version{record.hlc, record.origin}) {
    Drop(shard, held, hash);
  }
}

// kDelete: a tombstone in place of anything older, even of nothing, so that a
// late older kSet loses to it.
ApplyStatus Store::ApplyDelete(const Record& record) {
  if (record.key.size() > kKeyMaxLength) {
    return ApplyStatus::kTooLarge;
  }
  const uint64_t hash = HashKey(record.key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  return ApplyDeleteLocked(shard, record, hash, clock_->NowMillis());
}

// ApplyDelete's part under the key's shard lock (held by the caller).
ApplyStatus Store::ApplyDeleteLocked(Shard& shard, const Record& record, uint64_t hash, int64_t now_ms) {
  const std::string_view key = record.key;
  const Version version{record.hlc, record.origin};
  Item* held = shard.table.Find(key, hash);
  if (IsFlushed(LoadFlush(), record.hlc, record.origin, now_ms)) {
    return ApplyStatus::kStale;
  }
  if (held != nullptr && version <= held->version(memory_->origins)) {
    return ApplyStatus::kStale;
  }
  const int64_t expiry = TombstoneExpiry(record.hlc);
  if (!options_.keep_tombstones || IsExpired(expiry, now_ms / 1000)) {
    if (held != nullptr) {
      Drop(shard, held, hash);
    }
    return ApplyStatus::kApplied;
  }
  Item* tombstone = NewItem(key, 0, 0, expiry, record.origin, false, &shard, held, now_ms);
  if (tombstone == nullptr) {
    return ApplyStatus::kOutOfMemory;
  }
  tombstone->tombstone = true;
  tombstone->cas = record.hlc;
  tombstone->set_exptime_version(record.hlc);
  if (!Charge(shard, held != nullptr ? memory_->SizeOf(*held) : 0, tombstone, held, now_ms)) {
    DestroyItem(tombstone);
    return ApplyStatus::kOutOfMemory;
  }
  Replace(shard, held, tombstone, hash, now_ms);
  return ApplyStatus::kApplied;
}

// kFlush: the greater flush version becomes the flush point, so both nodes
// keep the same one whatever order two flushes arrive in.
ApplyStatus Store::ApplyFlush(const Record& record) {
  if (record.hlc == kFlushUpdating) {
    return ApplyStatus::kStale;  // not a version
  }
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  const FlushPoint current = LoadFlush();
  if (Version{record.hlc, record.origin} <= Version{current.version, current.origin}) {
    return ApplyStatus::kStale;
  }
  // A delayed flush's version lies at its (future) time: observing it now
  // would move the HLC there, so local writes until then would escape the
  // flush and outrank the peer's. A flush whose time has come is observed,
  // so that later local writes survive it.
  const int64_t at_ms = std::min(record.at_ms, kMaxFlushMillis);
  if (at_ms <= clock_->NowMillis()) {
    ObserveVersion(record.hlc);
  }
  FlushAt({record.hlc, record.origin, at_ms});
  return ApplyStatus::kApplied;
}

// ---------------------------------------------------------------------------
// Restore: a saved state file's entries at start (snapshot.h).

// Builds the item or tombstone before locking, as ApplyItem does, and charges
// it without evicting: what does not fit under the limit is refused.
ApplyStatus Store::Restore(const Record& record) {
  if (record.kind == RecordKind::kFlush) {
    return ApplyFlush(record);
  }
  const std::string_view key = record.key;
  if (key.empty() || key.size() > kKeyMaxLength) {
    return ApplyStatus::kTooLarge;
  }
  const int64_t now_ms = clock_->NowMillis();
  Item* fresh = nullptr;
  if (record.kind == RecordKind::kDelete) {
    const int64_t expiry = TombstoneExpiry(record.hlc);
    if (!options_.keep_tombstones || IsExpired(expiry, now_ms / 1000)) {
      return ApplyStatus::kStale;
    }
    fresh = NewItem(key, 0, 0, expiry, record.origin, false, nullptr, nullptr, now_ms, /*may_evict=*/false);
    if (fresh != nullptr) {
      fresh->tombstone = true;
      fresh->set_exptime_version(record.hlc);
    }
  } else {
    if (IsExpired(record.exptime, now_ms / 1000)) {
      return ApplyStatus::kStale;
    }
    if (!ItemFits(key.size(), record.value.size(), options_.item_size_max)) {
      return ApplyStatus::kTooLarge;
    }
    fresh = NewItem(key, record.value.size(), record.flags, record.exptime, record.origin,
                    record.exptime_version != record.hlc, nullptr, nullptr, now_ms, /*may_evict=*/false);
    if (fresh != nullptr) {
      CopyBytes(fresh->value_data(), record.value);
      fresh->set_exptime_version(record.exptime_version);
      fresh->stale = record.stale;
      fresh->win_token_sent = record.win_token_sent;
    }
  }
  if (fresh == nullptr) {
    return ApplyStatus::kOutOfMemory;
  }
  fresh->cas = record.hlc;
  ObserveVersion(record.hlc);
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  ApplyStatus status = ApplyStatus::kStale;
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    Item* held = shard.table.Find(key, hash);
    if (!IsFlushed(LoadFlush(), record.hlc, record.origin, now_ms) &&
        (held == nullptr || held->version(memory_->origins) < Version{record.hlc, record.origin})) {
      const size_t old_size = held != nullptr ? memory_->SizeOf(*held) : 0;
      const size_t new_size = memory_->SizeOf(*fresh);
      if (new_size <= old_size) {
        bytes_.fetch_sub(old_size - new_size, std::memory_order_relaxed);
        status = ApplyStatus::kApplied;
      } else {
        status = TryCharge(new_size - old_size) ? ApplyStatus::kApplied : ApplyStatus::kOutOfMemory;
      }
      if (status == ApplyStatus::kApplied) {
        Replace(shard, held, fresh, hash, now_ms);
        return status;
      }
    }
  }
  DestroyItem(fresh);
  return status;
}

void Store::Reserve(size_t items) {
  // No more than the memory limit could hold (an item takes at least its
  // header and a one-byte key), whatever count a file or a twin announces.
  const size_t most = limit_bytes_.load(std::memory_order_relaxed) / (Item::kHeaderSize + 1);
  const size_t per_shard = std::min(items, most) / shards_.size() + 1;
  for (auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    shard->table.Reserve(per_shard);
  }
}

Record Store::LatestFlush() const {
  const FlushPoint flush = LoadFlush();
  Record record;
  record.kind = RecordKind::kFlush;
  record.hlc = flush.version;
  record.origin = flush.origin;
  record.at_ms = flush.at_ms;
  return record;
}

}  // namespace twincache
