// Text that comes from a probe target is untrusted bytes: it may be invalid
// UTF-8, carry terminal escapes or line breaks, be huge, or echo a credential.
// Every Result message passes through SafeMessage() once, in RunAttempt
// (probes/engine/attempt.cc), so no probe type can forget it; probe types build
// messages from raw bytes and need not sanitize them themselves.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "probes/secret.h"

namespace healthgate::probes {

// The most bytes of a Result message, marker included. Longer messages are cut
// (never inside a UTF-8 sequence or an escape) and end with kTruncatedMarker.
inline constexpr std::size_t kMaxMessageBytes = 1024;
inline constexpr std::string_view kTruncatedMarker = "...[truncated]";

// Secrets at least this long are scrubbed by every window of this many bytes, so
// a partial echo of the secret is caught too; shorter secrets are scrubbed whole.
inline constexpr std::size_t kSecretWindow = 8;

// Replaces every echo of a secret in `text` with "***". An echo is matched
// case-insensitively (ASCII) and across whitespace (space, tab, CR, LF, VT, FF:
// a secret split over lines is still an echo): any kSecretWindow-byte window of
// the secret (with its own whitespace removed), or the whole secret when it is
// shorter. Overlapping or adjacent matches become one "***". Runs on the whole
// text: callers must not cut the text before scrubbing it (a cut echo could then
// escape the windows). Costs O(text size) per secret plus the windows' set.
std::string ScrubSecrets(std::string_view text, const std::vector<Secret>& secrets);

// Makes untrusted bytes safe to show in logs, JSON, YAML and terminals:
//  - invalid UTF-8 (bad or truncated sequences, overlong encodings, surrogates,
//    code points beyond U+10FFFF) becomes U+FFFD, one per maximal bad subpart;
//  - control characters are escaped visibly: \n, \r, \t, other C0 and DEL as
//    \xNN, C1 (U+0080..U+009F), line/paragraph separators and bidirectional
//    overrides as \uNNNN;
//  - the result is at most `max_bytes` bytes (kTruncatedMarker included).
std::string SanitizeText(std::string_view text, std::size_t max_bytes = kMaxMessageBytes);

// Scrubs, then sanitizes and caps, in that order. Empty text costs nothing.
std::string SafeMessage(std::string_view text, const std::vector<Secret>& secrets,
                        std::size_t max_bytes = kMaxMessageBytes);

// `v` in double quotes. Never cut here: the whole message is scrubbed first and
// capped afterwards by SafeMessage.
std::string QuoteValue(std::string_view v);

}  // namespace healthgate::probes
