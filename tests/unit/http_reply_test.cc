// The HTTP probe's verdict seam (probes/http/reply.h), without a connection.
#include <gtest/gtest.h>

#include <string>

#include "probes/http/reply.h"

namespace healthgate::probes {
namespace {

HttpConfig Config() {
  HttpConfig c;
  c.url = "http://probe.test/healthz";
  return c;
}

std::function<std::string()> NoLocation(int* calls) {
  return [calls] {
    ++*calls;
    return std::string();
  };
}

TEST(HttpReply, KeepsTheBodyOnlyForARegexAndNeverPastTheCap) {
  HttpConfig c = Config();
  c.max_body_bytes = 10;
  HttpReply without_regex;
  EXPECT_TRUE(without_regex.OnBody("12345", c));
  EXPECT_EQ(without_regex.body, "");
  EXPECT_EQ(without_regex.body_bytes, 5u);

  c.body_regex.emplace("ok");
  HttpReply r;
  EXPECT_TRUE(r.OnBody("123456", c));
  EXPECT_TRUE(r.OnBody("7890", c));  // exactly the cap
  EXPECT_FALSE(r.cap_exceeded);
  EXPECT_FALSE(r.OnBody("x", c));
  EXPECT_TRUE(r.cap_exceeded);
  EXPECT_EQ(r.body, "1234567890");
  const HttpVerdict v = JudgeReply(c, c.url, 200, r, [] { return std::string(); });
  EXPECT_FALSE(v.result.healthy);
  EXPECT_EQ(v.result.reason, Reason::kProtocol);
  EXPECT_EQ(v.result.message, "response body exceeds the limit of 10 bytes");
}

TEST(HttpReply, OnlyTheFinalResponseBodyCounts) {
  HttpConfig c = Config();
  c.body_regex.emplace("^final$");
  HttpReply r;
  r.OnHeader("HTTP/1.1 100 Continue\r\n");
  EXPECT_TRUE(r.in_headers);
  r.OnHeader("\r\n");
  EXPECT_FALSE(r.in_headers);
  EXPECT_TRUE(r.OnBody("interim", c));
  r.OnHeader("HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.body_bytes, 0u);
  r.OnHeader("Content-Length: 5\r\n");
  EXPECT_TRUE(r.in_headers);
  r.OnHeader("\n");
  EXPECT_TRUE(r.OnBody("final", c));
  int calls = 0;
  const HttpVerdict v = JudgeReply(c, c.url, 200, r, NoLocation(&calls));
  EXPECT_TRUE(v.result.healthy);
  EXPECT_EQ(v.result.message, "HTTP 200");
  EXPECT_EQ(calls, 0);  // no Location lookup outside 3xx
}

TEST(HttpReply, StatusRangesAndBodyRegexDecide) {
  HttpConfig c = Config();
  c.expect_status = {{200, 204}, {418, 418}};
  HttpReply r;
  int calls = 0;
  EXPECT_TRUE(JudgeReply(c, c.url, 418, r, NoLocation(&calls)).result.healthy);
  const HttpVerdict bad = JudgeReply(c, c.url, 503, r, NoLocation(&calls));
  EXPECT_FALSE(bad.result.healthy);
  EXPECT_EQ(bad.result.reason, Reason::kAssertion);
  EXPECT_EQ(bad.result.message, "HTTP 503, expected 200-204, 418");
  c.expect_status.clear();
  EXPECT_EQ(JudgeReply(c, c.url, 200, r, NoLocation(&calls)).result.message,
            "HTTP 200, expected none");

  c = Config();
  c.body_regex.emplace("o+k");
  EXPECT_TRUE(r.OnBody("all is ooook here", c));
  EXPECT_TRUE(JudgeReply(c, c.url, 200, r, NoLocation(&calls)).result.healthy);
  HttpReply other;
  EXPECT_TRUE(other.OnBody("down", c));
  const HttpVerdict nomatch = JudgeReply(c, c.url, 200, other, NoLocation(&calls));
  EXPECT_EQ(nomatch.result.reason, Reason::kAssertion);
  EXPECT_EQ(nomatch.result.message, "HTTP 200, body does not match /o+k/");
  EXPECT_EQ(calls, 0);
}

TEST(HttpReply, RedirectsAreFollowedOnlyWhenAskedAndNeverShowUserinfo) {
  HttpConfig c = Config();
  const std::string url = "http://user:pw@probe.test/a/b";
  HttpReply r;
  auto location = [](std::string l) { return [l] { return l; }; };

  const HttpVerdict shown = JudgeReply(c, url, 302, r, location("../c?d=1"));
  EXPECT_TRUE(shown.redirect.empty());
  EXPECT_EQ(shown.result.reason, Reason::kAssertion);
  EXPECT_EQ(shown.result.message,
            "HTTP 302, expected 200-299 (redirect to http://probe.test/c?d=1)");

  c.follow_redirects = true;
  EXPECT_EQ(JudgeReply(c, url, 307, r, location("https://other.test:8443/x")).redirect,
            "https://other.test:8443/x");
  EXPECT_EQ(JudgeReply(c, url, 301, r, location("/next")).redirect,
            "http://user:pw@probe.test/next");
  // 300 and 304 are not redirects to follow.
  EXPECT_TRUE(JudgeReply(c, url, 304, r, location("/next")).redirect.empty());
  // A 3xx without a Location is judged as it is.
  EXPECT_EQ(JudgeReply(c, url, 302, r, location("")).result.message, "HTTP 302, expected 200-299");
  const HttpVerdict unusable = JudgeReply(c, url, 302, r, location("http://[::1"));
  EXPECT_TRUE(unusable.redirect.empty());
  EXPECT_EQ(unusable.result.reason, Reason::kProtocol);
  EXPECT_EQ(unusable.result.message, "HTTP 302, unusable redirect location");
}

}  // namespace
}  // namespace healthgate::probes
