/* Fuzz target for the kiosk's offline verdict path (scanned text -> verdict):
 * whatever the input, nothing may be accepted, since accepting needs a genuine
 * signature by the store's key (seed 00 01 .. 1f, key id 1) for site 7 inside
 * its window, and the corpus holds none (wrong site, expired, forged...). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-test-util.h"
#include "kiosk-store.h"
#include "kiosk-verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW G_GINT64_CONSTANT(1800000000)

static char *dir;
static KioskStore *store;
static KioskGate *gate;

static void
cleanup(void)
{
  kiosk_gate_free(gate);
  kiosk_store_close(store);
  gk_test_rmtree(dir);
  g_free(dir);
}

static void
setup(void)
{
  if (gate != NULL)
    return;
  gk_log_set_level(GK_LOG_ERROR);
  dir = gk_test_make_tmpdir("fuzz-kiosk");
  store = kiosk_store_create(dir, NULL);
  g_assert(store != NULL);
  KioskIdentity id = { .device_id = (char *) "dev-fuzz", .name = (char *) "Fuzz Gate", .mode = (char *) "gate",
                       .site_id = 7, .host = (char *) "localhost", .admin_port = 1, .device_port = 2,
                       .ca_pem = (char *) "-", .cert_pem = (char *) "-", .key_pem = (char *) "-" };
  g_assert(kiosk_store_save_identity(store, &id, NULL));
  guint8 seed[32], pk[32];
  for (guint i = 0; i < 32; i++)
    seed[i] = (guint8) i;
  GkSigningKey *key = gk_signing_key_new_from_seed(1, seed);
  gk_signing_key_public(key, pk);
  gk_signing_key_free(key);
  g_autofree char *hex = gk_hex_encode(pk, 32);
  g_autofree char *page = g_strdup_printf("{\"changes\":[{\"seq\":1,\"type\":\"key\",\"data\":{\"key_id\":1,"
                                          "\"public_key\":\"%s\",\"retired\":false}}]}", hex);
  JsonNode *root = gk_json_parse_object(page, strlen(page), 4096, NULL);
  g_assert(kiosk_store_apply_page(store, json_object_get_array_member(json_node_get_object(root), "changes"), 1,
                                  NULL, NULL));
  json_node_unref(root);
  gate = kiosk_gate_new(store, NULL, NULL);
  g_assert(gate != NULL);
  atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  setup();
  /* As the headless reader does: one trailing line end goes, the rest stays. */
  size_t len = kiosk_scan_line_strip((const char *) data, size);
  KioskVerdict v;
  GError *error = NULL;
  gboolean ok = kiosk_gate_scan(gate, (const char *) data, len, FUZZ_NOW, &v, &error);
  if (!ok || v.accepted)
    abort(); /* a store failure, or a forged ticket accepted */
  g_autofree char *json = kiosk_verdict_to_json(&v);
  if (json == NULL || strstr(json, "\"verdict\":\"rejected\"") == NULL)
    abort();
  kiosk_verdict_clear(&v);
  return 0;
}
