// Tests for SASL authentication on the real libsasl2 and its plugins
// (libsasl2-modules), configured as memcached's: a MEMCACHED_SASL_PWDB file,
// a sasldb made by saslpasswd2 and SASL_CONF_PATH with mech_list.
//
// libsasl2 is initialized once per process, so the main configuration is set
// up once (World()) and every other configuration runs in a child process
// (death tests in the "threadsafe" style re-execute this binary for just that
// test).
#include "core/auth/sasl.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/testing/temp_dir.h"

namespace twincache {
namespace {

namespace fs = std::filesystem;

std::string HostName() {
  std::array<char, 1025> name{};
  if (gethostname(name.data(), name.size() - 1) != 0) {
    return "";
  }
  return name.data();
}

// RFC 4616 PLAIN message: authzid NUL authcid NUL password.
std::string Plain(const std::string& user, const std::string& password, const std::string& authzid = "") {
  return authzid + std::string(1, '\0') + user + std::string(1, '\0') + password;
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string FindSaslpasswd2() {
  for (const char* path : {"/usr/sbin/saslpasswd2", "/usr/bin/saslpasswd2", "/sbin/saslpasswd2"}) {
    if (access(path, X_OK) == 0) {
      return path;
    }
  }
  return "";
}

// Adds `user` with `password` to the sasldb `db` for service "memcached" in
// `realm`, as memcached's t/binary-sasl.t does. False if saslpasswd2 fails.
bool AddSasldbUser(const std::string& saslpasswd2, const fs::path& db, const std::string& realm,
                   const std::string& user, const std::string& password) {
  std::string command = saslpasswd2 + " -p -c -a memcached -f " + db.string();
  if (!realm.empty()) {
    command += " -u " + realm;
  }
  command += " " + user;
  FILE* pipe = popen(command.c_str(), "w");
  if (pipe == nullptr) {
    return false;
  }
  std::fputs(password.c_str(), pipe);
  return pclose(pipe) == 0;
}

// The process's configuration: mech_list and sasldb_path in SASL_CONF_PATH's
// memcached.conf (memcached's t/sasl/memcached.conf), and a
// MEMCACHED_SASL_PWDB file. Its directory goes when the process exits.
struct SaslWorld {
  SaslWorld() {
    if (dir.empty()) {
      error = "mkdtemp failed";
      return;
    }
    // alice: the documented "user:password" form; bob: memcached's realm form;
    // carol: a further token after the password; dave: a DOS line end.
    WriteFile(dir / "pwdb",
              "alice:secret\nbob@" + host + ":hunter2\ncarol:opensesame:uid=1000\ndave:crlf\r\n");
    std::string saslpasswd2 = FindSaslpasswd2();
    has_sasldb =
        !saslpasswd2.empty() && AddSasldbUser(saslpasswd2, dir / "sasldb", host, "erin", "sasldbpass");
    WriteFile(dir / "memcached.conf",
              "mech_list: plain cram-md5\nsasldb_path: " + (dir / "sasldb").string() + "\n");
    SaslOptions options;
    options.conf_path = dir.string();
    options.pwdb_path = (dir / "pwdb").string();
    ok = InitSasl(options, &info, &error);
  }
  testing::TempDir temp{"sasl_test"};
  fs::path dir = temp.path();
  std::string host = HostName();
  bool has_sasldb = false;
  bool ok = false;
  std::string error;
  SaslInitInfo info;
};

const SaslWorld& World() {
  static const SaslWorld world;
  return world;
}

class SaslTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(World().ok) << World().error; }
  std::string Qualified(const std::string& user) const {
    return World().host.empty() ? user : user + "@" + World().host;
  }
};

TEST_F(SaslTest, InitReportsWhatItRead) {
  EXPECT_EQ(World().info.conf_path, World().dir.string());
  EXPECT_EQ(World().info.realm, World().host);
  EXPECT_EQ(World().info.mechanisms, "PLAIN CRAM-MD5");
  // Debian's soname on a Debian build host, EL's on an EL one.
  EXPECT_NE(std::find(kSaslLibraries.begin(), kSaslLibraries.end(), World().info.library),
            kSaslLibraries.end())
      << World().info.library;
  EXPECT_TRUE(SaslInitialized());
}

TEST_F(SaslTest, MechanismListIsMemcachedsValue) {
  SaslSession session;
  std::string names;
  std::string error;
  ASSERT_TRUE(session.ListMechanisms(&names, &error)) << error;
  // mech_list's order with libsasl2 2.1.28, as Debian's memcached 1.6.18
  // answers opcode 0x20 (memcached's t/binary-sasl.t, written for an older
  // libsasl2, expects "CRAM-MD5 PLAIN").
  EXPECT_EQ(names, "PLAIN CRAM-MD5");
}

TEST_F(SaslTest, PwdbRightPasswordAuthenticates) {
  SaslSession session;
  EXPECT_FALSE(session.authenticated());
  SaslResult result = session.Start("PLAIN", Plain("alice", "secret"));
  EXPECT_EQ(result.status, SaslStatus::kOk) << result.reason;
  EXPECT_TRUE(session.authenticated());
  EXPECT_EQ(session.username(), Qualified("alice"));
}

TEST_F(SaslTest, PwdbMatchesWithOrWithoutTheRealm) {
  for (const auto& [user, password] :
       std::vector<std::pair<std::string, std::string>>{{"alice", "secret"},
                                                        {Qualified("alice"), "secret"},
                                                        {"bob", "hunter2"},
                                                        {Qualified("bob"), "hunter2"}}) {
    SaslSession session;
    SaslResult result = session.Start("PLAIN", Plain(user, password));
    EXPECT_EQ(result.status, SaslStatus::kOk) << user << ": " << result.reason;
  }
  SaslSession other_realm;
  EXPECT_EQ(other_realm.Start("PLAIN", Plain("alice@elsewhere.example", "secret")).status, SaslStatus::kFail);
}

TEST_F(SaslTest, PwdbWrongPasswordFails) {
  for (const char* password : {"wrong", "secre", "secretX", "", "secret:"}) {
    SaslSession session;
    SaslResult result = session.Start("PLAIN", Plain("alice", password));
    EXPECT_EQ(result.status, SaslStatus::kFail) << "password '" << password << "'";
    EXPECT_FALSE(result.reason.empty());
    EXPECT_FALSE(session.authenticated());
    EXPECT_EQ(session.username(), "");
  }
}

TEST_F(SaslTest, UnknownUserFails) {
  SaslSession session;
  SaslResult result = session.Start("PLAIN", Plain("mallory", "secret"));
  EXPECT_EQ(result.status, SaslStatus::kFail);
  EXPECT_FALSE(session.authenticated());
}

TEST_F(SaslTest, PwdbTokensAfterThePasswordAndCrlf) {
  SaslSession session;
  EXPECT_EQ(session.Start("PLAIN", Plain("carol", "opensesame")).status, SaslStatus::kOk);
  // memcached accepts the line's text up to any ':' as the password.
  EXPECT_EQ(session.Start("PLAIN", Plain("carol", "opensesame:uid=1000")).status, SaslStatus::kOk);
  EXPECT_EQ(session.Start("PLAIN", Plain("carol", "opensesame:uid")).status, SaslStatus::kFail);
  EXPECT_EQ(session.Start("PLAIN", Plain("dave", "crlf")).status, SaslStatus::kOk);
  EXPECT_EQ(session.Start("PLAIN", Plain("dave", "crl")).status, SaslStatus::kFail);
}

TEST_F(SaslTest, MalformedPlainFails) {
  const std::vector<std::string> malformed = {
      "garbage",                                              // no NUL at all
      std::string("alice\0secret", 12),                       // one NUL: no password
      Plain("alice", "secret") + std::string(1, '\0') + "x",  // a fourth field
      std::string(1, '\0'),                                   // nothing but a NUL
      Plain("", "secret"),                                    // empty user
  };
  for (const std::string& data : malformed) {
    SaslSession session;
    SaslResult result = session.Start("PLAIN", data);
    EXPECT_EQ(result.status, SaslStatus::kFail) << "data of " << data.size() << " bytes";
    EXPECT_FALSE(session.authenticated());
  }
}

TEST_F(SaslTest, AuthorizationIdOtherThanTheUserFails) {
  SaslSession session;
  EXPECT_EQ(session.Start("PLAIN", Plain("alice", "secret", "bob")).status, SaslStatus::kFail);
  EXPECT_FALSE(session.authenticated());
}

TEST_F(SaslTest, EmptyStartContinuesThenStepAuthenticates) {
  SaslSession session;
  SaslResult start = session.Start("PLAIN", "");
  ASSERT_EQ(start.status, SaslStatus::kContinue) << start.reason;
  EXPECT_EQ(start.challenge, "");
  EXPECT_FALSE(session.authenticated());
  SaslResult step = session.Step(Plain("alice", "secret"));
  EXPECT_EQ(step.status, SaslStatus::kOk) << step.reason;
  EXPECT_TRUE(session.authenticated());
}

TEST_F(SaslTest, StepWithoutAnExchangeFails) {
  SaslSession fresh;
  EXPECT_EQ(fresh.Step(Plain("alice", "secret")).status, SaslStatus::kFail);
  EXPECT_FALSE(fresh.authenticated());

  SaslSession done;
  ASSERT_EQ(done.Start("PLAIN", Plain("alice", "secret")).status, SaslStatus::kOk);
  EXPECT_EQ(done.Step(Plain("alice", "secret")).status, SaslStatus::kFail);
  EXPECT_FALSE(done.authenticated());  // as memcached: any Auth/Step first clears it

  SaslSession failed;
  ASSERT_EQ(failed.Start("PLAIN", Plain("alice", "wrong")).status, SaslStatus::kFail);
  EXPECT_EQ(failed.Step(Plain("alice", "secret")).status, SaslStatus::kFail);
}

TEST_F(SaslTest, ReauthenticationAndListingClearAuthentication) {
  SaslSession session;
  ASSERT_EQ(session.Start("PLAIN", Plain("alice", "secret")).status, SaslStatus::kOk);
  // Again on the same session (memcached's reused context refuses this one).
  ASSERT_EQ(session.Start("PLAIN", Plain("alice", "secret")).status, SaslStatus::kOk);
  EXPECT_TRUE(session.authenticated());
  EXPECT_EQ(session.Start("PLAIN", Plain("alice", "wrong")).status, SaslStatus::kFail);
  EXPECT_FALSE(session.authenticated());
  EXPECT_EQ(session.username(), "");
  ASSERT_EQ(session.Start("PLAIN", Plain("bob", "hunter2")).status, SaslStatus::kOk);
  EXPECT_EQ(session.username(), Qualified("bob"));
  std::string names;
  std::string error;
  ASSERT_TRUE(session.ListMechanisms(&names, &error)) << error;
  EXPECT_FALSE(session.authenticated());  // memcached init_sasl_conn on opcode 0x20
}

TEST_F(SaslTest, BadMechanismsFail) {
  for (const std::string& mechanism :
       {std::string(""), std::string(kSaslMechanismMaxLength + 1, 'X'), std::string("NOSUCH"),
        std::string("LOGIN"), std::string("ANONYMOUS"), std::string("PLAIN\0X", 7)}) {
    SaslSession session;
    SaslResult result = session.Start(mechanism, Plain("alice", "secret"));
    EXPECT_EQ(result.status, SaslStatus::kFail) << "mechanism '" << mechanism << "'";
    EXPECT_FALSE(session.authenticated());
  }
  SaslSession lower_case;  // libsasl2 matches mechanism names without case
  EXPECT_EQ(lower_case.Start("plain", Plain("alice", "secret")).status, SaslStatus::kOk);
}

TEST_F(SaslTest, SasldbPlainAuthenticates) {
  if (!World().has_sasldb) {
    GTEST_SKIP() << "saslpasswd2 (sasl2-bin) is not installed or failed";
  }
  SaslSession session;
  SaslResult result = session.Start("PLAIN", Plain("erin", "sasldbpass"));
  EXPECT_EQ(result.status, SaslStatus::kOk) << result.reason;
  EXPECT_EQ(session.username(), Qualified("erin"));
  EXPECT_EQ(session.Start("PLAIN", Plain("erin", "wrong")).status, SaslStatus::kFail);
  // A pwdb user is not a sasldb user with another password, and the reverse.
  EXPECT_EQ(session.Start("PLAIN", Plain("alice", "sasldbpass")).status, SaslStatus::kFail);
}

std::string HmacMd5Hex(const std::string& key, const std::string& message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(), &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex.push_back(kDigits[digest[i] >> 4]);
    hex.push_back(kDigits[digest[i] & 0xf]);
  }
  return hex;
}

// A two-step mechanism: Start answers kContinue with a challenge, Step ends it
// (RFC 2195 CRAM-MD5 against the sasldb secret).
TEST_F(SaslTest, CramMd5ContinuesWithAChallengeThenSteps) {
  if (!World().has_sasldb) {
    GTEST_SKIP() << "saslpasswd2 (sasl2-bin) is not installed or failed";
  }
  SaslSession session;
  SaslResult start = session.Start("CRAM-MD5", "");
  ASSERT_EQ(start.status, SaslStatus::kContinue) << start.reason;
  ASSERT_FALSE(start.challenge.empty());
  EXPECT_EQ(start.challenge.front(), '<');
  SaslResult step = session.Step("erin " + HmacMd5Hex("sasldbpass", start.challenge));
  EXPECT_EQ(step.status, SaslStatus::kOk) << step.reason;
  EXPECT_EQ(session.username(), Qualified("erin"));

  SaslSession wrong;
  start = wrong.Start("CRAM-MD5", "");
  ASSERT_EQ(start.status, SaslStatus::kContinue);
  EXPECT_EQ(wrong.Step("erin " + HmacMd5Hex("wrong", start.challenge)).status, SaslStatus::kFail);
  EXPECT_FALSE(wrong.authenticated());
}

TEST_F(SaslTest, SessionsOnSeveralThreads) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      for (int round = 0; round < kRounds; ++round) {
        SaslSession session;
        bool good = (round + t) % 2 == 0;
        SaslResult result = session.Start("PLAIN", Plain("alice", good ? "secret" : "wrong"));
        if ((result.status == SaslStatus::kOk) != good || session.authenticated() != good) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
  }
}

TEST_F(SaslTest, MovedSessionKeepsItsState) {
  SaslSession session;
  ASSERT_EQ(session.Start("PLAIN", Plain("alice", "secret")).status, SaslStatus::kOk);
  SaslSession moved(std::move(session));
  EXPECT_TRUE(moved.authenticated());
  EXPECT_EQ(moved.username(), Qualified("alice"));
  SaslSession assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(assigned.authenticated());
  EXPECT_EQ(assigned.Start("PLAIN", Plain("bob", "hunter2")).status, SaslStatus::kOk);
}

TEST_F(SaslTest, SecondInitFails) {
  SaslOptions options;
  options.conf_path = World().dir.string();
  SaslInitInfo info;
  std::string error;
  EXPECT_FALSE(InitSasl(options, &info, &error));
  EXPECT_EQ(error, "SASL already initialized");
  EXPECT_TRUE(SaslInitialized());
}

// Configurations other than World()'s, each in a child process that exits 0
// when InitSasl and sessions behaved as expected and writes what went wrong
// to stderr otherwise.

// Refused start: InitSasl fails with an error containing `expected`, and a
// session then refuses a password the pwdb holds.
int ExpectRefused(const SaslOptions& options, const std::string& expected) {
  SaslInitInfo info;
  std::string error;
  if (InitSasl(options, &info, &error)) {
    std::cerr << "InitSasl succeeded with mechanisms '" << info.mechanisms << "'\n";
    return 1;
  }
  std::cerr << error << "\n";
  if (error.find(expected) == std::string::npos) {
    return 2;
  }
  if (SaslInitialized()) {
    return 3;
  }
  SaslSession session;
  std::string names;
  if (session.ListMechanisms(&names, &error)) {
    return 4;
  }
  SaslResult result = session.Start("PLAIN", Plain("alice", "secret"));
  if (result.status != SaslStatus::kFail || session.authenticated()) {
    return 5;
  }
  std::cerr << "refused\n";
  return 0;
}

class SaslConfigDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    ASSERT_FALSE(dir_.empty());
    WriteFile(dir_ / "pwdb", "alice:secret\n");
  }
  // Ends the child process: it never runs the fixture's destructor.
  [[noreturn]] void ExitChild(int code) const {
    temp_.Remove();
    std::exit(code);
  }
  SaslOptions Options() const {
    SaslOptions options;
    options.conf_path = dir_.string();
    options.pwdb_path = (dir_ / "pwdb").string();
    return options;
  }
  testing::TempDir temp_{"sasl_test"};
  fs::path dir_ = temp_.path();
};

TEST_F(SaslConfigDeathTest, NoConfigPathRefusesToStart) {
  for (const char* path : {"/etc/sasl/memcached.conf", "/etc/sasl2/memcached.conf"}) {
    if (access(path, F_OK) == 0) {
      GTEST_SKIP() << path << " exists on this machine";
    }
  }
  SaslOptions options = Options();
  options.conf_path.reset();  // as if SASL_CONF_PATH were unset
  EXPECT_EXIT(ExitChild(ExpectRefused(options, "no config path")), ::testing::ExitedWithCode(0), "refused");
}

TEST_F(SaslConfigDeathTest, MechListNamingNothingInstalledRefusesToStart) {
  WriteFile(dir_ / "memcached.conf", "mech_list: nosuch\n");
  EXPECT_EXIT(ExitChild(ExpectRefused(Options(), "no mechanism available")), ::testing::ExitedWithCode(0),
              "refused");
}

TEST_F(SaslConfigDeathTest, NoPluginsRefusesToStart) {
  // libsasl2 loads its mechanism plugins from SASL_PATH (default: the
  // libsasl2-modules directory); an empty directory is a machine without them.
  fs::create_directory(dir_ / "plugins");
  WriteFile(dir_ / "memcached.conf", "mech_list: plain\n");
  const std::string plugins = (dir_ / "plugins").string();
  EXPECT_EXIT(
      {
        setenv("SASL_PATH", plugins.c_str(), 1);
        ExitChild(ExpectRefused(Options(), "no mechanism available"));
      },
      ::testing::ExitedWithCode(0), "refused");
}

// Without libsasl2 (a name no system has), -S must refuse to start, and
// sessions refuse: nothing fails open.
TEST_F(SaslConfigDeathTest, NoLibraryRefusesToStart) {
  WriteFile(dir_ / "memcached.conf", "mech_list: plain\n");
  SaslOptions options = Options();
  options.libraries = {"libtwincache-no-such-sasl.so.9", "libtwincache-no-such-sasl.so.10"};
  EXPECT_EXIT(
      ExitChild(ExpectRefused(options, "SASL: cannot load libsasl2 (libtwincache-no-such-sasl.so.9: ")),
      ::testing::ExitedWithCode(0), "libtwincache-no-such-sasl.so.10: .*refused");
}

// A library that loads but lacks the functions (libc here) is no libsasl2.
TEST_F(SaslConfigDeathTest, LibraryWithoutTheFunctionsRefusesToStart) {
  WriteFile(dir_ / "memcached.conf", "mech_list: plain\n");
  SaslOptions options = Options();
  options.libraries = {"libc.so.6"};
  EXPECT_EXIT(ExitChild(ExpectRefused(options, "SASL: cannot load libsasl2 (libc.so.6: no sasl_")),
              ::testing::ExitedWithCode(0), "refused");
}

// The names are tried in order: a missing first one falls through to the next.
TEST_F(SaslConfigDeathTest, NextLibraryIsTried) {
  WriteFile(dir_ / "memcached.conf", "mech_list: plain\n");
  SaslOptions options = Options();
  options.libraries = {"libtwincache-no-such-sasl.so.9"};
  options.libraries.insert(options.libraries.end(), kSaslLibraries.begin(), kSaslLibraries.end());
  EXPECT_EXIT(
      {
        SaslInitInfo info;
        std::string error;
        bool ok = InitSasl(options, &info, &error);
        std::cerr << (ok ? "loaded " + info.library : error) << "\n";
        SaslSession session;
        ExitChild(ok && session.Start("PLAIN", Plain("alice", "secret")).status == SaslStatus::kOk ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "loaded libsasl2.so");
}

// Without a mech_list libsasl2 offers every installed plugin; ANONYMOUS, which
// would let anyone in, is left out and refused.
int ExpectDefaultsWithoutAnonymous(const SaslOptions& options) {
  SaslInitInfo info;
  std::string error;
  if (!InitSasl(options, &info, &error)) {
    std::cerr << error << "\n";
    return 1;
  }
  std::cerr << "mechanisms: " << info.mechanisms << "\n";
  const std::string padded = " " + info.mechanisms + " ";
  if (padded.find(" PLAIN ") == std::string::npos || padded.find(" ANONYMOUS ") != std::string::npos) {
    return 2;
  }
  SaslSession session;
  SaslResult anonymous = session.Start("ANONYMOUS", "anyone");
  if (anonymous.status != SaslStatus::kFail || session.authenticated()) {
    return 3;
  }
  if (session.Start("PLAIN", Plain("alice", "secret")).status != SaslStatus::kOk) {
    return 4;
  }
  std::cerr << "ok\n";
  return 0;
}

TEST_F(SaslConfigDeathTest, DefaultMechanismsExcludeAnonymous) {
  WriteFile(dir_ / "memcached.conf", "");
  EXPECT_EXIT(ExitChild(ExpectDefaultsWithoutAnonymous(Options())), ::testing::ExitedWithCode(0), "ok");
}

// SASL_CONF_PATH is a list of directories; the first holding memcached.conf
// wins (libsasl2 load_config).
TEST_F(SaslConfigDeathTest, ConfPathIsADirectoryList) {
  fs::create_directory(dir_ / "empty");
  fs::create_directory(dir_ / "conf");
  WriteFile(dir_ / "conf" / "memcached.conf", "mech_list: plain\n");
  SaslOptions options = Options();
  options.conf_path = (dir_ / "empty").string() + ":" + (dir_ / "conf").string();
  EXPECT_EXIT(
      {
        SaslInitInfo info;
        std::string error;
        bool ok = InitSasl(options, &info, &error);
        std::cerr << (ok ? "mechanisms: " + info.mechanisms : error) << "\n";
        ExitChild(ok && info.mechanisms == "PLAIN" ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "mechanisms: PLAIN");
}

TEST_F(SaslConfigDeathTest, UnreadablePwdbRefusesToStart) {
  WriteFile(dir_ / "memcached.conf", "mech_list: plain\n");
  SaslOptions options = Options();
  options.pwdb_path = (dir_ / "no-such-file").string();
  EXPECT_EXIT(ExitChild(ExpectRefused(options, "cannot read MEMCACHED_SASL_PWDB file")),
              ::testing::ExitedWithCode(0), "refused");
}

// A MEMCACHED_SASL_PWDB that goes away after the start refuses its users
// (memcached: SASL_NOAUTHZ) and is re-read when it is back.
TEST_F(SaslConfigDeathTest, PwdbIsReadOnEveryCheck) {
  WriteFile(dir_ / "memcached.conf", "mech_list: plain\n");
  EXPECT_EXIT(
      {
        SaslInitInfo info;
        std::string error;
        if (!InitSasl(Options(), &info, &error)) {
          std::cerr << error << "\n";
          ExitChild(1);
        }
        SaslSession session;
        bool before = session.Start("PLAIN", Plain("alice", "secret")).status == SaslStatus::kOk;
        fs::remove(dir_ / "pwdb");
        bool gone = session.Start("PLAIN", Plain("alice", "secret")).status == SaslStatus::kFail;
        WriteFile(dir_ / "pwdb", "alice:changed\n");
        bool changed = session.Start("PLAIN", Plain("alice", "changed")).status == SaslStatus::kOk &&
                       session.Start("PLAIN", Plain("alice", "secret")).status == SaslStatus::kFail;
        std::cerr << "before=" << before << " gone=" << gone << " changed=" << changed << "\n";
        ExitChild(before && gone && changed ? 0 : 2);
      },
      ::testing::ExitedWithCode(0), "before=1 gone=1 changed=1");
}

}  // namespace
}  // namespace twincache
