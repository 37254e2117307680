/* RFC 6238 TOTP with HMAC-SHA-1 (mbedTLS), base32 secrets, otpauth URIs and
 * recovery codes for the admin accounts' second factor. */
#include "srv-totp.h"

#include <mbedtls/md.h>
#include <sodium.h>
#include <string.h>

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/* Crockford's base32 for recovery codes: no i, l, o, u to misread. */
static const char recovery_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

guint32
srv_totp_hotp(const guint8 *key, gsize key_len, guint64 counter, guint digits)
{
  g_return_val_if_fail(key != NULL && digits >= 6 && digits <= 8, 0);
  guint8 msg[8], mac[20];
  for (int i = 7; i >= 0; i--) {
    msg[i] = (guint8) (counter & 0xff);
    counter >>= 8;
  }
  const mbedtls_md_info_t *sha1 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
  if (sha1 == NULL || mbedtls_md_hmac(sha1, key, key_len, msg, sizeof msg, mac) != 0)
    g_error("HMAC-SHA-1 is not available in this mbedTLS");
  /* RFC 4226 5.3: dynamic truncation. */
  guint offset = mac[19] & 0x0f;
  guint32 bin = ((guint32) (mac[offset] & 0x7f) << 24) | ((guint32) mac[offset + 1] << 16) |
                ((guint32) mac[offset + 2] << 8) | mac[offset + 3];
  guint32 mod = 1;
  for (guint i = 0; i < digits; i++)
    mod *= 10;
  sodium_memzero(mac, sizeof mac);
  return bin % mod;
}

gint64
srv_totp_step(gint64 now)
{
  return now >= 0 ? now / SRV_TOTP_PERIOD : -1;
}

gboolean
srv_totp_verify(const guint8 *secret, gsize secret_len, gint64 now, const char *code, gint64 last_step,
                gint64 *out_step)
{
  g_return_val_if_fail(secret != NULL && out_step != NULL, FALSE);
  if (code == NULL || strlen(code) != SRV_TOTP_DIGITS)
    return FALSE;
  guint32 typed = 0;
  for (const char *p = code; *p; p++) {
    if (!g_ascii_isdigit(*p))
      return FALSE;
    typed = typed * 10 + (guint32) (*p - '0');
  }
  gint64 step = srv_totp_step(now);
  gint64 matched = -1;
  /* Every candidate is computed and compared, so the time taken does not say
   * which one matched. */
  for (gint64 s = step - SRV_TOTP_WINDOW; s <= step + SRV_TOTP_WINDOW; s++) {
    if (s < 0)
      continue;
    guint32 want = srv_totp_hotp(secret, secret_len, (guint64) s, SRV_TOTP_DIGITS);
    gboolean fresh = s > last_step;
    if (sodium_memcmp(&want, &typed, sizeof want) == 0 && fresh && matched < 0)
      matched = s;
  }
  if (matched < 0)
    return FALSE;
  *out_step = matched;
  return TRUE;
}

char *
srv_base32_encode(const guint8 *data, gsize len)
{
  GString *out = g_string_sized_new((len * 8 + 4) / 5 + 1);
  guint32 buffer = 0;
  guint bits = 0;
  for (gsize i = 0; i < len; i++) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      g_string_append_c(out, base32_alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0)
    g_string_append_c(out, base32_alphabet[(buffer << (5 - bits)) & 31]);
  return g_string_free(out, FALSE);
}

gboolean
srv_base32_decode(const char *text, guint8 *out, gsize max, gsize *out_len)
{
  g_return_val_if_fail(text != NULL && out != NULL && out_len != NULL, FALSE);
  guint32 buffer = 0;
  guint bits = 0;
  gsize n = 0;
  for (const char *p = text; *p; p++) {
    if (*p == ' ')
      continue;
    const char *hit = strchr(base32_alphabet, g_ascii_toupper(*p));
    if (hit == NULL || *hit == '\0')
      return FALSE;
    buffer = (buffer << 5) | (guint32) (hit - base32_alphabet);
    bits += 5;
    if (bits >= 8) {
      if (n >= max)
        return FALSE;
      out[n++] = (guint8) (buffer >> (bits - 8));
      bits -= 8;
    }
  }
  /* Leftover bits must be padding zeros of the last character, fewer than 5. */
  if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0)
    return FALSE;
  *out_len = n;
  return TRUE;
}

static void
append_label(GString *out, const char *s)
{
  /* Unreserved characters stay; everything else (':' included) is escaped. */
  g_string_append_uri_escaped(out, s, NULL, FALSE);
}

char *
srv_totp_uri(const char *issuer, const char *account, const guint8 *secret, gsize secret_len)
{
  g_return_val_if_fail(issuer != NULL && account != NULL && secret != NULL, NULL);
  g_autofree char *b32 = srv_base32_encode(secret, secret_len);
  GString *uri = g_string_new("otpauth://totp/");
  append_label(uri, issuer);
  g_string_append_c(uri, ':');
  append_label(uri, account);
  g_string_append_printf(uri, "?secret=%s&issuer=", b32);
  append_label(uri, issuer);
  g_string_append_printf(uri, "&algorithm=SHA1&digits=%d&period=%d", SRV_TOTP_DIGITS, SRV_TOTP_PERIOD);
  sodium_memzero(b32, strlen(b32));
  return g_string_free(uri, FALSE);
}

char *
srv_totp_recovery_new(void)
{
  char *out = g_malloc0(SRV_TOTP_RECOVERY_LEN + 1);
  guint j = 0;
  for (guint i = 0; i < 16; i++) {
    if (i > 0 && i % 4 == 0)
      out[j++] = '-';
    out[j++] = recovery_alphabet[randombytes_uniform(32)];
  }
  return out;
}

gboolean
srv_totp_recovery_normalize(const char *text, char out[17])
{
  g_return_val_if_fail(out != NULL, FALSE);
  guint n = 0;
  if (text == NULL)
    return FALSE;
  for (const char *p = text; *p; p++) {
    char c = g_ascii_tolower(*p);
    if (c == '-' || c == ' ')
      continue;
    /* Crockford: the letters people type for the digits they saw. */
    if (c == 'o')
      c = '0';
    else if (c == 'i' || c == 'l')
      c = '1';
    if (strchr(recovery_alphabet, c) == NULL || c == '\0' || n >= 16)
      return FALSE;
    out[n++] = c;
  }
  out[n] = '\0';
  return n == 16;
}

void
srv_totp_recovery_hash(gint64 account_id, const char normalized[17], guint8 out[32])
{
  crypto_hash_sha256_state st;
  guint8 id[8];
  for (int i = 7; i >= 0; i--) {
    id[i] = (guint8) (account_id & 0xff);
    account_id >>= 8;
  }
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, id, sizeof id);
  crypto_hash_sha256_update(&st, (const guint8 *) normalized, 16);
  crypto_hash_sha256_final(&st, out);
}
