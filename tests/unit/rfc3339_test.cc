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

}  // namespace
}  // namespace healthgate
