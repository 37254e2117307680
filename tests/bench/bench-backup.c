/* Benchmark: `genkan-server backup` and `restore` of a master store holding
 * many tickets (visit-sized rows), against a plain sqlite3_backup copy of the
 * same store into an unencrypted file as baseline (same open, same snapshot,
 * no encryption, no packing, no checks). */
#include <glib/gstdio.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "gk-store.h"
#include "gk-test-util.h"
#include "srv-app.h"
#include "srv-backup.h"
#include "srv-store-private.h"

#define BATCH 1000

static double
now_s(void)
{
  return (double) g_get_monotonic_time() / G_USEC_PER_SEC;
}

static GkStore *
open_store(const char *dir)
{
  g_autofree char *db = g_build_filename(dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(dir, SRV_DATA_KEK, NULL);
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GError) error = NULL;
  GkStore *store = gk_store_open(db, kek, m, n, &error);
  if (store == NULL)
    g_error("open: %s", error->message);
  return store;
}

/* @rows tickets in transactions of BATCH rows. */
static void
fill(const char *dir, guint rows)
{
  g_autoptr(GkStore) store = open_store(dir);
  sqlite3 *db = gk_store_db(store);
  sqlite3_stmt *st = NULL;
  g_autoptr(GError) error = NULL;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO tickets (id, site_id, visitor_name, company, valid_from, valid_until, flags,"
                         " key_id, text, created_at, seq, purpose) VALUES (?, 1, ?, ?, ?, ?, 0, 1, ?, ?, ?, ?)",
                         -1, &st, NULL) != SQLITE_OK)
    g_error("prepare: %s", sqlite3_errmsg(db));
  char text[160];
  for (guint i = 0; i < rows;) {
    if (!gk_store_begin(store, &error))
      g_error("begin: %s", error->message);
    for (guint j = 0; j < BATCH && i < rows; j++, i++) {
      guint8 id[16];
      randombytes_buf(id, sizeof id);
      for (gsize k = 0; k < sizeof text - 1; k++)
        text[k] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[randombytes_uniform(32)];
      text[sizeof text - 1] = '\0';
      g_autofree char *name = g_strdup_printf("Visitor %u Yamada", i);
      sqlite3_reset(st);
      sqlite3_bind_blob(st, 1, id, sizeof id, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, "Example Trading Co., Ltd.", -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 4, 1700000000 + i);
      sqlite3_bind_int64(st, 5, 1700086400 + i);
      sqlite3_bind_text(st, 6, text, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 7, 1700000000 + i);
      sqlite3_bind_int64(st, 8, i + 1);
      sqlite3_bind_text(st, 9, "Quarterly review meeting", -1, SQLITE_STATIC);
      if (sqlite3_step(st) != SQLITE_DONE)
        g_error("insert: %s", sqlite3_errmsg(db));
    }
    if (!gk_store_commit(store, &error))
      g_error("commit: %s", error->message);
  }
  sqlite3_finalize(st);
  if (!gk_store_checkpoint(store, &error))
    g_error("checkpoint: %s", error->message);
}

/* Baseline: open the store, sqlite3_backup it into a plain SQLite file. */
static void
plain_copy(const char *dir, const char *out)
{
  g_autoptr(GkStore) store = open_store(dir);
  sqlite3 *dst = NULL;
  g_unlink(out);
  if (sqlite3_open(out, &dst) != SQLITE_OK)
    g_error("open %s", out);
  sqlite3_backup *b = sqlite3_backup_init(dst, "main", gk_store_db(store), "main");
  if (b == NULL || sqlite3_backup_step(b, -1) != SQLITE_DONE || sqlite3_backup_finish(b) != SQLITE_OK)
    g_error("plain backup: %s", sqlite3_errmsg(dst));
  sqlite3_close(dst);
}

static int
cmp_double(gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median(double *v, guint n)
{
  qsort(v, n, sizeof *v, (int (*)(const void *, const void *)) cmp_double);
  return v[n / 2];
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && g_strcmp0(argv[1], "--quick") == 0;
  guint rows = quick ? 5000 : 50000;
  guint rounds = quick ? 1 : 5;
  if (sodium_init() < 0)
    g_error("sodium");
  g_autofree char *tmp = gk_test_make_tmpdir("genkan-bench-backup");
  g_autofree char *data = g_build_filename(tmp, "data", NULL);
  g_autofree char *key = g_build_filename(tmp, "backup.key", NULL);
  g_autofree char *plain = g_build_filename(tmp, "plain.db", NULL);
  g_autoptr(GError) error = NULL;
  SrvInitOptions init = { .data_dir = data };
  if (!srv_app_init(&init, &error) || !srv_backup_key_generate(key, &error))
    g_error("init: %s", error->message);
  double t0 = now_s();
  fill(data, rows);
  double fill_s = now_s() - t0;

  double base[8], backup[8], restore[8];
  gint64 backup_bytes = 0;
  for (guint r = 0; r < rounds; r++) {
    t0 = now_s();
    plain_copy(data, plain);
    base[r] = now_s() - t0;

    g_autofree char *out = g_strdup_printf("%s/b%u.gkbackup", tmp, r);
    t0 = now_s();
    if (!srv_backup_create(data, out, key, &backup_bytes, &error))
      g_error("backup: %s", error->message);
    backup[r] = now_s() - t0;

    g_autofree char *restored = g_strdup_printf("%s/restored%u", tmp, r);
    t0 = now_s();
    if (!srv_backup_restore(out, key, restored, NULL, &error))
      g_error("restore: %s", error->message);
    restore[r] = now_s() - t0;
    gk_test_rmtree(restored);
    g_unlink(out);
  }
  struct stat st;
  g_autofree char *db_path = g_build_filename(data, SRV_DATA_DB, NULL);
  g_assert_cmpint(stat(db_path, &st), ==, 0);
  double b = median(base, rounds), bk = median(backup, rounds), rs = median(restore, rounds);
  printf("bench-backup: %u tickets, store %.1f MB (filled in %.1f s), backup file %.1f MB, median of %u rounds\n",
         rows, st.st_size / 1e6, fill_s, backup_bytes / 1e6, rounds);
  printf("  plain sqlite3_backup copy (baseline) %8.1f ms\n", b * 1e3);
  printf("  genkan-server backup                 %8.1f ms  = %.2fx baseline  (%.0f MB/s)\n", bk * 1e3, bk / b,
         st.st_size / 1e6 / bk);
  printf("  genkan-server restore                %8.1f ms  = %.2fx baseline  (%.0f MB/s)\n", rs * 1e3, rs / b,
         st.st_size / 1e6 / rs);
  gk_test_rmtree(tmp);
  return 0;
}
