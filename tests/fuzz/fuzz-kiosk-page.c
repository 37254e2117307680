/* Fuzz target for a pull page applied to the kiosk store (kiosk_store_apply_page),
 * the reception code hashes of ticket changes included: a refused page changes
 * nothing, and every stored code hash is 64 lowercase hex digits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-test-util.h"
#include "kiosk-store.h"

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
  dir = gk_test_make_tmpdir("fuzz-kiosk-page");
  store = kiosk_store_create(dir, NULL);
  g_assert(store != NULL);
  atexit(cleanup);
}

/* Row counts, the cursor and a digest of the code hashes; aborts on a bad hash. */
static char *
snapshot(void)
{
  static const char sql[] =
    "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM hosts), (SELECT count(*) FROM redemptions),"
    " (SELECT count(*) FROM signing_keys), (SELECT group_concat(code_hash) FROM tickets),"
    " (SELECT count(*) FROM tickets WHERE code_hash IS NOT NULL AND (length(code_hash) != 64"
    "   OR code_hash GLOB '*[^0-9a-f]*'))";
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(gk_store_db(kiosk_store_gk(store)), sql, -1, &st, NULL) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW)
    abort();
  if (sqlite3_column_int64(st, 5) != 0)
    abort();
  char *out = g_strdup_printf("%lld/%lld/%lld/%lld/%s/%lld", (long long) sqlite3_column_int64(st, 0),
                              (long long) sqlite3_column_int64(st, 1), (long long) sqlite3_column_int64(st, 2),
                              (long long) sqlite3_column_int64(st, 3), (const char *) sqlite3_column_text(st, 4),
                              (long long) kiosk_store_get_meta_int(store, "cursor", 0));
  sqlite3_finalize(st);
  return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  setup();
  JsonNode *root = gk_json_parse_object((const char *) data, size, 1 << 20, NULL);
  if (root == NULL)
    return 0;
  JsonObject *o = json_node_get_object(root);
  JsonNode *changes = json_object_get_member(o, "changes");
  if (changes != NULL && JSON_NODE_HOLDS_ARRAY(changes)) {
    g_autofree char *before = snapshot();
    gboolean ok = kiosk_store_apply_page(store, json_node_get_array(changes), 1, NULL, NULL);
    g_autofree char *after = snapshot();
    if (!ok && strcmp(before, after) != 0)
      abort(); /* a refused page left something behind */
  }
  json_node_unref(root);
  return 0;
}
