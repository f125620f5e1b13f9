// A scratch directory of one's own for a unit test: tests run in parallel
// (ctest -j, and other checkouts' suites on the same machine), so fixed names
// under /tmp would be shared between them.
#ifndef TWINCACHE_TESTS_UNIT_TESTING_TEMP_DIR_H_
#define TWINCACHE_TESTS_UNIT_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace twincache::testing {

/// A new directory `<temp>/<prefix>.XXXXXX` (mkdtemp, mode 0700), removed with
/// everything in it when the object is destroyed (or by Remove()). path() is
/// empty when mkdtemp failed. Not thread safe; not copyable.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + ".XXXXXX")).string();
    if (mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~TempDir() { Remove(); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// path() / name, as a string.
  std::string File(const std::string& name) const { return (path_ / name).string(); }

  /// Removes the directory now (e.g. in a death test's child, which never
  /// runs destructors). Errors are ignored: there is nothing left to do.
  void Remove() const {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }

 private:
  std::filesystem::path path_;
};

}  // namespace twincache::testing

#endif  // TWINCACHE_TESTS_UNIT_TESTING_TEMP_DIR_H_
