/* CIDR ranges for allow-lists: what parses, its canonical text, what is
 * refused (and why), and matching, IPv4 and IPv6. */
#include "srv-cidr.h"

static void
test_parse_good(void)
{
  static const struct {
    const char *text, *canonical;
  } good[] = {
    { "10.0.0.0/8", "10.0.0.0/8" },
    { "192.168.1.0/24", "192.168.1.0/24" },
    { "127.0.0.1", "127.0.0.1/32" },
    { "0.0.0.0/0", "0.0.0.0/0" },
    { "192.168.0.0/23", "192.168.0.0/23" },
    { "::/0", "::/0" },
    { "::1", "::1/128" },
    { "2001:DB8:0:0::/32", "2001:db8::/32" },
    { "fe80::/10", "fe80::/10" },
    /* An IPv4-mapped range is the IPv4 range it names. */
    { "::ffff:10.0.0.0/104", "10.0.0.0/8" },
    { "::ffff:192.0.2.1", "192.0.2.1/32" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
    SrvCidr c;
    g_autoptr(GError) error = NULL;
    g_test_message("%s", good[i].text);
    g_assert_true(srv_cidr_parse(good[i].text, &c, &error));
    g_assert_no_error(error);
    g_autofree char *text = srv_cidr_to_string(&c);
    g_assert_cmpstr(text, ==, good[i].canonical);
    /* The canonical text parses back to the same range. */
    SrvCidr again;
    g_assert_true(srv_cidr_parse(text, &again, NULL));
    g_assert_cmpmem(&again, sizeof again, &c, sizeof c);
  }
}

static void
test_parse_bad(void)
{
  static const struct {
    const char *text;
    int code;
  } bad[] = {
    { "", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/33", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/08", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/-1", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/+8", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/ 8", SRV_CIDR_ERROR_SYNTAX },
    { " 10.0.0.0/8", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/8 ", SRV_CIDR_ERROR_SYNTAX },
    { "010.0.0.0/8", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0/8", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0.0/8", SRV_CIDR_ERROR_SYNTAX },
    { "1.2.3.256", SRV_CIDR_ERROR_SYNTAX },
    { "1.2.3.4/", SRV_CIDR_ERROR_SYNTAX },
    { "/8", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/8/8", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.0/8x", SRV_CIDR_ERROR_SYNTAX },
    { "abc", SRV_CIDR_ERROR_SYNTAX },
    { "::/129", SRV_CIDR_ERROR_SYNTAX },
    { "fe80::1%eth0", SRV_CIDR_ERROR_SYNTAX },
    { "2001:db8:::/32", SRV_CIDR_ERROR_SYNTAX },
    { "0x0a.0.0.0/8", SRV_CIDR_ERROR_SYNTAX },
    { "10.0.0.1/8", SRV_CIDR_ERROR_HOST_BITS },
    { "192.168.1.0/23", SRV_CIDR_ERROR_HOST_BITS },
    { "2001:db8::1/32", SRV_CIDR_ERROR_HOST_BITS },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    SrvCidr c;
    g_autoptr(GError) error = NULL;
    g_test_message("%s", bad[i].text);
    g_assert_false(srv_cidr_parse(bad[i].text, &c, &error));
    g_assert_error(error, SRV_CIDR_ERROR, bad[i].code);
  }
  g_autofree char *huge = g_strnfill(SRV_CIDR_TEXT_MAX + 1, '1');
  SrvCidr c;
  g_assert_false(srv_cidr_parse(huge, &c, NULL));
}

static gboolean
contains(const char *range, const char *ip)
{
  SrvCidr c, a;
  g_assert_true(srv_cidr_parse(range, &c, NULL));
  g_assert_true(srv_ip_parse(ip, &a));
  return srv_cidr_contains(&c, &a);
}

static void
test_contains(void)
{
  g_assert_true(contains("10.0.0.0/8", "10.1.2.3"));
  g_assert_false(contains("10.0.0.0/8", "11.0.0.0"));
  g_assert_false(contains("10.0.0.0/8", "9.255.255.255"));
  g_assert_true(contains("192.168.0.0/23", "192.168.1.255"));
  g_assert_false(contains("192.168.0.0/23", "192.168.2.0"));
  g_assert_true(contains("0.0.0.0/0", "203.0.113.9"));
  g_assert_true(contains("127.0.0.1", "127.0.0.1"));
  g_assert_false(contains("127.0.0.1", "127.0.0.2"));
  g_assert_true(contains("2001:db8::/32", "2001:db8:1::5"));
  g_assert_false(contains("2001:db8::/32", "2001:db9::"));
  g_assert_true(contains("fe80::/10", "febf::1"));
  g_assert_false(contains("fe80::/10", "fec0::1"));
  /* Families never mix, except a mapped IPv4 peer of a dual-stack socket. */
  g_assert_false(contains("::/0", "10.0.0.1"));
  g_assert_false(contains("0.0.0.0/0", "::1"));
  g_assert_true(contains("10.0.0.0/8", "::ffff:10.9.8.7"));
  g_assert_false(contains("127.0.0.0/8", "::ffff:10.9.8.7"));
}

static void
test_list(void)
{
  SrvCidr list[2];
  g_assert_true(srv_cidr_parse("10.0.0.0/8", &list[0], NULL));
  g_assert_true(srv_cidr_parse("2001:db8::/32", &list[1], NULL));
  g_assert_true(srv_cidr_list_allows(list, 0, "203.0.113.1"));
  g_assert_true(srv_cidr_list_allows(list, 2, "10.0.0.1"));
  g_assert_true(srv_cidr_list_allows(list, 2, "2001:db8::1"));
  g_assert_false(srv_cidr_list_allows(list, 2, "127.0.0.1"));
  /* A peer address that does not parse matches no list. */
  g_assert_false(srv_cidr_list_allows(list, 2, "not-an-address"));
  g_assert_false(srv_cidr_list_allows(list, 2, NULL));
  g_assert_false(srv_cidr_list_allows(list, 2, "10.0.0.1/32"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/server/cidr/parse-good", test_parse_good);
  g_test_add_func("/server/cidr/parse-bad", test_parse_bad);
  g_test_add_func("/server/cidr/contains", test_contains);
  g_test_add_func("/server/cidr/list", test_list);
  return g_test_run();
}
