/* kiosk-visit against a real store, without a server: host search (kana and
 * case folding), walk-ins and the bad input that records nothing, reception
 * codes offline, the keypad lock (across a reopen), ticket check-in through the
 * verdict path, check-out by badge and by ticket, the present list, the push's
 * walk-in fields, and the purge of visits. */
#include <string.h>

#include "gk-json.h"
#include "gk-test-util.h"
#include "gk-visit.h"
#include "kiosk-settings.h"
#include "kiosk-store.h"
#include "kiosk-verdict.h"
#include "kiosk-visit.h"

#define SITE 7
#define CODE_ONE "12345678"   /* one-time ticket, host 1 */
#define CODE_MULTI "87654321" /* multi-entry ticket, no host */
#define CODE_EARLY "11112222" /* valid from tomorrow */
#define CODE_REVOKED "33334444"
#define CODE_WRONG "99999999"

typedef struct {
  char *dir;
  KioskStore *store;
  GkSigningKey *key;
  char *one_text, *one_hex;     /* the one-time ticket's QR and id */
  char *multi_text, *multi_hex; /* the multi-entry ticket's */
  gint64 now;
} Fx;

static void
apply_json(KioskStore *s, const char *json, gint64 cursor)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = gk_json_parse_object(json, strlen(json), 1 << 20, &error);
  g_assert_no_error(error);
  g_assert_true(kiosk_store_apply_page(s, json_object_get_array_member(json_node_get_object(root), "changes"), cursor,
                                       NULL, &error));
  g_assert_no_error(error);
}

static gint64
count(Fx *f, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(kiosk_store_gk(f->store)), sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  gint64 n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static void
exec(Fx *f, const char *sql)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_store_exec(kiosk_store_gk(f->store), sql, &error));
  g_assert_no_error(error);
}

static char *
make_ticket(Fx *f, guint8 flags, gint64 from, gint64 until, char **out_hex)
{
  GkTicket t;
  gk_ticket_init_random(&t);
  t.site_id = SITE;
  t.flags = flags;
  t.valid_from = from;
  t.valid_until = until;
  *out_hex = gk_ticket_id_to_hex(t.id);
  g_autoptr(GError) error = NULL;
  char *text = gk_ticket_encode(&t, f->key, &error);
  g_assert_no_error(error);
  return text;
}

/* One feed ticket change with the code's hash (NULL: no code). */
static char *
ticket_change(int seq, const char *hex, gint64 from, gint64 until, int flags, gboolean revoked, const char *visitor,
              gint64 host, const char *code)
{
  g_autofree char *hash = code != NULL ? gk_reception_code_hash_hex(SITE, code) : NULL;
  g_autofree char *hash_json = hash != NULL ? g_strdup_printf("\"%s\"", hash) : g_strdup("null");
  g_autofree char *host_json = host > 0 ? g_strdup_printf("%" G_GINT64_FORMAT, host) : g_strdup("null");
  return g_strdup_printf("{\"seq\":%d,\"type\":\"ticket\",\"data\":{\"id\":\"%s\",\"valid_from\":%" G_GINT64_FORMAT
                         ",\"valid_until\":%" G_GINT64_FORMAT ",\"flags\":%d,\"key_id\":1,\"revoked\":%s,"
                         "\"visitor\":\"%s\",\"host_id\":%s,\"code_hash\":%s}}",
                         seq, hex, from, until, flags, revoked ? "true" : "false", visitor, host_json, hash_json);
}

static void
fx_setup(Fx *f, gconstpointer data)
{
  f->dir = gk_test_make_tmpdir("kiosk-visit");
  f->now = g_get_real_time() / G_USEC_PER_SEC;
  g_autoptr(GError) error = NULL;
  f->store = kiosk_store_create(f->dir, &error);
  g_assert_no_error(error);
  KioskIdentity id = { .device_id = (char *) "dev-lobby", .name = (char *) "Lobby", .mode = (char *) "reception",
                       .site_id = SITE, .host = (char *) "localhost", .admin_port = 1, .device_port = 2,
                       .ca_pem = (char *) "ca", .cert_pem = (char *) "cert", .key_pem = (char *) "key" };
  g_assert_true(kiosk_store_save_identity(f->store, &id, &error));
  g_assert_no_error(error);
  guint8 seed[32];
  for (guint i = 0; i < 32; i++)
    seed[i] = (guint8) (i * 7);
  f->key = gk_signing_key_new_from_seed(1, seed);
  guint8 pk[32];
  gk_signing_key_public(f->key, pk);
  g_autofree char *pk_hex = gk_hex_encode(pk, 32);
  f->one_text = make_ticket(f, 0, f->now - 600, f->now + 3600, &f->one_hex);
  f->multi_text = make_ticket(f, GK_TICKET_FLAG_MULTI_ENTRY, f->now - 600, f->now + 3600, &f->multi_hex);
  g_autofree char *t1 = ticket_change(10, f->one_hex, f->now - 600, f->now + 3600, 0, FALSE, "Ada Lovelace", 1,
                                      CODE_ONE);
  g_autofree char *t2 = ticket_change(11, f->multi_hex, f->now - 600, f->now + 3600, 1, FALSE, "Grace Hopper", 0,
                                      CODE_MULTI);
  g_autofree char *t3 = ticket_change(12, "0000000000000000000000000000000e", f->now + 86400, f->now + 90000, 0,
                                      FALSE, "Early Bird", 1, CODE_EARLY);
  g_autofree char *t4 = ticket_change(13, "0000000000000000000000000000000f", f->now - 600, f->now + 3600, 0, TRUE,
                                      "Revoked Person", 1, CODE_REVOKED);
  g_autofree char *page = g_strdup_printf(
    "{\"changes\":[{\"seq\":1,\"type\":\"key\",\"data\":{\"key_id\":1,\"public_key\":\"%s\",\"retired\":false}},"
    "{\"seq\":2,\"type\":\"host\",\"data\":{\"id\":1,\"name\":\"佐藤 花子\",\"reading\":\"さとう はなこ\","
    "\"department\":\"総務部\"}},"
    "{\"seq\":3,\"type\":\"host\",\"data\":{\"id\":2,\"name\":\"Suzuki Ichiro\",\"reading\":\"スズキ イチロウ\","
    "\"department\":\"Sales\"}},"
    "{\"seq\":4,\"type\":\"host\",\"data\":{\"id\":3,\"name\":\"Alice Smith\",\"reading\":null,\"department\":null}},"
    "{\"seq\":5,\"type\":\"host\",\"data\":{\"id\":4,\"name\":\"田中 太郎\",\"reading\":\"たなか たろう\","
    "\"department\":\"開発\"}},"
    "%s,%s,%s,%s]}",
    pk_hex, t1, t2, t3, t4);
  apply_json(f->store, page, 13);
}

static void
fx_teardown(Fx *f, gconstpointer data)
{
  kiosk_store_close(f->store);
  gk_signing_key_free(f->key);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
  g_free(f->one_text);
  g_free(f->one_hex);
  g_free(f->multi_text);
  g_free(f->multi_hex);
}

static void
set_config(Fx *f, const char *key, const char *value, gint64 version)
{
  g_autoptr(GHashTable) config = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(config, (gpointer) key, (gpointer) value);
  KioskDeviceConfig dc = { .config = config, .config_version = version };
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_store_apply_device_config(f->store, &dc, &error));
  g_assert_no_error(error);
}

/* ---- host search ---------------------------------------------------------------------- */

static void
expect_hosts(Fx *f, const char *query, guint limit, const gint64 *want, guint n_want)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) hosts = kiosk_visit_search_hosts(f->store, query, limit, &error);
  g_assert_no_error(error);
  g_assert_nonnull(hosts);
  if (hosts->len != n_want)
    g_error("query \"%s\": %u hosts, want %u", query, hosts->len, n_want);
  for (guint i = 0; i < n_want; i++)
    g_assert_cmpint(((KioskHost *) hosts->pdata[i])->id, ==, want[i]);
}

static void
test_hosts(Fx *f, gconstpointer data)
{
  /* Empty: the directory, by reading (Latin before kana), then name. */
  expect_hosts(f, "", 10, (gint64[]){ 3, 1, 2, 4 }, 4);
  expect_hosts(f, "", 2, (gint64[]){ 3, 1 }, 2);
  /* Hiragana finds a katakana reading and the other way round. */
  expect_hosts(f, "すずき", 10, (gint64[]){ 2 }, 1);
  expect_hosts(f, "サトウ", 10, (gint64[]){ 1 }, 1);
  /* Half-width katakana and full-width Latin count as the usual forms. */
  expect_hosts(f, "ｽｽﾞｷ", 10, (gint64[]){ 2 }, 1);
  expect_hosts(f, "ＳＭＩＴＨ", 10, (gint64[]){ 3 }, 1);
  /* ASCII case, names in kanji, department not searched. */
  expect_hosts(f, "alice", 10, (gint64[]){ 3 }, 1);
  expect_hosts(f, "SUZUKI", 10, (gint64[]){ 2 }, 1);
  expect_hosts(f, "田中", 10, (gint64[]){ 4 }, 1);
  expect_hosts(f, "総務", 10, NULL, 0);
  expect_hosts(f, "nobody", 10, NULL, 0);

  g_autoptr(GPtrArray) hosts = kiosk_visit_search_hosts(f->store, "さとう", 10, NULL);
  KioskHost *h = hosts->pdata[0];
  g_assert_cmpstr(h->name, ==, "佐藤 花子");
  g_assert_cmpstr(h->reading, ==, "さとう はなこ");
  g_assert_cmpstr(h->department, ==, "総務部");

  g_autoptr(GError) error = NULL;
  g_assert_null(kiosk_visit_search_hosts(f->store, "\xff\xfe", 10, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_INVALID);
}

/* ---- walk-ins ----------------------------------------------------------------------- */

static void
test_walkin(Fx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  KioskWalkin w = { .visitor_name = "山田 一郎", .company = "株式会社テスト", .purpose = "打ち合わせ",
                    .host_id = 1, .terms_accepted = TRUE };
  KioskVisitResult r;
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &r, &error));
  g_assert_no_error(error);
  g_assert_true(gk_visit_id_ok(r.visit_id));
  g_assert_cmpstr(r.visitor_name, ==, "山田 一郎");
  g_assert_cmpstr(r.company, ==, "株式会社テスト");
  g_assert_cmpstr(r.host_name, ==, "佐藤 花子");
  g_assert_true(r.offline);
  g_assert_false(r.host_notified);
  g_assert_cmpint(ABS(r.at - f->now), <=, 5);

  /* The queue holds one walk-in event that carries the visitor for the push. */
  g_autoptr(GPtrArray) pending = kiosk_store_pending_events(f->store, 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(pending->len, ==, 1);
  KioskEvent *e = pending->pdata[0];
  g_assert_cmpstr(e->kind, ==, "walkin");
  g_assert_cmpstr(e->visit_id, ==, r.visit_id);
  g_assert_cmpstr(e->visitor_name, ==, "山田 一郎");
  g_assert_cmpstr(e->company, ==, "株式会社テスト");
  g_assert_cmpstr(e->purpose, ==, "打ち合わせ");
  g_assert_cmpint(e->host_id, ==, 1);
  g_assert_true(e->terms_accepted);
  g_assert_null(e->ticket_id);

  /* The server acknowledged it: the host is told. */
  const char *ids[] = { e->id };
  g_assert_true(kiosk_store_mark_sent(f->store, ids, 1, &error));
  g_assert_cmpint(count(f, "SELECT host_notified FROM visits"), ==, 1);

  g_autoptr(GPtrArray) present = kiosk_visit_list_present(f->store, 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(present->len, ==, 1);
  KioskVisitResult *p = present->pdata[0];
  g_assert_cmpstr(p->visit_id, ==, r.visit_id);
  g_assert_cmpstr(p->visitor_name, ==, "山田 一郎");
  g_assert_null(p->company); /* the list shows no more than it needs */
  kiosk_visit_result_clear(&r);

  /* Optional fields may be empty; with host not required, no host either. */
  set_config(f, "walkin-required", "name", 1);
  KioskWalkin minimal = { .visitor_name = "Bob", .company = "", .terms_accepted = FALSE };
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &minimal, &r, &error));
  g_assert_no_error(error);
  g_assert_null(r.company);
  g_assert_null(r.host_name);
  kiosk_visit_result_clear(&r);
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits WHERE company IS NULL AND purpose IS NULL"
                           " AND host_id IS NULL"), ==, 1);
}

static void
expect_refused(Fx *f, const KioskWalkin *w, KioskVisitError code)
{
  gint64 events = count(f, "SELECT count(*) FROM events");
  gint64 visits = count(f, "SELECT count(*) FROM visits");
  g_autoptr(GError) error = NULL;
  KioskVisitResult r;
  g_assert_false(kiosk_visit_walkin(f->store, NULL, w, &r, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, (gint) code);
  g_assert_null(r.visit_id);
  g_assert_cmpint(count(f, "SELECT count(*) FROM events"), ==, events);
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits"), ==, visits);
}

static void
test_walkin_bad_input(Fx *f, gconstpointer data)
{
  char long_name[KIOSK_VISIT_NAME_MAX + 2];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  char long_purpose[KIOSK_VISIT_PURPOSE_MAX + 2];
  memset(long_purpose, 'p', sizeof long_purpose - 1);
  long_purpose[sizeof long_purpose - 1] = '\0';
  char max_name[KIOSK_VISIT_NAME_MAX + 1];
  memset(max_name, 'b', sizeof max_name - 1);
  max_name[sizeof max_name - 1] = '\0';
  const KioskWalkin good = { .visitor_name = "Carol", .host_id = 2, .terms_accepted = TRUE };
  KioskWalkin w;

#define REFUSE(field, value, code) \
  do {                             \
    w = good;                      \
    w.field = value;               \
    expect_refused(f, &w, code);   \
  } while (0)

  REFUSE(visitor_name, NULL, KIOSK_VISIT_ERROR_INVALID);
  REFUSE(visitor_name, "", KIOSK_VISIT_ERROR_INVALID);
  REFUSE(visitor_name, "   ", KIOSK_VISIT_ERROR_INVALID);
  REFUSE(visitor_name, long_name, KIOSK_VISIT_ERROR_INVALID);
  REFUSE(visitor_name, "bad \xc3\x28 utf8", KIOSK_VISIT_ERROR_INVALID);
  REFUSE(visitor_name, "tab\there", KIOSK_VISIT_ERROR_INVALID);
  REFUSE(visitor_name, "line\nbreak", KIOSK_VISIT_ERROR_INVALID);
  REFUSE(visitor_name, "evil\xe2\x80\xaeright-to-left", KIOSK_VISIT_ERROR_INVALID); /* U+202E */
  REFUSE(company, "zero\xe2\x80\x8bwidth", KIOSK_VISIT_ERROR_INVALID);             /* U+200B */
  REFUSE(company, long_name, KIOSK_VISIT_ERROR_INVALID);
  REFUSE(purpose, long_purpose, KIOSK_VISIT_ERROR_INVALID);
  REFUSE(host_id, 99, KIOSK_VISIT_ERROR_NO_HOST);
  REFUSE(host_id, 0, KIOSK_VISIT_ERROR_NO_HOST); /* "host" is required by default */
#undef REFUSE
  g_assert_cmpint(count(f, "SELECT count(*) FROM events"), ==, 0);

  /* The limit itself is fine. */
  w = good;
  w.visitor_name = max_name;
  KioskVisitResult r;
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &r, &error));
  g_assert_no_error(error);
  kiosk_visit_result_clear(&r);

  /* A site that requires the company, and shows terms that must be accepted. */
  set_config(f, "walkin-required", "name,company,host", 1);
  w = good;
  expect_refused(f, &w, KIOSK_VISIT_ERROR_INVALID);
  w.company = "ACME";
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &r, &error));
  g_assert_no_error(error);
  kiosk_visit_result_clear(&r);

  g_autoptr(GHashTable) config = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(config, (gpointer) "terms-text", (gpointer) "Please keep our secrets.");
  KioskDeviceConfig dc = { .config = config, .config_version = 2 };
  g_assert_true(kiosk_store_apply_device_config(f->store, &dc, &error));
  w.terms_accepted = FALSE;
  expect_refused(f, &w, KIOSK_VISIT_ERROR_INVALID);
  w.terms_accepted = TRUE;
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &r, &error));
  g_assert_no_error(error);
  kiosk_visit_result_clear(&r);
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits WHERE terms_accepted = 1"), ==, 3);
}

/* ---- reception codes ---------------------------------------------------------------------- */

static void
code_ok(Fx *f, const char *code, KioskVisitResult *r)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_visit_reception_code(f->store, NULL, code, r, &error));
  g_assert_no_error(error);
}

static void
code_refused(Fx *f, const char *code, KioskVisitError want, gint64 *out_retry)
{
  g_autoptr(GError) error = NULL;
  KioskVisitResult r;
  g_assert_false(kiosk_visit_reception_code(f->store, NULL, code, &r, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, (gint) want);
  g_assert_null(r.visit_id);
  if (out_retry != NULL)
    *out_retry = r.retry_after;
}

static void
test_code_offline(Fx *f, gconstpointer data)
{
  KioskVisitResult r;
  code_ok(f, CODE_ONE, &r);
  g_assert_true(r.offline);
  g_assert_false(r.host_notified);
  g_assert_cmpstr(r.visitor_name, ==, "Ada Lovelace");
  g_assert_cmpstr(r.host_name, ==, "佐藤 花子");
  g_assert_true(gk_visit_id_ok(r.visit_id));

  /* The queued check-in names the ticket; the visit id is the one the server
   * will derive from that event. */
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) pending = kiosk_store_pending_events(f->store, 10, &error);
  g_assert_cmpuint(pending->len, ==, 1);
  KioskEvent *e = pending->pdata[0];
  g_assert_cmpstr(e->kind, ==, "checkin");
  g_assert_cmpstr(e->ticket_id, ==, f->one_hex);
  g_assert_true(e->offline);
  g_autofree char *derived = gk_visit_id_for_event(e->id);
  g_assert_cmpstr(derived, ==, r.visit_id);
  KioskRedemption red;
  g_assert_true(kiosk_store_get_redemption(f->store, f->one_hex, &red, &error));
  g_assert_true(red.found);
  g_assert_true(red.pending);
  kiosk_redemption_clear(&red);
  kiosk_visit_result_clear(&r);

  /* Used, too early, malformed: refused and not counted as guesses. */
  code_refused(f, CODE_ONE, KIOSK_VISIT_ERROR_BAD_CODE, NULL);
  code_refused(f, CODE_EARLY, KIOSK_VISIT_ERROR_BAD_CODE, NULL);
  code_refused(f, "1234", KIOSK_VISIT_ERROR_INVALID, NULL);
  code_refused(f, "1234567a", KIOSK_VISIT_ERROR_INVALID, NULL);
  code_refused(f, NULL, KIOSK_VISIT_ERROR_INVALID, NULL);
  g_assert_cmpint(kiosk_store_get_meta_int(f->store, "reception_code.wrong", 0), ==, 0);
  /* A revoked ticket's code is no code at all: counted. */
  code_refused(f, CODE_REVOKED, KIOSK_VISIT_ERROR_BAD_CODE, NULL);
  g_assert_cmpint(kiosk_store_get_meta_int(f->store, "reception_code.wrong", 0), ==, 1);

  /* Multi-entry: every use checks in (and a right code clears the count). */
  code_ok(f, CODE_MULTI, &r);
  g_assert_cmpstr(r.visitor_name, ==, "Grace Hopper");
  g_assert_null(r.host_name);
  kiosk_visit_result_clear(&r);
  code_ok(f, CODE_MULTI, &r);
  kiosk_visit_result_clear(&r);
  g_assert_cmpint(kiosk_store_get_meta_int(f->store, "reception_code.wrong", 0), ==, 0);
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits WHERE kind = 'ticket'"), ==, 3);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 3);
}

static void
test_code_lock(Fx *f, gconstpointer data)
{
  gint64 events = count(f, "SELECT count(*) FROM events");
  gint64 retry = 0;
  for (int i = 1; i < KIOSK_RECEPTION_CODE_FREE_TRIES; i++)
    code_refused(f, CODE_WRONG, KIOSK_VISIT_ERROR_BAD_CODE, NULL);
  /* The last free try locks the keypad. */
  code_refused(f, CODE_WRONG, KIOSK_VISIT_ERROR_RATE_LIMITED, &retry);
  g_assert_cmpint(retry, >=, KIOSK_RECEPTION_CODE_FIRST_LOCK - 2);
  g_assert_cmpint(retry, <=, KIOSK_RECEPTION_CODE_FIRST_LOCK);
  /* While locked even the right code is not looked at, and nothing is recorded. */
  code_refused(f, CODE_ONE, KIOSK_VISIT_ERROR_RATE_LIMITED, &retry);
  g_assert_cmpint(retry, >, 0);
  g_assert_cmpint(count(f, "SELECT count(*) FROM events"), ==, events);

  /* A restart keeps the lock. */
  kiosk_store_close(f->store);
  g_autoptr(GError) error = NULL;
  f->store = kiosk_store_open(f->dir, &error);
  g_assert_no_error(error);
  code_refused(f, CODE_ONE, KIOSK_VISIT_ERROR_RATE_LIMITED, &retry);
  g_assert_cmpint(retry, >, 0);

  /* The lock runs out (time moved on): the next wrong code locks twice as long. */
  g_assert_true(kiosk_store_set_meta_int(f->store, "reception_code.locked_until", f->now - 1, &error));
  code_refused(f, CODE_WRONG, KIOSK_VISIT_ERROR_RATE_LIMITED, &retry);
  g_assert_cmpint(retry, >=, 2 * KIOSK_RECEPTION_CODE_FIRST_LOCK - 2);
  g_assert_cmpint(retry, <=, 2 * KIOSK_RECEPTION_CODE_FIRST_LOCK);
  g_assert_true(kiosk_store_set_meta_int(f->store, "reception_code.locked_until", f->now - 1, &error));
  code_refused(f, CODE_WRONG, KIOSK_VISIT_ERROR_RATE_LIMITED, &retry);
  g_assert_cmpint(retry, >=, 4 * KIOSK_RECEPTION_CODE_FIRST_LOCK - 2);
  /* Never longer than an hour, however many wrong codes. */
  for (int i = 0; i < 20; i++) {
    g_assert_true(kiosk_store_set_meta_int(f->store, "reception_code.locked_until", f->now - 1, &error));
    code_refused(f, CODE_WRONG, KIOSK_VISIT_ERROR_RATE_LIMITED, &retry);
  }
  g_assert_cmpint(retry, <=, 3600);
  g_assert_cmpint(retry, >=, 3590);
  /* A clock set back does not make the lock longer than that either. */
  g_assert_true(kiosk_store_set_meta_int(f->store, "reception_code.locked_until", f->now + 86400 * 30, &error));
  code_refused(f, CODE_ONE, KIOSK_VISIT_ERROR_RATE_LIMITED, &retry);
  g_assert_cmpint(retry, <=, 3600);

  /* Once open again, the right code works and the count starts afresh. */
  g_assert_true(kiosk_store_set_meta_int(f->store, "reception_code.locked_until", f->now - 1, &error));
  KioskVisitResult r;
  code_ok(f, CODE_ONE, &r);
  kiosk_visit_result_clear(&r);
  g_assert_cmpint(kiosk_store_get_meta_int(f->store, "reception_code.wrong", -1), ==, 0);
  code_refused(f, CODE_WRONG, KIOSK_VISIT_ERROR_BAD_CODE, NULL);
}

/* ---- tickets, check-out, the present list ---------------------------------------------------- */

static void
test_ticket_and_checkout(Fx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskGate) gate = kiosk_gate_new(f->store, NULL, &error);
  g_assert_no_error(error);
  KioskVerdict v;
  KioskVisitResult r;
  g_assert_true(kiosk_visit_ticket(gate, f->store, f->one_text, strlen(f->one_text), &v, &r, &error));
  g_assert_no_error(error);
  g_assert_true(v.accepted);
  g_assert_true(v.offline);
  g_assert_cmpstr(r.visitor_name, ==, "Ada Lovelace");
  g_assert_cmpstr(r.host_name, ==, "佐藤 花子");
  g_autofree char *derived = gk_visit_id_for_event(v.event_id);
  g_assert_cmpstr(r.visit_id, ==, derived);
  g_autofree char *badge = g_strconcat(KIOSK_BADGE_PREFIX, r.visit_id, NULL);
  kiosk_verdict_clear(&v);
  kiosk_visit_result_clear(&r);

  /* A second scan of the one-time ticket: rejected, no visit. */
  g_assert_true(kiosk_visit_ticket(gate, f->store, f->one_text, strlen(f->one_text), &v, &r, &error));
  g_assert_false(v.accepted);
  g_assert_cmpint(v.reason, ==, KIOSK_REASON_ALREADY_USED);
  g_assert_null(r.visit_id);
  kiosk_verdict_clear(&v);
  /* A forged one: rejected, no visit. */
  g_assert_true(kiosk_visit_ticket(gate, f->store, "GK1:NOTATICKET", 14, &v, &r, &error));
  g_assert_false(v.accepted);
  g_assert_null(r.visit_id);
  kiosk_verdict_clear(&v);
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits"), ==, 1);

  /* Check-out by badge (with a scanner's line end). */
  g_autofree char *line = g_strconcat(badge, "\r\n", NULL);
  g_assert_true(kiosk_visit_checkout(f->store, NULL, line, strlen(line), &r, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(r.visitor_name, ==, "Ada Lovelace");
  g_assert_true(r.offline);
  kiosk_visit_result_clear(&r);
  g_assert_false(kiosk_visit_checkout(f->store, NULL, badge, strlen(badge), &r, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_NOT_VISITING);
  g_clear_error(&error);
  g_autoptr(GPtrArray) pending = kiosk_store_pending_events(f->store, 10, &error);
  KioskEvent *out = pending->pdata[pending->len - 1];
  g_assert_cmpstr(out->kind, ==, "checkout");
  g_assert_cmpstr(out->visit_id, ==, badge + strlen(KIOSK_BADGE_PREFIX));
  g_assert_cmpstr(out->ticket_id, ==, f->one_hex);

  /* Check-out by the ticket itself (multi-entry: checked in twice, out twice,
   * the third time there is no open visit). */
  for (int i = 0; i < 2; i++) {
    g_assert_true(kiosk_visit_ticket(gate, f->store, f->multi_text, strlen(f->multi_text), &v, &r, &error));
    g_assert_true(v.accepted);
    kiosk_verdict_clear(&v);
    kiosk_visit_result_clear(&r);
  }
  g_autoptr(GPtrArray) present = kiosk_visit_list_present(f->store, 10, &error);
  g_assert_cmpuint(present->len, ==, 2);
  for (int i = 0; i < 2; i++) {
    g_assert_true(kiosk_visit_checkout(f->store, NULL, f->multi_text, strlen(f->multi_text), &r, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(r.visitor_name, ==, "Grace Hopper");
    kiosk_visit_result_clear(&r);
  }
  g_assert_false(kiosk_visit_checkout(f->store, NULL, f->multi_text, strlen(f->multi_text), &r, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_NOT_VISITING);
  g_clear_error(&error);
  g_clear_pointer(&present, g_ptr_array_unref);
  present = kiosk_visit_list_present(f->store, 10, &error);
  g_assert_cmpuint(present->len, ==, 0);

  /* Unknown badges, bad badges, garbage and NUL bytes change nothing. */
  gint64 events = count(f, "SELECT count(*) FROM events");
  static const struct {
    const char *text;
    gsize len;
    KioskVisitError code;
  } bad[] = {
    { "GKB1:vis-00000000000000000000000000000000", 41, KIOSK_VISIT_ERROR_NOT_VISITING },
    { "GKB1:vis-0000", 13, KIOSK_VISIT_ERROR_INVALID },
    { "GKB1:VIS-00000000000000000000000000000000", 41, KIOSK_VISIT_ERROR_INVALID },
    { "hello", 5, KIOSK_VISIT_ERROR_INVALID },
    { "GKB1:vis-00000000000000000000000000000000\0x", 43, KIOSK_VISIT_ERROR_INVALID },
    { "", 0, KIOSK_VISIT_ERROR_INVALID },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_false(kiosk_visit_checkout(f->store, NULL, bad[i].text, bad[i].len, &r, &error));
    g_assert_error(error, KIOSK_VISIT_ERROR, (gint) bad[i].code);
    g_assert_null(r.visit_id);
    g_clear_error(&error);
  }
  g_assert_cmpint(count(f, "SELECT count(*) FROM events"), ==, events);
}

/* ---- purge ---------------------------------------------------------------------------------- */

static void
test_purge(Fx *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  KioskWalkin w = { .visitor_name = "Old Visitor", .host_id = 1, .terms_accepted = TRUE };
  KioskVisitResult old_sent, old_unsent, recent;
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &old_sent, &error));
  w.visitor_name = "Old Unsent";
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &old_unsent, &error));
  w.visitor_name = "Recent Visitor";
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &recent, &error));
  g_assert_no_error(error);
  /* Two visits ended 3 days ago; the server has only the first one's events. */
  g_autofree char *sql = g_strdup_printf("UPDATE visits SET checked_in_at = %" G_GINT64_FORMAT
                                         ", checked_out_at = %" G_GINT64_FORMAT " WHERE visitor_name LIKE 'Old %%'",
                                         f->now - 3 * 86400 - 60, f->now - 3 * 86400);
  exec(f, sql);
  g_autofree char *sent = g_strdup_printf("UPDATE events SET sent = 1 WHERE visit_id = '%s'", old_sent.visit_id);
  exec(f, sent);

  g_assert_true(kiosk_store_purge(f->store, f->now, &error));
  g_assert_no_error(error);
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits WHERE visitor_name = 'Old Visitor'"), ==, 0);
  /* Its data has not reached the server yet: kept. */
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits WHERE visitor_name = 'Old Unsent'"), ==, 1);
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits WHERE visitor_name = 'Recent Visitor'"), ==, 1);
  /* A check-in nobody closed goes a day (+ retention) after it. */
  g_autofree char *stale = g_strdup_printf("UPDATE visits SET checked_in_at = %" G_GINT64_FORMAT
                                           " WHERE visitor_name = 'Recent Visitor'", f->now - 86400 - 25 * 3600);
  exec(f, stale);
  exec(f, "UPDATE events SET sent = 1");
  g_assert_true(kiosk_store_purge(f->store, f->now, &error));
  g_assert_cmpint(count(f, "SELECT count(*) FROM visits"), ==, 0);
  kiosk_visit_result_clear(&old_sent);
  kiosk_visit_result_clear(&old_unsent);
  kiosk_visit_result_clear(&recent);
}

/* ---- the answer parser -------------------------------------------------------------------- */

static gboolean
parse_answer(const char *json, KioskCodeAnswer *a)
{
  g_autoptr(JsonNode) root = gk_json_parse_object(json, strlen(json), 4096, NULL);
  g_assert_nonnull(root);
  return kiosk_visit_parse_code_answer(json_node_get_object(root), a, NULL);
}

static void
test_code_answer(void)
{
  KioskCodeAnswer a;
  g_assert_true(parse_answer("{\"result\":\"accepted\",\"ticket_id\":\"00112233445566778899AABBCCDDEEFF\","
                             "\"multi\":false,\"visitor\":\"Ada\",\"company\":\"\",\"host_id\":3,\"host_name\":\"H\","
                             "\"server_time\":1,\"newer_field\":1}", &a));
  g_assert_cmpint(a.result, ==, KIOSK_CODE_ACCEPTED);
  g_assert_cmpstr(a.ticket_id, ==, "00112233445566778899aabbccddeeff");
  g_assert_cmpstr(a.visitor, ==, "Ada");
  g_assert_null(a.company);
  g_assert_cmpint(a.host_id, ==, 3);
  kiosk_code_answer_clear(&a);
  g_assert_true(parse_answer("{\"result\":\"rejected\",\"reason\":\"bad-code\",\"server_time\":1}", &a));
  g_assert_cmpint(a.result, ==, KIOSK_CODE_BAD);
  kiosk_code_answer_clear(&a);
  g_assert_true(parse_answer("{\"result\":\"already-used\",\"ticket_id\":\"00112233445566778899aabbccddeeff\","
                             "\"used_at\":5,\"used_by\":\"dev-1\",\"used_by_name\":\"\",\"server_time\":1}", &a));
  g_assert_cmpint(a.result, ==, KIOSK_CODE_ALREADY_USED);
  g_assert_cmpstr(a.used_by, ==, "dev-1");
  kiosk_code_answer_clear(&a);
  /* Accepted without a ticket, an unknown reason, a wrong type, no server_time. */
  g_assert_false(parse_answer("{\"result\":\"accepted\",\"server_time\":1}", &a));
  g_assert_false(parse_answer("{\"result\":\"rejected\",\"reason\":\"maybe\",\"server_time\":1}", &a));
  g_assert_false(parse_answer("{\"result\":\"accepted\",\"ticket_id\":\"zz112233445566778899aabbccddeeff\","
                              "\"server_time\":1}", &a));
  g_assert_false(parse_answer("{\"result\":\"accepted\",\"ticket_id\":\"00112233445566778899aabbccddeeff\","
                              "\"visitor\":5,\"server_time\":1}", &a));
  g_assert_false(parse_answer("{\"result\":\"rejected\",\"reason\":\"bad-code\"}", &a));
  kiosk_code_answer_clear(&a);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define T(path, fn) g_test_add("/kiosk/visit/" path, Fx, NULL, fx_setup, fn, fx_teardown)
  T("hosts", test_hosts);
  T("walkin", test_walkin);
  T("walkin-bad-input", test_walkin_bad_input);
  T("code-offline", test_code_offline);
  T("code-lock", test_code_lock);
  T("ticket-and-checkout", test_ticket_and_checkout);
  T("purge", test_purge);
#undef T
  g_test_add_func("/kiosk/visit/code-answer", test_code_answer);
  return g_test_run();
}
