/* IP allow-lists: the one parser of CIDR ranges and addresses an admin types
 * (IPv4 and IPv6), and the match of a peer address against a list. */
#pragma once
#include <glib.h>

#define SRV_CIDR_ERROR srv_cidr_error_quark()
GQuark srv_cidr_error_quark(void);
typedef enum {
  SRV_CIDR_ERROR_SYNTAX,    /* not an address, or a bad /prefix */
  SRV_CIDR_ERROR_HOST_BITS, /* "10.1.2.3/8": bits set below the prefix */
} SrvCidrError;

/* Longest text srv_cidr_parse() accepts ("ffff:...:ffff/128" is 43). */
#define SRV_CIDR_TEXT_MAX 64
/* Ranges one allow-list may hold. */
#define SRV_CIDR_LIST_MAX 64

typedef struct {
  guint8 family;     /* 4 or 6 */
  guint8 prefix;     /* 0..32 or 0..128 */
  guint8 addr[16];   /* network address; IPv4 in the first 4 bytes */
} SrvCidr;

/* Parses "A.B.C.D/N", "X:X::X/N", or a bare address (a /32 or /128). Strict:
 * decimal prefixes without sign or leading zeros, dotted quads without leading
 * zeros, no spaces, no zone ids, host bits must be zero. An IPv4-mapped IPv6
 * range (::ffff:a.b.c.d/N, N >= 96) is kept as the IPv4 range it names. */
gboolean srv_cidr_parse(const char *text, SrvCidr *out, GError **error);
/* Canonical text ("10.0.0.0/8", "2001:db8::/32") (g_free). */
char *srv_cidr_to_string(const SrvCidr *cidr);

/* Parses a peer address as the loop reports it (no prefix); IPv4-mapped IPv6
 * addresses become IPv4. FALSE for anything else. */
gboolean srv_ip_parse(const char *text, SrvCidr *out);
/* TRUE when @ip (from srv_ip_parse) lies in @cidr. */
gboolean srv_cidr_contains(const SrvCidr *cidr, const SrvCidr *ip);
/* TRUE when @ip_text lies in one of the @n ranges, or @n is 0 (no list: no
 * restriction). An address that does not parse matches no list. */
gboolean srv_cidr_list_allows(const SrvCidr *list, guint n, const char *ip_text);
