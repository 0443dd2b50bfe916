#include "probes/http/reply.h"

#include <curl/curl.h>

#include <algorithm>

namespace healthgate::probes {
namespace {

struct CurlUrl {
  CURLU* h = curl_url();
  ~CurlUrl() { curl_url_cleanup(h); }
  CurlUrl() = default;
  CurlUrl(const CurlUrl&) = delete;
  CurlUrl& operator=(const CurlUrl&) = delete;
  std::string Url() const {
    char* p = nullptr;
    std::string out;
    if (curl_url_get(h, CURLUPART_URL, &p, 0) == CURLUE_OK && p != nullptr) out = p;
    curl_free(p);
    return out;
  }
};

std::string DescribeExpected(const std::vector<StatusRange>& ranges) {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ", ";
    out += std::to_string(r.low);
    if (r.high != r.low) out += "-" + std::to_string(r.high);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

void HttpReply::OnHeader(std::string_view line) {
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    body.clear();
    body_bytes = 0;
    in_headers = true;
  } else if (line == "\r\n" || line == "\n") {
    in_headers = false;
  }
}

bool HttpReply::OnBody(std::string_view data, const HttpConfig& config) {
  if (body_bytes + data.size() > config.max_body_bytes) {
    cap_exceeded = true;
    return false;
  }
  body_bytes += data.size();
  // The body is kept only for the regex, so never more than max_body_bytes.
  if (config.body_regex) body.append(data);
  return true;
}

void HttpReply::Clear() {
  body.clear();
  body_bytes = 0;
  cap_exceeded = false;
  in_headers = false;
}

std::string BodyCapMessage(std::uint64_t max_body_bytes) {
  return "response body exceeds the limit of " + std::to_string(max_body_bytes) + " bytes";
}

std::string ResolveLocation(const std::string& base, const std::string& location) {
  CurlUrl u;
  if (curl_url_set(u.h, CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return {};
  if (curl_url_set(u.h, CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) return {};
  return u.Url();
}

std::string WithoutUserinfo(const char* url) {
  CurlUrl u;
  if (url == nullptr || curl_url_set(u.h, CURLUPART_URL, url, 0) != CURLUE_OK) return {};
  curl_url_set(u.h, CURLUPART_USER, nullptr, 0);
  curl_url_set(u.h, CURLUPART_PASSWORD, nullptr, 0);
  curl_url_set(u.h, CURLUPART_OPTIONS, nullptr, 0);
  return u.Url();
}

HttpVerdict JudgeReply(const HttpConfig& config, const std::string& url, long status,
                       const HttpReply& reply, const std::function<std::string()>& location) {
  HttpVerdict v;
  if (reply.cap_exceeded) {
    v.result = Result::Failure(Reason::kProtocol, BodyCapMessage(config.max_body_bytes));
    return v;
  }
  const bool redirect_status =
      status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  if (config.follow_redirects && redirect_status) {
    const std::string loc = location();
    if (!loc.empty()) {
      v.redirect = ResolveLocation(url, loc);
      if (v.redirect.empty()) {
        v.result = Result::Failure(
            Reason::kProtocol, "HTTP " + std::to_string(status) + ", unusable redirect location");
      }
      return v;
    }
  }
  const std::string head = "HTTP " + std::to_string(status);
  const bool expected =
      std::any_of(config.expect_status.begin(), config.expect_status.end(),
                  [status](const StatusRange& r) { return status >= r.low && status <= r.high; });
  if (!expected) {
    std::string message = head + ", expected " + DescribeExpected(config.expect_status);
    const std::string loc = status >= 300 && status < 400 ? location() : std::string();
    if (!loc.empty()) {
      const std::string shown = WithoutUserinfo(ResolveLocation(url, loc).c_str());
      if (!shown.empty()) message += " (redirect to " + shown + ")";
    }
    v.result = Result::Failure(Reason::kAssertion, message);
    return v;
  }
  if (config.body_regex && !config.body_regex->Search(reply.body)) {
    v.result = Result::Failure(
        Reason::kAssertion, head + ", body does not match /" + config.body_regex->pattern() + "/");
    return v;
  }
  v.result = Result::Success(head);
  return v;
}

}  // namespace healthgate::probes
