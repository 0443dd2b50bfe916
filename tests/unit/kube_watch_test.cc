#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "operator/kube/client.h"
#include "operator/kube/error.h"
#include "operator/kube/watch.h"

namespace healthgate::kube {
namespace {

const std::string kStream =
    R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"10"},"data":{"k":"line1\nline2"}}})"
    "\n"
    R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})"
    "\r\n"
    "\n"
    R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"15"}}})"
    "\n"
    R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"16"}}})"
    "\n"
    R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}})j"
    "\n";

std::vector<std::string> FeedInPieces(const std::vector<std::string_view>& pieces,
                                      LineFramer& framer) {
  std::vector<std::string> lines;
  for (auto p : pieces) {
    EXPECT_TRUE(framer.Feed(p, [&](std::string_view l) {
      lines.emplace_back(l);
      return true;
    }));
  }
  return lines;
}

TEST(KubeLineFramer, WholeStreamInOneRead) {
  LineFramer f;
  auto lines = FeedInPieces({kStream}, f);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[1],
            R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})");
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(KubeLineFramer, SplitAtEveryByteBoundary) {
  LineFramer whole;
  const auto expected = FeedInPieces({kStream}, whole);
  for (std::size_t i = 0; i <= kStream.size(); ++i) {
    LineFramer f;
    std::string_view s(kStream);
    EXPECT_EQ(FeedInPieces({s.substr(0, i), s.substr(i)}, f), expected) << "split at " << i;
    EXPECT_EQ(f.buffered(), 0u);
  }
  // Two splits, every pair of boundaries (covers a line spread over three reads).
  for (std::size_t i = 0; i <= kStream.size(); i += 7) {
    for (std::size_t j = i; j <= kStream.size(); ++j) {
      LineFramer f;
      std::string_view s(kStream);
      ASSERT_EQ(FeedInPieces({s.substr(0, i), s.substr(i, j - i), s.substr(j)}, f), expected)
          << i << "," << j;
    }
  }
}

TEST(KubeLineFramer, OneByteAtATime) {
  LineFramer whole;
  const auto expected = FeedInPieces({kStream}, whole);
  LineFramer f;
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < kStream.size(); ++i)
    bytes.push_back(std::string_view(kStream).substr(i, 1));
  EXPECT_EQ(FeedInPieces(bytes, f), expected);
}

TEST(KubeLineFramer, PartialTailIsKeptUntilItsNewline) {
  LineFramer f;
  int n = 0;
  auto count = [&](std::string_view) {
    ++n;
    return true;
  };
  EXPECT_TRUE(f.Feed("{\"a\":", count));
  EXPECT_EQ(n, 0);
  EXPECT_EQ(f.buffered(), 5u);
  EXPECT_TRUE(f.Feed("1}\n{\"b\"", count));
  EXPECT_EQ(n, 1);
  EXPECT_EQ(f.buffered(), 4u);
}

TEST(KubeLineFramer, StopsWhenTheHandlerSaysSo) {
  LineFramer f;
  int n = 0;
  EXPECT_FALSE(f.Feed("a\nb\nc\n", [&](std::string_view) { return ++n < 2; }));
  EXPECT_EQ(n, 2);
}

TEST(KubeLineFramer, OverlongLineAbandonsTheStream) {
  LineFramer f(8);
  auto never = [](std::string_view) {
    ADD_FAILURE() << "no line expected";
    return true;
  };
  EXPECT_TRUE(f.Feed("12345", never));
  EXPECT_FALSE(f.Feed("67890", never));
  EXPECT_TRUE(f.overflowed());
  EXPECT_FALSE(f.Feed("\n", never));
}

TEST(KubeWatchEvent, ParsesEveryType) {
  LineFramer f;
  std::vector<WatchEvent> events;
  f.Feed(kStream, [&](std::string_view line) {
    auto ev = ParseWatchEvent(line);
    EXPECT_TRUE(ev.ok()) << ev.error().ToString();
    if (ev) events.push_back(ev.value());
    return true;
  });
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(events[0].object["data"]["k"], "line1\nline2");
  EXPECT_EQ(events[1].type, WatchEvent::Type::kModified);
  EXPECT_EQ(events[2].type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(events[2].object["metadata"]["resourceVersion"], "15");
  EXPECT_EQ(events[3].type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(events[4].type, WatchEvent::Type::kError);
  Error gone = ApiErrorFromStatus(0, events[4].object);
  EXPECT_TRUE(gone.IsGone());
  EXPECT_EQ(gone.http_code, 410);
  EXPECT_EQ(gone.reason, Reason::kExpired);
  EXPECT_EQ(gone.message, "too old resource version: 1 (2)");
}

TEST(KubeWatchEvent, RejectsMalformedLines) {
  EXPECT_EQ(ParseWatchEvent("not json").error().kind, ErrorKind::kDecode);
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"ADDED"})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"SOMETHING","object":{}})").ok());
  EXPECT_FALSE(ParseWatchEvent(R"([1,2])").ok());
}

TEST(KubeApiError, FromStatusBodies) {
  auto conflict = ApiErrorFromBody(
      409,
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has been modified","reason":"Conflict","code":409})");
  EXPECT_TRUE(conflict.IsConflict());
  EXPECT_EQ(conflict.ToString(), "api: 409 Conflict: the object has been modified");

  auto not_found = ApiErrorFromBody(404, R"({"kind":"Status","reason":"NotFound","code":404})");
  EXPECT_TRUE(not_found.IsNotFound());

  // A body that is not a Status: reason from the HTTP code, printable excerpt.
  auto html = ApiErrorFromBody(403, "<html>\x01nope</html>");
  EXPECT_TRUE(html.IsForbidden());
  EXPECT_NE(html.message.find("<html> nope</html>"), std::string::npos);

  auto gone = ApiErrorFromBody(410, "");
  EXPECT_TRUE(gone.IsGone());
  EXPECT_EQ(gone.reason, Reason::kGone);
  EXPECT_FALSE(TransportError("x").IsGone());
}

TEST(KubeResourceRef, Paths) {
  ResourceRef cm{"", "v1", "configmaps", "shop"};
  EXPECT_EQ(cm.Path(), "/api/v1/namespaces/shop/configmaps");
  EXPECT_EQ(cm.Path("a b"), "/api/v1/namespaces/shop/configmaps/a%20b");
  ResourceRef hc{"healthgate.dev", "v1alpha1", "healthchecks", ""};
  EXPECT_EQ(hc.Path(), "/apis/healthgate.dev/v1alpha1/healthchecks");
  EXPECT_EQ(hc.InNamespace("x").Path("n", "status"),
            "/apis/healthgate.dev/v1alpha1/namespaces/x/healthchecks/n/status");
  EXPECT_EQ(WriteQuery({"healthgate", true, false}), "?fieldManager=healthgate&force=true");
}

}  // namespace
}  // namespace healthgate::kube
