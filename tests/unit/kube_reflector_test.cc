#include <gtest/gtest.h>

#include <vector>

#include "operator/kube/reflector.h"

namespace healthgate::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

TEST(ReflectorBackoff, DoublesUpToTheCapWithJitter) {
  double u = 0.0;
  Backoff b(BackoffPolicy{}, [&] { return u; });
  EXPECT_EQ(b.Next(), milliseconds(800));
  EXPECT_EQ(b.Next(), milliseconds(1600));
  u = 0.5;
  EXPECT_EQ(b.Next(), milliseconds(4800));  // 3200 * 1.5
  u = 0.0;
  std::vector<milliseconds> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(b.Next());
  EXPECT_EQ(seen, (std::vector<milliseconds>{milliseconds(6400), milliseconds(12800),
                                             milliseconds(25600), milliseconds(30000),
                                             milliseconds(30000), milliseconds(30000)}));
  u = 0.99;
  EXPECT_EQ(b.Next(), milliseconds(30000));  // jitter never exceeds the cap
  b.Reset();
  u = 0.25;
  EXPECT_EQ(b.Next(), milliseconds(1000));
}

json Obj(const std::string& ns, const std::string& name, const std::string& rv) {
  return json{{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}}};
}

TEST(ReflectorStore, KeysAndVersions) {
  EXPECT_EQ(ObjectKey(Obj("shop", "a", "1")), "shop/a");
  EXPECT_EQ(ObjectKey(json{{"metadata", {{"name", "node-1"}}}}), "node-1");
  EXPECT_EQ(ResourceVersionOf(Obj("shop", "a", "7")), "7");
  EXPECT_EQ(ResourceVersionOf(json::object()), "");
}

TEST(ReflectorStore, DiffOnRelistReportsOnlyRealChanges) {
  Store before{{"ns/same", Obj("ns", "same", "1")},
               {"ns/changed", Obj("ns", "changed", "2")},
               {"ns/gone", Obj("ns", "gone", "3")}};
  Store after{{"ns/same", Obj("ns", "same", "1")},
              {"ns/changed", Obj("ns", "changed", "9")},
              {"ns/new", Obj("ns", "new", "10")}};
  StoreDelta d = DiffStores(before, after);
  ASSERT_EQ(d.upserts.size(), 2u);
  EXPECT_EQ(ObjectKey(d.upserts[0]), "ns/changed");
  EXPECT_EQ(ResourceVersionOf(d.upserts[0]), "9");
  EXPECT_EQ(ObjectKey(d.upserts[1]), "ns/new");
  ASSERT_EQ(d.deletes.size(), 1u);
  EXPECT_EQ(ObjectKey(d.deletes[0]), "ns/gone");
  EXPECT_EQ(ResourceVersionOf(d.deletes[0]), "3");  // last known state

  StoreDelta none = DiffStores(before, before);
  EXPECT_TRUE(none.upserts.empty());
  EXPECT_TRUE(none.deletes.empty());
}

}  // namespace
}  // namespace healthgate::kube
