/* Reception codes, visit ids and visitor text rules, shared by the kiosk (which
 * checks codes offline and makes visit ids) and the server (which issues codes
 * and stores visits). */
#include "gk-visit.h"

#include <sodium.h>
#include <string.h>

#include "gk-json.h"

static void
ensure_sodium(void)
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    /* Codes and ids without randomness would be guessable: stop instead. */
    if (sodium_init() < 0)
      g_error("libsodium failed to initialise");
    g_once_init_leave(&done, 1);
  }
}

gboolean
gk_reception_code_ok(const char *code)
{
  if (code == NULL || strlen(code) != GK_RECEPTION_CODE_DIGITS)
    return FALSE;
  for (const char *p = code; *p; p++)
    if (!g_ascii_isdigit(*p))
      return FALSE;
  return TRUE;
}

char *
gk_reception_code_new(void)
{
  ensure_sodium();
  G_STATIC_ASSERT(GK_RECEPTION_CODE_DIGITS == 8);
  /* Uniform over all 10^8 codes: randombytes_uniform avoids modulo bias. */
  return g_strdup_printf("%08u", (unsigned) randombytes_uniform(100000000u));
}

void
gk_reception_code_hash(gint64 site_id, const char *code, guint8 out[32])
{
  g_autofree char *input = g_strdup_printf("GKRC1:%" G_GINT64_FORMAT ":%s", site_id, code);
  crypto_hash_sha256(out, (const guint8 *) input, strlen(input));
  sodium_memzero(input, strlen(input));
}

char *
gk_reception_code_hash_hex(gint64 site_id, const char *code)
{
  guint8 hash[32];
  gk_reception_code_hash(site_id, code, hash);
  return gk_hex_encode(hash, sizeof hash);
}

gboolean
gk_visit_id_ok(const char *id)
{
  if (id == NULL || strlen(id) != GK_VISIT_ID_LEN || !g_str_has_prefix(id, GK_VISIT_ID_PREFIX))
    return FALSE;
  for (const char *p = id + strlen(GK_VISIT_ID_PREFIX); *p; p++)
    if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

char *
gk_visit_id_new(void)
{
  ensure_sodium();
  guint8 r[16];
  randombytes_buf(r, sizeof r);
  g_autofree char *hex = gk_hex_encode(r, sizeof r);
  return g_strconcat(GK_VISIT_ID_PREFIX, hex, NULL);
}

char *
gk_visit_id_for_event(const char *event_id)
{
  g_autofree char *input = g_strconcat("GKV1:", event_id, NULL);
  guint8 hash[32];
  crypto_hash_sha256(hash, (const guint8 *) input, strlen(input));
  g_autofree char *hex = gk_hex_encode(hash, 16);
  return g_strconcat(GK_VISIT_ID_PREFIX, hex, NULL);
}

/* Characters that draw nothing or reorder what follows: C0/C1 controls, the
 * bidi embeddings, overrides and isolates, zero-width and other format marks. */
static gboolean
invisible(gunichar c)
{
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
    return TRUE;
  if ((c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
      c == 0xfeff || c == 0x061c)
    return TRUE;
  GUnicodeType t = g_unichar_type(c);
  return t == G_UNICODE_FORMAT || t == G_UNICODE_UNASSIGNED || t == G_UNICODE_SURROGATE ||
         t == G_UNICODE_PRIVATE_USE || t == G_UNICODE_LINE_SEPARATOR || t == G_UNICODE_PARAGRAPH_SEPARATOR;
}

gboolean
gk_visit_text_ok(const char *text, gsize max_bytes, const char **why)
{
  const char *dummy;
  if (why == NULL)
    why = &dummy;
  if (text == NULL || text[0] == '\0') {
    *why = "is empty";
    return FALSE;
  }
  gsize len = strlen(text);
  if (len > max_bytes) {
    *why = "is too long";
    return FALSE;
  }
  if (!g_utf8_validate(text, (gssize) len, NULL)) {
    *why = "is not valid UTF-8";
    return FALSE;
  }
  gboolean visible = FALSE;
  for (const char *p = text; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (invisible(c)) {
      *why = "contains a control or invisible character";
      return FALSE;
    }
    if (!g_unichar_isspace(c))
      visible = TRUE;
  }
  if (!visible) {
    *why = "is only white space";
    return FALSE;
  }
  return TRUE;
}
