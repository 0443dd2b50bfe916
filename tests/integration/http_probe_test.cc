#include "probes/http/http_probe.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/http_targets.h"
#include "tests/support/net.h"
#include "tests/support/probe_runner.h"
#include "tests/support/process.h"

namespace healthgate::probes {
namespace {

using std::chrono::milliseconds;
using testing::HttpTarget;
using testing::RawTarget;
using testing::RunProbes;

HttpConfig Get(const std::string& url) {
  HttpConfig c;
  c.url = url;
  return c;
}

Result RunOne(const HttpConfig& config, milliseconds timeout = milliseconds(3000)) {
  auto results = RunProbes({config}, timeout);
  EXPECT_EQ(results.size(), 1u);
  return results.at(0);
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(HttpProbe, OkIsSuccessWithTimings) {
  HttpTarget target;
  Result r = RunOne(Get(target.Url("/ok")));
  EXPECT_TRUE(r.healthy) << r.message;
  EXPECT_EQ(r.reason, Reason::kSuccess);
  EXPECT_EQ(r.message, "HTTP 200");
  EXPECT_TRUE(r.timings.dns.has_value());
  ASSERT_TRUE(r.timings.connect.has_value());
  ASSERT_TRUE(r.timings.first_byte.has_value());
  EXPECT_FALSE(r.timings.tls.has_value());
  EXPECT_LE(*r.timings.connect, *r.timings.first_byte);
  EXPECT_LE(*r.timings.first_byte, r.latency);
}

TEST(HttpProbe, UnexpectedStatusIsAssertion) {
  HttpTarget target;
  Result r = RunOne(Get(target.Url("/status/503")));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.reason, Reason::kAssertion);
  EXPECT_EQ(r.message, "HTTP 503, expected 200-299");
}

TEST(HttpProbe, ExpectedStatusListWithSingleCodesAndRanges) {
  HttpTarget target;
  HttpConfig moved = Get(target.Url("/status/301"));
  moved.expect_status = {{200, 299}, {301, 301}};
  HttpConfig not_found = Get(target.Url("/status/404"));
  not_found.expect_status = {{400, 403}, {405, 499}};
  HttpConfig client_error = Get(target.Url("/status/404"));
  client_error.expect_status = {{200, 200}, {400, 499}};
  auto r = RunProbes({moved, not_found, client_error}, milliseconds(3000));
  EXPECT_TRUE(r[0].healthy) << r[0].message;
  EXPECT_EQ(r[0].message, "HTTP 301");
  EXPECT_EQ(r[1].reason, Reason::kAssertion);
  EXPECT_EQ(r[1].message, "HTTP 404, expected 400-403, 405-499");
  EXPECT_TRUE(r[2].healthy) << r[2].message;
}

TEST(HttpProbe, BodyRegexMatchAndMismatch) {
  HttpTarget target;
  HttpConfig match = Get(target.Url("/ok"));
  match.body_regex = "ok: (healthy|fine)$";
  HttpConfig mismatch = Get(target.Url("/ok"));
  mismatch.body_regex = "^sick";
  auto r = RunProbes({match, mismatch}, milliseconds(3000));
  EXPECT_TRUE(r[0].healthy) << r[0].message;
  EXPECT_EQ(r[1].reason, Reason::kAssertion);
  EXPECT_EQ(r[1].message, "HTTP 200, body does not match /^sick/");
}

TEST(HttpProbe, InvalidBodyRegexIsAssertion) {
  HttpTarget target;
  HttpConfig c = Get(target.Url("/ok"));
  c.body_regex = "([unclosed";
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAssertion);
  EXPECT_TRUE(Contains(r.message, "invalid body regex")) << r.message;
  EXPECT_EQ(target.requests(), 0);
}

TEST(HttpProbe, MethodAndRequestBody) {
  HttpTarget target;
  HttpConfig post = Get(target.Url("/echo"));
  post.method = "POST";
  post.body = "hello";
  post.body_regex = "^POST hello$";
  HttpConfig put = Get(target.Url("/echo"));
  put.method = "PUT";
  put.body = "{}";
  put.body_regex = "^PUT \\{\\}$";
  HttpConfig head = Get(target.Url("/ok"));
  head.method = "HEAD";
  auto r = RunProbes({post, put, head}, milliseconds(3000));
  EXPECT_TRUE(r[0].healthy) << r[0].message;
  EXPECT_TRUE(r[1].healthy) << r[1].message;
  EXPECT_TRUE(r[2].healthy) << r[2].message;
}

TEST(HttpProbe, TrickledResponseTimesOutDuringResponse) {
  // 100 bytes at one byte per 100 ms: 10 s, far past the 500 ms deadline.
  RawTarget target(testing::Trickle(100, milliseconds(100)));
  auto start = std::chrono::steady_clock::now();
  Result r = RunOne(Get(target.Url("/slow")), milliseconds(500));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.reason, Reason::kTimeout) << r.message;
  EXPECT_EQ(r.message, "timed out after 500ms during response");
  EXPECT_EQ(r.latency, milliseconds(500));
  EXPECT_LT(took, milliseconds(2000));
}

TEST(HttpProbe, HugeChunkedBodyIsCappedQuickly) {
  HttpTarget target;
  auto start = std::chrono::steady_clock::now();
  Result r = RunOne(Get(target.Url("/big")), milliseconds(10000));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_EQ(r.message, "response body exceeds the limit of 1048576 bytes");
  EXPECT_LT(took, milliseconds(3000));
  // The probe stopped reading: the server could not push the 100 MB through.
  EXPECT_TRUE(testing::WaitFor([&] { return target.big_bytes_sent() > 0; }, milliseconds(1000)));
  EXPECT_LT(target.big_bytes_sent(), 32ull * 1024 * 1024);
}

TEST(HttpProbe, AnnouncedHugeBodyIsCappedBeforeReading) {
  HttpTarget target;
  HttpConfig c = Get(target.Url("/big-sized"));
  c.max_body_bytes = 4096;
  Result r = RunOne(c, milliseconds(10000));
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_EQ(r.message, "response body exceeds the limit of 4096 bytes");
}

TEST(HttpProbe, HeadIgnoresTheAnnouncedBodySize) {
  HttpTarget target;
  HttpConfig c = Get(target.Url("/big-sized"));
  c.method = "HEAD";
  c.max_body_bytes = 4096;
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
}

class HttpsProbe : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  testing::TlsFiles tls_ = testing::MakeSelfSignedCert(dir_.path());
  HttpTarget target_{tls_};
};

TEST_F(HttpsProbe, SelfSignedFailsVerification) {
  Result r = RunOne(Get(target_.Url("/ok", "localhost")));
  EXPECT_EQ(r.reason, Reason::kTls) << r.message;
  EXPECT_EQ(r.message, "TLS: certificate verify failed: self-signed certificate");
}

TEST_F(HttpsProbe, PassesWithItsCertAsExtraCa) {
  HttpConfig c = Get(target_.Url("/ok", "localhost"));
  c.ca_pem = Secret(tls_.cert_pem);
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
  EXPECT_TRUE(r.timings.tls.has_value());
  ASSERT_TRUE(r.timings.connect.has_value());
  EXPECT_LT(*r.timings.connect, *r.timings.tls);  // TCP connect, then the handshake
  EXPECT_LT(*r.timings.tls, *r.timings.first_byte);
}

TEST_F(HttpsProbe, PassesWithInsecureSkipVerify) {
  HttpConfig c = Get(target_.Url("/ok", "localhost"));
  c.insecure_skip_verify = true;
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST_F(HttpsProbe, ServerNameOverrideDrivesVerification) {
  // The connection goes to the URL host's addresses; SNI and verification use the
  // override, the Host header keeps the URL's host.
  HttpConfig right = Get(target_.Url("/ok", "127.0.0.1"));
  right.ca_pem = Secret(tls_.cert_pem);
  right.server_name = "localhost";
  Result r = RunOne(right);
  EXPECT_TRUE(r.healthy) << r.message;
  EXPECT_EQ(target_.LastHeader("host").value_or(""), "127.0.0.1:" + std::to_string(target_.port()));

  HttpConfig wrong = right;
  wrong.url = target_.Url("/ok", "localhost");
  wrong.server_name = "wrong.example";
  Result w = RunOne(wrong);
  EXPECT_EQ(w.reason, Reason::kTls) << w.message;
  EXPECT_TRUE(Contains(w.message, "hostname mismatch")) << w.message;
}

TEST_F(HttpsProbe, HungHandshakeTimesOutDuringTls) {
  testing::HungListener hung;
  Result r =
      RunOne(Get("https://127.0.0.1:" + std::to_string(hung.port()) + "/"), milliseconds(300));
  EXPECT_EQ(r.reason, Reason::kTimeout);
  // The first TLS attempt of a loop loads the CA bundle on the loop thread (tens of
  // milliseconds), which the loop counts as a stall: the deadline may be renewed
  // once, and the message then says so after this prefix.
  EXPECT_EQ(r.message.rfind("timed out after 300ms during tls", 0), 0u) << r.message;
}

TEST(HttpProbe, RedirectNotFollowedByDefault) {
  HttpTarget target;
  HttpConfig plain = Get(target.Url("/redirect"));
  HttpConfig expect_302 = plain;
  expect_302.expect_status = {{302, 302}};
  HttpConfig follow = plain;
  follow.follow_redirects = true;
  follow.body_regex = "healthy";
  auto r = RunProbes({plain, expect_302, follow}, milliseconds(3000));
  EXPECT_EQ(r[0].reason, Reason::kAssertion);
  EXPECT_EQ(r[0].message, "HTTP 302, expected 200-299 (redirect to " + target.Url("/ok") + ")");
  EXPECT_TRUE(r[1].healthy) << r[1].message;
  EXPECT_EQ(r[1].message, "HTTP 302");
  EXPECT_TRUE(r[2].healthy) << r[2].message;
  EXPECT_EQ(r[2].message, "HTTP 200");
}

TEST(HttpProbe, GarbageIsProtocol) {
  RawTarget target(testing::Garbage("SSH-2.0-OpenSSH_9.2p1 Debian\r\n\x01\x02\x03 garbage\r\n"));
  Result r = RunOne(Get(target.Url("/")));
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
}

TEST(HttpProbe, RefusedIsConnect) {
  Result r = RunOne(Get("http://127.0.0.1:" + std::to_string(testing::FreePort()) + "/"));
  EXPECT_EQ(r.reason, Reason::kConnect) << r.message;
  EXPECT_TRUE(Contains(r.message, "connect")) << r.message;
}

TEST(HttpProbe, UnresolvableHostIsDns) {
  Result r = RunOne(Get("http://does-not-exist.invalid/"));
  EXPECT_EQ(r.reason, Reason::kDns) << r.message;
  EXPECT_TRUE(Contains(r.message, "does-not-exist.invalid")) << r.message;
  EXPECT_TRUE(r.timings.dns.has_value());
}

TEST(HttpProbe, BadUrlIsProtocol) {
  Result r = RunOne(Get("ftp://127.0.0.1/"));
  EXPECT_EQ(r.reason, Reason::kProtocol);
  EXPECT_EQ(r.message, "invalid URL: scheme must be http or https");
}

TEST(HttpProbe, HeadersReachTheServer) {
  HttpTarget target;
  HttpConfig c = Get(target.Url("/ok"));
  c.headers = {{"X-Probe", Secret("healthgate")}, {"Authorization", Secret("Bearer abc123")}};
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
  EXPECT_EQ(target.LastHeader("x-probe").value_or(""), "healthgate");
  EXPECT_EQ(target.LastHeader("authorization").value_or(""), "Bearer abc123");
}

TEST(HttpProbe, HeaderWithLineBreakIsRefusedBeforeSending) {
  HttpTarget target;
  HttpConfig c = Get(target.Url("/ok"));
  c.headers = {{"X-Token", Secret("abc\r\nX-Injected: yes")}};
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kProtocol);
  EXPECT_EQ(r.message, "header X-Token has a line break");
  EXPECT_EQ(target.requests(), 0);
}

TEST(HttpProbe, SecretsNeverReachTheMessage) {
  const std::string canary = "canary-s3cr3t-value";
  HttpTarget target;
  RawTarget garbage(testing::Garbage("not http at all " + canary + "\r\n"));
  std::vector<Target> targets;
  for (const std::string& url :
       {target.Url("/status/500"), target.Url("/redirect"), garbage.Url("/"),
        "http://user:" + canary + "@127.0.0.1:" + std::to_string(target.port()) + "/status/503",
        "http://user:" + canary + "@127.0.0.1:" + std::to_string(testing::FreePort()) + "/"}) {
    HttpConfig c = Get(url);
    c.headers = {{"Authorization", Secret("Bearer " + canary)}};
    targets.push_back(c);
  }
  auto r = RunProbes(targets, milliseconds(3000));
  for (const auto& result : r) {
    EXPECT_FALSE(result.healthy);
    EXPECT_FALSE(Contains(result.message, canary)) << result.message;
    EXPECT_FALSE(Contains(result.message, "s3cr3t")) << result.message;
  }
}

TEST(HttpProbe, ManyConcurrentProbesAllSucceed) {
  HttpTarget target;
  std::vector<Target> targets(200, Get(target.Url("/ok")));
  auto r = RunProbes(targets, milliseconds(10000));
  ASSERT_EQ(r.size(), 200u);
  for (const auto& result : r) EXPECT_TRUE(result.healthy) << result.message;
  EXPECT_EQ(target.requests(), 200);
}

TEST(HttpProbe, DestroyedMidFlightAgainstHungListener) {
  // The deadline destroys every session while its request is in flight; ASan's
  // leak checker and the loop's orderly shutdown prove everything is released.
  testing::HungListener hung;
  std::vector<Target> targets(50, Get("http://127.0.0.1:" + std::to_string(hung.port()) + "/"));
  auto r = RunProbes(targets, milliseconds(200));
  for (const auto& result : r) {
    EXPECT_EQ(result.reason, Reason::kTimeout);
    EXPECT_EQ(result.message, "timed out after 200ms during request");
  }
}

TEST(HttpProbe, BlackholedTimesOutDuringConnect) {
  testing::BlackholeListener hole;
  Result r =
      RunOne(Get("http://127.0.0.1:" + std::to_string(hole.port()) + "/"), milliseconds(200));
  EXPECT_EQ(r.reason, Reason::kTimeout);
  EXPECT_EQ(r.message, "timed out after 200ms during connect");
}

// A DNS server that never answers, which a real resolver cannot be made to do
// on demand: the lookup stays pending until the session cancels it.
class SilentResolver final : public Resolver {
 public:
  std::unique_ptr<ResolveHandle> Resolve(const std::string&, std::uint16_t,
                                         std::function<void(Resolution)>) override {
    ++calls;
    return std::make_unique<ResolveHandle>();
  }
  int calls = 0;
};

TEST(HttpProbe, SessionDestroyedWhileResolvingNeverCallsDone) {
  RealClock clock;
  Loop loop(clock);
  SilentResolver resolver;
  bool called = false;
  {
    HttpProber prober(loop, resolver);
    loop.Post([&] {
      auto session = prober.Start(Get("http://name.example:8080/"), [&](Result) { called = true; });
      EXPECT_EQ(session->Phase(), "dns");
      session.reset();
      loop.Stop();
    });
    loop.RunHere();
  }
  EXPECT_EQ(resolver.calls, 1);
  EXPECT_FALSE(called);
}

TEST(HttpProbe, SessionDestroyedMidRequestNeverCallsDone) {
  testing::HungListener hung;
  RealClock clock;
  Loop loop(clock);
  UvResolver resolver(loop);
  bool called = false;
  std::string phase;
  {
    UvTimers timers(loop);
    HttpProber prober(loop, resolver);
    std::unique_ptr<ProbeSession> session;
    loop.Post([&] {
      session = prober.Start(Get("http://127.0.0.1:" + std::to_string(hung.port()) + "/"),
                             [&](Result) { called = true; });
      timers.Arm(clock.Now() + milliseconds(150), [&] {
        phase = std::string(session->Phase());
        session.reset();
        // Let the loop run a little longer: nothing may fire for the dead session.
        timers.Arm(clock.Now() + milliseconds(100), [&] { loop.Stop(); });
      });
    });
    loop.RunHere();
  }
  EXPECT_EQ(phase, "request");
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace healthgate::probes

namespace healthgate::probes {
namespace {

// --- Hostile and unlucky targets (issues #8, #9) ---

TEST(HttpProbe, DotStarBodyRegexOnALargeBodyMatches) {
  // std::regex recursed once per character here and overflowed the loop
  // thread's stack on 30-60 KB bodies; RE2 matches in linear time.
  HttpTarget target;
  HttpConfig dot_star = Get(target.Url("/filler?n=61440&tail=ok"));
  dot_star.body_regex = ".*ok";
  HttpConfig alternation = dot_star;
  alternation.body_regex = "(.|\n)*ok";
  HttpConfig absent = dot_star;
  absent.body_regex = ".*nope";
  auto r = RunProbes({dot_star, alternation, absent}, milliseconds(5000));
  EXPECT_TRUE(r[0].healthy) << r[0].message;
  EXPECT_TRUE(r[1].healthy) << r[1].message;
  EXPECT_EQ(r[2].reason, Reason::kAssertion) << r[2].message;
  EXPECT_EQ(r[2].message, "HTTP 200, body does not match /.*nope/");
}

TEST(HttpProbe, NestedQuantifierRegexReturnsWithinTheTimeout) {
  // "(a*)*b" against 40 a's backtracks exponentially in std::regex: the loop
  // thread never came back, so not even the deadline could end the attempt.
  HttpTarget target;
  HttpConfig c = Get(target.Url("/filler?n=40&fill=a&tail="));
  c.body_regex = "(a*)*b";
  auto start = std::chrono::steady_clock::now();
  Result r = RunOne(c, milliseconds(3000));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.reason, Reason::kAssertion) << r.message;
  EXPECT_EQ(r.message, "HTTP 200, body does not match /(a*)*b/");
  EXPECT_LT(took, milliseconds(3000));
}

TEST(HttpProbe, BodyRegexOutsideRe2SyntaxIsRefusedBeforeSending) {
  HttpTarget target;
  HttpConfig backreference = Get(target.Url("/ok"));
  backreference.body_regex = "(ok)\\1";
  HttpConfig lookahead = Get(target.Url("/ok"));
  lookahead.body_regex = "ok(?=:)";
  auto r = RunProbes({backreference, lookahead}, milliseconds(3000));
  EXPECT_EQ(r[0].reason, Reason::kAssertion);
  EXPECT_EQ(r[0].message, "invalid body regex: invalid escape sequence: \\1");
  EXPECT_EQ(r[1].reason, Reason::kAssertion);
  EXPECT_TRUE(Contains(r[1].message, "invalid body regex: invalid perl operator")) << r[1].message;
  EXPECT_EQ(target.requests(), 0);
}

TEST(HttpProbe, BodyRegexIsComparedByPatternAndSearchedAnywhere) {
  HttpConfig a;
  a.body_regex = "ok: (healthy|fine)$";
  HttpConfig b = a;  // as each attempt copies its definition's config
  ASSERT_TRUE(b.body_regex.has_value());
  EXPECT_TRUE(b.body_regex->ok());
  EXPECT_TRUE(b.body_regex->Search("status ok: fine"));
  EXPECT_FALSE(b.body_regex->Search("status ok: sick"));
  EXPECT_EQ(a, b);
  EXPECT_TRUE(a.body_regex->SharesCompiledWith(*b.body_regex));
  // Another definition with the same pattern reuses the compiled form too.
  BodyRegex same(std::string("ok: (healthy|fine)$"));
  EXPECT_TRUE(same.SharesCompiledWith(*a.body_regex));
  b.body_regex = "other";
  EXPECT_NE(a, b);
  EXPECT_FALSE(a.body_regex->SharesCompiledWith(*b.body_regex));
}

// The raw targets below are fakes on purpose: no real HTTP server can be made to
// send broken chunked encoding, a 200 KB header line or a reset on demand.

TEST(HttpProbe, BadChunkedEncodingIsProtocol) {
  RawTarget target(testing::Reply(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-hex\r\nhello\r\n0\r\n\r\n"));
  Result r = RunOne(Get(target.Url("/")));
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_EQ(r.message, "HTTP: Illegal or missing hexadecimal sequence in chunked-encoding");
}

TEST(HttpProbe, OversizedResponseHeaderIsProtocol) {
  RawTarget target(testing::Reply("HTTP/1.1 200 OK\r\nX-Huge: " + std::string(200 * 1024, 'h') +
                                  "\r\nContent-Length: 2\r\n\r\nok"));
  Result r = RunOne(Get(target.Url("/")));
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_EQ(r.message, "HTTP: response header too large");
}

TEST(HttpProbe, ResetByPeerSaysSo) {
  RawTarget before(testing::ResetAfter(""));
  RawTarget during(testing::ResetAfter("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"));
  auto r = RunProbes({Get(before.Url("/")), Get(during.Url("/"))}, milliseconds(3000));
  EXPECT_EQ(r[0].reason, Reason::kConnect) << r[0].message;
  EXPECT_EQ(r[0].message, "connection reset by peer during request");
  EXPECT_EQ(r[1].reason, Reason::kConnect) << r[1].message;
  EXPECT_EQ(r[1].message, "connection reset by peer during response");
}

HttpConfig WithCredentials(const std::string& url) {
  HttpConfig c = Get(url);
  c.follow_redirects = true;
  HttpHeader token{"X-Token", Secret("from-a-secret")};
  token.from_secret = true;
  c.headers = {token,
               {"Authorization", Secret("Bearer abc123")},
               {"Cookie", Secret("session=s1")},
               {"X-Plain", Secret("plain")}};
  return c;
}

TEST(HttpProbe, RedirectToAnotherOriginDropsCredentials) {
  HttpTarget a;
  HttpTarget b;  // same host, another port: another origin
  Result r = RunOne(WithCredentials(a.Url("/redirect-to?url=" + b.Url("/ok"))));
  EXPECT_TRUE(r.healthy) << r.message;
  EXPECT_EQ(a.requests(), 1);
  ASSERT_EQ(b.requests(), 1);
  EXPECT_EQ(b.LastHeader("x-token"), std::nullopt);
  EXPECT_EQ(b.LastHeader("authorization"), std::nullopt);
  EXPECT_EQ(b.LastHeader("cookie"), std::nullopt);
  EXPECT_EQ(b.LastHeader("x-plain").value_or(""), "plain");
}

TEST(HttpProbe, RedirectWithinTheOriginKeepsCredentials) {
  HttpTarget a;
  for (const std::string& location : {std::string("/ok"), a.Url("/ok")}) {
    Result r = RunOne(WithCredentials(a.Url("/redirect-to?url=" + location)));
    EXPECT_TRUE(r.healthy) << r.message;
    EXPECT_EQ(a.LastHeader("x-token").value_or(""), "from-a-secret") << location;
    EXPECT_EQ(a.LastHeader("authorization").value_or(""), "Bearer abc123") << location;
    EXPECT_EQ(a.LastHeader("cookie").value_or(""), "session=s1") << location;
  }
  EXPECT_EQ(a.requests(), 4);
}

TEST(HttpProbe, RedirectHopsAreBoundedAndMethodsFollowTheStatus) {
  HttpTarget target;
  HttpConfig loop = Get(target.Url("/loop"));
  loop.follow_redirects = true;
  Result r = RunOne(loop);
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_EQ(r.message, "more than 5 redirects");
  EXPECT_EQ(target.requests(), 6);

  HttpConfig see_other = Get(target.Url("/redirect-to?code=303&url=/echo"));
  see_other.follow_redirects = true;
  see_other.method = "POST";
  see_other.body = "hello";
  see_other.body_regex = "^GET $";
  HttpConfig temporary = see_other;
  temporary.url = target.Url("/redirect-to?code=307&url=/echo");
  temporary.body_regex = "^POST hello$";
  auto m = RunProbes({see_other, temporary}, milliseconds(3000));
  EXPECT_TRUE(m[0].healthy) << m[0].message;
  EXPECT_TRUE(m[1].healthy) << m[1].message;
}

// Certificates made by the test: a CA, and server certificates it signs.
class HttpsCertificates : public ::testing::Test {
 protected:
  Result Probe(const testing::CertOptions& options, bool trust_ca) {
    testing::TlsFiles cert = testing::MakeCaSignedCert(dir_.path(), ca_, "server", options);
    HttpTarget target(cert);
    HttpConfig c = Get(target.Url("/ok", "localhost"));
    if (trust_ca) c.ca_pem = Secret(ca_.cert_pem);
    return RunOne(c);
  }
  testing::TempDir dir_;
  testing::TlsFiles ca_ = testing::MakeCa(dir_.path());
};

TEST_F(HttpsCertificates, TrustedCaPasses) {
  Result r = Probe({}, true);
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST_F(HttpsCertificates, HostnameMismatchSaysSo) {
  Result r = Probe({.host = "other.example"}, true);
  EXPECT_EQ(r.reason, Reason::kTls) << r.message;
  EXPECT_EQ(r.message,
            "TLS: certificate verify failed: hostname mismatch: the certificate is not valid for "
            "localhost");
}

TEST_F(HttpsCertificates, ExpiredSaysSo) {
  Result r = Probe({.expired = true}, true);
  EXPECT_EQ(r.reason, Reason::kTls) << r.message;
  EXPECT_EQ(r.message, "TLS: certificate verify failed: certificate has expired");
}

TEST_F(HttpsCertificates, UnknownCaSaysSo) {
  Result r = Probe({}, false);
  EXPECT_EQ(r.reason, Reason::kTls) << r.message;
  EXPECT_EQ(r.message,
            "TLS: certificate verify failed: unknown CA (unable to get local issuer certificate)");
}

}  // namespace
}  // namespace healthgate::probes
