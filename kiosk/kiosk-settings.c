/* Remote device settings: the table of keys, defaults and value rules from
 * docs/protocol.md, and the getters that fall back to the defaults. */
#include "kiosk-settings.h"

#include <string.h>

#include "gk-logo.h"

G_DEFINE_QUARK(kiosk-settings-error-quark, kiosk_settings_error)

static gboolean
valid_choice(const KioskSetting *s, const char *v)
{
  for (const char *const *c = s->choices; *c != NULL; c++)
    if (strcmp(*c, v) == 0)
      return TRUE;
  return FALSE;
}

/* Decimal in min..max, parsed exactly as the server does (a leading '+' and
 * leading zeros pass there, so they must pass here: the device may not refuse
 * what the server stored). */
static gboolean
valid_int(const KioskSetting *s, const char *v)
{
  gint64 n;
  return g_ascii_string_to_signed(v, 10, s->min, s->max, &n, NULL);
}

static gboolean
text_ok(const KioskSetting *s, const char *v, gboolean multiline)
{
  gsize n = strlen(v);
  if (n == 0 || (gint64) n > s->max || !g_utf8_validate(v, (gssize) n, NULL))
    return FALSE;
  for (const unsigned char *p = (const unsigned char *) v; *p != '\0'; p++) {
    if (multiline && *p == '\n')
      continue;
    if (*p < 0x20 || *p == 0x7f)
      return FALSE;
  }
  return TRUE;
}

static gboolean
valid_line(const KioskSetting *s, const char *v)
{
  return text_ok(s, v, FALSE);
}

static gboolean
valid_multiline(const KioskSetting *s, const char *v)
{
  return text_ok(s, v, TRUE);
}

/* A comma list of the choices, e.g. "name,host"; no empty items. */
static gboolean
valid_list(const KioskSetting *s, const char *v)
{
  if (*v == '\0')
    return FALSE;
  g_auto(GStrv) items = g_strsplit(v, ",", -1);
  for (guint i = 0; items[i] != NULL; i++)
    if (!valid_choice(s, items[i]))
      return FALSE;
  return TRUE;
}

/* A CUPS queue name: [A-Za-z0-9._-], 1..max bytes. */
static gboolean
valid_name(const KioskSetting *s, const char *v)
{
  gsize n = strlen(v);
  if (n == 0 || (gint64) n > s->max)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum(v[i]) && v[i] != '.' && v[i] != '_' && v[i] != '-')
      return FALSE;
  return TRUE;
}

/* CHIP:LINE, e.g. gpiochip0:17: a chip of 1..32 [A-Za-z0-9_-], a line 0..1023. */
static gboolean
valid_gpio(const KioskSetting *s, const char *v)
{
  const char *colon = strchr(v, ':');
  if (colon == NULL || colon == v || colon - v > 32)
    return FALSE;
  for (const char *p = v; p < colon; p++)
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
      return FALSE;
  gint64 line;
  return g_ascii_string_to_signed(colon + 1, 10, s->min, s->max, &line, NULL);
}

/* The server sends only an Argon2id hash in PHC form, never the PIN. */
static gboolean
valid_pin_hash(const KioskSetting *s, const char *v)
{
  gsize n = strlen(v);
  if (!g_str_has_prefix(v, "$argon2id$") || (gint64) n > s->max)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (v[i] <= 0x20 || v[i] >= 0x7f)
      return FALSE;
  return TRUE;
}

static gboolean
valid_logo(const KioskSetting *s, const char *v)
{
  g_autoptr(GBytes) png = gk_logo_decode(v, NULL, NULL, NULL);
  return png != NULL;
}

static const char *const modes[] = { "reception", "gate", NULL };
static const char *const languages[] = { "ja", "en", NULL };
static const char *const walkin_fields[] = { "name", "company", "purpose", "host", NULL };
static const char *const booleans[] = { "true", "false", NULL };
static const char *const door_outputs[] = { "none", "command", "gpio", NULL };

/* docs/protocol.md, "Device settings (set remotely)". admin-pin is not here:
 * the server turns it into admin-pin-hash and never sends the PIN itself. */
static const KioskSetting settings[] = {
  { "mode", NULL, valid_choice, 0, 0, modes }, /* default: as enrolled (meta "mode") */
  { "language", "ja", valid_choice, 0, 0, languages },
  { "site-text", NULL, valid_line, 0, 200, NULL },
  { "terms-text", NULL, valid_multiline, 0, 20000, NULL },
  { "walkin-required", "name,host", valid_list, 0, 0, walkin_fields },
  { "photo", "false", valid_choice, 0, 0, booleans },
  /* false: the walk-in host list shows only matches of what was typed. */
  { "host-browse", "false", valid_choice, 0, 0, booleans },
  { "idle-timeout-s", "60", valid_int, 10, 600, NULL },
  { "retention-hours", "24", valid_int, 1, 8760, NULL },
  { "admin-pin-hash", NULL, valid_pin_hash, 0, 512, NULL },
  { "printer", NULL, valid_name, 0, 100, NULL },
  { "door-output", "none", valid_choice, 0, 0, door_outputs },
  { "door-command", NULL, valid_line, 0, 500, NULL },
  { "door-gpio", NULL, valid_gpio, 0, 1023, NULL }, /* min..max: the line */
  { "door-pulse-ms", "1000", valid_int, 50, 10000, NULL },
  { "logo", NULL, valid_logo, 0, 0, NULL }, /* base64 PNG, gk-logo.h */
};

const KioskSetting *
kiosk_settings_table(gsize *n_settings)
{
  *n_settings = G_N_ELEMENTS(settings);
  return settings;
}

const KioskSetting *
kiosk_settings_find(const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS(settings); i++)
    if (strcmp(settings[i].key, key) == 0)
      return &settings[i];
  return NULL;
}

gboolean
kiosk_settings_validate(const char *key, const char *value, GError **error)
{
  g_return_val_if_fail(key != NULL && value != NULL, FALSE);
  const KioskSetting *s = kiosk_settings_find(key);
  if (s == NULL) {
    g_set_error(error, KIOSK_SETTINGS_ERROR, KIOSK_SETTINGS_ERROR_UNKNOWN_KEY, "unknown setting '%s'", key);
    return FALSE;
  }
  if (!s->valid(s, value)) {
    /* The value may be a secret (the PIN hash): only the key is named. */
    g_set_error(error, KIOSK_SETTINGS_ERROR, KIOSK_SETTINGS_ERROR_BAD_VALUE, "setting '%s' has a bad value", key);
    return FALSE;
  }
  return TRUE;
}

char *
kiosk_settings_get(KioskStore *store, const char *key)
{
  g_return_val_if_fail(store != NULL && key != NULL, NULL);
  char *v = kiosk_store_get_setting(store, key);
  if (v != NULL)
    return v;
  if (strcmp(key, "mode") == 0)
    return kiosk_store_get_meta(store, "mode");
  const KioskSetting *s = kiosk_settings_find(key);
  return s != NULL ? g_strdup(s->fallback) : NULL;
}

gint64
kiosk_settings_get_int(KioskStore *store, const char *key)
{
  g_autofree char *v = kiosk_settings_get(store, key);
  const KioskSetting *s = kiosk_settings_find(key);
  /* A stored value passed the rules when it came in; checked again anyway, so
   * a store edited by hand cannot make the kiosk run outside the range. */
  gint64 n = 0;
  if (s == NULL || s->valid != valid_int)
    return 0;
  if (v != NULL && g_ascii_string_to_signed(v, 10, s->min, s->max, &n, NULL))
    return n;
  if (s->fallback != NULL && g_ascii_string_to_signed(s->fallback, 10, s->min, s->max, &n, NULL))
    return n;
  return 0;
}

gboolean
kiosk_settings_get_bool(KioskStore *store, const char *key)
{
  g_autofree char *v = kiosk_settings_get(store, key);
  return g_strcmp0(v, "true") == 0;
}
