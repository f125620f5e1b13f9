// State file of a warm restart (see snapshot.h and docs/replication.md,
// "State file format").
//
// Saving encodes entries into one large buffer, hashes and writes it when it
// is full (one write(2) per kWriteBuffer bytes, never one per item). Loading
// maps the file read-only, so verification reads it once for the checksum
// and once for the shapes, and loading views keys and values in place.
#include "core/store/snapshot.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "core/base/clock.h"
#include "core/base/errno_text.h"

namespace twincache {
namespace {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big);

constexpr std::string_view kMagic = "TWCSTATE";
constexpr size_t kDigestSize = 32;  // SHA-256
constexpr size_t kWriteBuffer = size_t{8} << 20;
constexpr size_t kScanBatch = 4096;  // items per Scan call (one shard lock at a time)
constexpr size_t kFixedHeaderSize = 8 + 4 + 4;
// Header body without the identity bytes: node_id, saved_at_ms, replid,
// offset, peer replid, applied offset, flush hlc, origin, at_ms, identity length.
constexpr size_t kHeaderBodyFixed = 8 + 8 + 16 + 8 + 16 + 8 + 8 + 8 + 8 + 2;
constexpr uint8_t kEntryItem = 1;
constexpr uint8_t kEntryTombstone = 2;
constexpr uint8_t kEntryEnd = 0xff;
constexpr uint8_t kBitStale = 1;
constexpr uint8_t kBitWinTokenSent = 2;
// kind, bits, key length, flags, exptime, cas, origin, exptime_version, value length
constexpr size_t kItemHeaderSize = 1 + 1 + 1 + 4 + 8 + 8 + 8 + 8 + 4;
constexpr size_t kTombstoneHeaderSize = 1 + 1 + 8 + 8;
constexpr size_t kEndSize = 1 + 8 + 8;

// --- little-endian encoding ------------------------------------------------

// On little-endian hosts (all the packaged ones) a field is one memcpy; the
// byte loops are the same layout spelled out for the others.
template <typename T>
void Put(std::string* out, T value) {
  static_assert(std::is_integral_v<T>);
  char bytes[sizeof(T)];
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(bytes, &value, sizeof(T));
  } else {
    for (size_t i = 0; i < sizeof(T); ++i) {
      bytes[i] = static_cast<char>(static_cast<uint64_t>(value) >> (8 * i));
    }
  }
  out->append(bytes, sizeof(T));
}

template <typename T>
T Get(const char* p) {
  static_assert(std::is_integral_v<T>);
  if constexpr (std::endian::native == std::endian::little) {
    T value;
    std::memcpy(&value, p, sizeof(T));
    return value;
  } else {
    uint64_t value = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      value |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
    }
    return static_cast<T>(value);
  }
}

// --- SHA-256 through OpenSSL EVP; every failure is reported ----------------

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new()) {
    ok_ = context_ != nullptr && EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) == 1;
  }
  void Update(const char* data, size_t size) {
    if (ok_ && size > 0) {
      ok_ = EVP_DigestUpdate(context_.get(), data, size) == 1;
    }
  }
  // False when any step failed (fail closed: nothing is written or accepted).
  bool Final(std::array<unsigned char, kDigestSize>* digest) {
    unsigned int size = 0;
    if (ok_) {
      ok_ = EVP_DigestFinal_ex(context_.get(), digest->data(), &size) == 1 && size == kDigestSize;
    }
    return ok_;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> context_;
  bool ok_ = false;
};

// --- saving ------------------------------------------------------------------

// A file written through large buffers, hashed as it goes. Two buffers
// take turns: while the scanning thread fills one, an I/O thread of the
// Writer hashes the other and writes it out (one write(2) per buffer), so
// encoding overlaps hashing and the copy into the page cache.
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd), io_([this] { IoLoop(); }) {
    filling_.reserve(kWriteBuffer + size_t{64} * 1024);
  }

  ~Writer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    changed_.notify_all();
    io_.join();
  }

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  std::string* buffer() { return &filling_; }

  // Hands the buffer to the I/O thread once it holds kWriteBuffer bytes.
  bool MaybeFlush(std::string* error) { return filling_.size() < kWriteBuffer || Flush(error); }

  // Hands the buffer over (waiting until the I/O thread took the previous
  // one); false once a write has failed.
  bool Flush(std::string* error) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [this] { return !handed_ready_ || !error_.empty(); });
    if (!error_.empty()) {
      *error = error_;
      return false;
    }
    handed_.swap(filling_);
    handed_ready_ = true;
    lock.unlock();
    changed_.notify_all();
    filling_.clear();
    return true;
  }

  // Writes what is left, then the digest of everything written.
  bool Finish(std::string* error) {
    if (!Flush(error)) {
      return false;
    }
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [this] { return (!handed_ready_ && !busy_) || !error_.empty(); });
    if (!error_.empty()) {
      *error = error_;
      return false;
    }
    std::array<unsigned char, kDigestSize> digest{};
    if (!hash_.Final(&digest)) {
      *error = "SHA-256 failed (OpenSSL)";
      return false;
    }
    written_ += digest.size();
    return WriteAll(reinterpret_cast<const char*>(digest.data()), digest.size(), error);
  }

  uint64_t written() const { return written_; }

 private:
  void IoLoop() {
    std::string local;
    local.reserve(kWriteBuffer + size_t{64} * 1024);
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      changed_.wait(lock, [this] { return handed_ready_ || closing_; });
      if (!handed_ready_) {
        return;  // closing
      }
      local.swap(handed_);
      handed_ready_ = false;
      busy_ = true;
      lock.unlock();
      changed_.notify_all();
      hash_.Update(local.data(), local.size());
      std::string error;
      const bool ok = WriteAll(local.data(), local.size(), &error);
      written_ += local.size();
      local.clear();
      lock.lock();
      busy_ = false;
      if (!ok && error_.empty()) {
        error_ = error;
      }
      changed_.notify_all();
    }
  }

  bool WriteAll(const char* data, size_t size, std::string* error) {
    while (size > 0) {
      ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        *error = "write failed: " + ErrnoText(errno);
        return false;
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

  const int fd_;
  std::string filling_;   // scanning thread only
  Sha256 hash_;           // I/O thread; Finish() once it is idle (mu_ orders them)
  uint64_t written_ = 0;  // likewise
  std::mutex mu_;
  std::condition_variable changed_;
  std::string handed_;         // guarded by mu_: the buffer for the I/O thread
  bool handed_ready_ = false;  // guarded by mu_
  bool busy_ = false;          // guarded by mu_: the I/O thread is hashing and writing a buffer
  bool closing_ = false;       // guarded by mu_
  std::string error_;          // guarded by mu_: the first write error
  std::thread io_;             // last: starts after the members it uses
};

void PutHeader(const SnapshotMeta& meta, const Record& flush, std::string* out) {
  out->append(kMagic);
  Put<uint32_t>(out, kSnapshotFormatVersion);
  Put<uint32_t>(out, static_cast<uint32_t>(kHeaderBodyFixed + meta.identity.size()));
  Put<uint64_t>(out, meta.node_id);
  Put<int64_t>(out, meta.saved_at_ms);
  out->append(reinterpret_cast<const char*>(meta.stream.replid.data()), meta.stream.replid.size());
  Put<uint64_t>(out, meta.stream.offset);
  out->append(reinterpret_cast<const char*>(meta.stream.peer_replid.data()), meta.stream.peer_replid.size());
  Put<uint64_t>(out, meta.stream.applied_offset);
  Put<uint64_t>(out, flush.hlc);
  Put<uint64_t>(out, flush.origin);
  Put<int64_t>(out, flush.at_ms);
  Put<uint16_t>(out, static_cast<uint16_t>(meta.identity.size()));
  out->append(meta.identity);
}

void PutEntry(const ItemView& item, std::string* out) {
  if (item.tombstone) {
    Put<uint8_t>(out, kEntryTombstone);
    Put<uint8_t>(out, static_cast<uint8_t>(item.key.size()));
    Put<uint64_t>(out, item.cas);
    Put<uint64_t>(out, item.origin);
    out->append(item.key);
    return;
  }
  Put<uint8_t>(out, kEntryItem);
  Put<uint8_t>(
      out, static_cast<uint8_t>((item.stale ? kBitStale : 0) | (item.win_token_sent ? kBitWinTokenSent : 0)));
  Put<uint8_t>(out, static_cast<uint8_t>(item.key.size()));
  Put<uint32_t>(out, item.flags);
  Put<int64_t>(out, item.exptime);
  Put<uint64_t>(out, item.cas);
  Put<uint64_t>(out, item.origin);
  Put<uint64_t>(out, item.exptime_version);
  Put<uint32_t>(out, static_cast<uint32_t>(item.value.size()));
  out->append(item.key);
  out->append(item.value);
}

// The directory part of `path` ("." when it has none), for its fsync.
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool WriteEntries(Writer* writer, Store* store, const SnapshotMeta& meta, SnapshotCounts* counts,
                  std::string* error) {
  PutHeader(meta, store->LatestFlush(), writer->buffer());
  ScanCursor cursor;
  bool ok = true;
  while (ok && !cursor.done()) {
    store->Scan(
        &cursor, kScanBatch,
        [&](const ItemView& item) {
          PutEntry(item, writer->buffer());
          if (item.tombstone) {
            ++counts->tombstones;
          } else {
            ++counts->items;
            counts->item_bytes += item.key.size() + item.value.size();
          }
        },
        /*include_tombstones=*/true);
    ok = writer->MaybeFlush(error);
  }
  if (!ok) {
    return false;
  }
  Put<uint8_t>(writer->buffer(), kEntryEnd);
  Put<uint64_t>(writer->buffer(), counts->items);
  Put<uint64_t>(writer->buffer(), counts->tombstones);
  return writer->Finish(error);
}

bool SyncDirectory(const std::string& path, std::string* error) {
  const std::string directory = DirectoryOf(path);
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = FileErrorText("cannot open directory", directory, errno);
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  const int fsync_errno = errno;
  ::close(fd);
  if (!ok) {
    *error = FileErrorText("cannot fsync directory", directory, fsync_errno);
  }
  return ok;
}

}  // namespace

bool SaveSnapshot(const std::string& path, Store* store, const SnapshotMeta& meta, SnapshotCounts* counts,
                  std::string* error) {
  SnapshotCounts local;
  SnapshotCounts* c = counts != nullptr ? counts : &local;
  *c = SnapshotCounts{};
  if (meta.identity.size() > UINT16_MAX) {
    *error = "node identity longer than 65535 bytes";
    return false;
  }
  SnapshotMeta stamped = meta;
  stamped.saved_at_ms = SystemClock::Default()->NowMillis();
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = FileErrorText("cannot create", temporary, errno);
    return false;
  }
  Writer writer(fd);
  bool ok = WriteEntries(&writer, store, stamped, c, error);
  if (ok && ::fsync(fd) != 0) {
    *error = FileErrorText("cannot fsync", temporary, errno);
    ok = false;
  }
  if (::close(fd) != 0 && ok) {
    *error = FileErrorText("cannot close", temporary, errno);
    ok = false;
  }
  if (ok && ::rename(temporary.c_str(), path.c_str()) != 0) {
    *error = FileErrorText("cannot rename to", path, errno);
    ok = false;
  }
  if (!ok) {
    ::unlink(temporary.c_str());
    return false;
  }
  c->file_bytes = writer.written();
  return SyncDirectory(path, error);
}

// --- loading -----------------------------------------------------------------

namespace {

// Bounds-checked reading of the mapped entries.
struct Cursor {
  const char* data;
  size_t at;
  size_t end;

  bool Has(size_t n) const { return end - at >= n; }
};

// One entry decoded in place; false (with *error) when it does not fit the
// file or breaks a rule. The record's views point into the mapping.
bool DecodeEntry(Cursor* cursor, Record* record, bool* end, std::string* error) {
  if (!cursor->Has(1)) {
    *error = "truncated: no end marker";
    return false;
  }
  const char* p = cursor->data + cursor->at;
  const auto kind = static_cast<uint8_t>(p[0]);
  *end = false;
  if (kind == kEntryEnd) {
    *end = true;
    return true;
  }
  if (kind == kEntryTombstone) {
    if (!cursor->Has(kTombstoneHeaderSize)) {
      *error = "truncated tombstone";
      return false;
    }
    const size_t key_length = static_cast<uint8_t>(p[1]);
    if (key_length == 0 || key_length > kKeyMaxLength || !cursor->Has(kTombstoneHeaderSize + key_length)) {
      *error = "bad tombstone at byte " + std::to_string(cursor->at);
      return false;
    }
    *record = Record{};
    record->kind = RecordKind::kDelete;
    record->hlc = Get<uint64_t>(p + 2);
    record->origin = Get<uint64_t>(p + 10);
    record->key = std::string_view(p + kTombstoneHeaderSize, key_length);
    cursor->at += kTombstoneHeaderSize + key_length;
    return true;
  }
  if (kind != kEntryItem) {
    *error = "bad entry kind " + std::to_string(kind) + " at byte " + std::to_string(cursor->at);
    return false;
  }
  if (!cursor->Has(kItemHeaderSize)) {
    *error = "truncated item";
    return false;
  }
  const auto bits = static_cast<uint8_t>(p[1]);
  const size_t key_length = static_cast<uint8_t>(p[2]);
  const size_t value_length = Get<uint32_t>(p + 39);
  if ((bits & ~(kBitStale | kBitWinTokenSent)) != 0 || key_length == 0 || key_length > kKeyMaxLength ||
      !cursor->Has(kItemHeaderSize + key_length) ||
      !cursor->Has(kItemHeaderSize + key_length + value_length)) {
    *error = "bad item at byte " + std::to_string(cursor->at);
    return false;
  }
  *record = Record{};
  record->kind = RecordKind::kSet;
  record->flags = Get<uint32_t>(p + 3);
  record->exptime = Get<int64_t>(p + 7);
  record->hlc = Get<uint64_t>(p + 15);
  record->origin = Get<uint64_t>(p + 23);
  record->exptime_version = Get<uint64_t>(p + 31);
  record->stale = (bits & kBitStale) != 0;
  record->win_token_sent = (bits & kBitWinTokenSent) != 0;
  record->key = std::string_view(p + kItemHeaderSize, key_length);
  record->value = std::string_view(p + kItemHeaderSize + key_length, value_length);
  cursor->at += kItemHeaderSize + key_length + value_length;
  return true;
}

}  // namespace

SnapshotFile::~SnapshotFile() { Unmap(); }

void SnapshotFile::Unmap() {
  if (data_ != nullptr) {
    ::munmap(const_cast<char*>(data_), size_);
    data_ = nullptr;
  }
}

// Every entry's shape and the end counts; notes where the entries begin and
// end, their count, and where the second half of the entries begins.
bool SnapshotFile::CheckEntries(size_t body_length, size_t limit, std::string* error) {
  Cursor cursor{data_, kFixedHeaderSize + body_length, limit};
  uint64_t items = 0;
  uint64_t tombstones = 0;
  const size_t half = cursor.at + (limit - cursor.at) / 2;
  middle_ = 0;
  for (;;) {
    if (middle_ == 0 && cursor.at >= half) {
      middle_ = cursor.at;
    }
    Record record;
    bool end = false;
    if (!DecodeEntry(&cursor, &record, &end, error)) {
      return false;
    }
    if (end) {
      break;
    }
    ++(record.kind == RecordKind::kDelete ? tombstones : items);
  }
  if (cursor.end - cursor.at != kEndSize) {
    *error = "bytes after the end marker";
    return false;
  }
  const char* end = data_ + cursor.at;
  if (Get<uint64_t>(end + 1) != items || Get<uint64_t>(end + 9) != tombstones) {
    *error = "end marker counts differ from the entries";
    return false;
  }
  entries_begin_ = kFixedHeaderSize + body_length;
  entries_end_ = cursor.at;
  entry_count_ = items + tombstones;
  if (middle_ == 0) {
    middle_ = entries_end_;
  }
  return true;
}

SnapshotFile::OpenStatus SnapshotFile::Open(const std::string& path, std::string_view identity,
                                            std::string* error) {
  Unmap();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return OpenStatus::kAbsent;
    }
    *error = FileErrorText("cannot open", path, errno);
    return OpenStatus::kRefused;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "not a regular file: " + path;
    ::close(fd);
    return OpenStatus::kRefused;
  }
  // Consumed before it is judged: a file is never loaded twice.
  if (::unlink(path.c_str()) != 0) {
    *error = FileErrorText("cannot remove (so it could load twice)", path, errno);
    ::close(fd);
    return OpenStatus::kRefused;
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < kFixedHeaderSize + kHeaderBodyFixed + kEndSize + kDigestSize) {
    *error = "truncated: " + std::to_string(size_) + " bytes";
    ::close(fd);
    return OpenStatus::kRefused;
  }
  // MAP_POPULATE: the file is read whole anyway, faulting it in at once is
  // cheaper than page by page.
  void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (mapping == MAP_FAILED) {
    *error = "cannot map " + path + ": " + ErrnoText(map_errno);
    return OpenStatus::kRefused;
  }
  data_ = static_cast<const char*>(mapping);
  ::madvise(mapping, size_, MADV_SEQUENTIAL);

  // Header: magic, then the version before anything else is interpreted.
  if (std::string_view(data_, kMagic.size()) != kMagic) {
    *error = "not a twincache state file (bad magic)";
    return OpenStatus::kRefused;
  }
  const auto version = Get<uint32_t>(data_ + 8);
  if (version != kSnapshotFormatVersion) {
    *error = "format version " + std::to_string(version) + ", this build reads " +
             std::to_string(kSnapshotFormatVersion);
    return OpenStatus::kRefused;
  }
  const size_t body_length = Get<uint32_t>(data_ + 12);
  const char* body = data_ + kFixedHeaderSize;
  const size_t limit = size_ - kDigestSize;
  if (body_length < kHeaderBodyFixed || body_length > limit - kFixedHeaderSize ||
      body_length != kHeaderBodyFixed + Get<uint16_t>(body + kHeaderBodyFixed - 2)) {
    *error = "bad header length " + std::to_string(body_length);
    return OpenStatus::kRefused;
  }
  SnapshotMeta meta;
  meta.node_id = Get<uint64_t>(body);
  meta.saved_at_ms = Get<int64_t>(body + 8);
  std::memcpy(meta.stream.replid.data(), body + 16, 16);
  meta.stream.offset = Get<uint64_t>(body + 32);
  std::memcpy(meta.stream.peer_replid.data(), body + 40, 16);
  meta.stream.applied_offset = Get<uint64_t>(body + 56);
  Record flush;
  flush.kind = RecordKind::kFlush;
  flush.hlc = Get<uint64_t>(body + 64);
  flush.origin = Get<uint64_t>(body + 72);
  flush.at_ms = Get<int64_t>(body + 80);
  meta.identity.assign(body + kHeaderBodyFixed, body_length - kHeaderBodyFixed);

  // The checksum over everything before the trailer, on a thread of its own
  // while this one checks the entries' shapes; both must pass.
  std::array<unsigned char, kDigestSize> digest{};
  bool hashed = false;
  std::thread hasher([&] {
    Sha256 hash;
    hash.Update(data_, limit);
    hashed = hash.Final(&digest);
  });
  std::string shape_error;
  const bool shaped = CheckEntries(body_length, limit, &shape_error);
  hasher.join();
  if (!hashed) {
    *error = "SHA-256 failed (OpenSSL)";
    return OpenStatus::kRefused;
  }
  if (std::memcmp(digest.data(), data_ + limit, kDigestSize) != 0) {
    *error = "checksum mismatch (corrupt or truncated)";
    return OpenStatus::kRefused;
  }

  if (meta.identity != identity) {
    *error = "written by another node (" + meta.identity + "), this is " + std::string(identity);
    return OpenStatus::kRefused;
  }

  if (!shaped) {
    *error = shape_error;
    return OpenStatus::kRefused;
  }
  flush_ = flush;
  meta_ = std::move(meta);
  return OpenStatus::kOk;
}

// Restores the entries in [begin, end) into `store`, counting them.
void SnapshotFile::LoadRange(size_t begin, size_t end, Store* store, SnapshotCounts* counts) const {
  Cursor cursor{data_, begin, end};
  std::string ignored;
  while (cursor.at < end) {
    Record record;
    bool at_end = false;
    if (!DecodeEntry(&cursor, &record, &at_end, &ignored) || at_end) {
      break;  // verified by Open: the range holds whole entries only
    }
    switch (store->Restore(record)) {
      case ApplyStatus::kApplied:
        if (record.kind == RecordKind::kDelete) {
          ++counts->tombstones;
        } else {
          ++counts->items;
          counts->item_bytes += record.key.size() + record.value.size();
        }
        break;
      case ApplyStatus::kStale:
        ++counts->dropped;
        break;
      case ApplyStatus::kTooLarge:
      case ApplyStatus::kOutOfMemory:
        ++counts->not_fitting;
        break;
    }
  }
}

// Two halves of the entries load at once (the store's shard locks keep them
// apart; every key appears once in a file). The halves are in file order
// each, so with a file over -m which entries fit is not fixed.
void SnapshotFile::LoadInto(Store* store, SnapshotCounts* counts) const {
  SnapshotCounts local;
  SnapshotCounts* c = counts != nullptr ? counts : &local;
  *c = SnapshotCounts{};
  c->file_bytes = size_;
  if (data_ == nullptr) {
    return;
  }
  if (flush_.hlc != 0) {
    store->Restore(flush_);
  }
  store->Reserve(entry_count_);
  SnapshotCounts second;
  std::thread helper([&] { LoadRange(middle_, entries_end_, store, &second); });
  LoadRange(entries_begin_, middle_, store, c);
  helper.join();
  c->items += second.items;
  c->tombstones += second.tombstones;
  c->item_bytes += second.item_bytes;
  c->dropped += second.dropped;
  c->not_fitting += second.not_fitting;
}

}  // namespace twincache
