// ProbeSeriesTable: the text it writes (names, labels, buckets, escaping), the
// families' headers once each however the text is cut into pieces, and removal.
#include "operator/metrics/probe_series.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace healthgate {
namespace {

using probes::Reason;

std::string All(const ProbeSeriesTable& t, std::size_t piece_bytes = 64 * 1024,
                std::vector<std::string>* pieces = nullptr) {
  std::string text;
  EXPECT_TRUE(t.Write(
      [&](std::string_view piece) {
        text.append(piece);
        if (pieces) pieces->emplace_back(piece);
        return true;
      },
      piece_bytes));
  return text;
}

std::vector<std::string> LinesOf(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t Count(const std::string& text, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& line : LinesOf(text)) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

TEST(ProbeSeriesTableTest, EmptyTableWritesNothing) {
  ProbeSeriesTable t;
  EXPECT_EQ(All(t), "");
  EXPECT_EQ(t.probes(), 0u);
}

TEST(ProbeSeriesTableTest, OneProbeWritesEveryFamilyExactly) {
  ProbeSeriesTable t;
  t.Record("shop", "orders", "db", "postgres", true, 0.003, Reason::kSuccess, 0);
  t.Record("shop", "orders", "db", "postgres", false, 2.0, Reason::kTimeout, 1);
  t.Record("shop", "orders", "db", "postgres", false, 7.5, Reason::kTimeout, 2);
  t.SetReady("shop", "orders", false);
  const std::string l = "healthcheck=\"orders\",namespace=\"shop\",probe=\"db\",type=\"postgres\"";
  const std::string expected =
      "# HELP healthgate_probe_success Whether the last attempt of the probe succeeded (1) or not "
      "(0).\n"
      "# TYPE healthgate_probe_success gauge\n"
      "healthgate_probe_success{" +
      l +
      "} 0\n"
      "# HELP healthgate_probe_duration_seconds Duration of probe attempts, timeouts included.\n"
      "# TYPE healthgate_probe_duration_seconds histogram\n"
      "healthgate_probe_duration_seconds_bucket{" +
      l + ",le=\"0.001\"} 0\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"0.005\"} 1\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"0.01\"} 1\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"0.05\"} 1\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"0.1\"} 1\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"0.5\"} 1\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"1\"} 1\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"5\"} 2\nhealthgate_probe_duration_seconds_bucket{" + l +
      ",le=\"+Inf\"} 3\nhealthgate_probe_duration_seconds_sum{" + l +
      "} 9.503\nhealthgate_probe_duration_seconds_count{" + l +
      "} 3\n"
      "# HELP healthgate_probes_total Probe attempts by result: success, timeout, dns, connect, "
      "tls, auth, protocol, assertion.\n"
      "# TYPE healthgate_probes_total counter\n"
      "healthgate_probes_total{healthcheck=\"orders\",namespace=\"shop\",probe=\"db\","
      "result=\"success\",type=\"postgres\"} 1\n"
      "healthgate_probes_total{healthcheck=\"orders\",namespace=\"shop\",probe=\"db\","
      "result=\"timeout\",type=\"postgres\"} 2\n"
      "# HELP healthgate_probe_consecutive_failures Consecutive failed attempts of the probe.\n"
      "# TYPE healthgate_probe_consecutive_failures gauge\n"
      "healthgate_probe_consecutive_failures{" +
      l +
      "} 2\n"
      "# HELP healthgate_healthcheck_ready Whether every critical probe of the HealthCheck is "
      "healthy (1) or not (0).\n"
      "# TYPE healthgate_healthcheck_ready gauge\n"
      "healthgate_healthcheck_ready{healthcheck=\"orders\",namespace=\"shop\"} 0\n";
  EXPECT_EQ(All(t), expected);
}

TEST(ProbeSeriesTableTest, BucketBoundsAreInclusiveAndNegativeDurationsCountAsZero) {
  ProbeSeriesTable t;
  t.Record("a", "b", "c", "tcp", true, 0.001, Reason::kSuccess, 0);  // le="0.001"
  t.Record("a", "b", "c", "tcp", true, -1, Reason::kSuccess, 0);     // clamped to 0
  std::string text = All(t);
  EXPECT_NE(text.find("type=\"tcp\",le=\"0.001\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("healthgate_probe_duration_seconds_sum{healthcheck=\"b\",namespace=\"a\","
                      "probe=\"c\",type=\"tcp\"} 0.001\n"),
            std::string::npos)
      << text;
}

TEST(ProbeSeriesTableTest, LabelValuesAreEscaped) {
  ProbeSeriesTable t;
  t.Record("n\"s", "a\\b", "line\nfeed", "tcp", true, 0, Reason::kSuccess, 0);
  std::string text = All(t);
  EXPECT_NE(text.find("healthgate_probe_success{healthcheck=\"a\\\\b\",namespace=\"n\\\"s\","
                      "probe=\"line\\nfeed\",type=\"tcp\"} 1\n"),
            std::string::npos)
      << text;
}

TEST(ProbeSeriesTableTest, PiecesNeverRepeatHeadersOrSplitLines) {
  ProbeSeriesTable t;
  for (int c = 0; c < 50; ++c) {
    std::string check = "c" + std::to_string(c);
    t.Record("ns", check, "web", "http", true, 0.002, Reason::kSuccess, 0);
    t.Record("ns", check, "port", "tcp", c % 2 == 0, 0.02,
             c % 2 == 0 ? Reason::kSuccess : Reason::kConnect, c % 2 == 0 ? 0 : 1);
    t.SetReady("ns", check, c % 2 == 0);
  }
  std::vector<std::string> pieces;
  std::string small = All(t, 256, &pieces);
  // The same text as in one piece, cut at line ends into many pieces.
  EXPECT_EQ(small, All(t));
  EXPECT_GT(pieces.size(), 50u);
  for (const auto& piece : pieces) {
    ASSERT_FALSE(piece.empty());
    EXPECT_EQ(piece.back(), '\n');
  }
  for (const char* family :
       {"healthgate_probe_success", "healthgate_probe_duration_seconds", "healthgate_probes_total",
        "healthgate_probe_consecutive_failures", "healthgate_healthcheck_ready"}) {
    EXPECT_EQ(Count(small, std::string("# TYPE ") + family + " "), 1u) << family;
    EXPECT_EQ(Count(small, std::string("# HELP ") + family + " "), 1u) << family;
  }
  EXPECT_EQ(Count(small, "healthgate_probe_success{"), 100u);
  EXPECT_EQ(Count(small, "healthgate_probe_duration_seconds_bucket{"), 900u);
  EXPECT_EQ(Count(small, "healthgate_probes_total{"), 100u);
  EXPECT_EQ(Count(small, "healthgate_healthcheck_ready{"), 50u);
  EXPECT_EQ(t.probes(), 100u);
  EXPECT_EQ(t.checks(), 50u);
}

TEST(ProbeSeriesTableTest, WriterCanStopTheScrape) {
  ProbeSeriesTable t;
  for (int c = 0; c < 20; ++c) {
    t.Record("ns", "c" + std::to_string(c), "p", "tcp", true, 0, Reason::kSuccess, 0);
  }
  int calls = 0;
  EXPECT_FALSE(t.Write(
      [&](std::string_view) {
        ++calls;
        return false;
      },
      64));
  EXPECT_EQ(calls, 1);
}

TEST(ProbeSeriesTableTest, RemovedProbesAndChecksDisappear) {
  ProbeSeriesTable t;
  t.Record("shop", "orders", "db", "redis", true, 0, Reason::kSuccess, 0);
  t.Record("shop", "orders", "cache", "redis", false, 0, Reason::kAuth, 1);
  t.SetReady("shop", "orders", false);
  t.Record("shop", "cart", "db", "tcp", true, 0, Reason::kSuccess, 0);

  t.RemoveProbe("shop", "orders", "cache");
  std::string text = All(t);
  EXPECT_EQ(text.find("probe=\"cache\""), std::string::npos) << text;
  EXPECT_NE(text.find("healthcheck=\"orders\",namespace=\"shop\",probe=\"db\""), std::string::npos);
  EXPECT_EQ(t.probes(), 2u);

  t.RemoveCheck("shop", "orders");
  text = All(t);
  EXPECT_EQ(text.find("healthcheck=\"orders\""), std::string::npos) << text;
  EXPECT_NE(text.find("healthcheck=\"cart\""), std::string::npos);
  // No ready gauge anywhere: the family is not written at all.
  EXPECT_EQ(text.find("healthgate_healthcheck_ready"), std::string::npos) << text;
  EXPECT_EQ(t.checks(), 1u);

  // A check whose last probe goes and that has no ready gauge leaves nothing behind.
  t.RemoveProbe("shop", "cart", "db");
  EXPECT_EQ(t.checks(), 0u);
  EXPECT_EQ(All(t), "");
  // Removing what does not exist is harmless.
  t.RemoveProbe("x", "y", "z");
  t.RemoveCheck("x", "y");
  // A probe that comes back starts from zero.
  t.Record("shop", "orders", "cache", "redis", true, 0, Reason::kSuccess, 0);
  text = All(t);
  EXPECT_NE(text.find("result=\"success\",type=\"redis\"} 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("result=\"auth\""), std::string::npos) << text;
}

}  // namespace
}  // namespace healthgate
