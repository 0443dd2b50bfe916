#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {
namespace {

using namespace std::chrono_literals;

struct Good {
  const char* text;
  Duration want;
};

class DurationGood : public ::testing::TestWithParam<Good> {};

TEST_P(DurationGood, Parses) {
  std::string error;
  auto d = ParseDuration(GetParam().text, &error);
  ASSERT_TRUE(d.has_value()) << GetParam().text << ": " << error;
  EXPECT_EQ(d->count(), GetParam().want.count()) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, DurationGood,
    ::testing::Values(
        Good{"0s", 0ns}, Good{"1ns", 1ns}, Good{"500ms", 500ms}, Good{"10s", 10s},
        Good{"1m30s", 90s}, Good{"1h", 1h}, Good{"1.5s", 1500ms}, Good{"1500us", 1500us},
        Good{"1500\xC2\xB5s", 1500us}, Good{"1h1m1s1ms1us1ns", 1h + 1min + 1s + 1ms + 1us + 1ns},
        Good{"0.5ms", 500us}, Good{"0.000000001s", 1ns},
        Good{"0.0000000019s", 1ns},  // truncated to whole nanoseconds
        Good{"1.000000000000000000001h", 1h}, Good{"007s", 7s},
        Good{"2562047h47m16.854775807s", Duration(std::numeric_limits<std::int64_t>::max())},
        Good{"9223372036854775807ns", Duration(std::numeric_limits<std::int64_t>::max())},
        Good{"1h1h", 2h}));

struct Bad {
  const char* text;
  const char* fragment;
};

class DurationBad : public ::testing::TestWithParam<Bad> {};

TEST_P(DurationBad, Rejected) {
  std::string error;
  auto d = ParseDuration(GetParam().text, &error);
  EXPECT_FALSE(d.has_value()) << GetParam().text;
  EXPECT_NE(error.find(GetParam().fragment), std::string::npos)
      << GetParam().text << " -> " << error;
}

INSTANTIATE_TEST_SUITE_P(
    Table, DurationBad,
    ::testing::Values(Bad{"", "empty"}, Bad{"1", "missing unit"}, Bad{"10", "missing unit"},
                      Bad{"0", "missing unit"}, Bad{"-1s", "duration"}, Bad{"+1s", "duration"},
                      Bad{"1.s", "duration"}, Bad{".5s", "duration"}, Bad{"1 s", "duration"},
                      Bad{" 1s", "duration"}, Bad{"1s ", "duration"}, Bad{"1d", "duration"},
                      Bad{"1S", "duration"}, Bad{"10 seconds", "duration"},
                      Bad{"1m30", "missing unit"}, Bad{"s", "duration"}, Bad{"1e3s", "duration"},
                      Bad{"2\xCE\xBCs", "duration"}, Bad{"9999999999h", "out of range"},
                      Bad{"9223372036854775808ns", "out of range"},
                      Bad{"2562047h47m16.854775808s", "out of range"},
                      Bad{"99999999999999999999999s", "out of range"},
                      Bad{"\xff"
                          "1s",
                          "duration"}));

TEST(Duration, ErrorMayBeNull) { EXPECT_FALSE(ParseDuration("x", nullptr).has_value()); }

TEST(Duration, Format) {
  EXPECT_EQ(FormatDuration(0ns), "0s");
  EXPECT_EQ(FormatDuration(1ns), "1ns");
  EXPECT_EQ(FormatDuration(1500ns), "1.5us");
  EXPECT_EQ(FormatDuration(500ms), "500ms");
  EXPECT_EQ(FormatDuration(1500us), "1.5ms");
  EXPECT_EQ(FormatDuration(1s), "1s");
  EXPECT_EQ(FormatDuration(1500ms), "1.5s");
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(1h), "1h");
  EXPECT_EQ(FormatDuration(1h + 5s), "1h5s");
  EXPECT_EQ(FormatDuration(1h + 1min + 1ns), "1h1m0.000000001s");
  EXPECT_EQ(FormatDuration(-2s), "-2s");
  EXPECT_EQ(FormatDuration(Duration(std::numeric_limits<std::int64_t>::max())),
            "2562047h47m16.854775807s");
  EXPECT_EQ(FormatDuration(Duration(std::numeric_limits<std::int64_t>::min())),
            "-2562047h47m16.854775808s");
}

TEST(Duration, FormatRoundTrips) {
  for (Duration d : {Duration(0), Duration(1), Duration(999), Duration(1001), Duration(123456789),
                     Duration(1000000001), Duration(3600000000001), Duration(86399999999999),
                     Duration(std::numeric_limits<std::int64_t>::max())}) {
    std::string error;
    auto back = ParseDuration(FormatDuration(d), &error);
    ASSERT_TRUE(back.has_value()) << FormatDuration(d) << ": " << error;
    EXPECT_EQ(back->count(), d.count()) << FormatDuration(d);
  }
}

}  // namespace
}  // namespace healthgate::v1alpha1
