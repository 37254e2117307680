/* kiosk-store: migrations, identity, idempotent change pages, a bad page
 * refused whole, the durable event queue, purge and wipe. */
#include <string.h>
#include <sys/stat.h>

#include "gk-json.h"
#include "gk-test-util.h"
#include "kiosk-store.h"
#include "kiosk-visit.h"

static JsonArray *
parse_changes(const char *json)
{
  g_autoptr(GError) error = NULL;
  JsonNode *root = gk_json_parse_object(json, strlen(json), 1 << 20, &error);
  g_assert_no_error(error);
  JsonArray *a = json_array_ref(json_object_get_array_member(json_node_get_object(root), "changes"));
  json_node_unref(root);
  return a;
}

static gint64
count(KioskStore *s, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(kiosk_store_gk(s)), sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  gint64 n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

#define PAGE                                                                                                  \
  "{\"changes\":["                                                                                            \
  "{\"seq\":1,\"type\":\"key\",\"data\":{\"key_id\":1,\"public_key\":"                                       \
  "\"03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\",\"retired\":false}},"                 \
  "{\"seq\":2,\"type\":\"host\",\"data\":{\"id\":5,\"name\":\"Host\",\"reading\":null,\"department\":\"R\"}}," \
  "{\"seq\":3,\"type\":\"ticket\",\"data\":{\"id\":\"00112233445566778899aabbccddeeff\",\"valid_from\":100,"   \
  "\"valid_until\":200,\"flags\":0,\"key_id\":1,\"revoked\":false,\"visitor\":\"Ada\",\"host_id\":5}},"       \
  "{\"seq\":4,\"type\":\"redemption\",\"data\":{\"ticket_id\":\"00112233445566778899aabbccddeeff\","          \
  "\"at\":150,\"device_id\":\"dev-1\",\"device_name\":\"Gate 1\"}}"                                           \
  "]}"

static void
test_store_pages(void)
{
  g_autofree char *tmp = gk_test_make_tmpdir("kiosk-store");
  g_autofree char *dir = g_build_filename(tmp, "data", NULL);
  g_autoptr(GError) error = NULL;
  KioskStore *s = kiosk_store_create(dir, &error);
  g_assert_no_error(error);
  struct stat st;
  g_assert_cmpint(stat(dir, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0700);
  /* Not enrolled yet: no identity. */
  KioskIdentity id;
  g_assert_false(kiosk_store_load_identity(s, &id, &error));
  g_assert_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_NOT_ENROLLED);
  g_clear_error(&error);

  JsonArray *page = parse_changes(PAGE);
  for (int round = 0; round < 2; round++) {
    guint n = 0;
    g_assert_true(kiosk_store_apply_page(s, page, 4, &n, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(n, ==, 4);
    g_assert_cmpint(count(s, "SELECT count(*) FROM tickets"), ==, 1);
    g_assert_cmpint(count(s, "SELECT count(*) FROM hosts"), ==, 1);
    g_assert_cmpint(count(s, "SELECT count(*) FROM redemptions"), ==, 1);
    g_assert_cmpint(count(s, "SELECT count(*) FROM signing_keys"), ==, 1);
  }
  json_array_unref(page);
  g_assert_cmpint(kiosk_store_get_meta_int(s, "cursor", 0), ==, 4);
  g_autoptr(GkKeyring) ring = kiosk_store_load_keyring(s, &error);
  g_assert_cmpuint(gk_keyring_size(ring), ==, 1);
  KioskRedemption r;
  g_assert_true(kiosk_store_get_redemption(s, "00112233445566778899aabbccddeeff", &r, &error));
  g_assert_true(r.found);
  g_assert_false(r.pending);
  g_assert_cmpint(r.at, ==, 150);
  g_assert_cmpstr(r.device_name, ==, "Gate 1");
  kiosk_redemption_clear(&r);

  /* A page with one bad change is refused whole: nothing applied, cursor kept. */
  static const char *const bad[] = {
    "{\"changes\":[{\"seq\":5,\"type\":\"host\",\"data\":{\"id\":6,\"name\":\"X\"}},"
    "{\"seq\":6,\"type\":\"ticket\",\"data\":{\"id\":\"zz\"}}]}",
    "{\"changes\":[{\"seq\":5,\"type\":\"host\",\"data\":{\"id\":6,\"name\":\"X\"}},"
    "{\"seq\":6,\"type\":\"gadget\",\"data\":{}}]}",
    "{\"changes\":[{\"seq\":5,\"type\":\"host\",\"data\":{\"id\":6,\"name\":\"X\"}},"
    "{\"seq\":6,\"type\":\"key\",\"data\":{\"key_id\":2,\"public_key\":\"xyz\",\"retired\":false}}]}",
    "{\"changes\":[{\"seq\":5,\"type\":\"host\",\"data\":{\"id\":6,\"name\":\"X\"}},7]}",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    JsonArray *b = parse_changes(bad[i]);
    g_assert_false(kiosk_store_apply_page(s, b, 6, NULL, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
    json_array_unref(b);
    g_assert_cmpint(count(s, "SELECT count(*) FROM hosts"), ==, 1);
    g_assert_cmpint(kiosk_store_get_meta_int(s, "cursor", 0), ==, 4);
  }

  /* Purge: the ticket (valid until 200) is long over. */
  g_assert_true(kiosk_store_purge(s, 200 + 86400 + 1, &error));
  g_assert_cmpint(count(s, "SELECT count(*) FROM redemptions"), ==, 0);
  g_assert_cmpint(count(s, "SELECT count(*) FROM tickets WHERE visitor IS NOT NULL"), ==, 0);
  kiosk_store_close(s);

  /* Reopen (migrations already applied), then wipe leaves no store file. */
  s = kiosk_store_open(dir, &error);
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_store_get_meta_int(s, "cursor", 0), ==, 4);
  kiosk_store_close(s);
  g_assert_true(kiosk_store_wipe(dir, &error));
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  g_assert_null(g_dir_read_name(d));
  g_assert_null(kiosk_store_open(dir, &error));
  g_assert_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_NOT_ENROLLED);
  gk_test_rmtree(tmp);
}

/* A host the server removed is deleted from the directory (walk-ins search it),
 * idempotently; a "removed" that is not a boolean refuses the page. */
static void
test_store_host_removed(void)
{
  g_autofree char *tmp = gk_test_make_tmpdir("kiosk-host-removed");
  g_autoptr(GError) error = NULL;
  KioskStore *s = kiosk_store_create(tmp, &error);
  g_assert_no_error(error);
  JsonArray *page = parse_changes(PAGE);
  g_assert_true(kiosk_store_apply_page(s, page, 4, NULL, &error));
  g_assert_no_error(error);
  json_array_unref(page);
  g_autoptr(GPtrArray) found = kiosk_visit_search_hosts(s, "Host", 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(found->len, ==, 1);

  static const char bad[] = "{\"changes\":[{\"seq\":5,\"type\":\"host\",\"data\":{\"id\":5,\"removed\":\"yes\"}}]}";
  JsonArray *b = parse_changes(bad);
  g_assert_false(kiosk_store_apply_page(s, b, 5, NULL, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  json_array_unref(b);
  g_assert_cmpint(count(s, "SELECT count(*) FROM hosts"), ==, 1);

  static const char removed[] = "{\"changes\":[{\"seq\":5,\"type\":\"host\",\"data\":{\"id\":5,\"removed\":true}}]}";
  for (int round = 0; round < 2; round++) {
    JsonArray *r = parse_changes(removed);
    g_assert_true(kiosk_store_apply_page(s, r, 5, NULL, &error));
    g_assert_no_error(error);
    json_array_unref(r);
    g_assert_cmpint(count(s, "SELECT count(*) FROM hosts"), ==, 0);
  }
  g_autoptr(GPtrArray) none = kiosk_visit_search_hosts(s, "Host", 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(none->len, ==, 0);
  /* The ticket that named the host stays (its visitor may still come). */
  g_assert_cmpint(count(s, "SELECT count(*) FROM tickets WHERE host_id = 5"), ==, 1);
  kiosk_store_close(s);
  gk_test_rmtree(tmp);
}

static void
test_store_queue(void)
{
  g_autofree char *tmp = gk_test_make_tmpdir("kiosk-queue");
  g_autoptr(GError) error = NULL;
  KioskStore *s = kiosk_store_create(tmp, &error);
  g_assert_no_error(error);
  /* A store cannot be created twice. */
  g_assert_null(kiosk_store_create(tmp, &error));
  g_assert_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_ENROLLED);
  g_clear_error(&error);

  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  for (int i = 0; i < 1200; i++) {
    char *id = kiosk_event_new_id();
    g_assert_cmpuint(strlen(id), ==, 36);
    g_ptr_array_add(ids, id);
    g_autofree char *tid = g_strdup_printf("%032x", i);
    KioskEvent e = { .id = id, .kind = (char *) "checkin", .ticket_id = tid, .at = 1000 + i, .offline = TRUE };
    g_assert_true(kiosk_store_record_event(s, &e, FALSE, TRUE, "dev-1", "Gate", 5000, &error));
    g_assert_no_error(error);
  }
  /* The same id twice is refused: ids are unique. */
  KioskEvent dup = { .id = ids->pdata[0], .kind = (char *) "checkin", .at = 1 };
  g_assert_false(kiosk_store_record_event(s, &dup, FALSE, FALSE, NULL, NULL, 0, &error));
  g_clear_error(&error);
  kiosk_store_close(s);

  /* Durable: a new connection sees every event, in order, and the redemptions. */
  s = kiosk_store_open(tmp, &error);
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_store_queue_length(s), ==, 1200);
  g_autoptr(GPtrArray) batch = kiosk_store_pending_events(s, 500, &error);
  g_assert_cmpuint(batch->len, ==, 500);
  for (guint i = 0; i < batch->len; i++) {
    KioskEvent *e = batch->pdata[i];
    g_assert_cmpstr(e->id, ==, ids->pdata[i]);
    g_assert_cmpint(e->at, ==, 1000 + (gint64) i);
    g_assert_true(e->offline);
  }
  KioskRedemption r;
  g_assert_true(kiosk_store_get_redemption(s, "00000000000000000000000000000001", &r, &error));
  g_assert_true(r.found && r.pending);
  kiosk_redemption_clear(&r);
  g_autoptr(GPtrArray) sent = g_ptr_array_new();
  for (guint i = 0; i < batch->len; i++)
    g_ptr_array_add(sent, ((KioskEvent *) batch->pdata[i])->id);
  g_assert_true(kiosk_store_mark_sent(s, (const char *const *) sent->pdata, sent->len, &error));
  g_assert_cmpint(kiosk_store_queue_length(s), ==, 700);
  g_assert_true(kiosk_store_get_redemption(s, "00000000000000000000000000000001", &r, &error));
  g_assert_true(r.found);
  g_assert_false(r.pending);
  kiosk_redemption_clear(&r);
  /* Purge deletes sent rows only; the unsent stay. */
  g_assert_true(kiosk_store_purge(s, 10, &error));
  g_assert_cmpint(kiosk_store_queue_length(s), ==, 700);
  g_assert_cmpint(count(s, "SELECT count(*) FROM events"), ==, 700);
  kiosk_store_close(s);
  gk_test_rmtree(tmp);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/kiosk/store/pages", test_store_pages);
  g_test_add_func("/kiosk/store/queue", test_store_queue);
  g_test_add_func("/kiosk/store/host-removed", test_store_host_removed);
  return g_test_run();
}
