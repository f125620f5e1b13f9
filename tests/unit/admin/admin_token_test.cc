// Tests for the admin endpoint's token (admin_token.h): the file's format,
// the Authorization header's forms, and a reload that fails keeping the old
// token.
#include "core/admin/admin_token.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace twincache {
namespace {

constexpr char kToken[] = "0123456789abcdefTOKEN";

class AdminTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/twincache-admin-token-test.XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = path;
  }
  void TearDown() override { std::remove(path_.c_str()); }

  void Write(const std::string& text) {
    std::ofstream file(path_, std::ios::binary | std::ios::trunc);
    file << text;
  }

  std::string path_;
};

TEST_F(AdminTokenTest, ReadsTheFirstLineTrimmed) {
  Write(std::string("  ") + kToken + " \r\nsecond line\n");
  std::string token;
  std::string error;
  ASSERT_TRUE(ReadAdminTokenFile(path_, &token, &error)) << error;
  EXPECT_EQ(token, kToken);
}

TEST_F(AdminTokenTest, RefusesEmptyShortAndMissingFiles) {
  std::string token;
  std::string error;
  Write("\n");
  EXPECT_FALSE(ReadAdminTokenFile(path_, &token, &error));
  EXPECT_NE(error.find("is empty"), std::string::npos) << error;
  Write("short\n");
  EXPECT_FALSE(ReadAdminTokenFile(path_, &token, &error));
  EXPECT_NE(error.find("shorter than 16 bytes"), std::string::npos) << error;
  EXPECT_EQ(error.find("short\n"), std::string::npos);
  EXPECT_FALSE(ReadAdminTokenFile(path_ + ".missing", &token, &error));
  EXPECT_NE(error.find("cannot read admin token file"), std::string::npos) << error;
}

TEST_F(AdminTokenTest, ChecksTheBearerHeader) {
  Write(std::string(kToken) + "\n");
  AdminToken admin;
  std::string error;
  ASSERT_TRUE(admin.Load(path_, &error)) << error;
  EXPECT_EQ(admin.Check(BearerHeaderValue(kToken)), AdminAuth::kOk);
  EXPECT_EQ(admin.Check(std::string("bearer ") + kToken),
            AdminAuth::kOk);  // RFC 9110: case-insensitive scheme
  EXPECT_EQ(admin.Check(std::string(" BEARER  ") + kToken + " "), AdminAuth::kOk);
  EXPECT_EQ(admin.Check(""), AdminAuth::kMissing);
  EXPECT_EQ(admin.Check("Bearer"), AdminAuth::kMissing);
  EXPECT_EQ(admin.Check(std::string("Basic ") + kToken), AdminAuth::kMissing);
  EXPECT_EQ(admin.Check("Bearer "), AdminAuth::kMissing);
  EXPECT_EQ(admin.Check(std::string("Bearer ") + kToken + "x"), AdminAuth::kWrong);
  EXPECT_EQ(admin.Check(std::string("Bearer ") + std::string(kToken).substr(1)), AdminAuth::kWrong);
}

TEST_F(AdminTokenTest, ReloadSwapsOrKeepsTheToken) {
  Write(std::string(kToken) + "\n");
  AdminToken admin;
  std::string error;
  ASSERT_TRUE(admin.Load(path_, &error)) << error;
  Write("another-token-0123456789\n");
  ASSERT_TRUE(admin.Reload(&error)) << error;
  EXPECT_EQ(admin.Check(BearerHeaderValue(kToken)), AdminAuth::kWrong);
  EXPECT_EQ(admin.Check(BearerHeaderValue("another-token-0123456789")), AdminAuth::kOk);
  Write("");
  EXPECT_FALSE(admin.Reload(&error));
  EXPECT_EQ(admin.Check(BearerHeaderValue("another-token-0123456789")), AdminAuth::kOk);
}

TEST(AdminTokenUnloadedTest, RefusesEverything) {
  AdminToken admin;
  EXPECT_EQ(admin.Check(BearerHeaderValue(kToken)), AdminAuth::kWrong);
}

}  // namespace
}  // namespace twincache
