// Tests for memcached -Y's auth file (authfile.c's format) and the table
// that checks the ASCII protocol's auth set against it.
#include "core/auth/ascii_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace twincache {
namespace {

TEST(ParseAuthFileTest, UserColonPasswordLines) {
  std::vector<AsciiAuthEntry> entries;
  std::string error;
  ASSERT_TRUE(ParseAuthFile("alice:secret\nbob:pa ss:word\r\ncarol:", &entries, &error)) << error;
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].user, "alice");
  EXPECT_EQ(entries[0].password, "secret");
  // The password runs to the end of the line, colons and spaces included;
  // '\r' ends it (authfile_load).
  EXPECT_EQ(entries[1].user, "bob");
  EXPECT_EQ(entries[1].password, "pa ss:word");
  EXPECT_EQ(entries[2].user, "carol");
  EXPECT_EQ(entries[2].password, "");
}

TEST(ParseAuthFileTest, EmptyLinesAreSkippedAndAnEmptyFileHasNoUsers) {
  std::vector<AsciiAuthEntry> entries = {{"old", "x"}};
  std::string error;
  ASSERT_TRUE(ParseAuthFile("\n\nalice:a\n\n", &entries, &error));
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_TRUE(ParseAuthFile("", &entries, &error));
  EXPECT_TRUE(entries.empty());
}

TEST(ParseAuthFileTest, LineWithoutColonIsMalformed) {
  std::vector<AsciiAuthEntry> entries = {{"kept", "x"}};
  std::string error;
  EXPECT_FALSE(ParseAuthFile("alice:a\nno colon here\n", &entries, &error));
  EXPECT_EQ(error, "line 2: no ':' between user and password");
  ASSERT_EQ(entries.size(), 1u);  // untouched on failure
  EXPECT_EQ(entries[0].user, "kept");
}

class AsciiAuthTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ascii-auth-test-XXXXXX";
    const int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = name;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }

  std::string path_;
};

TEST_F(AsciiAuthTableTest, ChecksUserAndPasswordExactly) {
  Write("alice:secret\nbob:hunter2\n");
  AsciiAuthTable table;
  std::string error;
  ASSERT_TRUE(table.Load(path_, &error)) << error;
  EXPECT_EQ(table.size(), 2u);
  EXPECT_TRUE(table.Check("alice", "secret"));
  EXPECT_TRUE(table.Check("bob", "hunter2"));
  EXPECT_FALSE(table.Check("alice", "hunter2"));  // another user's password
  EXPECT_FALSE(table.Check("alice", "secre"));    // a prefix
  EXPECT_FALSE(table.Check("alice", "secrets"));  // longer
  EXPECT_FALSE(table.Check("alic", "secret"));
  EXPECT_FALSE(table.Check("", ""));
}

TEST_F(AsciiAuthTableTest, ReloadReplacesTheUsersAndAFailedOneKeepsThem) {
  Write("alice:one\n");
  AsciiAuthTable table;
  std::string error;
  ASSERT_TRUE(table.Load(path_, &error));
  Write("carol:two\n");
  ASSERT_TRUE(table.Load(path_, &error));
  EXPECT_FALSE(table.Check("alice", "one"));
  EXPECT_TRUE(table.Check("carol", "two"));
  Write("broken line\n");
  EXPECT_FALSE(table.Load(path_, &error));
  EXPECT_EQ(error, path_ + ": line 1: no ':' between user and password");
  EXPECT_TRUE(table.Check("carol", "two"));
  EXPECT_FALSE(table.Load(path_ + ".missing", &error));
  EXPECT_EQ(error, "cannot read " + path_ + ".missing: No such file or directory");
  EXPECT_TRUE(table.Check("carol", "two"));
}

TEST(AsciiAuthTableEmptyTest, NothingLoadedRefusesEveryone) {
  AsciiAuthTable table;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.Check("", ""));
}

}  // namespace
}  // namespace twincache
