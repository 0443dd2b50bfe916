// Message helpers shared by probe types. Result messages are for humans and
// must never carry a credential.
#pragma once

#include <cstddef>
#include <string>

#include "probes/secret.h"

namespace healthgate::probes {

// Replaces every occurrence of `secret` in `text` with "***" (defense in depth:
// client libraries and servers should never echo a password, but a message must
// never carry one even if they do).
std::string ScrubSecret(std::string text, const Secret& secret);

// `v` in double quotes, cut to `max_chars` (with "...") so a huge server answer
// cannot flood a message.
std::string QuoteValue(std::string v, std::size_t max_chars = 200);

}  // namespace healthgate::probes
