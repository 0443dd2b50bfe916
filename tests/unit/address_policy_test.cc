#include "probes/address_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace healthgate::probes {
namespace {

std::vector<Cidr> List(const std::string& text) {
  std::string error;
  auto list = ParseCidrList(text, &error);
  EXPECT_TRUE(list.has_value()) << text << ": " << error;
  return list.value_or(std::vector<Cidr>{});
}

std::string ParseError(const std::string& text) {
  std::string error;
  auto list = ParseCidrList(text, &error);
  EXPECT_FALSE(list.has_value()) << text;
  return error;
}

AddressPolicy Deny(const std::string& deny, const std::string& allow = "") {
  return AddressPolicy(List(deny), List(allow));
}

bool Allowed(const AddressPolicy& p, const std::string& ip) { return p.Refusal(ip).empty(); }

TEST(AddressPolicy, DefaultDeniesLinkLocalAndMetadataOnly) {
  const AddressPolicy p;
  EXPECT_EQ(p.Refusal("169.254.169.254"),
            "address 169.254.169.254 is denied by --probe-deny-cidrs (169.254.0.0/16)");
  EXPECT_FALSE(Allowed(p, "169.254.0.0"));
  EXPECT_FALSE(Allowed(p, "169.254.255.255"));
  EXPECT_TRUE(Allowed(p, "169.253.255.255"));
  EXPECT_TRUE(Allowed(p, "169.255.0.0"));
  EXPECT_FALSE(Allowed(p, "fe80::1"));
  EXPECT_FALSE(Allowed(p, "febf:ffff::1"));
  EXPECT_TRUE(Allowed(p, "fec0::1"));
  EXPECT_EQ(p.Refusal("fd00:ec2::254"),
            "address fd00:ec2::254 is denied by --probe-deny-cidrs (fd00:ec2::254/128)");
  EXPECT_TRUE(Allowed(p, "fd00:ec2::253"));
  EXPECT_TRUE(Allowed(p, "127.0.0.1"));
  EXPECT_TRUE(Allowed(p, "::1"));
  EXPECT_TRUE(Allowed(p, "10.0.0.1"));
}

TEST(AddressPolicy, MappedIpv6IsJudgedByTheIpv4Rules) {
  const AddressPolicy p;
  EXPECT_EQ(p.Refusal("::ffff:169.254.169.254"),
            "address ::ffff:169.254.169.254 is denied by --probe-deny-cidrs (169.254.0.0/16)");
  EXPECT_TRUE(Allowed(p, "::ffff:127.0.0.1"));
  // An allow list of IPv4 blocks admits the mapped form of its addresses only.
  const AddressPolicy a = Deny("", "127.0.0.1/32");
  EXPECT_TRUE(Allowed(a, "::ffff:127.0.0.1"));
  EXPECT_FALSE(Allowed(a, "::ffff:127.0.0.2"));
  // A mapped address is also itself: an IPv6 block over the mapped range holds it.
  const AddressPolicy v6 = Deny("::ffff:0:0/96");
  EXPECT_FALSE(Allowed(v6, "::ffff:10.1.2.3"));
  EXPECT_TRUE(Allowed(v6, "10.1.2.3"));  // the IPv4 address itself is not IPv6
  // Not mapped: the IPv4-compatible and NAT64 forms are IPv6 addresses.
  EXPECT_TRUE(Allowed(p, "::169.254.169.254"));
  EXPECT_TRUE(Allowed(p, "64:ff9b::169.254.169.254"));
}

TEST(AddressPolicy, PrefixEdges) {
  const AddressPolicy all4 = Deny("0.0.0.0/0");
  EXPECT_FALSE(Allowed(all4, "0.0.0.0"));
  EXPECT_FALSE(Allowed(all4, "255.255.255.255"));
  EXPECT_FALSE(Allowed(all4, "::ffff:1.2.3.4"));
  EXPECT_TRUE(Allowed(all4, "::1"));  // an IPv4 block never holds IPv6 addresses

  const AddressPolicy all6 = Deny("::/0");
  EXPECT_FALSE(Allowed(all6, "::1"));
  EXPECT_FALSE(Allowed(all6, "2001:db8::1"));
  EXPECT_TRUE(Allowed(all6, "1.2.3.4"));

  const AddressPolicy host4 = Deny("127.0.0.2/32");
  EXPECT_FALSE(Allowed(host4, "127.0.0.2"));
  EXPECT_TRUE(Allowed(host4, "127.0.0.1"));
  EXPECT_TRUE(Allowed(host4, "127.0.0.3"));

  const AddressPolicy host6 = Deny("2001:db8::1/128");
  EXPECT_FALSE(Allowed(host6, "2001:db8::1"));
  EXPECT_TRUE(Allowed(host6, "2001:db8::0"));
  EXPECT_TRUE(Allowed(host6, "2001:db8::2"));

  // Prefixes that end inside a byte.
  const AddressPolicy odd = Deny("10.0.0.0/9,2001:db8:8000::/33");
  EXPECT_FALSE(Allowed(odd, "10.127.255.255"));
  EXPECT_TRUE(Allowed(odd, "10.128.0.0"));
  EXPECT_FALSE(Allowed(odd, "2001:db8:ffff::1"));
  EXPECT_TRUE(Allowed(odd, "2001:db8:7fff::1"));

  // A bare address is one host.
  EXPECT_EQ(List("192.0.2.7").at(0).text, "192.0.2.7/32");
  EXPECT_EQ(List("2001:db8::7").at(0).text, "2001:db8::7/128");
}

TEST(AddressPolicy, AllowListAdmitsOnlyItsBlocksAndDenyWins) {
  const AddressPolicy p = Deny("127.0.0.2/32", "127.0.0.0/8, ::1/128");
  EXPECT_TRUE(Allowed(p, "127.0.0.1"));
  EXPECT_TRUE(Allowed(p, "::1"));
  EXPECT_EQ(p.Refusal("127.0.0.2"),
            "address 127.0.0.2 is denied by --probe-deny-cidrs (127.0.0.2/32)");
  EXPECT_EQ(p.Refusal("10.0.0.1"),
            "address 10.0.0.1 is not in --probe-allow-cidrs (127.0.0.0/8,::1/128)");
  EXPECT_FALSE(Allowed(p, "::2"));
}

TEST(AddressPolicy, EmptyListsAllowEverything) {
  const AddressPolicy p = Deny("");
  EXPECT_TRUE(p.deny().empty());
  EXPECT_TRUE(Allowed(p, "169.254.169.254"));
  EXPECT_TRUE(Allowed(p, "fe80::1"));
  EXPECT_TRUE(Allowed(AddressPolicy::AllowAll(), "169.254.169.254"));
}

TEST(AddressPolicy, BadInputNamesTheEntry) {
  EXPECT_EQ(ParseError("10.0.0.0/8,nope"),
            "\"nope\" is not a CIDR block (an IPv4 or IPv6 address, then /prefix)");
  EXPECT_EQ(ParseError("10.0.0.0/33"),
            "\"10.0.0.0/33\": the prefix length must be a number "
            "from 0 to 32");
  EXPECT_EQ(ParseError("::/129"), "\"::/129\": the prefix length must be a number from 0 to 128");
  EXPECT_EQ(ParseError("10.0.0.0/"),
            "\"10.0.0.0/\": the prefix length must be a number from 0 "
            "to 32");
  EXPECT_EQ(ParseError("10.0.0.0/-1"),
            "\"10.0.0.0/-1\": the prefix length must be a number from 0 to 32");
  EXPECT_EQ(ParseError("10.0.0.0/8x"),
            "\"10.0.0.0/8x\": the prefix length must be a number from 0 to 32");
  EXPECT_EQ(ParseError("169.254.1.1/16"),
            "\"169.254.1.1/16\" has host bits set beyond the prefix (did you mean "
            "169.254.0.0/16?)");
  EXPECT_EQ(ParseError("fe80::1/10"),
            "\"fe80::1/10\" has host bits set beyond the prefix (did you mean fe80::/10?)");
  EXPECT_EQ(ParseError("10.0.0.0/8,,::1"), "empty entry");
  EXPECT_EQ(ParseError("10.0.0.0/8,"), "empty entry");
  EXPECT_FALSE(ParseError("256.0.0.0/8").empty());
  EXPECT_FALSE(ParseError("10.0.0/8").empty());
  EXPECT_FALSE(ParseError("[::1]/128").empty());
  // Not an address: refused, never allowed by accident.
  EXPECT_FALSE(AddressPolicy::AllowAll().Refusal("localhost").empty());
}

TEST(AddressPolicy, ListsKeepTheirOrderAndCanonicalForm) {
  auto l = List(" 169.254.0.0/16 ,FE80::/10,fd00:ec2:0::254/128");
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].text, "169.254.0.0/16");
  EXPECT_EQ(l[1].text, "fe80::/10");
  EXPECT_EQ(l[2].text, "fd00:ec2::254/128");
  EXPECT_TRUE(List("").empty());
  EXPECT_TRUE(List("  ").empty());
}

}  // namespace
}  // namespace healthgate::probes
