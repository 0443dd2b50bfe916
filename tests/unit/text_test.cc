#include "probes/text.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/timers.h"
#include "probes/engine/attempt.h"

namespace healthgate::probes {
namespace {

using std::chrono::seconds;

// True when `s` is well-formed UTF-8 without C0/C1 controls or DEL.
bool CleanUtf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
    std::uint32_t cp = c & (0x7fu >> n);
    for (std::size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3fu);
    }
    const std::uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp <= 0x9f) return false;
    i += n;
  }
  return true;
}

const std::string kFffd = "\xef\xbf\xbd";

TEST(SanitizeText, KeepsPlainAndValidMultibyteText) {
  EXPECT_EQ(SanitizeText("reply \"PONG\""), "reply \"PONG\"");
  EXPECT_EQ(SanitizeText("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(SanitizeText(""), "");
}

TEST(SanitizeText, ReplacesInvalidUtf8) {
  // The Redis reply of issue #9: a lone 0xff inside a status reply.
  EXPECT_EQ(SanitizeText("+P\xffNG"), "+P" + kFffd + "NG");
  EXPECT_EQ(SanitizeText("\x80"), kFffd);             // lone continuation byte
  EXPECT_EQ(SanitizeText("a\xc3"), "a" + kFffd);      // truncated at the end
  EXPECT_EQ(SanitizeText("\xe2\x82z"), kFffd + "z");  // truncated in the middle
  EXPECT_EQ(SanitizeText("\xf5\x80\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
  EXPECT_EQ(SanitizeText("\xf4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // U+110000
  EXPECT_TRUE(CleanUtf8(SanitizeText(std::string("\xfe\xff\x00\xc0", 4))));
}

TEST(SanitizeText, RejectsOverlongEncodings) {
  // "/" as 2, 3 and 4 bytes, and NUL as 2 bytes (the "modified UTF-8" form).
  for (const std::string& overlong :
       {std::string("\xc0\xaf"), std::string("\xe0\x80\xaf"), std::string("\xf0\x80\x80\xaf"),
        std::string("\xc0\x80"), std::string("\xc1\xbf")}) {
    std::string out = SanitizeText(overlong);
    EXPECT_EQ(out.find('/'), std::string::npos) << out;
    EXPECT_NE(out.find(kFffd), std::string::npos) << out;
    EXPECT_TRUE(CleanUtf8(out)) << out;
  }
  EXPECT_EQ(SanitizeText("\xe0\x80\xaf"), kFffd + kFffd + kFffd);
}

TEST(SanitizeText, RejectsSurrogates) {
  // U+D800 and U+DFFF encoded directly (CESU-8 style) are not UTF-8.
  EXPECT_EQ(SanitizeText("\xed\xa0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(SanitizeText("x\xed\xbf\xbfy"), "x" + kFffd + kFffd + kFffd + "y");
  // U+D7FF and U+E000 around them are fine.
  EXPECT_EQ(SanitizeText("\xed\x9f\xbf\xee\x80\x80"), "\xed\x9f\xbf\xee\x80\x80");
}

TEST(SanitizeText, EscapesControlCharactersVisibly) {
  // A terminal escape that would clear the screen, and a forged log line.
  EXPECT_EQ(SanitizeText("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
  EXPECT_EQ(SanitizeText("ok\r\nlevel=error msg=forged"), "ok\\r\\nlevel=error msg=forged");
  EXPECT_EQ(SanitizeText("a\tb"), "a\\tb");
  EXPECT_EQ(SanitizeText(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(SanitizeText("del\x7f"), "del\\x7f");
  // C1 controls (CSI as U+009B), line separators and bidirectional overrides.
  EXPECT_EQ(SanitizeText("\xc2\x9b"
                         "31m"),
            "\\u009b31m");
  EXPECT_EQ(SanitizeText("\xc2\x85"), "\\u0085");
  EXPECT_EQ(SanitizeText("a\xe2\x80\xa8"
                         "b"),
            "a\\u2028b");
  EXPECT_EQ(SanitizeText("\xe2\x80\xae"
                         "cba"),
            "\\u202ecba");
  EXPECT_EQ(SanitizeText("\xe2\x81\xa6"), "\\u2066");
  // U+00A0 (just above C1) is ordinary text.
  EXPECT_EQ(SanitizeText("\xc2\xa0"), "\xc2\xa0");
}

TEST(SanitizeText, CapsTheLengthWithAMarker) {
  std::string big(100000, 'a');
  std::string out = SanitizeText(big);
  EXPECT_EQ(out.size(), kMaxMessageBytes);
  EXPECT_TRUE(out.ends_with(kTruncatedMarker));
  EXPECT_EQ(out.substr(0, 10), "aaaaaaaaaa");
  // Exactly at the cap: untouched.
  std::string exact(kMaxMessageBytes, 'b');
  EXPECT_EQ(SanitizeText(exact), exact);
  // Never cut inside a multibyte character or an escape.
  std::string euros;
  for (int i = 0; i < 1000; ++i) euros += "\xe2\x82\xac";
  out = SanitizeText(euros, 100);
  EXPECT_LE(out.size(), 100u);
  EXPECT_TRUE(out.ends_with(kTruncatedMarker));
  EXPECT_TRUE(CleanUtf8(out)) << out;
  std::string escapes(1000, '\x1b');
  out = SanitizeText(escapes, 64);
  EXPECT_LE(out.size(), 64u);
  std::string body = out.substr(0, out.size() - kTruncatedMarker.size());
  EXPECT_EQ(body.size() % 4, 0u) << out;  // whole "\x1b" escapes only
  // Escaping can make a short input longer than the cap: still capped.
  out = SanitizeText(std::string(kMaxMessageBytes, '\n'));
  EXPECT_LE(out.size(), kMaxMessageBytes);
  EXPECT_TRUE(out.ends_with(kTruncatedMarker));
}

TEST(SanitizeText, AnyByteSequenceComesOutClean) {
  std::string all;
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>((b * 37 + round * 11) & 0xff));
  }
  std::string out = SanitizeText(all, 1 << 20);
  EXPECT_TRUE(CleanUtf8(out));
}

// --- secret scrubbing ---------------------------------------------------------

const std::vector<Secret> kCanary = {Secret("Canary-Pa55word-xyz")};

void ExpectNoPieceOf(const std::string& out, const std::string& secret) {
  for (std::size_t i = 0; i + kSecretWindow <= secret.size(); ++i) {
    EXPECT_EQ(out.find(secret.substr(i, kSecretWindow)), std::string::npos)
        << "window " << i << " in " << out;
  }
}

TEST(ScrubSecrets, ExactEcho) {
  EXPECT_EQ(ScrubSecrets("auth failed for Canary-Pa55word-xyz!", kCanary), "auth failed for ***!");
  EXPECT_EQ(ScrubSecrets("Canary-Pa55word-xyz Canary-Pa55word-xyz", kCanary), "*** ***");
  EXPECT_EQ(ScrubSecrets("nothing here", kCanary), "nothing here");
  EXPECT_EQ(ScrubSecrets("", kCanary), "");
}

TEST(ScrubSecrets, TruncatedEcho) {
  // A server (or a client library) that cut the secret it echoes.
  EXPECT_EQ(ScrubSecrets("ERR invalid password 'Canary-Pa55w'", kCanary),
            "ERR invalid password '***'");
  EXPECT_EQ(ScrubSecrets("ERR 'a55word-xyz'", kCanary), "ERR '***'");
  // The middle eight characters alone.
  EXPECT_EQ(ScrubSecrets("[Pa55word]", kCanary), "[***]");
  // Seven characters are not a window: too short to tell from ordinary text.
  EXPECT_EQ(ScrubSecrets("Canary-", kCanary), "Canary-");
}

TEST(ScrubSecrets, EchoSplitByWhitespaceOrNewline) {
  std::string out = ScrubSecrets("got Canary-Pa\n55word-xyz from you", kCanary);
  EXPECT_EQ(out, "got *** from you");
  out = ScrubSecrets("got Canary-Pa55\r\n  word-xyz.", kCanary);
  EXPECT_EQ(out, "got ***.");
  out = ScrubSecrets("C a n a r y - P a 5 5", kCanary);
  EXPECT_EQ(out, "***");
}

TEST(ScrubSecrets, EchoInAnotherCase) {
  EXPECT_EQ(ScrubSecrets("ERR CANARY-PA55WORD-XYZ", kCanary), "ERR ***");
  EXPECT_EQ(ScrubSecrets("err canary-pa55word-xyz", kCanary), "err ***");
  EXPECT_EQ(ScrubSecrets("cAnArY-pA55", kCanary), "***");
}

TEST(ScrubSecrets, ShortSecretIsScrubbedWhole) {
  const std::vector<Secret> s = {Secret("pw12")};
  EXPECT_EQ(ScrubSecrets("bad PW12 and p\nw12", s), "bad *** and ***");
  EXPECT_EQ(ScrubSecrets("pw1 alone", s), "pw1 alone");
}

TEST(ScrubSecrets, SeveralSecretsAndEmptyOnes) {
  const std::vector<Secret> s = {Secret(""), Secret("first-secret-1"), Secret("Second-Secret-2")};
  EXPECT_EQ(ScrubSecrets("a first-secret-1 b SECOND-secret c", s), "a *** b *** c");
  EXPECT_EQ(ScrubSecrets("text", {}), "text");
}

TEST(ScrubSecrets, ScrubsBeforeTheCapSoACutEchoCannotLeak) {
  // The echo straddles the cap: cutting first would leave a piece of it that is
  // shorter than a window; scrubbing first leaves none.
  const std::string secret = "Canary-Pa55word-xyz";
  for (std::size_t pad = kMaxMessageBytes - 40; pad < kMaxMessageBytes; ++pad) {
    std::string msg = std::string(pad, 'x') + secret + std::string(2000, 'y');
    std::string out = SafeMessage(msg, kCanary);
    EXPECT_LE(out.size(), kMaxMessageBytes);
    for (std::size_t len = 3; len <= secret.size(); ++len) {
      // Any prefix of the secret of 3+ characters right before the marker.
      std::string tail = secret.substr(0, len) + std::string(kTruncatedMarker);
      EXPECT_FALSE(out.ends_with(tail)) << "pad " << pad << ": " << out.substr(out.size() - 40);
    }
  }
}

TEST(SafeMessage, ScrubsThenEscapesThenCaps) {
  std::string out = SafeMessage("\x1b[31mCANARY-pa55\nword-xyz\xff", kCanary);
  EXPECT_EQ(out, "\\x1b[31m***" + kFffd);
  ExpectNoPieceOf(out, "Canary-Pa55word-xyz");
  EXPECT_EQ(SafeMessage("", kCanary), "");
}

// --- applied centrally ----------------------------------------------------------

// A probe type that knows nothing of sanitizing: it answers with raw bytes.
class RawProber final : public Prober {
 public:
  explicit RawProber(std::string message) : message_(std::move(message)) {}
  class Session final : public ProbeSession {
   public:
    std::string_view Phase() const override { return "command"; }
  };
  std::unique_ptr<ProbeSession> Start(const Target&, DoneFn done) override {
    pending_ = std::move(done);
    return std::make_unique<Session>();
  }
  void Complete() {
    DoneFn fn = std::move(pending_);
    fn(Result::Failure(Reason::kAssertion, message_));
  }

 private:
  std::string message_;
  DoneFn pending_;
};

TEST(RunAttemptMessages, EveryResultIsScrubbedSanitizedAndCapped) {
  SimClock clock;
  SimTimers timers(clock);
  RedisConfig redis;
  redis.host = "r";
  redis.password = Secret("Canary-Pa55word-xyz");
  HttpConfig http;
  http.url = "http://h/";
  http.headers.push_back({"Authorization", Secret("Bearer tok-0123456789"), true});
  http.headers.push_back({"Accept", Secret("application/json"), false});
  PostgresConfig pg;
  pg.host = "p";
  pg.password = Secret("pg-Secret-42!");
  struct Case {
    Target target;
    std::string raw;
    std::string want;
  };
  std::vector<Case> cases = {
      {redis, "reply \"+P\xffNG\" canary-pa55\nword", "reply \"+P" + kFffd + "NG\" ***"},
      {http, "body \"TOK-01234567\" application/json", "body \"***\" application/json"},
      {pg, "FATAL: pg-secret-42! \x1b[0m", "FATAL: *** \\x1b[0m"},
      {TcpConfig{"t", 1, "", std::nullopt}, std::string(5000, 'z'), ""},
  };
  for (Case& c : cases) {
    RawProber prober(c.raw);
    std::optional<Result> got;
    auto attempt =
        RunAttempt(prober, timers, clock, c.target, seconds(1), [&](Result r) { got = r; });
    prober.Complete();
    ASSERT_TRUE(got);
    if (c.want.empty()) {
      EXPECT_EQ(got->message.size(), kMaxMessageBytes);
      EXPECT_TRUE(got->message.ends_with(kTruncatedMarker));
    } else {
      EXPECT_EQ(got->message, c.want);
    }
  }
}

TEST(MessageSecrets, ListsPasswordsAndSecretHeadersOnly) {
  RedisConfig redis;
  redis.password = Secret("r-pass");
  EXPECT_EQ(MessageSecrets(redis), std::vector<Secret>{Secret("r-pass")});
  HttpConfig http;
  http.headers.push_back({"Authorization", Secret("Bearer x"), true});
  http.headers.push_back({"Accept", Secret("text/plain"), false});
  EXPECT_EQ(MessageSecrets(http), std::vector<Secret>{Secret("Bearer x")});
  PostgresConfig pg;
  EXPECT_TRUE(MessageSecrets(pg).empty());  // no password: nothing to scrub
  pg.password = Secret("p");
  pg.ca_pem = Secret("-----BEGIN CERTIFICATE-----");
  EXPECT_EQ(MessageSecrets(pg), std::vector<Secret>{Secret("p")});
}

}  // namespace
}  // namespace healthgate::probes
