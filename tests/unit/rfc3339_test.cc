#include "common/rfc3339.h"

#include <gtest/gtest.h>

#include "operator/kube/time.h"

namespace healthgate {
namespace {

using namespace std::chrono;

WallTime At(long long us) { return WallTime{microseconds{us}}; }

TEST(Rfc3339, EachPrecisionTruncates) {
  const WallTime t = At(1'764'163'700'123'456LL);  // 2025-11-26T13:28:20.123456Z
  EXPECT_EQ(Rfc3339(t, Rfc3339Precision::kSeconds), "2025-11-26T13:28:20Z");
  EXPECT_EQ(Rfc3339(t, Rfc3339Precision::kMillis), "2025-11-26T13:28:20.123Z");
  EXPECT_EQ(Rfc3339(t, Rfc3339Precision::kMicros), "2025-11-26T13:28:20.123456Z");
  // 999,999 us never rounds into the next second.
  EXPECT_EQ(Rfc3339(At(1'764'163'700'999'999LL), Rfc3339Precision::kMillis),
            "2025-11-26T13:28:20.999Z");
}

TEST(Rfc3339, InstantsBeforeTheEpoch) {
  // 1969-12-31T23:59:59.500Z: the second is floored, the fraction is positive.
  EXPECT_EQ(Rfc3339(At(-500'000), Rfc3339Precision::kMillis), "1969-12-31T23:59:59.500Z");
  EXPECT_EQ(Rfc3339(At(0), Rfc3339Precision::kMicros), "1970-01-01T00:00:00.000000Z");
}

TEST(Rfc3339, KubernetesTimesAreTheCommonFormatter) {
  const WallTime t = At(1'764'163'700'123'456LL);
  EXPECT_EQ(kube::Time(t), "2025-11-26T13:28:20Z");
  EXPECT_EQ(kube::MicroTime(t), "2025-11-26T13:28:20.123456Z");
}

TEST(Rfc3339, ParsesWhatItFormatsAndKubernetesOffsets) {
  const WallTime t = At(1'764'163'700'123'456LL);
  for (auto p :
       {Rfc3339Precision::kSeconds, Rfc3339Precision::kMillis, Rfc3339Precision::kMicros}) {
    auto parsed = ParseRfc3339(Rfc3339(t, p));
    ASSERT_TRUE(parsed) << Rfc3339(t, p);
    EXPECT_EQ(Rfc3339(*parsed, p), Rfc3339(t, p));
  }
  EXPECT_EQ(ParseRfc3339("2025-11-26T13:28:20Z"), ParseRfc3339("2025-11-26T15:28:20+02:00"));
  EXPECT_EQ(ParseRfc3339("2025-11-26T13:28:20Z"), ParseRfc3339("2025-11-26T08:28:20-05:00"));
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00.5Z"), At(500'000));
  EXPECT_EQ(ParseRfc3339("2024-02-29T00:00:00Z"), At(1'709'164'800'000'000LL)) << "leap day";
}

TEST(Rfc3339, RejectsAnythingElse) {
  for (const char* bad :
       {"", "2025-11-26", "2025-11-26T13:28:20", "2025-11-26 13:28:20Z", "2025-13-26T13:28:20Z",
        "2025-02-30T13:28:20Z", "2025-11-26T24:00:00Z", "2025-11-26T13:28:20.Z",
        "2025-11-26T13:28:20.1234567890Z", "2025-11-26T13:28:20Zjunk", "2025-11-26T13:28:20+0200",
        "2025-11-26T13:28:20+02:60", "+025-11-26T13:28:20Z", "2025-1a-26T13:28:20Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace healthgate
