/* Fuzz target for a pull answer's "device" object (name, mode, remote settings
 * and their version): whatever the input, a setting the kiosk stored passes its
 * rules, and a refused answer changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-test-util.h"
#include "kiosk-settings.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dir;
static KioskStore *store;

static void
cleanup(void)
{
  kiosk_store_close(store);
  gk_test_rmtree(dir);
  g_free(dir);
}

static void
setup(void)
{
  if (store != NULL)
    return;
  gk_log_set_level(GK_LOG_ERROR);
  dir = gk_test_make_tmpdir("fuzz-kiosk-device");
  store = kiosk_store_create(dir, NULL);
  g_assert(store != NULL);
  atexit(cleanup);
}

/* Every stored setting, as "key=value\n" lines in table order; aborts on one
 * that breaks its rules. */
static char *
snapshot(void)
{
  GString *out = g_string_new(NULL);
  gsize n = 0;
  const KioskSetting *table = kiosk_settings_table(&n);
  for (gsize i = 0; i < n; i++) {
    g_autofree char *v = kiosk_store_get_setting(store, table[i].key);
    if (v == NULL)
      continue;
    if (!kiosk_settings_validate(table[i].key, v, NULL))
      abort();
    g_string_append_printf(out, "%s=%s\n", table[i].key, v);
  }
  g_autofree char *version = kiosk_store_get_meta(store, "config_version");
  g_autofree char *mode = kiosk_store_get_meta(store, "mode");
  g_string_append_printf(out, "version=%s mode=%s\n", version ? version : "-", mode ? mode : "-");
  return g_string_free(out, FALSE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  setup();
  JsonNode *root = gk_json_parse_object((const char *) data, size, 1 << 20, NULL);
  if (root == NULL)
    return 0;
  g_autofree char *before = snapshot();
  gboolean ok = kiosk_sync_apply_device(store, json_node_get_object(root), NULL);
  g_autofree char *after = snapshot();
  if (!ok && strcmp(before, after) != 0)
    abort(); /* a refused answer left something behind */
  json_node_unref(root);
  return 0;
}
