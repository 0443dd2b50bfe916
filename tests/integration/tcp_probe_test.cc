#include "probes/tcp/tcp_probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/support/net.h"
#include "tests/support/probe_runner.h"

namespace healthgate::probes {
namespace {

using std::chrono::milliseconds;
using testing::RunProbes;

TEST(TcpProbe, ConnectsToAListener) {
  testing::HungListener listener;
  auto results =
      RunProbes({TcpConfig{"127.0.0.1", listener.port(), "", std::nullopt}}, milliseconds(1000));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].healthy) << results[0].message;
  EXPECT_EQ(results[0].reason, Reason::kSuccess);
  EXPECT_TRUE(results[0].timings.connect.has_value());
}

TEST(TcpProbe, RefusedIsConnect) {
  auto port = testing::FreePort();
  auto results = RunProbes({TcpConfig{"127.0.0.1", port, "", std::nullopt}}, milliseconds(1000));
  EXPECT_FALSE(results[0].healthy);
  EXPECT_EQ(results[0].reason, Reason::kConnect);
  EXPECT_NE(results[0].message.find("refused"), std::string::npos) << results[0].message;
}

TEST(TcpProbe, BlackholedIsTimeoutDuringConnect) {
  testing::BlackholeListener hole;
  auto results =
      RunProbes({TcpConfig{"127.0.0.1", hole.port(), "", std::nullopt}}, milliseconds(300));
  EXPECT_EQ(results[0].reason, Reason::kTimeout);
  EXPECT_NE(results[0].message.find("during connect"), std::string::npos) << results[0].message;
  EXPECT_EQ(results[0].latency, milliseconds(300));
}

TEST(TcpProbe, UnresolvableHostIsDns) {
  auto results =
      RunProbes({TcpConfig{"no-such-host.invalid", 80, "", std::nullopt}}, milliseconds(2000));
  EXPECT_EQ(results[0].reason, Reason::kDns) << results[0].message;
}

TEST(TcpProbe, SendAndExpect) {
  // A real echo-ish server: replies "+PONG" to anything.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  listen(fd, 16);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread server([fd] {
    for (int i = 0; i < 2; ++i) {
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[64];
      if (read(c, buf, sizeof buf) > 0) {
        ssize_t w = write(c, "+PONG\r\n", 7);
        (void)w;
      }
      close(c);
    }
  });
  std::uint16_t port = ntohs(a.sin_port);
  auto ok = RunProbes({TcpConfig{"127.0.0.1", port, "PING\r\n", "PONG"}}, milliseconds(1000));
  auto bad = RunProbes({TcpConfig{"127.0.0.1", port, "PING\r\n", "HELLO"}}, milliseconds(1000));
  server.join();
  close(fd);
  EXPECT_TRUE(ok[0].healthy) << ok[0].message;
  EXPECT_EQ(bad[0].reason, Reason::kAssertion) << bad[0].message;
}

}  // namespace
}  // namespace healthgate::probes
