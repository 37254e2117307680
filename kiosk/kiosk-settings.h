/* Device settings an admin sets remotely (docs/protocol.md, "Device settings"):
 * one declarative table of keys, defaults and value rules, used to check what
 * the server sends and to read the values the kiosk runs with. */
#pragma once
#include <glib.h>

#include "kiosk-store.h"

G_BEGIN_DECLS

#define KIOSK_SETTINGS_ERROR kiosk_settings_error_quark()
GQuark kiosk_settings_error_quark(void);
typedef enum {
  KIOSK_SETTINGS_ERROR_UNKNOWN_KEY, /* a key this kiosk does not know (a newer server's) */
  KIOSK_SETTINGS_ERROR_BAD_VALUE,   /* a known key with a value outside its rules */
} KioskSettingsError;

typedef struct _KioskSetting KioskSetting;
struct _KioskSetting {
  const char *key;
  const char *fallback;                 /* the device default; NULL: none */
  gboolean (*valid)(const KioskSetting *setting, const char *value);
  gint64 min, max;                      /* integers: range; texts: max length in bytes */
  const char *const *choices;           /* enums and comma lists */
};

/* Every key the device accepts in a pull's device.config, in table order. */
const KioskSetting *kiosk_settings_table(gsize *n_settings);
/* NULL for a key the table does not hold. */
const KioskSetting *kiosk_settings_find(const char *key);

/* UNKNOWN_KEY for a key outside the table, BAD_VALUE when the value breaks the
 * key's rules (the message names the key, never the value). */
gboolean kiosk_settings_validate(const char *key, const char *value, GError **error);

/* The value the kiosk runs with: the remotely set one, else the default
 * (NULL when there is none). g_free. */
char *kiosk_settings_get(KioskStore *store, const char *key);
/* For integer keys: the set value, else the default (0 when the key has none). */
gint64 kiosk_settings_get_int(KioskStore *store, const char *key);
/* For true/false keys. */
gboolean kiosk_settings_get_bool(KioskStore *store, const char *key);

G_END_DECLS
