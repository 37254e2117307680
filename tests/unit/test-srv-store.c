/* The server's master store on a real encrypted SQLite store: lifecycle and
 * migrations, accounts and sessions, enrollment, atomic redemption, offline
 * conflicts, the change feed, and concurrent callers. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "gk-store.h"
#include "gk-test-util.h"
#include "gk-ticket.h"
#include "srv-store-private.h"
#include "srv-store.h"

#define NOW ((gint64) 1700000000)

typedef struct {
  char *dir;
  char *db;
  char *kek;
  SrvStore *store;
  gint64 site;
  gint64 site2;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = gk_test_make_tmpdir("genkan-srv-store");
  f->db = g_build_filename(f->dir, "master.db", NULL);
  f->kek = g_build_filename(f->dir, "master.kek", NULL);
  g_assert_true(srv_store_create(f->db, f->kek, &error));
  g_assert_no_error(error);
  f->store = srv_store_open(f->db, f->kek, 4, &error);
  g_assert_no_error(error);
  g_assert_nonnull(f->store);
  g_assert_true(srv_store_site_add(f->store, "Tokyo HQ", NOW, &f->site, &error));
  g_assert_no_error(error);
  g_assert_true(srv_store_site_add(f->store, "Osaka", NOW, &f->site2, &error));
  g_assert_no_error(error);
  g_assert_cmpint(f->site, !=, f->site2);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->store, srv_store_close);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
  g_free(f->db);
  g_free(f->kek);
}

/* A second, raw connection for what the API does not show (row counts, flags). */
static gint64
count(Fixture *f, const char *sql)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GkStore) gk = gk_store_open(f->db, f->kek, m, n, &error);
  g_assert_no_error(error);
  sqlite3_stmt *s = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(gk), sql, -1, &s, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(s), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

static void
fill_hash(guint8 out[32], guint8 seed)
{
  for (guint i = 0; i < 32; i++)
    out[i] = (guint8) (seed * 31 + i);
}

static void
fill_id(guint8 out[16], guint32 n)
{
  memset(out, 0xa5, 16);
  out[0] = (guint8) (n >> 24);
  out[1] = (guint8) (n >> 16);
  out[2] = (guint8) (n >> 8);
  out[3] = (guint8) n;
}

/* Enrolls a device through a fresh enrollment code. */
static void
add_device(Fixture *f, gint64 site, const char *id, const char *name, guint8 serial_byte)
{
  g_autoptr(GError) error = NULL;
  guint8 token[32];
  fill_hash(token, serial_byte);
  token[31] ^= 0x5a;
  g_assert_true(srv_store_enroll_code_add(f->store, token, site, name, "gate", NOW, NOW + 600, &error));
  g_assert_no_error(error);
  guint8 serial_bytes[8] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, serial_byte };
  g_autoptr(GBytes) serial = g_bytes_new(serial_bytes, sizeof serial_bytes);
  SrvDevice d = { 0 };
  g_assert_true(srv_store_enroll_code_redeem(f->store, token, NOW + 1, id, serial, NOW + 86400 * 365, &d,
                                             &error));
  g_assert_no_error(error);
  srv_device_clear(&d);
}

static void
add_ticket(Fixture *f, gint64 site, guint32 n, guint flags, guint8 id_out[16])
{
  g_autoptr(GError) error = NULL;
  SrvTicket t = { 0 };
  fill_id(t.id, n);
  t.site_id = site;
  t.visitor_name = (char *) "Yamada Hanako";
  t.company = (char *) "Secret Corp";
  t.valid_from = NOW - 3600;
  t.valid_until = NOW + 3600;
  t.flags = flags;
  t.key_id = 1;
  t.text = (char *) "GK1:TESTTEXT";
  t.created_at = NOW;
  g_assert_true(srv_store_ticket_add(f->store, &t, &error));
  g_assert_no_error(error);
  if (id_out != NULL)
    memcpy(id_out, t.id, 16);
}

static SrvEvent
checkin(const char *id, const guint8 ticket[16], gint64 device_time)
{
  SrvEvent ev = { 0 };
  ev.id = (char *) id;
  ev.kind = SRV_EVENT_CHECKIN;
  ev.has_ticket = TRUE;
  memcpy(ev.ticket_id, ticket, 16);
  ev.device_time = device_time;
  ev.offline = TRUE;
  return ev;
}

/* ---- lifecycle --------------------------------------------------------------- */

static void
test_lifecycle(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = gk_test_make_tmpdir("genkan-srv-store");
  g_autofree char *db = g_build_filename(dir, "m.db", NULL);
  g_autofree char *kek = g_build_filename(dir, "m.kek", NULL);
  g_autofree char *other_kek = g_build_filename(dir, "other.kek", NULL);
  g_autofree char *missing = g_build_filename(dir, "missing.db", NULL);

  /* Nothing there yet. */
  SrvStore *none = srv_store_open(missing, kek, 2, &error);
  g_assert_null(none);
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  g_assert_true(srv_store_create(db, kek, &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_create(db, kek, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);

  {
    g_autoptr(SrvStore) store = srv_store_open(db, kek, 3, &error);
    g_assert_no_error(error);
    gint64 id = 0;
    g_autofree char *name = NULL;
    g_assert_false(srv_store_site_default(store, &id, &name, &error));
    g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_true(srv_store_site_add(store, "Main", NOW, &id, &error));
    g_assert_no_error(error);
    gint64 id2 = 0;
    g_assert_true(srv_store_site_add(store, "Annex", NOW, &id2, &error));
    g_assert_no_error(error);
    g_assert_false(srv_store_site_add(store, "Main", NOW, NULL, &error));
    g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
    g_clear_error(&error);
    g_assert_false(srv_store_site_add(store, "", NOW, NULL, &error));
    g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
    g_clear_error(&error);
  }
  /* Reopening runs no migration twice and keeps the data. */
  for (int round = 0; round < 2; round++) {
    g_autoptr(SrvStore) store = srv_store_open(db, kek, 1, &error);
    g_assert_no_error(error);
    gint64 id = 0;
    g_autofree char *name = NULL;
    g_assert_true(srv_store_site_default(store, &id, &name, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(name, ==, "Main");
  }
  {
    gsize n = 0;
    const GkMigration *m = srv_store_sqlite_migrations(&n);
    g_autoptr(GkStore) gk = gk_store_open(db, kek, m, n, &error);
    g_assert_no_error(error);
    sqlite3_stmt *s = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(gk), "PRAGMA user_version", -1, &s, NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(s), ==, SQLITE_ROW);
    g_assert_cmpint(sqlite3_column_int(s, 0), ==, (int) n);
    sqlite3_finalize(s);
  }
  /* The store is encrypted: a different KEK does not open it. */
  {
    g_autoptr(GError) e2 = NULL;
    g_assert_true(gk_store_create(missing, other_kek, &e2));  /* makes other.kek */
    g_assert_no_error(e2);
    SrvStore *wrong = srv_store_open(db, other_kek, 1, &error);
    g_assert_null(wrong);
    g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED);
    g_clear_error(&error);
  }
  g_assert_false(gk_test_tree_contains(dir, "Annex", 5));
  /* A PostgreSQL URI is recognised, and refused clearly until that backend lands. */
  g_assert_null(srv_store_open("postgresql://genkan@db/genkan", NULL, 2, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "PostgreSQL"));
  g_clear_error(&error);
  gk_test_rmtree(dir);
}

/* ---- accounts and sessions --------------------------------------------------------- */

static const char hash1[] = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
static const char hash2[] = "$argon2id$v=19$m=65536,t=3,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g";

static void
test_accounts(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 id = 0;
  g_assert_true(srv_store_account_add(f->store, "alice", hash1, "owner", TRUE, NOW, &id, &error));
  g_assert_no_error(error);

  SrvAccount a = { 0 };
  g_assert_true(srv_store_account_get(f->store, "alice", &a, &error));
  g_assert_no_error(error);
  g_assert_cmpint(a.id, ==, id);
  g_assert_cmpstr(a.username, ==, "alice");
  g_assert_cmpstr(a.password_hash, ==, hash1);
  g_assert_cmpstr(a.role, ==, "owner");
  g_assert_true(a.must_change_password);
  srv_account_clear(&a);
  srv_account_clear(&a);  /* safe twice */

  g_assert_true(srv_store_account_get_by_id(f->store, id, &a, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(a.username, ==, "alice");
  srv_account_clear(&a);

  g_assert_false(srv_store_account_add(f->store, "alice", hash2, "admin", FALSE, NOW, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_assert_null(strstr(error->message, hash2));
  g_clear_error(&error);
  g_assert_false(srv_store_account_add(f->store, "bob", hash2, "janitor", FALSE, NOW, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_assert_nonnull(strstr(error->message, "role"));
  g_assert_null(strstr(error->message, hash2));
  g_clear_error(&error);
  g_assert_false(srv_store_account_add(f->store, "", hash2, "admin", FALSE, NOW, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(srv_store_account_get(f->store, "nobody", &a, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_account_get_by_id(f->store, id + 100, &a, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_account_set_password(f->store, id + 100, hash2, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* Every role the header names is accepted. */
  const char *const all_roles[] = { "admin", "receptionist", "security", "auditor" };
  for (guint i = 0; i < G_N_ELEMENTS(all_roles); i++) {
    g_autofree char *user = g_strdup_printf("user-%s", all_roles[i]);
    g_assert_true(srv_store_account_add(f->store, user, hash2, all_roles[i], FALSE, NOW, NULL, &error));
    g_assert_no_error(error);
  }
}

static void
test_sessions(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 alice = 0, bob = 0, who = 0;
  g_assert_true(srv_store_account_add(f->store, "alice", hash1, "admin", TRUE, NOW, &alice, &error));
  g_assert_true(srv_store_account_add(f->store, "bob", hash1, "auditor", FALSE, NOW, &bob, &error));
  g_assert_no_error(error);
  guint8 t1[32], t2[32], t3[32], t4[32], t5[32];
  fill_hash(t1, 1);
  fill_hash(t2, 2);
  fill_hash(t3, 3);
  fill_hash(t4, 4);
  fill_hash(t5, 5);

  g_assert_true(srv_store_session_add(f->store, t1, alice, "192.0.2.1", NOW, &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_session_add(f->store, t1, alice, "192.0.2.1", NOW, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_assert_false(srv_store_session_add(f->store, t2, 9999, NULL, NOW, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* Live: age 500 < 3600, idle 500 < 600; the touch refreshes last use. */
  g_assert_true(srv_store_session_touch(f->store, t1, NOW + 500, 3600, 600, &who, &error));
  g_assert_no_error(error);
  g_assert_cmpint(who, ==, alice);
  /* Idle 550 since the touch, 1050 since creation: alive only thanks to it. */
  g_assert_true(srv_store_session_touch(f->store, t1, NOW + 1050, 3600, 600, &who, &error));
  g_assert_no_error(error);

  /* Idle expiry: exactly max_idle is too long, and the row goes. */
  g_assert_true(srv_store_session_add(f->store, t2, alice, NULL, NOW, &error));
  g_assert_false(srv_store_session_touch(f->store, t2, NOW + 600, 3600, 600, &who, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_session_touch(f->store, t2, NOW + 601, G_MAXINT64, G_MAXINT64, &who, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* Age expiry, however busy the session is. */
  g_assert_true(srv_store_session_add(f->store, t3, bob, NULL, NOW, &error));
  for (gint64 t = 100; t < 1000; t += 100) {
    g_assert_true(srv_store_session_touch(f->store, t3, NOW + t, 1000, 300, &who, &error));
    g_assert_no_error(error);
    g_assert_cmpint(who, ==, bob);
  }
  g_assert_false(srv_store_session_touch(f->store, t3, NOW + 1000, 1000, 300, &who, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_cmpint(count(f, "SELECT count(*) FROM sessions"), ==, 1);

  /* Logout. */
  g_assert_true(srv_store_session_add(f->store, t4, bob, NULL, NOW, &error));
  g_assert_true(srv_store_session_delete(f->store, t4, &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_session_delete(f->store, t4, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_session_touch(f->store, t4, NOW + 1, 3600, 600, &who, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* A new password ends alice's sessions (not bob's) and clears the flag. */
  g_assert_true(srv_store_session_add(f->store, t4, alice, NULL, NOW + 1000, &error));
  g_assert_true(srv_store_session_add(f->store, t5, bob, NULL, NOW + 1000, &error));
  g_assert_no_error(error);
  g_assert_true(srv_store_account_set_password(f->store, alice, hash2, &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_session_touch(f->store, t1, NOW + 1100, 3600, 600, &who, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_session_touch(f->store, t4, NOW + 1100, 3600, 600, &who, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_true(srv_store_session_touch(f->store, t5, NOW + 1100, 3600, 600, &who, &error));
  g_assert_no_error(error);
  g_assert_cmpint(who, ==, bob);
  SrvAccount a = { 0 };
  g_assert_true(srv_store_account_get_by_id(f->store, alice, &a, &error));
  g_assert_cmpstr(a.password_hash, ==, hash2);
  g_assert_false(a.must_change_password);
  srv_account_clear(&a);
}

/* ---- hosts --------------------------------------------------------------------------- */

static void
test_hosts(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  SrvHost h = { 0 };
  gint64 sato = 0, suzuki1 = 0, suzuki2 = 0, other = 0;
  h.site_id = f->site;
  h.name = (char *) "Sato Ichiro";
  h.reading = (char *) "さとう いちろう";
  h.email = (char *) "sato@example.com";
  h.department = (char *) "Sales";
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &sato, &error));
  g_assert_no_error(error);
  h.name = (char *) "Suzuki";
  h.reading = NULL;
  h.email = NULL;
  h.department = NULL;
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &suzuki1, &error));
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &suzuki2, &error));
  g_assert_no_error(error);
  h.site_id = f->site2;
  h.name = (char *) "Abe";
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &other, &error));
  g_assert_no_error(error);

  h.site_id = f->site;
  h.name = (char *) "";
  g_assert_false(srv_store_host_add(f->store, &h, NOW, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  h.site_id = 9999;
  h.name = (char *) "Ghost";
  g_assert_false(srv_store_host_add(f->store, &h, NOW, NULL, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  g_autoptr(GArray) list = srv_store_host_list(f->store, f->site, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, 3);
  SrvHost *first = &g_array_index(list, SrvHost, 0);
  g_assert_cmpstr(first->name, ==, "Sato Ichiro");
  g_assert_cmpstr(first->reading, ==, "さとう いちろう");
  g_assert_cmpstr(first->email, ==, "sato@example.com");
  g_assert_cmpstr(first->department, ==, "Sales");
  g_assert_cmpint(g_array_index(list, SrvHost, 1).id, ==, suzuki1);
  g_assert_null(g_array_index(list, SrvHost, 1).reading);

  g_autofree char *sato_id = g_strdup_printf("%" G_GINT64_FORMAT, sato);
  g_assert_true(srv_store_host_find(f->store, f->site, sato_id, &h, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(h.name, ==, "Sato Ichiro");
  srv_host_clear(&h);
  g_assert_true(srv_store_host_find(f->store, f->site, "Sato Ichiro", &h, &error));
  g_assert_cmpint(h.id, ==, sato);
  srv_host_clear(&h);
  g_assert_false(srv_store_host_find(f->store, f->site, "Suzuki", &h, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_autofree char *suzuki_id = g_strdup_printf("%" G_GINT64_FORMAT, suzuki2);
  g_assert_true(srv_store_host_find(f->store, f->site, suzuki_id, &h, &error));
  g_assert_cmpint(h.id, ==, suzuki2);
  srv_host_clear(&h);
  g_assert_false(srv_store_host_find(f->store, f->site, "Nobody", &h, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* Another site's host, by id or by name, is not found here. */
  g_autofree char *other_id = g_strdup_printf("%" G_GINT64_FORMAT, other);
  g_assert_false(srv_store_host_find(f->store, f->site, other_id, &h, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_host_find(f->store, f->site, "Abe", &h, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* A host whose name is digits is found by name when no id matches. */
  h.site_id = f->site;
  h.name = (char *) "4242";
  g_assert_true(srv_store_host_add(f->store, &h, NOW, NULL, &error));
  memset(&h, 0, sizeof h);
  g_assert_true(srv_store_host_find(f->store, f->site, "4242", &h, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(h.name, ==, "4242");
  srv_host_clear(&h);
}

/* ---- tickets -------------------------------------------------------------------------- */

static void
test_tickets(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 host = 0, other_host = 0;
  SrvHost h = { .site_id = f->site, .name = (char *) "Sato" };
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &host, &error));
  h.site_id = f->site2;
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &other_host, &error));
  g_assert_no_error(error);

  SrvTicket t = { 0 };
  fill_id(t.id, 7);
  t.site_id = f->site;
  t.host_id = host;
  t.visitor_name = (char *) "Tanaka Taro";
  t.company = (char *) "ACME";
  t.valid_from = NOW;
  t.valid_until = NOW + 7200;
  t.flags = GK_TICKET_FLAG_MULTI_ENTRY;
  t.key_id = 3;
  t.text = (char *) "GK1:ABC";
  t.created_at = NOW - 5;
  g_assert_true(srv_store_ticket_add(f->store, &t, &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_ticket_add(f->store, &t, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);

  SrvTicket got = { 0 };
  g_assert_true(srv_store_ticket_get(f->store, t.id, &got, &error));
  g_assert_no_error(error);
  g_assert_cmpmem(got.id, 16, t.id, 16);
  g_assert_cmpint(got.site_id, ==, f->site);
  g_assert_cmpint(got.host_id, ==, host);
  g_assert_cmpstr(got.visitor_name, ==, "Tanaka Taro");
  g_assert_cmpstr(got.company, ==, "ACME");
  g_assert_cmpint(got.valid_from, ==, NOW);
  g_assert_cmpint(got.valid_until, ==, NOW + 7200);
  g_assert_cmpuint(got.flags, ==, GK_TICKET_FLAG_MULTI_ENTRY);
  g_assert_cmpuint(got.key_id, ==, 3);
  g_assert_cmpstr(got.text, ==, "GK1:ABC");
  g_assert_false(got.revoked);
  g_assert_cmpint(got.created_at, ==, NOW - 5);
  srv_ticket_clear(&got);

  g_assert_true(srv_store_ticket_revoke(f->store, t.id, &error));
  g_assert_no_error(error);
  g_assert_true(srv_store_ticket_revoke(f->store, t.id, &error));  /* idempotent */
  g_assert_no_error(error);
  g_assert_true(srv_store_ticket_get(f->store, t.id, &got, &error));
  g_assert_true(got.revoked);
  srv_ticket_clear(&got);

  guint8 unknown[16];
  fill_id(unknown, 999);
  g_assert_false(srv_store_ticket_get(f->store, unknown, &got, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_ticket_revoke(f->store, unknown, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* A host of another site, an unknown site, a window ending before it starts,
   * a key id out of range, no host at all (allowed). */
  fill_id(t.id, 8);
  t.host_id = other_host;
  g_assert_false(srv_store_ticket_add(f->store, &t, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  t.host_id = 0;
  t.site_id = 9999;
  g_assert_false(srv_store_ticket_add(f->store, &t, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  t.site_id = f->site;
  t.valid_until = t.valid_from - 1;
  g_assert_false(srv_store_ticket_add(f->store, &t, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  t.valid_until = t.valid_from + 1;
  t.key_id = 70000;
  g_assert_false(srv_store_ticket_add(f->store, &t, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  t.key_id = 1;
  g_assert_true(srv_store_ticket_add(f->store, &t, &error));
  g_assert_no_error(error);
  g_assert_true(srv_store_ticket_get(f->store, t.id, &got, &error));
  g_assert_cmpint(got.host_id, ==, 0);
  srv_ticket_clear(&got);

  /* Signing keys: duplicate ids refused. */
  guint8 pk[32];
  fill_hash(pk, 9);
  g_assert_true(srv_store_signing_key_add(f->store, 1, pk, NOW, &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_signing_key_add(f->store, 1, pk, NOW, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_assert_false(srv_store_signing_key_add(f->store, 65536, pk, NOW, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_cmpint(count(f, "SELECT count(*) FROM tickets"), ==, 2);
}

/* ---- enrollment and devices -------------------------------------------------------------- */

static void
test_enroll(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint8 code[32], expired[32], unknown[32], bad[32];
  fill_hash(code, 10);
  fill_hash(expired, 11);
  fill_hash(unknown, 12);
  fill_hash(bad, 13);
  guint8 sb[] = { 0x0a, 0x0b, 0x0c };
  guint8 sb2[] = { 0x0a, 0x0b, 0x0d };
  g_autoptr(GBytes) serial = g_bytes_new(sb, sizeof sb);
  g_autoptr(GBytes) serial2 = g_bytes_new(sb2, sizeof sb2);
  SrvDevice d = { 0 };

  g_assert_true(srv_store_enroll_code_add(f->store, code, f->site, "Lobby tablet", "reception", NOW, NOW + 900,
                                          &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_enroll_code_add(f->store, code, f->site, "Again", "gate", NOW, NOW + 900, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_assert_false(srv_store_enroll_code_add(f->store, bad, f->site, "X", "turnstile", NOW, NOW + 900, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(srv_store_enroll_code_add(f->store, bad, 9999, "X", "gate", NOW, NOW + 900, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_true(srv_store_enroll_code_add(f->store, expired, f->site, "Late", "gate", NOW, NOW + 60, &error));
  g_assert_no_error(error);

  /* First use enrolls. */
  g_assert_true(srv_store_enroll_code_redeem(f->store, code, NOW + 10, "dev-lobby", serial, NOW + 1000, &d,
                                             &error));
  g_assert_no_error(error);
  g_assert_cmpstr(d.id, ==, "dev-lobby");
  g_assert_cmpint(d.site_id, ==, f->site);
  g_assert_cmpstr(d.name, ==, "Lobby tablet");
  g_assert_cmpstr(d.mode, ==, "reception");
  g_assert_true(g_bytes_equal(d.serial, serial));
  g_assert_cmpint(d.cert_expires_at, ==, NOW + 1000);
  g_assert_cmpint(d.enrolled_at, ==, NOW + 10);
  g_assert_cmpint(d.revoked_at, ==, 0);
  g_assert_cmpint(d.last_seen_at, ==, 0);
  srv_device_clear(&d);

  /* Second use: USED, and no second device. */
  g_assert_false(srv_store_enroll_code_redeem(f->store, code, NOW + 11, "dev-evil", serial2, NOW + 1000, &d,
                                              &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED);
  g_clear_error(&error);
  /* Expired (at exactly expires_at too): USED. */
  g_assert_false(srv_store_enroll_code_redeem(f->store, expired, NOW + 60, "dev-late", serial2, NOW + 1000, &d,
                                              &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED);
  g_clear_error(&error);
  g_assert_false(srv_store_enroll_code_redeem(f->store, unknown, NOW, "dev-x", serial2, NOW + 1000, &d, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_cmpint(count(f, "SELECT count(*) FROM devices"), ==, 1);

  /* A serial (or id) already taken fails the whole enrollment: the code stays usable. */
  guint8 code2[32];
  fill_hash(code2, 14);
  g_assert_true(srv_store_enroll_code_add(f->store, code2, f->site, "Gate 2", "gate", NOW, NOW + 900, &error));
  g_assert_false(srv_store_enroll_code_redeem(f->store, code2, NOW + 20, "dev-gate2", serial, NOW + 1000, &d,
                                              &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_assert_false(srv_store_enroll_code_redeem(f->store, code2, NOW + 20, "dev-lobby", serial2, NOW + 1000, &d,
                                              &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_assert_true(srv_store_enroll_code_redeem(f->store, code2, NOW + 21, "dev-gate2", serial2, NOW + 1000, NULL,
                                             &error));
  g_assert_no_error(error);
  g_assert_cmpint(count(f, "SELECT count(*) FROM enroll_codes WHERE used_at IS NOT NULL"), ==, 2);
}

static void
test_devices(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  add_device(f, f->site, "dev-b", "Gate B", 2);
  add_device(f, f->site, "dev-a", "Gate A", 1);
  add_device(f, f->site2, "dev-osaka", "Osaka gate", 3);
  SrvDevice d = { 0 };

  g_autoptr(GArray) list = srv_store_device_list(f->store, f->site, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, 2);
  g_assert_cmpstr(g_array_index(list, SrvDevice, 0).id, ==, "dev-a");
  g_assert_cmpstr(g_array_index(list, SrvDevice, 1).id, ==, "dev-b");

  g_assert_true(srv_store_device_get(f->store, "dev-osaka", &d, &error));
  g_assert_cmpint(d.site_id, ==, f->site2);
  g_assert_cmpstr(d.mode, ==, "gate");
  srv_device_clear(&d);
  g_assert_false(srv_store_device_get(f->store, "dev-none", &d, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  guint8 sb[8] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 2 };
  g_autoptr(GBytes) serial_b = g_bytes_new(sb, sizeof sb);
  g_assert_true(srv_store_device_by_serial(f->store, serial_b, &d, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(d.id, ==, "dev-b");
  srv_device_clear(&d);
  sb[7] = 99;
  g_autoptr(GBytes) serial_none = g_bytes_new(sb, sizeof sb);
  g_assert_false(srv_store_device_by_serial(f->store, serial_none, &d, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  g_assert_true(srv_store_device_seen(f->store, "dev-a", NOW + 50, -1500, 7, &error));
  g_assert_no_error(error);
  g_assert_true(srv_store_device_get(f->store, "dev-a", &d, &error));
  g_assert_cmpint(d.last_seen_at, ==, NOW + 50);
  g_assert_cmpint(d.clock_offset_ms, ==, -1500);
  g_assert_cmpint(d.queue_length, ==, 7);
  srv_device_clear(&d);
  g_assert_false(srv_store_device_seen(f->store, "dev-none", NOW, 0, 0, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  g_autoptr(GPtrArray) revoked = srv_store_revoked_serials(f->store, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(revoked->len, ==, 0);
  g_assert_true(srv_store_device_revoke(f->store, "dev-b", NOW + 100, &d, &error));
  g_assert_no_error(error);
  g_assert_cmpint(d.revoked_at, ==, NOW + 100);
  srv_device_clear(&d);
  /* Idempotent: the first revocation time stays. */
  g_assert_true(srv_store_device_revoke(f->store, "dev-b", NOW + 200, &d, &error));
  g_assert_cmpint(d.revoked_at, ==, NOW + 100);
  srv_device_clear(&d);
  g_assert_true(srv_store_device_revoke(f->store, "dev-b", NOW + 300, NULL, &error));
  g_assert_no_error(error);
  g_assert_false(srv_store_device_revoke(f->store, "dev-none", NOW, &d, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_clear_pointer(&revoked, g_ptr_array_unref);
  revoked = srv_store_revoked_serials(f->store, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(revoked->len, ==, 1);
  g_assert_true(g_bytes_equal(g_ptr_array_index(revoked, 0), serial_b));
}

/* ---- online redemption ------------------------------------------------------------------------ */

static void
test_redeem(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  add_device(f, f->site, "dev-1", "Gate 1", 1);
  add_device(f, f->site, "dev-2", "Gate 2", 2);
  add_device(f, f->site2, "dev-osaka", "Osaka", 3);
  guint8 once[16], multi[16], revoked[16], unknown[16], osaka[16];
  add_ticket(f, f->site, 1, 0, once);
  add_ticket(f, f->site, 2, GK_TICKET_FLAG_MULTI_ENTRY, multi);
  add_ticket(f, f->site, 3, 0, revoked);
  add_ticket(f, f->site2, 4, 0, osaka);
  fill_id(unknown, 5);
  g_assert_true(srv_store_ticket_revoke(f->store, revoked, &error));
  SrvRedeemOutcome o = { 0 };

  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, once, "ev-1", NOW + 5, NOW + 10, &o, &error));
  g_assert_no_error(error);
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ACCEPTED);
  srv_redeem_outcome_clear(&o);

  g_assert_true(srv_store_redeem(f->store, "dev-2", f->site, once, "ev-2", NOW + 20, NOW + 30, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ALREADY_USED);
  g_assert_cmpint(o.used_at, ==, NOW + 10);
  g_assert_cmpstr(o.used_by_device, ==, "dev-1");
  g_assert_cmpstr(o.used_by_name, ==, "Gate 1");
  srv_redeem_outcome_clear(&o);

  /* The same event ids again answer as the first time, writing nothing. */
  gint64 events_before = count(f, "SELECT count(*) FROM events");
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, once, "ev-1", NOW + 5, NOW + 40, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ACCEPTED);
  srv_redeem_outcome_clear(&o);
  g_assert_true(srv_store_redeem(f->store, "dev-2", f->site, once, "ev-2", NOW + 20, NOW + 40, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ALREADY_USED);
  g_assert_cmpint(o.used_at, ==, NOW + 10);
  g_assert_cmpstr(o.used_by_device, ==, "dev-1");
  srv_redeem_outcome_clear(&o);
  g_assert_cmpint(count(f, "SELECT count(*) FROM events"), ==, events_before);
  /* An event id reused for a different ticket is refused, not answered. */
  g_assert_false(srv_store_redeem(f->store, "dev-1", f->site, multi, "ev-1", NOW, NOW + 40, &o, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  /* Another device naming dev-1's event id is refused too: it must not be told
   * "accepted" for a ticket it never admitted, nor have its event dropped. */
  g_assert_false(srv_store_redeem(f->store, "dev-2", f->site, once, "ev-1", NOW + 50, NOW + 50, &o, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  SrvEvent stolen = { .id = (char *) "ev-1", .kind = SRV_EVENT_CHECKIN, .has_ticket = TRUE, .device_time = NOW };
  memcpy(stolen.ticket_id, once, 16);
  SrvEventStatus st;
  g_assert_false(srv_store_events_apply(f->store, "dev-2", f->site, &stolen, 1, NOW + 50, &st, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  g_assert_cmpint(count(f, "SELECT count(*) FROM events"), ==, events_before);

  /* Multi-entry: always accepted, each one recorded. */
  for (int i = 0; i < 3; i++) {
    g_autofree char *ev = g_strdup_printf("ev-multi-%d", i);
    g_assert_true(srv_store_redeem(f->store, i ? "dev-2" : "dev-1", f->site, multi, ev, NOW + i, NOW + i, &o,
                                   &error));
    g_assert_no_error(error);
    g_assert_cmpint(o.result, ==, SRV_REDEEM_ACCEPTED);
    srv_redeem_outcome_clear(&o);
  }
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, revoked, "ev-r", NOW, NOW, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_REVOKED);
  srv_redeem_outcome_clear(&o);
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, unknown, "ev-u", NOW, NOW, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_UNKNOWN);
  srv_redeem_outcome_clear(&o);
  /* Osaka's ticket at a Tokyo gate: unknown here, and Osaka can still use it. */
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, osaka, "ev-o1", NOW, NOW, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_UNKNOWN);
  srv_redeem_outcome_clear(&o);
  g_assert_true(srv_store_redeem(f->store, "dev-osaka", f->site2, osaka, "ev-o2", NOW, NOW, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ACCEPTED);
  srv_redeem_outcome_clear(&o);
  /* A device the store does not know cannot redeem (and claims nothing). */
  guint8 fresh[16];
  add_ticket(f, f->site, 6, 0, fresh);
  g_assert_false(srv_store_redeem(f->store, "dev-ghost", f->site, fresh, "ev-g", NOW, NOW, &o, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_false(srv_store_redeem(f->store, "dev-1", f->site, fresh, "", NOW, NOW, &o, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, fresh, "ev-f", NOW, NOW, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ACCEPTED);
  srv_redeem_outcome_clear(&o);

  g_assert_cmpint(count(f, "SELECT count(*) FROM redemptions"), ==, 3);
  /* Rejections are kept as scan-rejected events, not as check-ins. */
  g_autoptr(GArray) list = srv_store_checkin_list(f->store, f->site, 100, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, 5);  /* ev-1, three multi, ev-f */
  for (guint i = 0; i < list->len; i++) {
    SrvCheckin *ci = &g_array_index(list, SrvCheckin, i);
    g_assert_cmpint(ci->kind, ==, SRV_EVENT_CHECKIN);
    g_assert_true(ci->has_ticket);
    g_assert_cmpstr(ci->visitor_name, ==, "Yamada Hanako");
    g_assert_false(ci->offline);
  }
}

/* ---- offline events and conflicts ---------------------------------------------------------------- */

static void
test_events(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  add_device(f, f->site, "dev-1", "Gate 1", 1);
  add_device(f, f->site, "dev-2", "Gate 2", 2);
  guint8 a[16], b[16];
  add_ticket(f, f->site, 1, 0, a);
  add_ticket(f, f->site, 2, 0, b);
  SrvEventStatus st[4];

  /* Plain storage: a check-out and an audit entry. */
  SrvEvent misc[2] = { checkin("m-1", a, NOW + 1), { 0 } };
  misc[0].kind = SRV_EVENT_CHECKOUT;
  misc[1].id = (char *) "m-2";
  misc[1].kind = SRV_EVENT_AUDIT;
  misc[1].device_time = NOW + 2;
  misc[1].reason = (char *) "settings-opened";
  g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, misc, 2, NOW + 5, st, &error));
  g_assert_no_error(error);
  g_assert_cmpint(st[0], ==, SRV_EVENT_STORED);
  g_assert_cmpint(st[1], ==, SRV_EVENT_STORED);
  g_assert_cmpint(count(f, "SELECT count(*) FROM redemptions"), ==, 0);

  /* Two offline gates admit ticket a: dev-1 at +100, dev-2 at +200. */
  SrvEvent batch1[] = { checkin("e-1", a, NOW + 100) };
  SrvEvent batch2[] = { checkin("e-2", a, NOW + 200) };
  g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, batch1, 1, NOW + 300, st, &error));
  g_assert_no_error(error);
  g_assert_cmpint(st[0], ==, SRV_EVENT_STORED);
  g_assert_true(srv_store_events_apply(f->store, "dev-2", f->site, batch2, 1, NOW + 301, st, &error));
  g_assert_no_error(error);
  g_assert_cmpint(st[0], ==, SRV_EVENT_CONFLICT);

  g_autoptr(GArray) alerts = srv_store_alert_list(f->store, f->site, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(alerts->len, ==, 1);
  SrvAlert *al = &g_array_index(alerts, SrvAlert, 0);
  g_assert_cmpstr(al->kind, ==, "double-entry");
  g_assert_cmpmem(al->ticket_id, 16, a, 16);
  g_assert_cmpstr(al->event_id, ==, "e-2");
  g_assert_cmpstr(al->first_event_id, ==, "e-1");
  g_assert_cmpstr(al->device_id, ==, "dev-2");
  g_assert_cmpstr(al->first_device_id, ==, "dev-1");
  g_assert_cmpint(al->created_at, ==, NOW + 301);

  /* The offline admission reached the server: online redemption now refuses. */
  SrvRedeemOutcome o = { 0 };
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, a, "on-1", NOW + 400, NOW + 400, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ALREADY_USED);
  g_assert_cmpstr(o.used_by_device, ==, "dev-1");
  g_assert_cmpint(o.used_at, ==, NOW + 100);
  srv_redeem_outcome_clear(&o);

  /* Replays change nothing: every event DUPLICATE, no new row anywhere. */
  gint64 n_events = count(f, "SELECT count(*) FROM events");
  gint64 n_alerts = count(f, "SELECT count(*) FROM alerts");
  gint64 seq = count(f, "SELECT value FROM feed_seq");
  for (int round = 0; round < 2; round++) {
    g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, batch1, 1, NOW + 500, st, &error));
    g_assert_cmpint(st[0], ==, SRV_EVENT_DUPLICATE);
    g_assert_true(srv_store_events_apply(f->store, "dev-2", f->site, batch2, 1, NOW + 500, st, &error));
    g_assert_cmpint(st[0], ==, SRV_EVENT_DUPLICATE);
    g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, misc, 2, NOW + 500, st, &error));
    g_assert_no_error(error);
    g_assert_cmpint(st[0], ==, SRV_EVENT_DUPLICATE);
    g_assert_cmpint(st[1], ==, SRV_EVENT_DUPLICATE);
  }
  g_assert_cmpint(count(f, "SELECT count(*) FROM events"), ==, n_events);
  g_assert_cmpint(count(f, "SELECT count(*) FROM alerts"), ==, n_alerts);
  g_assert_cmpint(count(f, "SELECT value FROM feed_seq"), ==, seq);
  g_assert_cmpint(count(f, "SELECT count(*) FROM events WHERE conflict = 1"), ==, 1);

  /* Ticket b: the later admission arrives first; the earlier one, arriving
   * second, becomes the first admission and the other the conflict. */
  SrvEvent late[] = { checkin("f-late", b, NOW + 900) };
  SrvEvent early[] = { checkin("f-early", b, NOW + 800) };
  g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, late, 1, NOW + 1000, st, &error));
  g_assert_cmpint(st[0], ==, SRV_EVENT_STORED);
  gint64 b_seq_before = count(f, "SELECT seq FROM redemptions WHERE event_id = 'f-late'");
  g_assert_true(srv_store_events_apply(f->store, "dev-2", f->site, early, 1, NOW + 1001, st, &error));
  g_assert_no_error(error);
  g_assert_cmpint(st[0], ==, SRV_EVENT_STORED);
  g_assert_cmpint(count(f, "SELECT count(*) FROM redemptions WHERE event_id = 'f-early' AND device_id = 'dev-2'"
                           " AND redeemed_at = 1700000800"), ==, 1);
  g_assert_cmpint(count(f, "SELECT seq FROM redemptions WHERE event_id = 'f-early'"), >, b_seq_before);
  g_assert_cmpint(count(f, "SELECT conflict FROM events WHERE id = 'f-late'"), ==, 1);
  g_assert_cmpint(count(f, "SELECT conflict FROM events WHERE id = 'f-early'"), ==, 0);
  g_clear_pointer(&alerts, g_array_unref);
  alerts = srv_store_alert_list(f->store, f->site, &error);
  g_assert_cmpuint(alerts->len, ==, 2);
  al = &g_array_index(alerts, SrvAlert, 0);  /* newest first */
  g_assert_cmpstr(al->event_id, ==, "f-late");
  g_assert_cmpstr(al->first_event_id, ==, "f-early");
  g_assert_cmpstr(al->device_id, ==, "dev-1");
  g_assert_cmpstr(al->first_device_id, ==, "dev-2");
  /* And replaying both keeps it that way. */
  g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, late, 1, NOW + 1100, st, &error));
  g_assert_true(srv_store_events_apply(f->store, "dev-2", f->site, early, 1, NOW + 1100, st, &error));
  g_assert_cmpint(count(f, "SELECT count(*) FROM alerts"), ==, 2);

  /* Equal device times: the smaller event id is first. */
  guint8 c[16];
  add_ticket(f, f->site, 3, 0, c);
  SrvEvent same[] = { checkin("z-2", c, NOW + 50), checkin("z-1", c, NOW + 50) };
  g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, same, 2, NOW + 60, st, &error));
  /* z-1 displaced z-2 within the batch: the answer for z-2 says so. */
  g_assert_cmpint(st[0], ==, SRV_EVENT_CONFLICT);
  g_assert_cmpint(st[1], ==, SRV_EVENT_STORED);
  g_assert_cmpint(count(f, "SELECT conflict FROM events WHERE id = 'z-2'"), ==, 1);

  /* A batch with one bad event stores none of it. */
  guint8 d[16];
  add_ticket(f, f->site, 4, 0, d);
  SrvEvent bad[] = { checkin("g-1", d, NOW), checkin("g-2", d, NOW) };
  bad[1].kind = (SrvEventKind) 42;
  g_assert_false(srv_store_events_apply(f->store, "dev-1", f->site, bad, 2, NOW, st, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  bad[1].kind = SRV_EVENT_CHECKIN;
  bad[1].id = (char *) "";
  g_assert_false(srv_store_events_apply(f->store, "dev-1", f->site, bad, 2, NOW, st, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);
  /* ...and an unknown device fails after the first event was written: rolled back. */
  bad[1].id = (char *) "g-2";
  g_assert_false(srv_store_events_apply(f->store, "dev-ghost", f->site, bad, 2, NOW, st, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_cmpint(count(f, "SELECT count(*) FROM events WHERE id LIKE 'g-%'"), ==, 0);
  g_assert_cmpint(count(f, "SELECT count(*) FROM redemptions WHERE event_id LIKE 'g-%'"), ==, 0);
  /* The same id twice in one batch: the second is a duplicate. */
  SrvEvent twice[] = { checkin("h-1", d, NOW), checkin("h-1", d, NOW) };
  g_assert_true(srv_store_events_apply(f->store, "dev-1", f->site, twice, 2, NOW, st, &error));
  g_assert_no_error(error);
  g_assert_cmpint(st[0], ==, SRV_EVENT_STORED);
  g_assert_cmpint(st[1], ==, SRV_EVENT_DUPLICATE);

  /* The admin's view: check-ins and check-outs newest first, with the visitor. */
  g_autoptr(GArray) list = srv_store_checkin_list(f->store, f->site, 3, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, 3);
  g_assert_cmpstr(g_array_index(list, SrvCheckin, 0).id, ==, "f-late");
  g_assert_true(g_array_index(list, SrvCheckin, 0).conflict);
  g_assert_true(g_array_index(list, SrvCheckin, 0).offline);
  g_assert_cmpstr(g_array_index(list, SrvCheckin, 0).visitor_name, ==, "Yamada Hanako");
  g_assert_cmpstr(g_array_index(list, SrvCheckin, 1).id, ==, "f-early");
  /* on-1 was refused online: a scan-rejected event, not a check-in. */
  g_assert_cmpstr(g_array_index(list, SrvCheckin, 2).id, ==, "e-2");
  g_clear_pointer(&list, g_array_unref);
  list = srv_store_checkin_list(f->store, f->site2, 100, &error);
  g_assert_cmpuint(list->len, ==, 0);
  g_clear_pointer(&alerts, g_array_unref);
  alerts = srv_store_alert_list(f->store, f->site2, &error);
  g_assert_cmpuint(alerts->len, ==, 0);
}

/* ---- the change feed ------------------------------------------------------------------------- */

static JsonObject *
parse_object(JsonParser *parser, const char *json)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(json_parser_load_from_data(parser, json, -1, &error));
  g_assert_no_error(error);
  JsonNode *root = json_parser_get_root(parser);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
  return json_node_get_object(root);
}

static void
test_changes(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  add_device(f, f->site, "dev-1", "Gate \"1\"", 1);
  guint8 pk[32];
  fill_hash(pk, 7);
  g_assert_true(srv_store_signing_key_add(f->store, 2, pk, NOW, &error));
  SrvHost h = { .site_id = f->site, .name = (char *) "Sato", .email = (char *) "sato@example.com" };
  gint64 host = 0;
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &host, &error));
  h.site_id = f->site2;
  h.name = (char *) "Osaka host";
  g_assert_true(srv_store_host_add(f->store, &h, NOW, NULL, &error));
  g_assert_no_error(error);
  for (guint32 i = 0; i < 25; i++)
    add_ticket(f, i % 5 == 4 ? f->site2 : f->site, 100 + i, 0, NULL);
  guint8 t0[16];
  fill_id(t0, 100);

  /* Everything at once: 1 key + 1 host + 20 tickets. */
  gboolean more = TRUE;
  g_autoptr(GArray) all = srv_store_changes_since(f->store, f->site, 0, 1000, &more, &error);
  g_assert_no_error(error);
  g_assert_false(more);
  g_assert_cmpuint(all->len, ==, 22);

  /* Paged by 7: the same rows, in order, no gap, no repeat. */
  gint64 cursor = 0;
  guint pages = 0, seen = 0;
  do {
    g_autoptr(GArray) page = srv_store_changes_since(f->store, f->site, cursor, 7, &more, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(page->len, <=, 7);
    for (guint i = 0; i < page->len; i++) {
      SrvChange *ch = &g_array_index(page, SrvChange, i);
      g_assert_cmpint(ch->seq, >, cursor);
      g_assert_cmpint(ch->seq, ==, g_array_index(all, SrvChange, seen).seq);
      g_assert_cmpstr(ch->json, ==, g_array_index(all, SrvChange, seen).json);
      cursor = ch->seq;
      seen++;
    }
    pages++;
    g_assert_true(more == (seen < all->len));
  } while (more);
  g_assert_cmpuint(seen, ==, 22);
  g_assert_cmpuint(pages, ==, 4);

  /* Row content: no company, no e-mail, lowercase hex ids. */
  guint n_ticket = 0, n_host = 0, n_key = 0;
  g_autofree char *t0_hex = gk_ticket_id_to_hex(t0);
  for (guint i = 0; i < all->len; i++) {
    SrvChange *ch = &g_array_index(all, SrvChange, i);
    g_assert_null(strstr(ch->json, "Secret Corp"));
    g_assert_null(strstr(ch->json, "example.com"));
    g_assert_null(strstr(ch->json, "Osaka"));
    JsonObject *o = parse_object(parser, ch->json);
    switch (ch->type) {
    case SRV_CHANGE_TICKET:
      n_ticket++;
      g_assert_cmpuint(strlen(json_object_get_string_member(o, "id")), ==, 32);
      g_assert_cmpstr(json_object_get_string_member(o, "visitor"), ==, "Yamada Hanako");
      g_assert_false(json_object_get_boolean_member(o, "revoked"));
      g_assert_cmpint(json_object_get_int_member(o, "valid_until"), ==, NOW + 3600);
      g_assert_true(json_object_has_member(o, "host_id"));
      g_assert_false(json_object_has_member(o, "company"));
      break;
    case SRV_CHANGE_HOST:
      n_host++;
      g_assert_cmpint(json_object_get_int_member(o, "id"), ==, host);
      g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "Sato");
      break;
    case SRV_CHANGE_KEY: {
      n_key++;
      g_assert_cmpint(json_object_get_int_member(o, "key_id"), ==, 2);
      const char *hex = json_object_get_string_member(o, "public_key");
      g_assert_cmpuint(strlen(hex), ==, 64);
      g_assert_true(g_str_has_prefix(hex, "d9da"));  /* fill_hash(7): 217, 218... */
      g_assert_false(json_object_get_boolean_member(o, "retired"));
      break;
    }
    case SRV_CHANGE_REDEMPTION:
      g_assert_not_reached();
    }
  }
  g_assert_cmpuint(n_ticket, ==, 20);
  g_assert_cmpuint(n_host, ==, 1);
  g_assert_cmpuint(n_key, ==, 1);

  /* Nothing new: an empty page. */
  g_autoptr(GArray) empty = srv_store_changes_since(f->store, f->site, cursor, 7, &more, &error);
  g_assert_cmpuint(empty->len, ==, 0);
  g_assert_false(more);

  /* A redemption and a revocation show up after the cursor; the ticket once,
   * with its new state. */
  SrvRedeemOutcome out = { 0 };
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, t0, "ev-t0", NOW + 1, NOW + 2, &out, &error));
  g_assert_cmpint(out.result, ==, SRV_REDEEM_ACCEPTED);
  srv_redeem_outcome_clear(&out);
  g_assert_true(srv_store_ticket_revoke(f->store, t0, &error));
  g_autoptr(GArray) next = srv_store_changes_since(f->store, f->site, cursor, 7, &more, &error);
  g_assert_no_error(error);
  g_assert_false(more);
  g_assert_cmpuint(next->len, ==, 2);
  SrvChange *r = &g_array_index(next, SrvChange, 0);
  g_assert_cmpint(r->type, ==, SRV_CHANGE_REDEMPTION);
  JsonObject *o = parse_object(parser, r->json);
  g_assert_cmpstr(json_object_get_string_member(o, "ticket_id"), ==, t0_hex);
  g_assert_cmpint(json_object_get_int_member(o, "at"), ==, NOW + 2);
  g_assert_cmpstr(json_object_get_string_member(o, "device_id"), ==, "dev-1");
  g_assert_cmpstr(json_object_get_string_member(o, "device_name"), ==, "Gate \"1\"");
  SrvChange *t = &g_array_index(next, SrvChange, 1);
  g_assert_cmpint(t->type, ==, SRV_CHANGE_TICKET);
  o = parse_object(parser, t->json);
  g_assert_cmpstr(json_object_get_string_member(o, "id"), ==, t0_hex);
  g_assert_true(json_object_get_boolean_member(o, "revoked"));
  /* From 0 the revoked ticket appears once, at its new place. */
  g_autoptr(GArray) again = srv_store_changes_since(f->store, f->site, 0, 1000, &more, &error);
  g_assert_cmpuint(again->len, ==, 23);

  /* The other site sees its own rows and the (global) key, nothing of ours. */
  g_autoptr(GArray) osaka = srv_store_changes_since(f->store, f->site2, 0, 1000, &more, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(osaka->len, ==, 1 + 1 + 5);
  for (guint i = 0; i < osaka->len; i++) {
    SrvChange *ch = &g_array_index(osaka, SrvChange, i);
    g_assert_null(strstr(ch->json, t0_hex));
    g_assert_null(strstr(ch->json, "Sato"));
    g_assert_cmpint(ch->type, !=, SRV_CHANGE_REDEMPTION);
  }
  /* limit 0: nothing, but "more". */
  g_autoptr(GArray) zero = srv_store_changes_since(f->store, f->site2, 0, 0, &more, &error);
  g_assert_cmpuint(zero->len, ==, 0);
  g_assert_true(more);
}

/* ---- concurrency -------------------------------------------------------------------------- */

typedef struct {
  Fixture *f;
  guint thread;
  guint accepted;
  guint failures;
} Worker;

#define PER_THREAD 500
#define THREADS    4

static gpointer
distinct_worker(gpointer data)
{
  Worker *w = data;
  for (guint i = 0; i < PER_THREAD; i++) {
    g_autoptr(GError) error = NULL;
    guint32 n = 10000 + w->thread * PER_THREAD + i;
    SrvTicket t = { 0 };
    fill_id(t.id, n);
    t.site_id = w->f->site;
    t.visitor_name = (char *) "V";
    t.valid_until = 1;
    t.text = (char *) "GK1:X";
    if (!srv_store_ticket_add(w->f->store, &t, &error)) {
      g_printerr("ticket_add failed: %s\n", error->message);
      w->failures++;
      continue;
    }
    g_autofree char *ev = g_strdup_printf("c-%u", n);
    SrvRedeemOutcome o = { 0 };
    if (!srv_store_redeem(w->f->store, w->thread % 2 ? "dev-1" : "dev-2", w->f->site, t.id, ev, NOW, NOW, &o,
                          &error)) {
      g_printerr("redeem failed: %s\n", error->message);
      w->failures++;
    }
    else if (o.result == SRV_REDEEM_ACCEPTED)
      w->accepted++;
    srv_redeem_outcome_clear(&o);
  }
  return NULL;
}

typedef struct {
  Worker w;
  const guint8 *ticket;
  guint round;
  GMutex *lock;
  GCond *cond;
  gboolean *go;
  char *winner;
  char *reported_by;  /* what ALREADY_USED named as the first device */
} Racer;

static gpointer
race_worker(gpointer data)
{
  Racer *r = data;
  g_mutex_lock(r->lock);
  while (!*r->go)
    g_cond_wait(r->cond, r->lock);
  g_mutex_unlock(r->lock);
  g_autoptr(GError) error = NULL;
  g_autofree char *ev = g_strdup_printf("race-%u-%u", r->round, r->w.thread);
  g_autofree char *dev = g_strdup_printf("dev-%u", r->w.thread + 1);
  SrvRedeemOutcome o = { 0 };
  if (!srv_store_redeem(r->w.f->store, dev, r->w.f->site, r->ticket, ev, NOW, NOW, &o, &error)) {
    g_printerr("redeem failed: %s\n", error->message);
    r->w.failures++;
  }
  else if (o.result == SRV_REDEEM_ACCEPTED)
    r->w.accepted++;
  else
    r->reported_by = g_strdup(o.used_by_device);
  srv_redeem_outcome_clear(&o);
  r->winner = g_steal_pointer(&dev);
  return NULL;
}

static void
test_concurrency(Fixture *f, gconstpointer data)
{
  for (guint i = 1; i <= THREADS; i++) {
    g_autofree char *id = g_strdup_printf("dev-%u", i);
    add_device(f, f->site, id, id, (guint8) i);
  }

  Worker workers[THREADS] = { 0 };
  GThread *threads[THREADS];
  for (guint i = 0; i < THREADS; i++) {
    workers[i].f = f;
    workers[i].thread = i;
    threads[i] = g_thread_new("redeem", distinct_worker, &workers[i]);
  }
  guint accepted = 0;
  for (guint i = 0; i < THREADS; i++) {
    g_thread_join(threads[i]);
    g_assert_cmpuint(workers[i].failures, ==, 0);
    accepted += workers[i].accepted;
  }
  g_assert_cmpuint(accepted, ==, THREADS * PER_THREAD);
  g_assert_cmpint(count(f, "SELECT count(*) FROM redemptions"), ==, THREADS * PER_THREAD);
  /* Every feed row got its own number. */
  g_assert_cmpint(count(f, "SELECT count(DISTINCT seq) FROM (SELECT seq FROM tickets UNION ALL"
                           " SELECT seq FROM redemptions)"), ==, 2 * THREADS * PER_THREAD);

  /* Many rounds of four threads racing for one one-time ticket. */
  for (guint round = 0; round < 25; round++) {
    guint8 ticket[16];
    add_ticket(f, f->site, 50000 + round, 0, ticket);
    GMutex lock;
    GCond cond;
    gboolean go = FALSE;
    g_mutex_init(&lock);
    g_cond_init(&cond);
    Racer racers[THREADS] = { 0 };
    for (guint i = 0; i < THREADS; i++) {
      racers[i].w.f = f;
      racers[i].w.thread = i;
      racers[i].ticket = ticket;
      racers[i].round = round;
      racers[i].lock = &lock;
      racers[i].cond = &cond;
      racers[i].go = &go;
      threads[i] = g_thread_new("race", race_worker, &racers[i]);
    }
    g_mutex_lock(&lock);
    go = TRUE;
    g_cond_broadcast(&cond);
    g_mutex_unlock(&lock);
    guint wins = 0;
    const char *winner = NULL;
    for (guint i = 0; i < THREADS; i++) {
      g_thread_join(threads[i]);
      g_assert_cmpuint(racers[i].w.failures, ==, 0);
      wins += racers[i].w.accepted;
      if (racers[i].w.accepted)
        winner = racers[i].winner;
    }
    g_assert_cmpuint(wins, ==, 1);
    for (guint i = 0; i < THREADS; i++) {
      if (!racers[i].w.accepted)
        g_assert_cmpstr(racers[i].reported_by, ==, winner);
    }
    for (guint i = 0; i < THREADS; i++) {
      g_free(racers[i].winner);
      g_free(racers[i].reported_by);
    }
    g_mutex_clear(&lock);
    g_cond_clear(&cond);
  }
  g_assert_cmpint(count(f, "SELECT count(*) FROM events WHERE id LIKE 'race-%'"), ==, 25 * THREADS);
  g_assert_cmpint(count(f, "SELECT count(*) FROM events WHERE id LIKE 'race-%' AND outcome = 'accepted'"), ==, 25);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  g_test_add_func("/server/store/lifecycle", test_lifecycle);
  ADD("/server/store/accounts", test_accounts);
  ADD("/server/store/sessions", test_sessions);
  ADD("/server/store/hosts", test_hosts);
  ADD("/server/store/tickets", test_tickets);
  ADD("/server/store/enroll", test_enroll);
  ADD("/server/store/devices", test_devices);
  ADD("/server/store/redeem", test_redeem);
  ADD("/server/store/events", test_events);
  ADD("/server/store/changes", test_changes);
  ADD("/server/store/concurrency", test_concurrency);
#undef ADD
  return g_test_run();
}
