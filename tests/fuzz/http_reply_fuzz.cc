// The HTTP probe's verdict on a response (probes/http/reply.h): header lines and
// body pieces as curl hands them over, then JudgeReply with fuzzer-chosen
// expectStatus ranges, bodyRegex, maxBodyBytes, redirect following and Location.
// Invariants: the kept body never passes the cap; a body over the cap is a
// protocol failure; otherwise the verdict is healthy exactly when the status is in
// a range and the regex (if any) matches the body, and a redirect is followed
// only when asked for, from a 3xx, to an absolute http(s) or other URL curl parses.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "probes/http/reply.h"

namespace hp = healthgate::probes;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  hp::HttpConfig config;
  config.expect_status.clear();
  const int ranges = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < ranges; ++i) {
    const int low = in.ConsumeIntegralInRange(100, 599);
    config.expect_status.push_back({low, in.ConsumeIntegralInRange(low, 599)});
  }
  if (in.ConsumeBool()) config.body_regex.emplace(in.ConsumeRandomLengthString(64));
  config.max_body_bytes = in.ConsumeIntegralInRange<std::uint64_t>(0, 4096);
  config.follow_redirects = in.ConsumeBool();
  const long status = in.ConsumeIntegralInRange<long>(0, 999);
  const std::string base =
      in.ConsumeBool() ? "http://user:pw@probe.test:8080/a/b?c" : in.ConsumeRandomLengthString(64);
  const std::string location = in.ConsumeRandomLengthString(128);

  hp::HttpReply reply;
  bool aborted = false;
  const int pieces = in.ConsumeIntegralInRange(0, 16);
  for (int i = 0; i < pieces && !aborted; ++i) {
    const std::string piece = in.ConsumeRandomLengthString(512);
    if (in.ConsumeBool()) {
      reply.OnHeader(piece);
    } else {
      aborted = !reply.OnBody(piece, config);
    }
    if (reply.body.size() > config.max_body_bytes || reply.body_bytes > config.max_body_bytes)
      __builtin_trap();
    if (aborted != reply.cap_exceeded) __builtin_trap();
  }
  if (config.body_regex && !config.body_regex->ok()) return 0;  // refused before sending
  bool asked = false;
  const hp::HttpVerdict v = hp::JudgeReply(config, base, status, reply, [&] {
    asked = true;
    return location;
  });
  if (asked && (status < 300 || status > 399)) __builtin_trap();
  if (reply.cap_exceeded) {
    if (v.result.healthy || v.result.reason != hp::Reason::kProtocol || !v.redirect.empty())
      __builtin_trap();
    return 0;
  }
  if (!v.redirect.empty()) {
    if (!config.follow_redirects || status < 300 || status > 399 || location.empty())
      __builtin_trap();
    return 0;
  }
  const bool in_range =
      std::any_of(config.expect_status.begin(), config.expect_status.end(),
                  [&](const hp::StatusRange& r) { return status >= r.low && status <= r.high; });
  const bool matches = !config.body_regex || config.body_regex->Search(reply.body);
  const bool unusable_redirect = v.result.reason == hp::Reason::kProtocol;
  if (!unusable_redirect && v.result.healthy != (in_range && matches)) __builtin_trap();
  if (v.result.message.empty()) __builtin_trap();
  // A redirect target shown in a message never carries a user name or password.
  const std::string_view message = v.result.message;
  if (const auto at = message.find(" (redirect to "); at != std::string_view::npos) {
    const std::string shown(message.substr(at + 14, message.size() - at - 15));
    if (hp::WithoutUserinfo(shown.c_str()) != shown) __builtin_trap();
  }
  return 0;
}
