/* Remote device settings: what each key accepts. The device checks the same
 * rules again when it applies them (kiosk/kiosk-settings.c). */
#include "srv-device-settings.h"

#include <string.h>

#include "gk-logo.h"
#include "gk-password.h"
#include "srv-store.h"

typedef enum {
  KIND_CHOICE, /* one of choices */
  KIND_TEXT,   /* 1..max bytes, no control characters (newlines where allowed) */
  KIND_INT,    /* decimal in min..max */
  KIND_LIST,   /* comma list of choices */
  KIND_PIN,    /* digits, min..max long; stored hashed */
  KIND_NAME,   /* [A-Za-z0-9._-], 1..max */
  KIND_GPIO,   /* CHIP:LINE */
  KIND_LOGO,   /* base64 PNG (gk-logo.h) */
} Kind;

typedef struct {
  const char *key;
  Kind kind;
  gint64 min, max;
  const char *const *choices;
  gboolean newlines;
} Setting;

static const char *const modes[] = { "reception", "gate", NULL };
static const char *const languages[] = { "ja", "en", NULL };
static const char *const booleans[] = { "true", "false", NULL };
static const char *const walkin_fields[] = { "name", "company", "purpose", "host", NULL };
static const char *const door_outputs[] = { "none", "command", "gpio", NULL };

static const Setting table[] = {
  { "mode", KIND_CHOICE, 0, 0, modes, FALSE },
  { "language", KIND_CHOICE, 0, 0, languages, FALSE },
  { "site-text", KIND_TEXT, 1, 200, NULL, FALSE },
  { "terms-text", KIND_TEXT, 1, 20000, NULL, TRUE },
  { "walkin-required", KIND_LIST, 0, 0, walkin_fields, FALSE },
  { "photo", KIND_CHOICE, 0, 0, booleans, FALSE },
  { "host-browse", KIND_CHOICE, 0, 0, booleans, FALSE },
  { "idle-timeout-s", KIND_INT, 10, 600, NULL, FALSE },
  { "retention-hours", KIND_INT, 1, 8760, NULL, FALSE },
  { "admin-pin", KIND_PIN, 4, 12, NULL, FALSE },
  { "printer", KIND_NAME, 1, 100, NULL, FALSE },
  { "door-output", KIND_CHOICE, 0, 0, door_outputs, FALSE },
  { "door-command", KIND_TEXT, 1, 500, NULL, FALSE },
  { "door-gpio", KIND_GPIO, 0, 0, NULL, FALSE },
  { "door-pulse-ms", KIND_INT, 50, 10000, NULL, FALSE },
  { "logo", KIND_LOGO, 0, 0, NULL, FALSE },
};

static gboolean
value_ok(const Setting *s, const char *v)
{
  gsize len = strlen(v);
  switch (s->kind) {
  case KIND_CHOICE:
    return g_strv_contains(s->choices, v);
  case KIND_TEXT:
    if (len < (gsize) s->min || len > (gsize) s->max || !g_utf8_validate(v, -1, NULL))
      return FALSE;
    for (const char *p = v; *p; p++)
      if (((guchar) *p < 0x20 && !(s->newlines && *p == '\n')) || *p == 0x7f)
        return FALSE;
    return TRUE;
  case KIND_INT: {
    gint64 n;
    return g_ascii_string_to_signed(v, 10, s->min, s->max, &n, NULL);
  }
  case KIND_LIST: {
    g_auto(GStrv) parts = g_strsplit(v, ",", -1);
    if (parts[0] == NULL)
      return FALSE;
    for (guint i = 0; parts[i]; i++)
      if (!g_strv_contains(s->choices, parts[i]))
        return FALSE;
    return TRUE;
  }
  case KIND_PIN:
    if (len < (gsize) s->min || len > (gsize) s->max)
      return FALSE;
    for (const char *p = v; *p; p++)
      if (!g_ascii_isdigit(*p))
        return FALSE;
    return TRUE;
  case KIND_NAME:
    if (len < (gsize) s->min || len > (gsize) s->max)
      return FALSE;
    for (const char *p = v; *p; p++)
      if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
        return FALSE;
    return TRUE;
  case KIND_GPIO: {
    const char *colon = strchr(v, ':');
    gint64 line;
    if (colon == NULL || colon == v || colon - v > 32)
      return FALSE;
    for (const char *p = v; p < colon; p++)
      if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
        return FALSE;
    return g_ascii_string_to_signed(colon + 1, 10, 0, 1023, &line, NULL);
  }
  default:
    return FALSE;
  }
}

gboolean
srv_device_settings_prepare(GHashTable *settings, GPtrArray *out_keys, GPtrArray *out_values, GError **error)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, settings);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    const Setting *s = NULL;
    for (guint i = 0; i < G_N_ELEMENTS(table) && s == NULL; i++)
      if (strcmp(k, table[i].key) == 0)
        s = &table[i];
    if (s == NULL) {
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID, "unknown device setting \"%.40s\"", (char *) k);
      return FALSE;
    }
    const char *value = v;
    g_autoptr(GError) logo_error = NULL;
    if (s->kind == KIND_LOGO && *value != '\0') {
      g_autoptr(GBytes) png = gk_logo_decode(value, NULL, NULL, &logo_error);
      if (png == NULL) {
        g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID, "device setting logo: %s", logo_error->message);
        return FALSE;
      }
    } else if (*value != '\0' && !value_ok(s, value)) {
      /* The PIN itself never goes into a message. */
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID, "device setting %s: %s", s->key,
                  s->kind == KIND_PIN ? "must be 4 to 12 digits" : "value not allowed (see docs/protocol.md)");
      return FALSE;
    }
  }
  g_hash_table_iter_init(&it, settings);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    const char *value = v;
    if (strcmp(k, "admin-pin") == 0) {
      char *hash = *value != '\0' ? gk_password_hash(value, error) : g_strdup("");
      if (hash == NULL)
        return FALSE;
      g_ptr_array_add(out_keys, g_strdup("admin-pin-hash"));
      g_ptr_array_add(out_values, hash);
    } else {
      g_ptr_array_add(out_keys, g_strdup(k));
      g_ptr_array_add(out_values, g_strdup(value));
    }
  }
  return TRUE;
}
