/* gk-store's secure_delete: a deleted row is gone from every file on disk once
 * the WAL is checkpointed (what the retention purge relies on), read back with
 * the keys as gk_test_store_plaintext() does. */
#include <string.h>

#include "gk-store.h"
#include "gk-test-util.h"

#define GONE "GKGONE-visitor-Suzuki-Ichiro-41c7"
#define KEPT "GKKEPT-visitor-Tanaka-Yuki-9be2"

static const GkMigration migrations[] = {
  { 1, "CREATE TABLE visits(id INTEGER PRIMARY KEY, name TEXT NOT NULL, photo BLOB);" },
};

typedef struct {
  char *dir;
  char *kek_dir;
  char *db;
  char *kek;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
  f->dir = gk_test_make_tmpdir("gk-secdel");
  f->kek_dir = gk_test_make_tmpdir("gk-secdel-kek");
  f->db = g_build_filename(f->dir, "store.db", NULL);
  f->kek = g_build_filename(f->kek_dir, "kek", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_store_create(f->db, f->kek, &error));
  g_assert_no_error(error);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
  gk_test_rmtree(f->dir);
  gk_test_rmtree(f->kek_dir);
  g_free(f->dir);
  g_free(f->kek_dir);
  g_free(f->db);
  g_free(f->kek);
}

static void
exec_ok(GkStore *s, const char *sql)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_store_exec(s, sql, &error));
  g_assert_no_error(error);
}

/* Rows whose name (in the row) and photo (a blob over several overflow pages,
 * the marker repeated) both carry the marker. */
static void
insert(GkStore *s, const char *marker, int n)
{
  sqlite3_stmt *st = NULL;
  GString *photo = g_string_new(NULL);
  while (photo->len < 20000)
    g_string_append(photo, marker);
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "INSERT INTO visits(name, photo) VALUES (?1, ?2)", -1, &st, NULL),
                  ==, SQLITE_OK);
  for (int i = 0; i < n; i++) {
    g_autofree char *name = g_strdup_printf("%s-%d", marker, i);
    g_assert_cmpint(sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_bind_blob(st, 2, photo->str, (int) photo->len, SQLITE_TRANSIENT), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  g_string_free(photo, TRUE);
}

static gboolean
on_disk(Fixture *f, const char *needle)
{
  guint bad = 99;
  g_autoptr(GBytes) plain = gk_test_store_plaintext(f->db, f->kek, &bad);
  g_assert_cmpuint(bad, ==, 0);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(plain, &len);
  g_assert_cmpuint(len, >, 0);
  return memmem(data, len, needle, strlen(needle)) != NULL;
}

static void
checkpoint(GkStore *s)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_store_checkpoint(s, &error));
  g_assert_no_error(error);
}

static void
test_secure_delete(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GkStore) s = gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error);
  g_assert_no_error(error);
  /* Every connection gk-store opens has it on. */
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "PRAGMA secure_delete", -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  g_assert_cmpint(sqlite3_column_int(st, 0), ==, 1);
  sqlite3_finalize(st);

  exec_ok(s, "BEGIN");
  insert(s, KEPT, 3);
  insert(s, GONE, 3);
  exec_ok(s, "COMMIT");
  checkpoint(s);
  /* The markers are readable with the keys (and only with them: the raw files
   * hold no plaintext). */
  g_assert_true(on_disk(f, GONE));
  g_assert_true(on_disk(f, KEPT));
  g_assert_false(gk_test_tree_contains(f->dir, GONE, strlen(GONE)));

  exec_ok(s, "DELETE FROM visits WHERE name LIKE 'GKGONE-%'");
  /* Until the checkpoint the database file still has the old pages. */
  g_assert_true(on_disk(f, GONE));
  checkpoint(s);
  g_assert_false(on_disk(f, GONE));
  g_assert_true(on_disk(f, KEPT));
}

/* The same without secure_delete leaves the deleted rows in free pages: the
 * check above can fail, and the pragma is what makes it pass. */
static void
test_without_secure_delete(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GkStore) s = gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error);
  g_assert_no_error(error);
  exec_ok(s, "PRAGMA secure_delete=OFF");
  exec_ok(s, "BEGIN");
  insert(s, KEPT, 3);
  insert(s, GONE, 3);
  exec_ok(s, "COMMIT");
  checkpoint(s);
  exec_ok(s, "DELETE FROM visits WHERE name LIKE 'GKGONE-%'");
  checkpoint(s);
  g_assert_true(on_disk(f, GONE));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/shared/store/secure-delete", Fixture, NULL, fixture_set_up, test_secure_delete, fixture_tear_down);
  g_test_add("/shared/store/secure-delete/off-leaves-data", Fixture, NULL, fixture_set_up, test_without_secure_delete,
             fixture_tear_down);
  return g_test_run();
}
