// Fresh connections without TIME_WAIT on the prober (kubernetes#89898): a probe
// opens a new connection every run and closes it first, so each would hold a
// local port in TIME_WAIT for 60 s. With SO_LINGER {on, 0} the close sends a
// RST instead and frees the port at once. Only for connections whose exchange is
// complete when they close (the probe has its answer), so nothing is lost.
#pragma once

#include <sys/socket.h>

namespace healthgate::probes {

// Best effort: a failure only leaves the default close behaviour.
inline void SetLingerZero(int fd) {
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

}  // namespace healthgate::probes
