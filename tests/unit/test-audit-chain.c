/* The audit log without a server: the canonical encoding (against vectors
 * computed independently, see docs/audit.md), the chain in a real encrypted
 * store (concurrent appends, append-only triggers, purge), verification of
 * changed / removed / reordered entries, the query parser, the router's
 * entry for a request, and the CSV export. */
#include <string.h>

#include "gk-json.h"
#include "gk-store.h"
#include "gk-test-util.h"
#include "srv-audit.h"
#include "srv-store-private.h"

#define NOW ((gint64) 1700000000)

typedef struct {
  char *dir;
  char *db;
  char *kek;
  SrvApp app;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = gk_test_make_tmpdir("genkan-audit");
  f->db = g_build_filename(f->dir, "master.db", NULL);
  f->kek = g_build_filename(f->dir, "master.kek", NULL);
  g_assert_true(srv_store_create(f->db, f->kek, &error));
  f->app.store = srv_store_open(f->db, f->kek, 4, &error);
  g_assert_no_error(error);
  f->app.site_id = 1;
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->app.store, srv_store_close);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
  g_free(f->db);
  g_free(f->kek);
}

static void
row_set(SrvAuditRow *row, gint64 at, gint64 site, const char *kind, const char *actor, const char *ip,
        const char *action, const char *target, const char *result, const char *reason)
{
  row->at = at;
  row->site_id = site;
  row->actor_kind = g_strdup(kind);
  row->actor = g_strdup(actor);
  row->source_ip = g_strdup(ip);
  row->action = g_strdup(action);
  row->target = g_strdup(target);
  row->result = g_strdup(result);
  row->reason = g_strdup(reason);
}

static void
append(Fixture *f, gint64 at, gint64 site, const char *actor, const char *action)
{
  g_auto(SrvAuditRow) row = { 0 };
  g_autoptr(GError) error = NULL;
  row_set(&row, at, site, "account", actor, "192.0.2.1", action, "", "ok", "");
  g_assert_true(srv_audit_store_append(f->app.store, &row, &error));
  g_assert_no_error(error);
}

static void
verify(Fixture *f, SrvAuditVerify *v)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_audit_verify(f->app.store, v, &error));
  g_assert_no_error(error);
}

/* Raw SQL on a second connection, as someone holding the store key could run
 * it; @sql may hold several statements. Returns the SQLite result. */
static int
raw(Fixture *f, const char *sql)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GkStore) gk = gk_store_open(f->db, f->kek, m, n, &error);
  g_assert_no_error(error);
  /* Primary codes: the connection reports extended ones (CONSTRAINT_TRIGGER). */
  return sqlite3_exec(gk_store_db(gk), sql, NULL, NULL, NULL) & 0xff;
}

static gint64
raw_count(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GkStore) gk = gk_store_open(f->db, f->kek, m, n, &error);
  sqlite3_stmt *s = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(gk), "SELECT count(*) FROM audit_log", -1, &s, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(s), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

#define DROP_GUARDS                                                                   \
  "DROP TRIGGER audit_log_append_only; DROP TRIGGER audit_log_purge_only;"          \
  "DROP TRIGGER audit_log_next_seq;"

/* ---- encoding and chain ------------------------------------------------------------- */

/* Vectors from Python's struct + hashlib over the layout docs/audit.md gives. */
static void
test_encoding_vector(void)
{
  g_auto(SrvAuditRow) a = { .seq = 1 };
  row_set(&a, NOW, 1, "account", "owner", "127.0.0.1", "login", "", "ok", "");
  g_autoptr(GBytes) enc = srv_audit_encode(&a);
  gsize len = 0;
  g_autofree char *hex = gk_hex_encode(g_bytes_get_data(enc, &len), g_bytes_get_size(enc));
  g_assert_cmpstr(hex, ==,
                  "474b4155444954310000000000000001000000006553f1000000000000000001000000076163636f756e7400"
                  "0000056f776e6572000000093132372e302e302e31000000056c6f67696e00000000000000026f6b00000000");
  guint8 h1[32], h2[32];
  srv_audit_chain_hash(&a, srv_audit_genesis, h1);
  g_autofree char *h1_hex = gk_hex_encode(h1, 32);
  g_assert_cmpstr(h1_hex, ==, "2fd0fa7fe50a052f73545d8eaa60dbe2382616ade48825ba85900f6a57f3005e");

  g_auto(SrvAuditRow) b = { .seq = 2 };
  row_set(&b, NOW + 5, 1, "none", "-", "192.0.2.7", "login.refused", "", "refused", "bad-credentials");
  srv_audit_chain_hash(&b, h1, h2);
  g_autofree char *h2_hex = gk_hex_encode(h2, 32);
  g_assert_cmpstr(h2_hex, ==, "1c4ad991100c4383f68e2babb71b389423f5ed4dbd7b90335eb75f6b4d069a1e");

  /* The same entry after another predecessor is another hash. */
  guint8 other[32];
  srv_audit_chain_hash(&b, srv_audit_genesis, other);
  g_assert_true(memcmp(other, h2, 32) != 0);
}

/* Length prefixes: moving a byte from one field to the next changes the hash. */
static void
test_encoding_unambiguous(void)
{
  g_auto(SrvAuditRow) a = { .seq = 3 };
  g_auto(SrvAuditRow) b = { .seq = 3 };
  row_set(&a, NOW, 1, "account", "ab", "c", "x", "", "ok", "");
  row_set(&b, NOW, 1, "account", "a", "bc", "x", "", "ok", "");
  guint8 ha[32], hb[32];
  srv_audit_chain_hash(&a, srv_audit_genesis, ha);
  srv_audit_chain_hash(&b, srv_audit_genesis, hb);
  g_assert_true(memcmp(ha, hb, 32) != 0);
  /* Every field counts, seq and site included. */
  b.seq = 4;
  g_free(b.actor);
  g_free(b.source_ip);
  b.actor = g_strdup("ab");
  b.source_ip = g_strdup("c");
  srv_audit_chain_hash(&b, srv_audit_genesis, hb);
  g_assert_true(memcmp(ha, hb, 32) != 0);
  b.seq = 3;
  b.site_id = 2;
  srv_audit_chain_hash(&b, srv_audit_genesis, hb);
  g_assert_true(memcmp(ha, hb, 32) != 0);
  b.site_id = 1;
  srv_audit_chain_hash(&b, srv_audit_genesis, hb);
  g_assert_cmpmem(ha, 32, hb, 32);
}

/* ---- the chain in the store ----------------------------------------------------------- */

static gpointer
append_many(gpointer data)
{
  Fixture *f = data;
  for (guint i = 0; i < 25; i++)
    append(f, NOW + i, 1, "worker", "host.list");
  return NULL;
}

static void
test_concurrent_appends(Fixture *f, gconstpointer data)
{
  GThread *threads[4];
  for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
    threads[i] = g_thread_new("append", append_many, f);
  for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
    g_thread_join(threads[i]);

  SrvAuditVerify v;
  verify(f, &v);
  g_assert_true(v.ok);
  g_assert_cmpint(v.entries, ==, 100);
  g_assert_cmpint(v.head_seq, ==, 100);
  /* No forks, no gaps: seq 1..100, each chained to the one before. */
  SrvAuditFilter filter = { .limit = 1000 };
  g_autoptr(GError) error = NULL;
  gboolean more = TRUE;
  g_autoptr(GArray) rows = srv_audit_store_list(f->app.store, &filter, &more, &error);
  g_assert_no_error(error);
  g_assert_false(more);
  g_assert_cmpuint(rows->len, ==, 100);
  for (guint i = 0; i < rows->len; i++) {
    const SrvAuditRow *r = &g_array_index(rows, SrvAuditRow, i);
    g_assert_cmpint(r->seq, ==, i + 1);
    g_assert_cmpmem(r->prev_hash, 32, i == 0 ? srv_audit_genesis : g_array_index(rows, SrvAuditRow, i - 1).hash, 32);
  }
  g_assert_cmpmem(v.head_hash, 32, g_array_index(rows, SrvAuditRow, 99).hash, 32);
}

static void
test_refuses_invalid(Fixture *f, gconstpointer data)
{
  append(f, NOW, 1, "owner", "login");
  g_autoptr(GError) error = NULL;
  g_auto(SrvAuditRow) empty = { 0 };
  row_set(&empty, NOW, 1, "account", "owner", "192.0.2.1", "", "", "ok", "");
  g_assert_false(srv_audit_store_append(f->app.store, &empty, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_auto(SrvAuditRow) bad_kind = { 0 };
  row_set(&bad_kind, NOW, 1, "robot", "owner", "192.0.2.1", "login", "", "ok", "");
  g_assert_false(srv_audit_store_append(f->app.store, &bad_kind, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_auto(SrvAuditRow) long_target = { 0 };
  g_autofree char *target = g_strnfill(257, 'x');
  row_set(&long_target, NOW, 1, "account", "owner", "192.0.2.1", "login", target, "ok", "");
  g_assert_false(srv_audit_store_append(f->app.store, &long_target, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_assert_cmpint(raw_count(f), ==, 1);
  SrvAuditVerify v;
  verify(f, &v);
  g_assert_true(v.ok);
  g_assert_cmpint(v.entries, ==, 1);
}

/* The schema itself refuses edits, deletes and out-of-order inserts. */
static void
test_append_only(Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 3; i++)
    append(f, NOW + i, 1, "owner", "host.list");
  g_assert_cmpint(raw(f, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"), ==, SQLITE_CONSTRAINT);
  g_assert_cmpint(raw(f, "DELETE FROM audit_log WHERE seq = 2"), ==, SQLITE_CONSTRAINT);
  g_assert_cmpint(raw(f, "INSERT INTO audit_log SELECT seq + 10, at, site_id, actor_kind, actor, source_ip, action,"
                         " target, result, reason, prev_hash, hash FROM audit_log WHERE seq = 3"),
                  ==, SQLITE_CONSTRAINT);
  g_assert_cmpint(raw(f, "UPDATE audit_chain SET base_seq = 0, base_hash = zeroblob(32)"), ==, SQLITE_OK);
  g_assert_cmpint(raw(f, "UPDATE audit_chain SET base_hash = randomblob(32)"), ==, SQLITE_CONSTRAINT);
  g_assert_cmpint(raw(f, "DELETE FROM audit_chain"), ==, SQLITE_CONSTRAINT);
  g_assert_cmpint(raw_count(f), ==, 3);
  SrvAuditVerify v;
  verify(f, &v);
  g_assert_true(v.ok);
  g_assert_cmpint(v.entries, ==, 3);
}

typedef struct {
  const char *name;
  const char *sql;
  SrvAuditProblem problem;
  gint64 first_bad;
} Tamper;

/* Ten entries, then one tampering with the guards dropped (as an attacker with
 * the store key can): verification names the first bad entry. */
static void
test_tamper(Fixture *f, gconstpointer data)
{
  const Tamper *t = data;
  for (guint i = 0; i < 10; i++)
    append(f, NOW + i, 1, i % 2 ? "owner" : "admin", "host.add");
  SrvAuditVerify v;
  verify(f, &v);
  g_assert_true(v.ok);
  g_test_message("tamper: %s", t->name);
  g_assert_cmpint(raw(f, t->sql), ==, SQLITE_OK);
  verify(f, &v);
  g_assert_false(v.ok);
  g_assert_cmpstr(srv_audit_problem_name(v.problem), ==, srv_audit_problem_name(t->problem));
  g_assert_cmpint(v.first_bad_seq, ==, t->first_bad);
}

static const Tamper tampers[] = {
  { "edit-field", DROP_GUARDS "UPDATE audit_log SET actor = 'nobody' WHERE seq = 4", SRV_AUDIT_CHANGED, 4 },
  { "edit-time", DROP_GUARDS "UPDATE audit_log SET at = at - 3600 WHERE seq = 7", SRV_AUDIT_CHANGED, 7 },
  { "edit-hash", DROP_GUARDS "UPDATE audit_log SET hash = zeroblob(32) WHERE seq = 10", SRV_AUDIT_CHANGED, 10 },
  { "edit-link", DROP_GUARDS "UPDATE audit_log SET prev_hash = zeroblob(32) WHERE seq = 5", SRV_AUDIT_CHANGED, 5 },
  { "delete-middle", DROP_GUARDS "DELETE FROM audit_log WHERE seq = 5", SRV_AUDIT_REMOVED, 5 },
  { "delete-first", DROP_GUARDS "DELETE FROM audit_log WHERE seq = 1", SRV_AUDIT_REMOVED, 1 },
  { "delete-renumber", DROP_GUARDS "DELETE FROM audit_log WHERE seq = 5;"
                                   "UPDATE audit_log SET seq = seq + 1000 WHERE seq > 5;"
                                   "UPDATE audit_log SET seq = seq - 1001 WHERE seq > 1000",
    SRV_AUDIT_REMOVED, 5 },
  { "swap", DROP_GUARDS "UPDATE audit_log SET seq = 100 WHERE seq = 6;"
                        "UPDATE audit_log SET seq = 6 WHERE seq = 7;"
                        "UPDATE audit_log SET seq = 7 WHERE seq = 100",
    SRV_AUDIT_REORDERED, 6 },
  { "swap-far", DROP_GUARDS "UPDATE audit_log SET seq = 100 WHERE seq = 2;"
                            "UPDATE audit_log SET seq = 2 WHERE seq = 9;"
                            "UPDATE audit_log SET seq = 9 WHERE seq = 100",
    SRV_AUDIT_REORDERED, 2 },
};

/* An entry edited and given a correct new hash verifies alone; its successor,
 * which committed to the old hash, gives it away. */
static void
test_tamper_rehash(Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 5; i++)
    append(f, NOW + i, 1, "owner", "device.revoke");
  g_autoptr(GError) error = NULL;
  SrvAuditFilter third = { .after_seq = 2, .limit = 1 };
  g_autoptr(GArray) rows = srv_audit_store_list(f->app.store, &third, NULL, &error);
  SrvAuditRow *r = &g_array_index(rows, SrvAuditRow, 0);
  g_free(r->result);
  r->result = g_strdup("refused");
  guint8 forged[32];
  srv_audit_chain_hash(r, r->prev_hash, forged);
  g_autofree char *hex = gk_hex_encode(forged, 32);
  g_autofree char *sql = g_strdup_printf(DROP_GUARDS "UPDATE audit_log SET result = 'refused', hash = x'%s'"
                                         " WHERE seq = 3", hex);
  g_assert_cmpint(raw(f, sql), ==, SQLITE_OK);
  SrvAuditVerify v;
  verify(f, &v);
  g_assert_false(v.ok);
  g_assert_cmpint(v.problem, ==, SRV_AUDIT_CHANGED);
  g_assert_cmpint(v.first_bad_seq, ==, 3);
  g_assert_cmpint(v.entries, ==, 4);
}

static void
test_purge(Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 10; i++)
    append(f, NOW + i * 100, 1, "owner", "host.list");
  g_autoptr(GError) error = NULL;
  guint deleted = 99;
  /* Nothing that old: nothing goes, nothing is recorded. */
  g_assert_true(srv_audit_purge(f->app.store, NOW - 1, &deleted, &error));
  g_assert_cmpuint(deleted, ==, 0);
  g_assert_cmpint(raw_count(f), ==, 10);
  /* Entries 1-4 are older than NOW + 350. */
  g_assert_true(srv_audit_purge(f->app.store, NOW + 350, &deleted, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(deleted, ==, 4);
  g_assert_cmpint(raw_count(f), ==, 7); /* 6 left + the purge's own entry */
  SrvAuditVerify v;
  verify(f, &v);
  g_assert_true(v.ok);
  g_assert_cmpint(v.entries, ==, 7);
  g_assert_cmpint(v.head_seq, ==, 11);
  SrvAuditFilter filter = { .limit = 1, .newest = TRUE, .site_id = 1 };
  g_autoptr(GArray) last = srv_audit_store_list(f->app.store, &filter, NULL, &error);
  g_assert_cmpuint(last->len, ==, 1);
  g_assert_cmpstr(g_array_index(last, SrvAuditRow, 0).action, ==, "audit.purge");
  g_assert_cmpstr(g_array_index(last, SrvAuditRow, 0).actor_kind, ==, "system");
  /* Above the new base the guards still hold; appending goes on. */
  g_assert_cmpint(raw(f, "DELETE FROM audit_log WHERE seq = 5"), ==, SQLITE_CONSTRAINT);
  g_assert_cmpint(raw(f, "UPDATE audit_chain SET base_seq = 0"), ==, SQLITE_CONSTRAINT);
  append(f, NOW + 2000, 1, "owner", "host.list");
  verify(f, &v);
  g_assert_true(v.ok);
  g_assert_cmpint(v.head_seq, ==, 12);
  /* Removing the first entry left after a purge is still seen. */
  g_assert_cmpint(raw(f, DROP_GUARDS "DELETE FROM audit_log WHERE seq = 5"), ==, SQLITE_OK);
  verify(f, &v);
  g_assert_false(v.ok);
  g_assert_cmpint(v.problem, ==, SRV_AUDIT_REMOVED);
  g_assert_cmpint(v.first_bad_seq, ==, 5);
}

static void
test_list_filters(Fixture *f, gconstpointer data)
{
  append(f, NOW, 1, "owner", "login");
  append(f, NOW + 10, 2, "osaka-admin", "login");
  append(f, NOW + 20, 1, "auditor", "audit.list");
  append(f, NOW + 30, 0, "server", "audit.purge");
  append(f, NOW + 40, 1, "owner", "host.add");
  g_autoptr(GError) error = NULL;
  gboolean more = FALSE;

  SrvAuditFilter by_site = { .site_id = 1, .limit = 100 };
  g_autoptr(GArray) site = srv_audit_store_list(f->app.store, &by_site, &more, &error);
  /* Site 1 and the server-wide entry; never site 2's. */
  g_assert_cmpuint(site->len, ==, 4);
  for (guint i = 0; i < site->len; i++)
    g_assert_cmpint(g_array_index(site, SrvAuditRow, i).site_id, !=, 2);

  SrvAuditFilter by_actor = { .site_id = 1, .actor = "owner", .limit = 100 };
  g_autoptr(GArray) owner = srv_audit_store_list(f->app.store, &by_actor, &more, &error);
  g_assert_cmpuint(owner->len, ==, 2);
  g_assert_cmpint(g_array_index(owner, SrvAuditRow, 0).seq, ==, 1);
  g_assert_cmpint(g_array_index(owner, SrvAuditRow, 1).seq, ==, 5);

  SrvAuditFilter by_action = { .site_id = 1, .action = "login", .limit = 100 };
  g_autoptr(GArray) logins = srv_audit_store_list(f->app.store, &by_action, &more, &error);
  g_assert_cmpuint(logins->len, ==, 1);

  SrvAuditFilter since = { .site_id = 1, .since = NOW + 20, .limit = 2 };
  g_autoptr(GArray) late = srv_audit_store_list(f->app.store, &since, &more, &error);
  g_assert_cmpuint(late->len, ==, 2);
  g_assert_cmpint(g_array_index(late, SrvAuditRow, 0).seq, ==, 3);
  g_assert_true(more);

  SrvAuditFilter after = { .site_id = 1, .after_seq = 4, .limit = 2 };
  g_autoptr(GArray) tail = srv_audit_store_list(f->app.store, &after, &more, &error);
  g_assert_cmpuint(tail->len, ==, 1);
  g_assert_false(more);

  SrvAuditFilter newest = { .site_id = 1, .limit = 2, .newest = TRUE };
  g_autoptr(GArray) recent = srv_audit_store_list(f->app.store, &newest, &more, &error);
  g_assert_cmpuint(recent->len, ==, 2);
  g_assert_cmpint(g_array_index(recent, SrvAuditRow, 0).seq, ==, 4);
  g_assert_cmpint(g_array_index(recent, SrvAuditRow, 1).seq, ==, 5);
  g_assert_true(more);
  g_assert_no_error(error);
}

/* ---- query strings ----------------------------------------------------------------------- */

static void
test_query_parse(void)
{
  g_auto(SrvAuditQuery) q = { 0 };
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_audit_query_parse(NULL, FALSE, &q, &error));
  g_assert_false(q.has_since);
  g_assert_true(srv_audit_query_parse("since=2026-05-01T09:00:00Z&actor=%E5%8F%97%E4%BB%98&limit=10&after=3",
                                      FALSE, &q, &error));
  g_assert_no_error(error);
  g_assert_cmpint(q.since, ==, 1777626000);
  g_assert_cmpstr(q.actor, ==, "受付");
  g_assert_cmpuint(q.limit, ==, 10);
  g_assert_cmpint(q.after_seq, ==, 3);
  /* @q is overwritten by each parse: what it held is freed first. */
  srv_audit_query_clear(&q);
  g_assert_true(srv_audit_query_parse("since=2026-05-01T18:00:00%2B09:00", FALSE, &q, &error) == FALSE);
  g_clear_error(&error);
  g_assert_true(srv_audit_query_parse("since=2026-05-01T18:00:00+09:00&action=login.refused&bom=1", TRUE, &q,
                                      &error));
  g_assert_cmpint(q.since, ==, 1777626000);
  g_assert_cmpstr(q.action, ==, "login.refused");
  g_assert_true(q.bom);
  srv_audit_query_clear(&q);
  g_assert_true(srv_audit_query_parse("since=1700000000", FALSE, &q, &error));
  g_assert_cmpint(q.since, ==, NOW);

  static const char *const bad[] = {
    "since=", "since=yesterday", "since=2026-05-01T09:00:00", "since=-5", "since=99999999999999",
    "limit=0", "limit=20001", "limit=+5", "limit=1e3", "after=-1", "actor=", "actor=%00x", "actor=%0Ax",
    "actor=%ZZ", "actor=%FF", "actor=a&actor=b", "bom=1", "colour=red", "limit", "&", "limit=5&", "=5",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_clear_error(&error);
    g_assert_false(srv_audit_query_parse(bad[i], FALSE, &q, &error));
    g_assert_error(error, SRV_AUDIT_QUERY_ERROR, SRV_AUDIT_QUERY_ERROR_INVALID);
    g_assert_null(q.actor);
  }
  g_clear_error(&error);
  g_assert_false(srv_audit_query_parse("bom=2", TRUE, &q, &error));
  g_clear_error(&error);
  g_autofree char *huge = g_strnfill(3000, 'a');
  g_assert_false(srv_audit_query_parse(huge, FALSE, &q, &error));
}

/* ---- the router's entry for a request --------------------------------------------------------- */

static void
response_clear(SrvResponse *r)
{
  g_clear_pointer(&r->content_type, g_free);
  g_clear_pointer(&r->body, g_bytes_unref);
  g_clear_pointer(&r->extra_headers, g_strfreev);
}

/* Runs one fake request through begin / (actor) / end with @status and a body. */
static void
fake_request(Fixture *f, SrvHttpMethod method, const char *path, const char *actor, guint status, const char *json)
{
  SrvHttpRequest http = { .method = method, .path = path };
  SrvRequest request = { .http = &http, .peer_ip = "198.51.100.4" };
  SrvResponse response = { 0 };
  srv_audit_request_begin(&request);
  if (actor != NULL)
    srv_audit_request_actor(SRV_AUDIT_ACTOR_ACCOUNT, actor);
  srv_response_take_json(&response, status, g_strdup(json));
  srv_audit_request_end(&f->app, &request, &response);
  response_clear(&response);
}

static SrvAuditRow *
last_entry(Fixture *f, GArray **holder)
{
  g_autoptr(GError) error = NULL;
  SrvAuditFilter filter = { .limit = 1, .newest = TRUE };
  g_clear_pointer(holder, g_array_unref);
  *holder = srv_audit_store_list(f->app.store, &filter, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint((*holder)->len, ==, 1);
  return &g_array_index(*holder, SrvAuditRow, 0);
}

static void
assert_entry(const SrvAuditRow *r, const char *actor, const char *action, const char *target, const char *result,
             const char *reason)
{
  g_assert_cmpstr(r->actor, ==, actor);
  g_assert_cmpstr(r->action, ==, action);
  g_assert_cmpstr(r->target, ==, target);
  g_assert_cmpstr(r->result, ==, result);
  g_assert_cmpstr(r->reason, ==, reason);
}

static void
test_router_entries(Fixture *f, gconstpointer data)
{
  g_autoptr(GArray) holder = NULL;
  const char *forbidden = "{\"error\":{\"status\":403,\"code\":\"forbidden\",\"message\":\"no\"}}";
  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/hosts", "receptionist", 403, forbidden);
  SrvAuditRow *r = last_entry(f, &holder);
  assert_entry(r, "receptionist", "host.add", "", "refused", "forbidden");
  g_assert_cmpstr(r->actor_kind, ==, "account");
  g_assert_cmpstr(r->source_ip, ==, "198.51.100.4");
  g_assert_cmpint(r->site_id, ==, 1);

  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/hosts", "owner", 201, "{\"id\":42}");
  assert_entry(last_entry(f, &holder), "owner", "host.add", "42", "ok", "");
  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/hosts", NULL, 401,
               "{\"error\":{\"status\":401,\"code\":\"unauthenticated\",\"message\":\"x\"}}");
  r = last_entry(f, &holder);
  assert_entry(r, "-", "session.refused", "host.add", "refused", "unauthenticated");
  g_assert_cmpstr(r->actor_kind, ==, "none");
  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/login", "owner", 401,
               "{\"error\":{\"status\":401,\"code\":\"bad-credentials\",\"message\":\"x\"}}");
  assert_entry(last_entry(f, &holder), "owner", "login.refused", "", "refused", "bad-credentials");
  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/login", "owner", 200, "{\"token\":\"SECRET-TOKEN\"}");
  assert_entry(last_entry(f, &holder), "owner", "login", "", "ok", "");
  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/enroll", NULL, 200, "{\"device_id\":\"dev-0011\"}");
  r = last_entry(f, &holder);
  assert_entry(r, "dev-0011", "device.enroll", "dev-0011", "ok", "");
  g_assert_cmpstr(r->actor_kind, ==, "device");
  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/devices/dev-0011/revoke", "admin", 200, "{}");
  assert_entry(last_entry(f, &holder), "admin", "device.revoke", "dev-0011", "ok", "");
  fake_request(f, SRV_HTTP_METHOD_POST, "/v1/devices/dev-0011/config", "admin", 400,
               "{\"error\":{\"status\":400,\"code\":\"bad-request\",\"message\":\"x\"}}");
  assert_entry(last_entry(f, &holder), "admin", "config.set", "dev-0011", "refused", "bad-request");
  fake_request(f, SRV_HTTP_METHOD_GET, "/v1/visits/export", "owner", 200, "{}");
  assert_entry(last_entry(f, &holder), "owner", "export", "visits", "ok", "");
  fake_request(f, SRV_HTTP_METHOD_GET, "/v1/nope", "owner", 404,
               "{\"error\":{\"status\":404,\"code\":\"not-found\",\"message\":\"x\"}}");
  assert_entry(last_entry(f, &holder), "owner", "request", "GET /v1/nope", "refused", "not-found");
  fake_request(f, SRV_HTTP_METHOD_GET, "/v1/hosts", "owner", 500,
               "{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"x\"}}");
  assert_entry(last_entry(f, &holder), "owner", "host.list", "", "error", "internal");
  gint64 before = raw_count(f);
  /* Monitors' health checks leave no entry when they succeed. */
  fake_request(f, SRV_HTTP_METHOD_GET, "/healthz", NULL, 200, "{\"status\":\"ok\"}");
  g_assert_cmpint(raw_count(f), ==, before);
  /* Nothing from the answers but ids went in: the token is in no entry. */
  g_autoptr(GError) error = NULL;
  SrvAuditFilter all = { .limit = 1000 };
  g_autoptr(GArray) rows = srv_audit_store_list(f->app.store, &all, NULL, &error);
  for (guint i = 0; i < rows->len; i++) {
    g_autoptr(GBytes) enc = srv_audit_encode(&g_array_index(rows, SrvAuditRow, i));
    g_assert_null(g_strstr_len(g_bytes_get_data(enc, NULL), (gssize) g_bytes_get_size(enc), "SECRET"));
  }
}

/* A handler that records its own entry replaces the router's, and gets the
 * request's address and actor for free. */
static void
test_explicit_entry(Fixture *f, gconstpointer data)
{
  SrvHttpRequest http = { .method = SRV_HTTP_METHOD_POST, .path = "/v1/login" };
  SrvRequest request = { .http = &http, .peer_ip = "203.0.113.9" };
  SrvResponse response = { 0 };
  srv_audit_request_begin(&request);
  srv_audit_request_actor(SRV_AUDIT_ACTOR_ACCOUNT, "owner");
  srv_audit_request_site(5);
  SrvAuditEntry e = { .action = "login.refused", .result = SRV_AUDIT_REFUSED, .reason = "locked-out" };
  srv_audit_record(&f->app, &e);
  srv_response_set_error(&response, 429, "locked-out", NULL);
  srv_audit_request_end(&f->app, &request, &response);
  response_clear(&response);
  g_assert_cmpint(raw_count(f), ==, 1);
  g_autoptr(GArray) holder = NULL;
  SrvAuditRow *r = last_entry(f, &holder);
  assert_entry(r, "owner", "login.refused", "", "refused", "locked-out");
  g_assert_cmpstr(r->source_ip, ==, "203.0.113.9");
  /* The site the request acts on, not the server's own. */
  g_assert_cmpint(r->site_id, ==, 5);

  /* Outside a request: nobody, from nowhere; text is cleaned and cut. */
  g_autofree char *long_target = g_strnfill(300, 't');
  SrvAuditEntry sys = { .action = "backup", .target = long_target, .actor = "ops\n\x01team",
                        .actor_kind = SRV_AUDIT_ACTOR_SYSTEM };
  srv_audit_record(&f->app, &sys);
  r = last_entry(f, &holder);
  g_assert_cmpint(r->site_id, ==, 1);
  g_assert_cmpstr(r->actor, ==, "ops??team");
  g_assert_cmpstr(r->actor_kind, ==, "system");
  g_assert_cmpstr(r->source_ip, ==, "-");
  g_assert_cmpuint(strlen(r->target), ==, 256);
  SrvAuditEntry anon = { .action = "retention.purge" };
  srv_audit_record(&f->app, &anon);
  r = last_entry(f, &holder);
  assert_entry(r, "-", "retention.purge", "", "ok", "");
  g_assert_cmpstr(r->actor_kind, ==, "none");
}

/* ---- CSV export -------------------------------------------------------------------------------- */

static void
test_csv_export(Fixture *f, gconstpointer data)
{
  g_auto(SrvAuditRow) row = { 0 };
  g_autoptr(GError) error = NULL;
  row_set(&row, NOW, 1, "none", "-", "192.0.2.1", "request", "GET /v1/a,\"b\"", "refused", "not-found");
  g_assert_true(srv_audit_store_append(f->app.store, &row, &error));
  g_auto(SrvAuditRow) formula = { 0 };
  row_set(&formula, NOW + 1, 1, "account", "=HYPERLINK(\"x\")", "192.0.2.1", "login", "", "ok", "");
  g_assert_true(srv_audit_store_append(f->app.store, &formula, &error));

  SrvHttpRequest http = { .method = SRV_HTTP_METHOD_GET, .path = "/v1/audit/export", .query = "bom=1" };
  SrvRequest request = { .http = &http, .peer_ip = "192.0.2.1" };
  SrvResponse response = { 0 };
  srv_audit_handle_export(&f->app, &request, &response);
  g_assert_cmpuint(response.status, ==, 200);
  g_assert_cmpstr(response.content_type, ==, "text/csv; charset=utf-8");
  gsize len = 0;
  const char *body = g_bytes_get_data(response.body, &len);
  g_autofree char *text = g_strndup(body, len);
  g_assert_true(g_str_has_prefix(text, "\xEF\xBB\xBFseq,time_utc,actor_kind,actor,source_ip,action,target,result,"
                                       "reason,hash\r\n"));
  g_assert_nonnull(strstr(text, "\r\n1,2023-11-14T22:13:20Z,none,-,192.0.2.1,request,\"GET /v1/a,\"\"b\"\"\","
                                "refused,not-found,"));
  g_assert_nonnull(strstr(text, ",account,\"'=HYPERLINK(\"\"x\"\")\",192.0.2.1,login,,ok,,"));
  g_assert_cmpstr(response.extra_headers[3], ==, "0");
  g_assert_cmpstr(response.extra_headers[5], ==, "2");
  response_clear(&response);

  /* Without bom=1 no BOM; a bad parameter is a 400 and no CSV. */
  http.query = "limit=1";
  srv_audit_handle_export(&f->app, &request, &response);
  g_assert_true(g_str_has_prefix(g_bytes_get_data(response.body, NULL), "seq,"));
  g_assert_cmpstr(response.extra_headers[3], ==, "1");
  response_clear(&response);
  http.query = "bom=yes";
  srv_audit_handle_export(&f->app, &request, &response);
  g_assert_cmpuint(response.status, ==, 400);
  response_clear(&response);
  http.query = "bom=1";
  srv_audit_handle_list(&f->app, &request, &response);
  g_assert_cmpuint(response.status, ==, 400);
  response_clear(&response);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/srv/audit/encoding-vector", test_encoding_vector);
  g_test_add_func("/srv/audit/encoding-unambiguous", test_encoding_unambiguous);
  g_test_add_func("/srv/audit/query-parse", test_query_parse);
#define T(path, fn, data) g_test_add("/srv/audit/" path, Fixture, data, fixture_set_up, fn, fixture_tear_down)
  T("concurrent-appends", test_concurrent_appends, NULL);
  T("refuses-invalid", test_refuses_invalid, NULL);
  T("append-only", test_append_only, NULL);
  for (guint i = 0; i < G_N_ELEMENTS(tampers); i++) {
    g_autofree char *path = g_strdup_printf("/srv/audit/tamper-%s", tampers[i].name);
    g_test_add(path, Fixture, &tampers[i], fixture_set_up, test_tamper, fixture_tear_down);
  }
  T("tamper-rehash", test_tamper_rehash, NULL);
  T("purge", test_purge, NULL);
  T("list-filters", test_list_filters, NULL);
  T("router-entries", test_router_entries, NULL);
  T("explicit-entry", test_explicit_entry, NULL);
  T("csv-export", test_csv_export, NULL);
#undef T
  return g_test_run();
}
