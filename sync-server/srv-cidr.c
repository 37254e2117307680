/* CIDR ranges for the admin port's allow-lists: strict parsing (an admin's
 * typo must be an error, never a range wider than meant) and matching. */
#include "srv-cidr.h"

#include <arpa/inet.h>
#include <string.h>

G_DEFINE_QUARK(srv-cidr-error-quark, srv_cidr_error)

static const guint8 v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static gboolean
chars_only(const char *s, gsize len, const char *allowed)
{
  for (gsize i = 0; i < len; i++)
    if (s[i] == '\0' || strchr(allowed, s[i]) == NULL)
      return FALSE;
  return TRUE;
}

/* The address part alone, into @out (family, addr); prefix left alone. */
static gboolean
parse_address(const char *s, gsize len, SrvCidr *out)
{
  char buf[SRV_CIDR_TEXT_MAX];
  if (len == 0 || len >= sizeof buf)
    return FALSE;
  memcpy(buf, s, len);
  buf[len] = '\0';
  memset(out->addr, 0, sizeof out->addr);
  if (memchr(buf, ':', len) == NULL) {
    /* inet_pton takes only a.b.c.d with each part 0-255 and no leading zeros. */
    if (!chars_only(buf, len, "0123456789.") || inet_pton(AF_INET, buf, out->addr) != 1)
      return FALSE;
    out->family = 4;
    return TRUE;
  }
  if (!chars_only(buf, len, "0123456789abcdefABCDEF:.") || inet_pton(AF_INET6, buf, out->addr) != 1)
    return FALSE;
  out->family = 6;
  return TRUE;
}

/* A mapped address (::ffff:a.b.c.d) is the IPv4 peer of a dual-stack socket. */
static void
unmap_v4(SrvCidr *c)
{
  if (c->family != 6 || memcmp(c->addr, v4_mapped_prefix, sizeof v4_mapped_prefix) != 0 || c->prefix < 96)
    return;
  memmove(c->addr, c->addr + 12, 4);
  memset(c->addr + 4, 0, 12);
  c->family = 4;
  c->prefix -= 96;
}

static gboolean
host_bits_clear(const SrvCidr *c)
{
  guint bits = c->family == 4 ? 32 : 128;
  for (guint i = c->prefix; i < bits; i++)
    if (c->addr[i / 8] & (0x80u >> (i % 8)))
      return FALSE;
  return TRUE;
}

gboolean
srv_cidr_parse(const char *text, SrvCidr *out, GError **error)
{
  g_return_val_if_fail(text != NULL && out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  gsize len = strnlen(text, SRV_CIDR_TEXT_MAX + 1);
  if (len == 0 || len > SRV_CIDR_TEXT_MAX) {
    g_set_error(error, SRV_CIDR_ERROR, SRV_CIDR_ERROR_SYNTAX, "an address range must be 1 to %d characters",
                SRV_CIDR_TEXT_MAX);
    return FALSE;
  }
  const char *slash = strchr(text, '/');
  gsize addr_len = slash != NULL ? (gsize) (slash - text) : len;
  if (!parse_address(text, addr_len, out)) {
    g_set_error(error, SRV_CIDR_ERROR, SRV_CIDR_ERROR_SYNTAX,
                "not an IPv4 or IPv6 address range (write e.g. 192.0.2.0/24 or 2001:db8::/32)");
    return FALSE;
  }
  guint max = out->family == 4 ? 32 : 128;
  out->prefix = (guint8) max;
  if (slash != NULL) {
    const char *p = slash + 1;
    gsize n = strlen(p);
    guint64 v = 0;
    /* Digits only: no sign, no spaces, no leading zeros ("/08" is a typo). */
    if (n == 0 || n > 3 || !chars_only(p, n, "0123456789") || (n > 1 && p[0] == '0') ||
        !g_ascii_string_to_unsigned(p, 10, 0, max, &v, NULL)) {
      g_set_error(error, SRV_CIDR_ERROR, SRV_CIDR_ERROR_SYNTAX, "the prefix length after '/' must be 0 to %u", max);
      return FALSE;
    }
    out->prefix = (guint8) v;
  }
  if (!host_bits_clear(out)) {
    g_set_error(error, SRV_CIDR_ERROR, SRV_CIDR_ERROR_HOST_BITS,
                "the range has address bits set after its /%u prefix (write the network address)", out->prefix);
    return FALSE;
  }
  unmap_v4(out);
  return TRUE;
}

char *
srv_cidr_to_string(const SrvCidr *cidr)
{
  g_return_val_if_fail(cidr != NULL, NULL);
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(cidr->family == 4 ? AF_INET : AF_INET6, cidr->addr, buf, sizeof buf) == NULL)
    return g_strdup("?");
  return g_strdup_printf("%s/%u", buf, cidr->prefix);
}

gboolean
srv_ip_parse(const char *text, SrvCidr *out)
{
  g_return_val_if_fail(out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  if (text == NULL || !parse_address(text, strnlen(text, SRV_CIDR_TEXT_MAX), out))
    return FALSE;
  out->prefix = out->family == 4 ? 32 : 128;
  unmap_v4(out);
  return TRUE;
}

gboolean
srv_cidr_contains(const SrvCidr *cidr, const SrvCidr *ip)
{
  g_return_val_if_fail(cidr != NULL && ip != NULL, FALSE);
  if (cidr->family != ip->family)
    return FALSE;
  guint full = cidr->prefix / 8, rest = cidr->prefix % 8;
  if (memcmp(cidr->addr, ip->addr, full) != 0)
    return FALSE;
  if (rest == 0)
    return TRUE;
  guint8 mask = (guint8) (0xffu << (8 - rest));
  return (cidr->addr[full] & mask) == (ip->addr[full] & mask);
}

gboolean
srv_cidr_list_allows(const SrvCidr *list, guint n, const char *ip_text)
{
  if (n == 0)
    return TRUE;
  SrvCidr ip;
  if (!srv_ip_parse(ip_text, &ip))
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (srv_cidr_contains(&list[i], &ip))
      return TRUE;
  return FALSE;
}
