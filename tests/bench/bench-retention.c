/* Benchmark: the retention purge of one site (visits, their events and photos,
 * half of them past retention) in the encrypted master store, then the WAL
 * checkpoint; with secure_delete on (what the stores run) against the same
 * purge with it off, in the same run, so the ratio is the price of zeroing
 * deleted data. */
#include <stdio.h>
#include <string.h>

#include "gk-store.h"
#include "gk-test-util.h"
#include "srv-outbox-private.h" /* srv_store_sqlite_borrow() */
#include "srv-retention-private.h"
#include "srv-store-private.h"

#define DAY 86400
#define PHOTO_BYTES 8192

typedef struct {
  double purge_ms;
  double checkpoint_ms;
  SrvRetentionCounts counts;
} Result;

static void
check(sqlite3 *db, int rc, const char *what)
{
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    g_error("%s: %s", what, sqlite3_errmsg(db));
}

/* @n walk-in visits with their check-in events, every other one 200 days
 * old, one in ten with a photo; 1000 per transaction. */
static void
fill(sqlite3 *db, gint64 site, int n, gint64 now)
{
  check(db, sqlite3_exec(db, "INSERT INTO devices (id, site_id, name, mode, serial, cert_expires_at, enrolled_at)"
                             " VALUES ('dev-bench', 1, 'Lobby', 'reception', x'01', 0, 0)", NULL, NULL, NULL), "device");
  sqlite3_stmt *ev = NULL, *vis = NULL, *photo = NULL;
  check(db, sqlite3_prepare_v2(db, "INSERT INTO events (id, device_id, site_id, kind, device_time, server_time,"
                                   " offline, visit_id) VALUES (?1, 'dev-bench', ?2, 'checkin', ?3, ?3, 0, ?4)", -1,
                               &ev, NULL), "prepare events");
  check(db, sqlite3_prepare_v2(db, "INSERT INTO visits (id, site_id, device_id, kind, visitor_name, company,"
                                   " checkin_event_id, checked_in_at, created_at)"
                                   " VALUES (?1, ?2, 'dev-bench', 'walkin', ?3, 'Bench Trading Co., Ltd.', ?4, ?5, ?5)",
                               -1, &vis, NULL), "prepare visits");
  check(db, sqlite3_prepare_v2(db, "INSERT INTO visit_photos (visit_id, jpeg) VALUES (?1, ?2)", -1, &photo, NULL),
        "prepare photos");
  guint8 *jpeg = g_malloc(PHOTO_BYTES);
  for (int i = 0; i < PHOTO_BYTES; i++)
    jpeg[i] = (guint8) (i * 131 + 7);
  jpeg[0] = 0xff, jpeg[1] = 0xd8, jpeg[2] = 0xff;
  for (int i = 0; i < n; i++) {
    if (i % 1000 == 0)
      check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
    char id[37], event[32], name[64];
    g_snprintf(id, sizeof id, "vis-%032x", (guint) i);
    g_snprintf(event, sizeof event, "ev-bench-%08d", i);
    g_snprintf(name, sizeof name, "Visitor %d Yamada Taro", i);
    gint64 at = i % 2 == 0 ? now - 200 * DAY + i : now - DAY + i;
    sqlite3_bind_text(ev, 1, event, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ev, 2, site);
    sqlite3_bind_int64(ev, 3, at);
    sqlite3_bind_text(ev, 4, id, -1, SQLITE_STATIC);
    check(db, sqlite3_step(ev), "event");
    sqlite3_reset(ev);
    sqlite3_bind_text(vis, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(vis, 2, site);
    sqlite3_bind_text(vis, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(vis, 4, event, -1, SQLITE_STATIC);
    sqlite3_bind_int64(vis, 5, at);
    check(db, sqlite3_step(vis), "visit");
    sqlite3_reset(vis);
    if (i % 10 == 0) {
      sqlite3_bind_text(photo, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_blob(photo, 2, jpeg, PHOTO_BYTES, SQLITE_STATIC);
      check(db, sqlite3_step(photo), "photo");
      sqlite3_reset(photo);
    }
    if (i % 1000 == 999 || i == n - 1)
      check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
  }
  g_free(jpeg);
  sqlite3_finalize(ev);
  sqlite3_finalize(vis);
  sqlite3_finalize(photo);
}

static Result
run(const char *dir, gboolean secure_delete, int n)
{
  g_autofree char *db = g_strdup_printf("%s/%s.db", dir, secure_delete ? "on" : "off");
  g_autofree char *kek = g_strdup_printf("%s/kek", dir);
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_store_create(db, kek, &error));
  SrvStore *store = srv_store_open(db, kek, 1, &error);
  g_assert_no_error(error);
  gint64 site = 0, now = g_get_real_time() / G_USEC_PER_SEC;
  g_assert_true(srv_store_site_add(store, "Bench", now, &site, &error));
  gpointer conn = NULL;
  GkStore *gk = srv_store_sqlite_borrow(store->backend, &conn);
  fill(gk_store_db(gk), site, n, now);
  /* The one pooled connection is the one the purge will use. */
  if (!secure_delete)
    check(gk_store_db(gk), sqlite3_exec(gk_store_db(gk), "PRAGMA secure_delete=OFF", NULL, NULL, NULL), "pragma");
  g_assert_true(gk_store_checkpoint(gk, &error));
  srv_store_sqlite_give_back(store->backend, conn);

  const SrvRetentionBackend *ops = store->ops->retention;
  Result r = { 0 };
  gint64 t0 = g_get_monotonic_time();
  g_assert_true(ops->purge_site(store->backend, site, now - 90 * DAY, &r.counts, &error));
  gint64 t1 = g_get_monotonic_time();
  g_assert_true(ops->checkpoint(store->backend, &error));
  gint64 t2 = g_get_monotonic_time();
  g_assert_no_error(error);
  g_assert_cmpuint(r.counts.visits, ==, (guint) (n + 1) / 2);
  r.purge_ms = (double) (t1 - t0) / 1000.0;
  r.checkpoint_ms = (double) (t2 - t1) / 1000.0;
  srv_store_close(store);
  return r;
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && g_strcmp0(argv[1], "--quick") == 0;
  int n = quick ? 2000 : 20000;
  g_autofree char *dir = gk_test_make_tmpdir("bench-retention");
  printf("bench-retention%s: %d walk-in visits (half past retention, 1 in 10 with an %d-byte photo), SQLite %s\n",
         quick ? " (quick)" : "", n, PHOTO_BYTES, sqlite3_libversion());
  Result on = run(dir, TRUE, n);
  Result off = run(dir, FALSE, n);
  printf("purged: %u visits, %u events, %u photos\n", on.counts.visits, on.counts.events, on.counts.photos);
  printf("%-34s secure_delete on %9.1f ms   off %9.1f ms   on/off %.2f\n", "purge (one transaction)", on.purge_ms,
         off.purge_ms, on.purge_ms / off.purge_ms);
  printf("%-34s secure_delete on %9.1f ms   off %9.1f ms   on/off %.2f\n", "checkpoint (TRUNCATE)", on.checkpoint_ms,
         off.checkpoint_ms, on.checkpoint_ms / off.checkpoint_ms);
  printf("%-34s secure_delete on %9.0f/s   off %9.0f/s\n", "visits purged per second", on.counts.visits / on.purge_ms * 1000,
         off.counts.visits / off.purge_ms * 1000);
  gk_test_rmtree(dir);
  return 0;
}
