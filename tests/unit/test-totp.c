/* TOTP (RFC 6238 appendix B, RFC 4226 appendix D), the one-time rule, base32
 * (RFC 4648), otpauth URIs and recovery codes. */
#include <string.h>

#include "srv-totp.h"

static const guint8 rfc_key[] = "12345678901234567890"; /* 20 bytes, the RFCs' SHA-1 key */

static void
test_hotp_rfc4226(void)
{
  static const guint32 want[] = { 755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489 };
  for (guint i = 0; i < G_N_ELEMENTS(want); i++)
    g_assert_cmpuint(srv_totp_hotp(rfc_key, 20, i, 6), ==, want[i]);
}

static void
test_totp_rfc6238(void)
{
  /* Appendix B, SHA-1 rows (8 digits). */
  static const struct {
    gint64 time;
    guint32 code;
  } rows[] = {
    { 59, 94287082 },         { 1111111109, 7081804 },  { 1111111111, 14050471 },
    { 1234567890, 89005924 }, { 2000000000, 69279037 }, { 20000000000, 65353130 },
  };
  for (guint i = 0; i < G_N_ELEMENTS(rows); i++)
    g_assert_cmpuint(srv_totp_hotp(rfc_key, 20, (guint64) srv_totp_step(rows[i].time), 8), ==, rows[i].code);
  g_assert_cmpint(srv_totp_step(59), ==, 1);
  g_assert_cmpint(srv_totp_step(60), ==, 2);
}

static char *
code_at(gint64 step)
{
  return g_strdup_printf("%06u", srv_totp_hotp(rfc_key, 20, (guint64) step, 6));
}

static void
test_verify_window(void)
{
  gint64 now = 1234567890, step = srv_totp_step(now), matched = 0;
  for (gint64 d = -1; d <= 1; d++) {
    g_autofree char *code = code_at(step + d);
    g_assert_true(srv_totp_verify(rfc_key, 20, now, code, 0, &matched));
    g_assert_cmpint(matched, ==, step + d);
  }
  /* Two steps away: outside the window either side. */
  for (gint64 d = -2; d <= 2; d += 4) {
    g_autofree char *code = code_at(step + d);
    matched = 42;
    g_assert_false(srv_totp_verify(rfc_key, 20, now, code, 0, &matched));
    g_assert_cmpint(matched, ==, 42);
  }
}

static void
test_verify_once(void)
{
  gint64 now = 1234567890, step = srv_totp_step(now), matched = 0;
  g_autofree char *code = code_at(step);
  g_assert_true(srv_totp_verify(rfc_key, 20, now, code, step - 1, &matched));
  /* Once its step is the last used one, the same code never counts again,
   * nor does the code of any earlier step. */
  g_assert_false(srv_totp_verify(rfc_key, 20, now, code, step, &matched));
  g_autofree char *earlier = code_at(step - 1);
  g_assert_false(srv_totp_verify(rfc_key, 20, now, earlier, step, &matched));
  g_autofree char *later = code_at(step + 1);
  g_assert_true(srv_totp_verify(rfc_key, 20, now, later, step, &matched));
  g_assert_cmpint(matched, ==, step + 1);
}

static void
test_verify_bad_input(void)
{
  gint64 now = 1234567890, matched = 0;
  g_autofree char *code = code_at(srv_totp_step(now));
  g_autofree char *spaced = g_strdup_printf(" %s", code);
  g_autofree char *longer = g_strdup_printf("%s0", code);
  const char *bad[] = { NULL, "", "12345", "1234567", "12a456", "+12345", "-12345", "١٢٣٤٥٦", spaced, longer };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    g_assert_false(srv_totp_verify(rfc_key, 20, now, bad[i], 0, &matched));
  /* A different secret does not take the code. */
  static const guint8 other[20] = { 1 };
  g_assert_false(srv_totp_verify(other, sizeof other, now, code, 0, &matched));
}

static void
test_base32(void)
{
  static const struct {
    const char *plain, *encoded;
  } v[] = {
    { "", "" },         { "f", "MY" },         { "fo", "MZXQ" },          { "foo", "MZXW6" },
    { "foob", "MZXW6YQ" }, { "fooba", "MZXW6YTB" }, { "foobar", "MZXW6YTBOI" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(v); i++) {
    g_autofree char *enc = srv_base32_encode((const guint8 *) v[i].plain, strlen(v[i].plain));
    g_assert_cmpstr(enc, ==, v[i].encoded);
    guint8 out[16];
    gsize n = 99;
    g_assert_true(srv_base32_decode(v[i].encoded, out, sizeof out, &n));
    g_assert_cmpmem(out, n, v[i].plain, strlen(v[i].plain));
  }
  guint8 out[8];
  gsize n = 0;
  /* Lower case and spaces as apps show secrets. */
  g_assert_true(srv_base32_decode("mzxw 6ytb oi", out, sizeof out, &n));
  g_assert_cmpmem(out, n, "foobar", 6);
  /* Not base32, padding, bits left over, too long for the buffer. */
  const char *bad[] = { "MZXW1", "MZXW6===", "MZ", "M", "MZXW6!", "MZXW6YTBOI" };
  gsize room[] = { 8, 8, 8, 8, 8, 5 };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    g_assert_false(srv_base32_decode(bad[i], out, room[i], &n));
}

static void
test_uri(void)
{
  g_autofree char *uri = srv_totp_uri("Genkan", "a b@c", rfc_key, 20);
  g_autofree char *b32 = srv_base32_encode(rfc_key, 20);
  g_autofree char *want = g_strdup_printf("otpauth://totp/Genkan:a%%20b%%40c?secret=%s&issuer=Genkan"
                                          "&algorithm=SHA1&digits=6&period=30",
                                          b32);
  g_assert_cmpstr(uri, ==, want);
  /* A colon in the issuer cannot split the label. */
  g_autofree char *colon = srv_totp_uri("A:B", "x", rfc_key, 20);
  g_assert_true(g_str_has_prefix(colon, "otpauth://totp/A%3AB:x?"));
}

static void
test_recovery(void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < 50; i++) {
    char *code = srv_totp_recovery_new();
    g_assert_cmpuint(strlen(code), ==, SRV_TOTP_RECOVERY_LEN);
    g_assert_true(code[4] == '-' && code[9] == '-' && code[14] == '-');
    char norm[17];
    g_assert_true(srv_totp_recovery_normalize(code, norm));
    g_assert_cmpuint(strlen(norm), ==, 16);
    g_assert_false(g_hash_table_contains(seen, code));
    g_hash_table_add(seen, code);
  }
  char a[17], b[17];
  /* Case, dashes, spaces, and the letters people type for 0 and 1. */
  g_assert_true(srv_totp_recovery_normalize("ab01-cd23-ef45-gh67", a));
  g_assert_true(srv_totp_recovery_normalize(" AB OI CD23EF45 GH67 ", b));
  g_assert_cmpstr(a, ==, b);
  const char *bad[] = { NULL, "", "ab01-cd23-ef45-gh6", "ab01-cd23-ef45-gh678", "ab01-cd23-ef45-gh6u",
                        "ab01_cd23_ef45_gh67" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
    g_assert_false(srv_totp_recovery_normalize(bad[i], a));
  guint8 h1[32], h2[32], h3[32];
  srv_totp_recovery_hash(1, b, h1);
  srv_totp_recovery_hash(1, b, h2);
  srv_totp_recovery_hash(2, b, h3);
  g_assert_cmpmem(h1, 32, h2, 32);
  g_assert_true(memcmp(h1, h3, 32) != 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/server/totp/hotp-rfc4226", test_hotp_rfc4226);
  g_test_add_func("/server/totp/totp-rfc6238", test_totp_rfc6238);
  g_test_add_func("/server/totp/window", test_verify_window);
  g_test_add_func("/server/totp/once", test_verify_once);
  g_test_add_func("/server/totp/bad-input", test_verify_bad_input);
  g_test_add_func("/server/totp/base32", test_base32);
  g_test_add_func("/server/totp/uri", test_uri);
  g_test_add_func("/server/totp/recovery", test_recovery);
  return g_test_run();
}
