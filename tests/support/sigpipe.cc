// Test processes talk to servers that close connections at any moment (that is
// what many tests do). As in the healthgate binary, a write to a closed socket
// must be an error value, not SIGPIPE killing the test process. net.cc calls
// this at start-up, so every test binary that uses the network helpers has it.
#include <signal.h>

namespace healthgate::testing {
bool IgnoreSigpipe() {
  static const bool done = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  return done;
}
}  // namespace healthgate::testing
