/* Enrollment code text: round trip, expiry, and that damage is refused. */
#include <string.h>

#include "gk-base45.h"
#include "gk-enroll-code.h"

static GkEnrollCode
sample(void)
{
  GkEnrollCode c = { 0 };
  for (int i = 0; i < GK_ENROLL_TOKEN_LEN; i++)
    c.token[i] = (guint8) (i * 7 + 1);
  for (int i = 0; i < 32; i++)
    c.ca_fingerprint[i] = (guint8) (255 - i);
  c.expires_at = 1795316645;
  c.port = 8444;
  g_strlcpy(c.host, "reception.example.com", sizeof c.host);
  return c;
}

static void
test_round_trip(void)
{
  GkEnrollCode c = sample(), back;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = gk_enroll_code_format(&c, &error);
  g_assert_no_error(error);
  g_assert_true(g_str_has_prefix(text, "GKE1:"));
  for (const char *p = text + 5; *p; p++)
    g_assert_nonnull(strchr(GK_BASE45_ALPHABET, *p));
  g_autofree char *typed = g_strdup_printf("  %s\r\n", text);
  g_assert_true(gk_enroll_code_parse(typed, 1795316000, &back, &error));
  g_assert_no_error(error);
  g_assert_cmpmem(back.token, 16, c.token, 16);
  g_assert_cmpmem(back.ca_fingerprint, 32, c.ca_fingerprint, 32);
  g_assert_cmpint(back.expires_at, ==, c.expires_at);
  g_assert_cmpuint(back.port, ==, 8444);
  g_assert_cmpstr(back.host, ==, "reception.example.com");
}

static void
test_expired(void)
{
  GkEnrollCode c = sample(), back;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = gk_enroll_code_format(&c, NULL);
  g_assert_false(gk_enroll_code_parse(text, c.expires_at, &back, &error));
  g_assert_error(error, GK_ENROLL_CODE_ERROR, GK_ENROLL_CODE_ERROR_EXPIRED);
}

/* Every single-character change is either refused or decodes to a different
 * token, fingerprint, host or port, which then fails at the server or at the
 * TLS pin: nothing silently turns into the same code. */
static void
test_tamper(void)
{
  GkEnrollCode c = sample();
  g_autofree char *text = gk_enroll_code_format(&c, NULL);
  gsize len = strlen(text);
  guint refused = 0, changed = 0;
  for (gsize i = 0; i < len; i++) {
    for (const char *a = GK_BASE45_ALPHABET; *a; a++) {
      if (*a == text[i])
        continue;
      g_autofree char *t = g_strdup(text);
      t[i] = *a;
      GkEnrollCode back;
      if (!gk_enroll_code_parse(t, 0, &back, NULL)) {
        refused++;
        continue;
      }
      changed++;
      g_assert_true(memcmp(back.token, c.token, 16) != 0 || memcmp(back.ca_fingerprint, c.ca_fingerprint, 32) != 0 ||
                    strcmp(back.host, c.host) != 0 || back.port != c.port || back.expires_at != c.expires_at);
    }
  }
  g_assert_cmpuint(refused, >, 0);
  g_test_message("tamper: %u refused, %u decoded to a different code", refused, changed);
}

static void
test_bad(void)
{
  static const char *const bad[] = { "", "GKE1:", "GK1:ABC", "GKE2:0000", "GKE1:!!!", "GKE1:0" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    GkEnrollCode back;
    g_autoptr(GError) error = NULL;
    g_assert_false(gk_enroll_code_parse(bad[i], 0, &back, &error));
    g_assert_error(error, GK_ENROLL_CODE_ERROR, GK_ENROLL_CODE_ERROR_MALFORMED);
  }
  GkEnrollCode c = sample();
  g_strlcpy(c.host, "bad host/", sizeof c.host);
  g_autoptr(GError) error = NULL;
  g_assert_null(gk_enroll_code_format(&c, &error));
  g_assert_error(error, GK_ENROLL_CODE_ERROR, GK_ENROLL_CODE_ERROR_MALFORMED);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/enroll-code/round-trip", test_round_trip);
  g_test_add_func("/shared/enroll-code/expired", test_expired);
  g_test_add_func("/shared/enroll-code/tamper", test_tamper);
  g_test_add_func("/shared/enroll-code/bad", test_bad);
  return g_test_run();
}
