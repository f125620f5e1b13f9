// The track file's text and its writers' ordering rules
// (keepalived/track_file.h, "Writers and their order"), on a real directory.
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "keepalived/fork_sequence.h"
#include "keepalived/track_file.h"
#include "tests/unit/testing/temp_dir.h"

namespace twincache {
namespace {

TEST(ParseTrackFileTest, ReadsTheLeadingNumberAsKeepalivedDoes) {
  EXPECT_EQ(ParseTrackFile("1\n").value, 1);
  EXPECT_EQ(ParseTrackFile("1\n").seq, 0u);  // keepalived's init_file: no SEQ
  TrackFileState ready = ParseTrackFile("0 1234560012345\n");
  EXPECT_TRUE(ready.readable);
  EXPECT_EQ(ready.value, 0);
  EXPECT_EQ(ready.seq, 1234560012345u);
  EXPECT_EQ(ParseTrackFile("  -3 7\n").value, -3);
  EXPECT_EQ(ParseTrackFile("+2").value, 2);
  for (const char* unreadable : {"", "\n", "x", "-", " \n "}) {
    EXPECT_FALSE(ParseTrackFile(unreadable).readable) << unreadable;
  }
  // Whatever follows the number other than " SEQ" leaves SEQ at 0.
  EXPECT_EQ(ParseTrackFile("0 12x\n").seq, 0u);
  EXPECT_EQ(ParseTrackFile("0\t12\n").seq, 0u);
}

TEST(ParseTrackFileTest, TextRoundTrips) {
  EXPECT_EQ(TrackFileText(true, 42), "0 42\n");
  EXPECT_EQ(TrackFileText(false, 42), "1 42\n");
  TrackFileState state = ParseTrackFile(TrackFileText(false, 18446744073709551615u));
  EXPECT_EQ(state.value, 1);
  EXPECT_EQ(state.seq, 18446744073709551615u);
}

TEST(ForkSequenceTest, OrdersByStartTimeThenPid) {
  EXPECT_LT(SequenceNumber(100, 32767), SequenceNumber(101, 2));
  EXPECT_LT(SequenceNumber(100, 2), SequenceNumber(100, 3));
  EXPECT_EQ(SequenceNumber(123456, 12345), 1234560012345u);
  timespec boottime{};
  clock_gettime(CLOCK_BOOTTIME, &boottime);
  bool from_proc = false;
  uint64_t seq = ThisProcessSequence(boottime, &from_proc);
  EXPECT_TRUE(from_proc);
  EXPECT_EQ(seq % 10'000'000, static_cast<uint64_t>(getpid()));
}

class TrackFileWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.File("vrrp.state");
  }

  void Put(const std::string& text) {
    std::ofstream(path_ + ".tmp") << text;
    std::filesystem::rename(path_ + ".tmp", path_);
  }
  std::string Text() const {
    std::ifstream in(path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  twincache::testing::TempDir dir_{"track_file_test"};
  std::string path_;
};

TEST_F(TrackFileWriteTest, NotReadyReplacesAnOlderReady) {
  Put("0 100\n");
  EXPECT_EQ(MarkNotReady(path_, 200).outcome, TrackWrite::kWritten);
  EXPECT_EQ(Text(), "1 200\n");
  EXPECT_EQ(MarkNotReady(path_, 300).outcome, TrackWrite::kUnchanged);
  EXPECT_EQ(Text(), "1 200\n");
}

TEST_F(TrackFileWriteTest, NotReadyLeavesAReadyOfALaterForkAlone) {
  Put("0 300\n");
  TrackWriteResult result = MarkNotReady(path_, 200);
  EXPECT_EQ(result.outcome, TrackWrite::kKept);
  EXPECT_NE(result.detail.find("forked later"), std::string::npos) << result.detail;
  EXPECT_EQ(Text(), "0 300\n");
}

TEST_F(TrackFileWriteTest, NotReadyOnAMissingFileAndDirectory) {
  path_ = dir_.File("sub/vrrp.state");
  EXPECT_EQ(MarkNotReady(path_, 5).outcome, TrackWrite::kWritten);
  EXPECT_EQ(Text(), "1 5\n");
}

TEST_F(TrackFileWriteTest, ReadyOnlyWhenUnchangedSinceTheCheckBegan) {
  Put("1\n");  // keepalived's init_file
  TrackFileVersion seen = CurrentTrackFileVersion(path_);
  EXPECT_EQ(MarkReady(path_, seen, 400).outcome, TrackWrite::kWritten);
  EXPECT_EQ(Text(), "0 400\n");

  seen = CurrentTrackFileVersion(path_);
  Put("1 450\n");  // a hook during the check
  EXPECT_EQ(MarkReady(path_, seen, 500).outcome, TrackWrite::kKept);
  EXPECT_EQ(Text(), "1 450\n");
}

TEST_F(TrackFileWriteTest, ReadyLeavesAReadyFileAlone) {
  Put("0 400\n");
  TrackFileVersion seen = CurrentTrackFileVersion(path_);
  EXPECT_EQ(MarkReady(path_, seen, 500).outcome, TrackWrite::kUnchanged);
  EXPECT_EQ(Text(), "0 400\n");
  EXPECT_EQ(CurrentTrackFileVersion(path_), seen);
}

}  // namespace
}  // namespace twincache
