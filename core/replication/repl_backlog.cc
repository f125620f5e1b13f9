// Backlog ring (see repl_backlog.h). Frames are stored back to back in a byte
// ring addressed by logical positions (bytes appended since construction);
// the index maps each held offset to its frame's position and append time.
// A frame's size is the distance to the next frame's position, so the index
// stays at 16 bytes per record.
#include "core/replication/repl_backlog.h"

#include <algorithm>
#include <cstring>

#include "core/replication/repl_frame.h"

namespace twincache {
namespace {

constexpr size_t kInitialIndexSize = 64;  // entries; a power of two, as every later size

}  // namespace

Backlog::Backlog(size_t capacity_bytes)
    : capacity_bytes_(capacity_bytes), ring_(new char[capacity_bytes]), ring_size_(capacity_bytes) {}

uint64_t Backlog::Append(const Record& record, int64_t now_ms) {
  // Encode outside the lock into this thread's reused buffer; only the offset
  // is filled in under the lock.
  thread_local std::string frame;
  frame.clear();
  AppendRecord(0, record, &frame);

  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t offset = ++last_offset_;
  SetRecordFrameOffset(offset, frame.data());
  while (count_ > 0 && end_pos_ - index_[index_head_].pos + frame.size() > capacity_bytes_) {
    EvictOldest();
  }
  if (frame.size() > ring_size_) {
    // Oversize: everything was evicted above, so no held position depends on
    // the old ring size.
    ring_.reset(new char[frame.size()]);
    ring_size_ = frame.size();
  }
  if (count_ == index_.size()) {
    GrowIndex();
  }
  index_[(index_head_ + count_) & (index_.size() - 1)] = Entry{end_pos_, now_ms};
  ++count_;
  WriteRing(end_pos_, frame.data(), frame.size());
  end_pos_ += frame.size();
  return offset;
}

void Backlog::StartAfter(uint64_t last_offset) {
  std::lock_guard<std::mutex> lock(mu_);
  if (count_ == 0 && last_offset_ == 0) {
    last_offset_ = last_offset;
  }
}

uint64_t Backlog::last_offset() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_offset_;
}

uint64_t Backlog::first_offset() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_ == 0 ? 0 : last_offset_ - count_ + 1;
}

size_t Backlog::used_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_ == 0 ? 0 : static_cast<size_t>(end_pos_ - index_[index_head_].pos);
}

bool Backlog::Contains(uint64_t offset) const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_ > 0 && offset > last_offset_ - count_ && offset <= last_offset_;
}

size_t Backlog::CopyFrom(uint64_t from_offset, size_t max_bytes, std::string* out,
                         uint64_t* last_copied) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (count_ == 0 || from_offset <= last_offset_ - count_ || from_offset > last_offset_) {
    return 0;
  }
  const uint64_t start = EntryOf(from_offset).pos;
  uint64_t last = from_offset;
  while (last < last_offset_ && EndOf(last + 1) - start <= max_bytes) {
    ++last;
  }
  ReadRing(start, static_cast<size_t>(EndOf(last) - start), out);
  *last_copied = last;
  return static_cast<size_t>(last - from_offset + 1);
}

int64_t Backlog::AppendTimeOf(uint64_t offset) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (count_ == 0 || offset <= last_offset_ - count_ || offset > last_offset_) {
    return -1;
  }
  return EntryOf(offset).time_ms;
}

const Backlog::Entry& Backlog::EntryOf(uint64_t offset) const {
  const uint64_t first = last_offset_ - count_ + 1;
  return index_[(index_head_ + static_cast<size_t>(offset - first)) & (index_.size() - 1)];
}

uint64_t Backlog::EndOf(uint64_t offset) const {
  return offset == last_offset_ ? end_pos_ : EntryOf(offset + 1).pos;
}

void Backlog::EvictOldest() {
  index_head_ = (index_head_ + 1) & (index_.size() - 1);
  --count_;
}

void Backlog::GrowIndex() {
  std::vector<Entry> grown(index_.empty() ? kInitialIndexSize : index_.size() * 2);
  for (size_t i = 0; i < count_; ++i) {
    grown[i] = index_[(index_head_ + i) & (index_.size() - 1)];
  }
  index_.swap(grown);
  index_head_ = 0;
}

void Backlog::WriteRing(uint64_t pos, const char* bytes, size_t n) {
  const size_t at = static_cast<size_t>(pos % ring_size_);
  const size_t first = std::min(n, ring_size_ - at);
  std::memcpy(ring_.get() + at, bytes, first);
  std::memcpy(ring_.get(), bytes + first, n - first);
}

void Backlog::ReadRing(uint64_t pos, size_t n, std::string* out) const {
  const size_t at = static_cast<size_t>(pos % ring_size_);
  const size_t first = std::min(n, ring_size_ - at);
  out->append(ring_.get() + at, first);
  out->append(ring_.get(), n - first);
}

}  // namespace twincache
