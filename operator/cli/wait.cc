#include "operator/cli/wait.h"

#include <curl/curl.h>

#include <thread>

namespace healthgate::cli {
namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// One GET; returns the HTTP status, or 0 when the server could not be reached.
long Get(const std::string& url, std::chrono::milliseconds timeout, std::string* error) {
  CURL* h = curl_easy_init();
  if (h == nullptr) return 0;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Discard);
  long code = 0;
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  else
    *error = curl_easy_strerror(rc);
  curl_easy_cleanup(h);
  return code;
}

}  // namespace

int RunWait(const WaitOptions& options, const healthgate::Clock& clock, std::FILE* out,
            std::FILE* err) {
  auto slash = options.target.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == options.target.size() ||
      options.target.find('/', slash + 1) != std::string::npos) {
    std::fprintf(err, "error: --for must be NAMESPACE/NAME, got \"%s\"\n", options.target.c_str());
    return 2;
  }
  std::string base = options.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/ready/" + options.target;
  const auto deadline = clock.Now() + options.timeout;
  std::string last;
  for (;;) {
    std::string error;
    long code =
        Get(url, std::min<std::chrono::milliseconds>(options.period * 5, std::chrono::seconds(10)),
            &error);
    if (code == 200) {
      std::fprintf(out, "%s is Ready\n", options.target.c_str());
      return 0;
    }
    std::string now = code == 0 ? "unreachable: " + error
                                : (code == 404 ? "unknown HealthCheck (404)"
                                               : "not ready (HTTP " + std::to_string(code) + ")");
    if (now != last) {
      std::fprintf(err, "waiting for %s: %s\n", options.target.c_str(), now.c_str());
      last = now;
    }
    if (clock.Now() + options.period > deadline) {
      std::fprintf(err, "timed out waiting for %s to be Ready\n", options.target.c_str());
      return 1;
    }
    std::this_thread::sleep_for(options.period);
  }
}

}  // namespace healthgate::cli
