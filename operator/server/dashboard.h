// The dashboard: one self-contained HTML page (inline CSS and JS, no external
// resources, works offline) compiled into the binary. It polls
// /api/v1/healthchecks every 2 s and renders every check with DOM text nodes
// only (never innerHTML), so names and messages cannot inject markup.
//
// Stable attributes for tests and scripts: data-check="ns/name" and
// data-check-state on each check, data-probe="name" and
// data-state="healthy|unhealthy|unknown" on each probe.
#pragma once

#include <string_view>

namespace healthgate::server {

// Static storage; thread-safe.
std::string_view DashboardHtml();

}  // namespace healthgate::server
