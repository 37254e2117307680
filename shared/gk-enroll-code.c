/* Enrollment code text: a versioned binary record in base45 behind "GKE1:". */
#include "gk-enroll-code.h"

#include <string.h>

#include "gk-base45.h"

G_DEFINE_QUARK(gk-enroll-code-error-quark, gk_enroll_code_error)

/* version(1) token(16) ca_fingerprint(32) expires_at(u32 BE) port(u16 BE) host_len(1) host */
#define FIXED_LEN (1 + GK_ENROLL_TOKEN_LEN + 32 + 4 + 2 + 1)
#define VERSION 1

static gboolean
host_ok(const char *host, gsize len)
{
  if (len == 0 || len > GK_ENROLL_MAX_HOST_LEN)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum(host[i]) && host[i] != '.' && host[i] != '-' && host[i] != ':')
      return FALSE;
  return TRUE;
}

char *
gk_enroll_code_format(const GkEnrollCode *code, GError **error)
{
  g_return_val_if_fail(code != NULL, NULL);
  gsize host_len = strnlen(code->host, sizeof code->host);
  if (!host_ok(code->host, host_len) || code->port == 0 || code->expires_at < 0 ||
      code->expires_at > G_MAXUINT32) {
    g_set_error(error, GK_ENROLL_CODE_ERROR, GK_ENROLL_CODE_ERROR_MALFORMED,
                "cannot make an enrollment code for server \"%s\" port %u", code->host, code->port);
    return NULL;
  }
  guint8 buf[FIXED_LEN + GK_ENROLL_MAX_HOST_LEN];
  gsize n = 0;
  buf[n++] = VERSION;
  memcpy(buf + n, code->token, GK_ENROLL_TOKEN_LEN);
  n += GK_ENROLL_TOKEN_LEN;
  memcpy(buf + n, code->ca_fingerprint, 32);
  n += 32;
  guint32 exp = (guint32) code->expires_at;
  buf[n++] = (guint8) (exp >> 24);
  buf[n++] = (guint8) (exp >> 16);
  buf[n++] = (guint8) (exp >> 8);
  buf[n++] = (guint8) exp;
  buf[n++] = (guint8) (code->port >> 8);
  buf[n++] = (guint8) code->port;
  buf[n++] = (guint8) host_len;
  memcpy(buf + n, code->host, host_len);
  n += host_len;
  g_autofree char *b45 = gk_base45_encode(buf, n);
  return g_strconcat(GK_ENROLL_CODE_PREFIX, b45, NULL);
}

static gboolean
malformed(GError **error, const char *why)
{
  g_set_error(error, GK_ENROLL_CODE_ERROR, GK_ENROLL_CODE_ERROR_MALFORMED, "not a valid enrollment code: %s", why);
  return FALSE;
}

gboolean
gk_enroll_code_parse(const char *text, gint64 now, GkEnrollCode *out, GError **error)
{
  g_return_val_if_fail(out != NULL, FALSE);
  if (text == NULL)
    return malformed(error, "empty");
  gsize len = strnlen(text, 1024);
  while (len > 0 && g_ascii_isspace(text[len - 1]))
    len--;
  while (len > 0 && g_ascii_isspace(*text)) {
    text++;
    len--;
  }
  gsize prefix = strlen(GK_ENROLL_CODE_PREFIX);
  if (len <= prefix || strncmp(text, GK_ENROLL_CODE_PREFIX, prefix) != 0)
    return malformed(error, "it must start with " GK_ENROLL_CODE_PREFIX);

  guint8 buf[FIXED_LEN + GK_ENROLL_MAX_HOST_LEN];
  gsize n = 0;
  g_autoptr(GError) local = NULL;
  if (!gk_base45_decode(text + prefix, len - prefix, buf, sizeof buf, &n, &local))
    return malformed(error, local->message);
  if (n < FIXED_LEN + 1 || buf[0] != VERSION)
    return malformed(error, n >= 1 && buf[0] != VERSION ? "unknown version" : "too short");
  gsize host_len = buf[FIXED_LEN - 1];
  if (FIXED_LEN + host_len != n)
    return malformed(error, "wrong length");
  const char *host = (const char *) buf + FIXED_LEN;
  if (!host_ok(host, host_len))
    return malformed(error, "bad server name");

  GkEnrollCode code = { 0 };
  gsize off = 1;
  memcpy(code.token, buf + off, GK_ENROLL_TOKEN_LEN);
  off += GK_ENROLL_TOKEN_LEN;
  memcpy(code.ca_fingerprint, buf + off, 32);
  off += 32;
  code.expires_at = (gint64) ((guint32) buf[off] << 24 | (guint32) buf[off + 1] << 16 |
                              (guint32) buf[off + 2] << 8 | buf[off + 3]);
  off += 4;
  code.port = (guint16) (buf[off] << 8 | buf[off + 1]);
  if (code.port == 0)
    return malformed(error, "bad port");
  memcpy(code.host, host, host_len);
  code.host[host_len] = '\0';
  if (now > 0 && code.expires_at <= now) {
    g_set_error(error, GK_ENROLL_CODE_ERROR, GK_ENROLL_CODE_ERROR_EXPIRED,
                "this enrollment code has expired; ask an administrator for a new one");
    return FALSE;
  }
  *out = code;
  return TRUE;
}
