// packaging/compat/arc4random.cc: the arc4random the statically linked
// libstdc++ calls in place of glibc 2.36's, directly and through
// std::random_device as the packaged programs reach it.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <stdexcept>

extern "C" std::uint32_t __wrap_arc4random();

namespace {

// 64 draws of 32 uniform bits repeat one with probability below 1e-6.
constexpr int kDraws = 64;

TEST(Arc4randomCompatTest, GivesDistinctValues) {
  std::set<std::uint32_t> values;
  for (int i = 0; i < kDraws; ++i) {
    values.insert(__wrap_arc4random());
  }
  EXPECT_GE(values.size(), static_cast<std::size_t>(kDraws - 1));
}

TEST(Arc4randomCompatTest, RandomDeviceArc4randomSourceWorks) {
  std::set<unsigned int> values;
  try {
    std::random_device device("arc4random");
    for (int i = 0; i < kDraws; ++i) {
      values.insert(device());
    }
  } catch (const std::runtime_error& error) {
    GTEST_SKIP() << "this libstdc++ has no arc4random source: " << error.what();
  }
  EXPECT_GE(values.size(), static_cast<std::size_t>(kDraws - 1));
}

}  // namespace
