/* Tests for the encrypted store: nothing readable on disk, tampering detected,
 * keys, rekey/rewrap, migrations, sharing, and a kill -9 crash loop. */
#include "gk-store.h"
#include "gk-test-util.h"
#include "gk-secure-file.h"
#include "gk-vfs.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARKER "GKMARKER-visitor-Yamada-Hanako-7f3a9c"

typedef struct {
  char *dir;      /* data directory: db, WAL, shm, key file, lock file */
  char *kek_dir;  /* the KEK lives apart from the data */
  char *db;
  char *kek;
} Fixture;

static const GkMigration migrations[] = {
  { 1, "CREATE TABLE visits(id INTEGER PRIMARY KEY, code TEXT NOT NULL, note TEXT NOT NULL);"
       "CREATE INDEX visits_code ON visits(code);" },
  { 2, "CREATE TABLE seq(n INTEGER PRIMARY KEY, pad TEXT NOT NULL);" },
  { 3, "CREATE TABLE spill(k BLOB PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;" },
};

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
  f->dir = gk_test_make_tmpdir("gk-store");
  f->kek_dir = gk_test_make_tmpdir("gk-store-kek");
  f->db = g_build_filename(f->dir, "store.db", NULL);
  f->kek = g_build_filename(f->kek_dir, "kek", NULL);
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

static GkStore *
open_store(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GkStore *s = gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error);
  g_assert_no_error(error);
  g_assert_nonnull(s);
  return s;
}

static void
create_store(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_store_create(f->db, f->kek, &error));
  g_assert_no_error(error);
}

static void
insert_rows(GkStore *s, int first, int count, int per_txn)
{
  g_autoptr(GError) error = NULL;
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "INSERT INTO visits(code, note) VALUES(?1, ?2)",
                                     -1, &stmt, NULL), ==, SQLITE_OK);
  for (int i = first; i < first + count; i++) {
    if ((i - first) % per_txn == 0) {
      g_assert_true(gk_store_begin(s, &error));
      g_assert_no_error(error);
    }
    g_autofree char *code = g_strdup_printf("V%06d", i);
    g_autofree char *note = g_strdup_printf("%s row %d %s %s", MARKER, i, MARKER, MARKER);
    sqlite3_bind_text(stmt, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, note, -1, SQLITE_TRANSIENT);
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_DONE);
    sqlite3_reset(stmt);
    if ((i - first) % per_txn == per_txn - 1 || i == first + count - 1) {
      g_assert_true(gk_store_commit(s, &error));
      g_assert_no_error(error);
    }
  }
  sqlite3_finalize(stmt);
}

/* Reads every row (table pages) and every code through the index (index pages);
 * returns the row count, or -1 with @error set. Never accepts garbage. */
static gint64
read_all(GkStore *s, GError **error)
{
  static const char *const queries[] = {
    "SELECT note FROM visits ORDER BY id",
    "SELECT code FROM visits INDEXED BY visits_code WHERE code >= '' ORDER BY code",
  };
  gint64 n = -1;
  /* One snapshot for both queries, even while other connections write. */
  g_assert_cmpint(sqlite3_exec(gk_store_db(s), "BEGIN", NULL, NULL, NULL), ==, SQLITE_OK);
  for (gsize q = 0; q < G_N_ELEMENTS(queries); q++) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(gk_store_db(s), queries[q], -1, &stmt, NULL);
    gint64 rows = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const char *text = (const char *) sqlite3_column_text(stmt, 0);
      g_assert_true(q == 1 ? text[0] == 'V' : g_str_has_prefix(text, MARKER));
      rows++;
      rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
      gk_store_set_error_from_db(s, rc, error);
      gk_store_rollback(s);
      return -1;
    }
    g_assert_true(n < 0 || n == rows);
    n = rows;
  }
  gk_store_rollback(s);
  return n;
}

static void
assert_integrity_ok(GkStore *s)
{
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "PRAGMA integrity_check", -1, &stmt, NULL),
                  ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  g_assert_cmpstr((const char *) sqlite3_column_text(stmt, 0), ==, "ok");
  sqlite3_finalize(stmt);
}

/* integrity_check reports pages it cannot read as rows, not as a step error. */
static void
assert_integrity_fails(GkStore *s)
{
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "PRAGMA integrity_check", -1, &stmt, NULL),
                  ==, SQLITE_OK);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const char *text = (const char *) sqlite3_column_text(stmt, 0);
    g_assert_cmpstr(text, !=, "ok");
    g_test_message("integrity_check: %s", text);
  } else {
    g_autoptr(GError) error = NULL;
    gk_store_set_error_from_db(s, rc, &error);
    g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT);
  }
  sqlite3_finalize(stmt);
  g_free(gk_vfs_take_auth_failure());
}

static gint64
file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? (gint64) st.st_size : -1;
}

static void
flip_byte(const char *path, goffset off)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_assert_cmpint(off, <, (goffset) len);
  data[off] ^= 0x20;
  FILE *fp = fopen(path, "r+b");
  g_assert_nonnull(fp);
  g_assert_cmpint(fseek(fp, (long) off, SEEK_SET), ==, 0);
  g_assert_cmpint(fputc((unsigned char) data[off], fp), !=, EOF);
  fclose(fp);
}

/* Unwraps slot 0 of the key file as docs/store-format.md describes, so the
 * test checks the documented format and gets the DEK to look for on disk. */
static void
read_dek(Fixture *f, guint8 dek[32])
{
  g_autofree char *key_path = g_strconcat(f->db, ".key", NULL);
  g_autofree guint8 *kf = NULL;
  g_autofree guint8 *kek = NULL;
  gsize kf_len = 0, kek_len = 0;
  g_assert_true(g_file_get_contents(key_path, (char **) &kf, &kf_len, NULL));
  g_assert_true(g_file_get_contents(f->kek, (char **) &kek, &kek_len, NULL));
  g_assert_cmpuint(kek_len, ==, 32);
  g_assert_cmpuint(kf_len, ==, 12 + 88);
  g_assert_cmpmem(kf, 8, "GKSTKEY1", 8);
  g_assert_cmpuint(kf[8], ==, 1);
  g_assert_cmpuint(kf[9], ==, 1);
  const guint8 *slot = kf + 12;
  guint8 ad[26];
  memcpy(ad, "GKSTKEY1", 8);
  ad[8] = 1;
  ad[9] = 0;
  memcpy(ad + 10, slot, 16);
  g_assert_cmpint(crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                    dek, NULL, slot + 40, 32, slot + 72, ad, sizeof ad, slot + 16, kek), ==, 0);
}

static void
assert_only_store_files(Fixture *f)
{
  g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
  const char *name;
  g_assert_nonnull(dir);
  while ((name = g_dir_read_name(dir)) != NULL) {
    gboolean known = g_str_equal(name, "store.db") || g_str_equal(name, "store.db-wal") ||
                     g_str_equal(name, "store.db-shm") || g_str_equal(name, "store.db.key") ||
                     g_str_equal(name, "store.db.lock");
    if (!known)
      g_error("unexpected file %s in the data directory", name);
  }
}

static void
assert_nothing_readable(Fixture *f, const guint8 *dek)
{
  g_assert_false(gk_test_tree_contains(f->dir, MARKER, strlen(MARKER)));
  g_assert_false(gk_test_tree_contains(f->dir, "SQLite format 3", 15));
  g_assert_false(gk_test_tree_contains(f->dir, "CREATE TABLE", 12));
  g_assert_false(gk_test_tree_contains(f->dir, "visits_code", 11));
  if (dek != NULL) {
    g_assert_false(gk_test_tree_contains(f->dir, dek, 32));
    g_assert_false(gk_test_tree_contains(f->kek_dir, dek, 32));
  }
  assert_only_store_files(f);
}

/* --- tests ------------------------------------------------------------------------- */

static void
test_marker_not_on_disk(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint8 dek[32];

  create_store(f);
  /* A fresh database switched to WAL leaves no plaintext header behind. */
  assert_nothing_readable(f, NULL);
  g_assert_cmpint(file_size(f->db), ==, 4096);
  read_dek(f, dek);

  g_autoptr(GkStore) s = open_store(f);
  g_assert_true(gk_store_exec(s, "PRAGMA wal_autocheckpoint=0", &error));
  insert_rows(s, 0, 300, 50);
  insert_rows(s, 300, 20, 1);
  g_autofree char *wal = g_strconcat(f->db, "-wal", NULL);
  g_assert_cmpint(file_size(wal), >, 100 * 1024);  /* the rows are in the WAL only */
  assert_nothing_readable(f, dek);

  g_assert_true(gk_store_checkpoint(s, &error));
  g_assert_no_error(error);
  g_assert_cmpint(file_size(wal), ==, 0);
  g_assert_cmpint(file_size(f->db), >, 16 * 4096);
  assert_nothing_readable(f, dek);

  insert_rows(s, 320, 200, 40);  /* WAL again, after the checkpoint */
  g_assert_cmpint(file_size(wal), >, 0);
  assert_nothing_readable(f, dek);
  g_assert_cmpint(read_all(s, &error), ==, 520);
  g_assert_no_error(error);
  assert_integrity_ok(s);
  g_clear_pointer(&s, gk_store_close);
  assert_nothing_readable(f, dek);

  /* Nothing for a plain SQLite to read either. */
  sqlite3 *plain = NULL;
  g_assert_cmpint(sqlite3_open_v2(f->db, &plain, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_exec(plain, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL),
                  ==, SQLITE_NOTADB);
  sqlite3_close(plain);

  s = open_store(f);
  g_assert_cmpint(read_all(s, &error), ==, 520);
  assert_integrity_ok(s);
  sodium_memzero(dek, sizeof dek);
}

static void
test_tamper_db(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  GkStore *s = open_store(f);
  insert_rows(s, 0, 400, 100);
  g_assert_true(gk_store_checkpoint(s, &error));
  gk_store_close(s);
  gint64 pages = file_size(f->db) / 4096;
  g_assert_cmpint(pages, >, 10);

  /* Page 2 is the visits table root: every scan reads it. */
  flip_byte(f->db, 4096 + 1000);
  s = open_store(f);
  g_assert_cmpint(read_all(s, &error), ==, -1);
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT);
  g_assert_nonnull(strstr(error->message, "page 2 of"));
  g_assert_nonnull(strstr(error->message, "failed authentication"));
  g_test_message("tampered page: %s", error->message);
  g_clear_error(&error);
  gk_store_close(s);
  flip_byte(f->db, 4096 + 1000);  /* undo: the error left nothing behind */

  /* A flipped tag or nonce byte of any page, even one of the last pages. */
  for (gint64 p = pages - 1; p >= pages - 2; p--) {
    goffset off = p * 4096 + (p == pages - 1 ? 4095 : 4060);
    flip_byte(f->db, off);
    s = open_store(f);
    GError *local = NULL;
    g_assert_cmpint(read_all(s, &local), ==, -1);
    g_assert_error(local, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT);
    g_autofree char *expect = g_strdup_printf("page %" G_GINT64_FORMAT " of", p + 1);
    g_assert_nonnull(strstr(local->message, expect));
    assert_integrity_fails(s);
    g_error_free(local);
    gk_store_close(s);
    flip_byte(f->db, off);
  }

  /* Page 1 (schema and header) too: the store does not open. */
  flip_byte(f->db, 50);
  g_assert_null(gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT);
  g_assert_nonnull(strstr(error->message, "page 1 of"));
  g_clear_error(&error);
  flip_byte(f->db, 50);

  s = open_store(f);
  g_assert_cmpint(read_all(s, &error), ==, 400);
  assert_integrity_ok(s);
  gk_store_close(s);
}

static void
test_tamper_wal(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  /* A keeps the WAL alive (no checkpoint) while B reads through it. */
  GkStore *a = open_store(f);
  g_assert_true(gk_store_exec(a, "PRAGMA wal_autocheckpoint=0", &error));
  insert_rows(a, 0, 300, 30);

  g_autofree char *wal = g_strconcat(f->db, "-wal", NULL);
  g_autofree guint8 *w = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(wal, (char **) &w, &len, NULL));
  gsize frames = (len - 32) / 4120;
  g_assert_cmpuint(frames, >, 5);
  /* The last frame of a page other than 1 is that page's newest version. */
  gsize victim = 0;
  guint32 pgno = 0;
  for (gsize i = frames; i >= 1 && victim == 0; i--) {
    const guint8 *h = w + 32 + (i - 1) * 4120;
    guint32 p = ((guint32) h[0] << 24) | ((guint32) h[1] << 16) | ((guint32) h[2] << 8) | h[3];
    if (p != 1) {
      victim = i;
      pgno = p;
    }
  }
  g_assert_cmpuint(victim, >, 0);
  flip_byte(wal, (goffset) (32 + (victim - 1) * 4120 + 24 + 700));

  GkStore *b = open_store(f);
  g_assert_cmpint(read_all(b, &error), ==, -1);
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT);
  g_autofree char *expect = g_strdup_printf("page %u (WAL frame %" G_GSIZE_FORMAT ") of", pgno, victim);
  g_assert_nonnull(strstr(error->message, expect));
  assert_integrity_fails(b);
  g_test_message("tampered WAL frame: %s", error->message);
  g_clear_error(&error);

  /* The reader that failed still works for the pages it can trust. */
  g_assert_true(gk_store_exec(b, "SELECT count(*) FROM seq", &error));
  g_assert_no_error(error);
  gk_store_close(b);

  flip_byte(wal, (goffset) (32 + (victim - 1) * 4120 + 24 + 700));
  b = open_store(f);
  g_assert_cmpint(read_all(b, &error), ==, 300);
  assert_integrity_ok(b);
  gk_store_close(b);
  gk_store_close(a);
}

static void
test_wrong_kek(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);

  g_assert_false(gk_store_create(f->db, f->kek, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_EXISTS);
  g_clear_error(&error);

  g_autofree char *other = g_build_filename(f->kek_dir, "other-kek", NULL);
  guint8 bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  g_assert_true(gk_secure_file_write(other, bytes, sizeof bytes, TRUE, NULL));
  g_assert_null(gk_store_open(f->db, other, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY);
  g_assert_nonnull(strstr(error->message, "does not unwrap"));
  g_clear_error(&error);

  g_autofree char *short_kek = g_build_filename(f->kek_dir, "short-kek", NULL);
  g_assert_true(gk_secure_file_write(short_kek, bytes, 16, TRUE, NULL));
  g_assert_null(gk_store_open(f->db, short_kek, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY);
  g_clear_error(&error);

  g_autofree char *open_kek = g_build_filename(f->kek_dir, "world-readable-kek", NULL);
  g_assert_true(g_file_set_contents(open_kek, (const char *) bytes, sizeof bytes, NULL));
  g_assert_cmpint(g_chmod(open_kek, 0644), ==, 0);
  g_assert_null(gk_store_open(f->db, open_kek, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO);
  g_clear_error(&error);

  g_autofree char *missing = g_build_filename(f->kek_dir, "missing", NULL);
  g_assert_null(gk_store_open(f->db, missing, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_autofree char *no_db = g_build_filename(f->dir, "nothing.db", NULL);
  g_assert_null(gk_store_open(no_db, f->kek, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* A key file changed on disk is refused, not half-used. */
  g_autofree char *key_path = g_strconcat(f->db, ".key", NULL);
  flip_byte(key_path, 60);
  g_assert_null(gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY);
  g_clear_error(&error);
  flip_byte(key_path, 60);
  g_autoptr(GkStore) s = open_store(f);
  assert_integrity_ok(s);
  sodium_memzero(bytes, sizeof bytes);
}

static void
test_rekey(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *key_path = g_strconcat(f->db, ".key", NULL);
  g_autofree char *old_key = NULL, *old_db = NULL, *new_db = NULL;
  gsize old_key_len = 0, old_db_len = 0, new_db_len = 0;

  create_store(f);
  GkStore *s = open_store(f);
  insert_rows(s, 0, 500, 100);
  g_assert_true(gk_store_checkpoint(s, &error));
  g_assert_true(g_file_get_contents(key_path, &old_key, &old_key_len, NULL));
  g_assert_true(g_file_get_contents(f->db, &old_db, &old_db_len, NULL));

  /* Not while another connection has the store open. */
  GkStore *other = open_store(f);
  g_assert_false(gk_store_rekey(s, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO);
  g_clear_error(&error);
  gk_store_close(other);
  g_assert_cmpint(read_all(s, &error), ==, 500);

  g_assert_true(gk_store_rekey(s, &error));
  g_assert_no_error(error);
  g_assert_cmpint(read_all(s, &error), ==, 500);
  insert_rows(s, 500, 50, 10);
  g_assert_cmpint(read_all(s, &error), ==, 550);
  assert_integrity_ok(s);

  /* Every page was sealed again: no 4 KiB page is the same as before. */
  g_assert_true(g_file_get_contents(f->db, &new_db, &new_db_len, NULL));
  for (gsize off = 0; off + 4096 <= MIN(old_db_len, new_db_len); off += 4096)
    g_assert_true(memcmp(old_db + off, new_db + off, 4096) != 0);
  g_autofree char *leftover = g_strconcat(f->db, ".rekey", NULL);
  g_assert_false(g_file_test(leftover, G_FILE_TEST_EXISTS));
  gk_store_close(s);

  /* The old data key (same KEK) no longer opens the store. */
  g_autofree char *new_key = NULL;
  gsize new_key_len = 0;
  g_assert_true(g_file_get_contents(key_path, &new_key, &new_key_len, NULL));
  g_assert_false(old_key_len == new_key_len && memcmp(old_key, new_key, new_key_len) == 0);
  g_assert_true(gk_secure_file_write(key_path, old_key, old_key_len, FALSE, NULL));
  g_assert_null(gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT);
  g_assert_nonnull(strstr(error->message, "page 1 of"));
  g_clear_error(&error);

  g_assert_true(gk_secure_file_write(key_path, new_key, new_key_len, FALSE, NULL));
  s = open_store(f);
  g_assert_cmpint(read_all(s, &error), ==, 550);
  assert_integrity_ok(s);
  gk_store_close(s);
}

static void
test_rewrap(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *kek2 = g_build_filename(f->kek_dir, "kek2", NULL);
  create_store(f);
  GkStore *s = open_store(f);
  insert_rows(s, 0, 100, 100);

  /* Rewrap does not disturb an open store (same DEK). */
  g_assert_true(gk_store_rewrap(f->db, f->kek, kek2, &error));
  g_assert_no_error(error);
  g_assert_cmpint(read_all(s, &error), ==, 100);
  gk_store_close(s);

  g_assert_null(gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY);
  g_clear_error(&error);
  g_assert_false(gk_store_rewrap(f->db, f->kek, kek2, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY);
  g_clear_error(&error);

  s = gk_store_open(f->db, kek2, migrations, G_N_ELEMENTS(migrations), &error);
  g_assert_no_error(error);
  g_assert_cmpint(read_all(s, &error), ==, 100);
  assert_integrity_ok(s);
  gk_store_close(s);
}

static void
assert_version(GkStore *s, int want)
{
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "PRAGMA user_version", -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  g_assert_cmpint(sqlite3_column_int(stmt, 0), ==, want);
  sqlite3_finalize(stmt);
}

static int
count_query(GkStore *s, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  int n = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  return n;
}

static void
test_migrations(Fixture *f, gconstpointer data)
{
  static const GkMigration m[] = {
    { 1, "CREATE TABLE t(x INTEGER NOT NULL)" },
    { 2, "INSERT INTO t(x) VALUES (1)" },
    { 3, "CREATE TABLE u(y TEXT)" },
    { 4, "CREATE TABLE w(a); INSERT INTO no_such_table VALUES (1)" },
  };
  static const GkMigration misnumbered[] = { { 1, "SELECT 1" }, { 3, "SELECT 1" } };
  g_autoptr(GError) error = NULL;
  GkStore *s;

  create_store(f);
  s = gk_store_open(f->db, f->kek, m, 2, &error);
  g_assert_no_error(error);
  assert_version(s, 2);
  g_assert_cmpint(count_query(s, "SELECT count(*) FROM t"), ==, 1);
  gk_store_close(s);

  /* Applied once: reopening does not run migration 2 again. */
  s = gk_store_open(f->db, f->kek, m, 2, &error);
  g_assert_no_error(error);
  g_assert_cmpint(count_query(s, "SELECT count(*) FROM t"), ==, 1);
  gk_store_close(s);

  s = gk_store_open(f->db, f->kek, m, 3, &error);
  g_assert_no_error(error);
  assert_version(s, 3);
  gk_store_close(s);

  /* A failing migration leaves version 3 and none of its changes. */
  g_assert_null(gk_store_open(f->db, f->kek, m, 4, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SCHEMA);
  g_assert_nonnull(strstr(error->message, "migration 4"));
  g_clear_error(&error);
  s = gk_store_open(f->db, f->kek, m, 3, &error);
  g_assert_no_error(error);
  assert_version(s, 3);
  g_assert_cmpint(count_query(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'w'"), ==, 0);
  g_assert_cmpint(count_query(s, "SELECT count(*) FROM t"), ==, 1);
  assert_integrity_ok(s);
  gk_store_close(s);

  /* A store newer than the program is refused. */
  g_assert_null(gk_store_open(f->db, f->kek, m, 2, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SCHEMA);
  g_assert_nonnull(strstr(error->message, "newer"));
  g_clear_error(&error);

  g_assert_null(gk_store_open(f->db, f->kek, misnumbered, 2, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SCHEMA);
  g_clear_error(&error);
}

static void
test_no_unsealed_files(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  g_autoptr(GkStore) s = open_store(f);
  insert_rows(s, 0, 50, 50);

  /* A rollback journal would hold plaintext pages: refused. */
  g_assert_false(gk_store_exec(s, "PRAGMA journal_mode=DELETE", &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_false(gk_store_exec(s, "PRAGMA journal_mode=MEMORY", &error));
  g_clear_error(&error);

  /* Temp tables bigger than their cache and big sorts stay in memory. */
  static const char spill[] =
    "CREATE TEMP TABLE scratch(a); PRAGMA temp.cache_size=5; "
    "INSERT INTO scratch SELECT note FROM visits; INSERT INTO scratch SELECT a FROM scratch; "
    "INSERT INTO scratch SELECT a FROM scratch; INSERT INTO scratch SELECT a FROM scratch; "
    "INSERT INTO scratch SELECT a FROM scratch; INSERT INTO scratch SELECT a FROM scratch; "
    "SELECT a FROM scratch ORDER BY a DESC";
  g_assert_true(gk_store_exec(s, spill, &error));
  g_assert_no_error(error);
  assert_nothing_readable(f, NULL);

  /* A temp database on disk would hold plaintext: the VFS refuses to open one. */
  g_assert_true(gk_store_exec(s, "PRAGMA temp_store=FILE", &error));
  g_assert_false(gk_store_exec(s, spill, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO);
  g_test_message("temp file refused: %s", error->message);
  g_clear_error(&error);
  gk_store_exec(s, "DROP TABLE IF EXISTS temp.scratch", NULL);
  g_assert_true(gk_store_exec(s, "PRAGMA temp_store=MEMORY", &error));
  g_assert_no_error(error);

  /* Big sorts and statement journals stay in memory. */
  g_assert_true(gk_store_exec(s, "CREATE TEMP TABLE big AS SELECT note || id AS v FROM visits; "
                                 "SELECT v FROM big ORDER BY v DESC", &error));
  g_assert_no_error(error);
  assert_nothing_readable(f, NULL);
  g_assert_cmpint(read_all(s, &error), ==, 50);
  assert_integrity_ok(s);
  assert_only_store_files(f);
}

/* Integer primary key conflicts come back as GK_STORE_ERROR_EXISTS. */
static void
test_errors(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  g_autoptr(GkStore) s = open_store(f);
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "INSERT INTO seq(n, pad) VALUES (?1, 'x')",
                                     -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_int(stmt, 1, 7);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_DONE);
  sqlite3_reset(stmt);
  int rc = sqlite3_step(stmt);
  g_assert_false(gk_store_set_error_from_db(s, rc, &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_EXISTS);
  g_clear_error(&error);
  sqlite3_finalize(stmt);
  g_assert_true(gk_store_set_error_from_db(s, SQLITE_DONE, &error));
  g_assert_false(gk_store_exec(s, "SELECT * FROM no_such_table", &error));
  g_assert_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SQL);
  g_clear_error(&error);
  g_assert_true(gk_store_begin(s, &error));
  gk_store_rollback(s);
  gk_store_rollback(s);  /* no transaction: harmless */
}

typedef struct {
  Fixture *f;
  int first;
} ThreadJob;

static gpointer
thread_writer(gpointer data)
{
  ThreadJob *job = data;
  GkStore *s = open_store(job->f);
  insert_rows(s, job->first, 100, 10);
  gk_store_close(s);
  return NULL;
}

static void
test_threads(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  ThreadJob jobs[4];
  GThread *threads[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (ThreadJob) { f, i * 1000 };
    threads[i] = g_thread_new("writer", thread_writer, &jobs[i]);
  }
  for (int i = 0; i < 4; i++)
    g_thread_join(threads[i]);
  g_autoptr(GkStore) s = open_store(f);
  g_assert_cmpint(read_all(s, &error), ==, 400);
  assert_integrity_ok(s);
}

/* Writers of one process queue for the write lock instead of failing: one
 * transaction holds it longer than SQLite's busy timeout (10 s) and the
 * others, started meanwhile, still commit once it is done. Before the
 * in-process writer queue they failed with "database is locked" (under load
 * the same happened to short transactions: SQLite's busy handler polls, so a
 * waiter could lose every race for 10 s). */
#define QUEUE_WAITERS 3
#define QUEUE_HOLD_MS 10500

typedef struct {
  Fixture *f;
  int id;
  gint *failures;
  GkStore *store;
} QueueJob;

static gpointer
queue_writer(gpointer data)
{
  QueueJob *job = data;
  g_autoptr(GError) error = NULL;
  if (!gk_store_begin(job->store, &error)) {
    g_printerr("writer %d: %s\n", job->id, error->message);
    g_atomic_int_inc(job->failures);
    return NULL;
  }
  g_autofree char *code = g_strdup_printf("V%06d", job->id);
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(job->store), "INSERT INTO visits(code, note) VALUES(?1, ?2)", -1,
                                     &st, NULL), ==, SQLITE_OK);
  sqlite3_bind_text(st, 1, code, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, MARKER " queued", -1, SQLITE_STATIC);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_DONE);
  sqlite3_finalize(st);
  if (job->id == 0)
    g_usleep(QUEUE_HOLD_MS * 1000);
  if (!gk_store_commit(job->store, &error)) {
    g_printerr("writer %d: %s\n", job->id, error->message);
    g_atomic_int_inc(job->failures);
    gk_store_rollback(job->store);
  }
  return NULL;
}

static void
test_writer_queue(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  gint failures = 0;
  QueueJob jobs[QUEUE_WAITERS + 1];
  GThread *threads[QUEUE_WAITERS + 1];
  for (int i = 0; i <= QUEUE_WAITERS; i++) {
    jobs[i] = (QueueJob) { f, i, &failures, open_store(f) };
    threads[i] = g_thread_new("queued-writer", queue_writer, &jobs[i]);
    if (i == 0)
      g_usleep(200 * 1000); /* the long transaction begins first */
  }
  for (int i = 0; i <= QUEUE_WAITERS; i++) {
    g_thread_join(threads[i]);
    gk_store_close(jobs[i].store);
  }
  g_assert_cmpint(failures, ==, 0);
  g_autoptr(GkStore) s = open_store(f);
  g_assert_cmpint(read_all(s, &error), ==, QUEUE_WAITERS + 1);
}

static void
test_processes(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  pid_t pids[3];
  for (int i = 0; i < 3; i++) {
    pids[i] = fork();
    g_assert_cmpint(pids[i], >=, 0);
    if (pids[i] == 0) {
      GkStore *s = gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), NULL);
      if (s == NULL)
        _exit(2);
      insert_rows(s, i * 1000, 150, 5);
      gk_store_close(s);
      _exit(0);
    }
  }
  /* The parent reads while the children write. */
  for (int round = 0; round < 20; round++) {
    GkStore *s = open_store(f);
    g_assert_cmpint(read_all(s, &error), >=, 0);
    g_assert_no_error(error);
    gk_store_close(s);
  }
  for (int i = 0; i < 3; i++) {
    int status = 0;
    g_assert_cmpint(waitpid(pids[i], &status, 0), ==, pids[i]);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  g_autoptr(GkStore) s = open_store(f);
  g_assert_cmpint(read_all(s, &error), ==, 450);
  assert_integrity_ok(s);
}

/* --- crash loop ---------------------------------------------------------------------- */

enum { EV_REKEY_START = -1, EV_REKEY_END = -2, EV_CKPT_START = -3, EV_CKPT_END = -4 };

static void
send_event(int fd, gint32 v)
{
  while (write(fd, &v, sizeof v) < 0 && errno == EINTR)
    ;
}

static gint64
query_i64(GkStore *s, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  gint64 v = -1;
  if (sqlite3_prepare_v2(gk_store_db(s), sql, -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW)
    v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return v;
}

/* The child: commit one row per transaction forever and acknowledge each
 * commit on the pipe after it returned; sometimes checkpoint or rekey. */
G_GNUC_NORETURN static void
crash_child(Fixture *f, int fd, int mode, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed(seed);
  GkStore *s = gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), NULL);
  if (s == NULL)
    _exit(3);
  gint64 n = MAX(query_i64(s, "SELECT coalesce(max(n), 0) FROM seq"), 0);
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(gk_store_db(s), "INSERT INTO seq(n, pad) VALUES (?1, ?2)", -1, &stmt,
                         NULL) != SQLITE_OK)
    _exit(4);
  char pad[2048];
  memset(pad, 'p', sizeof pad);
  for (guint i = 0;; i++) {
    if (mode == 2 && i % 4 == 3) {
      send_event(fd, EV_CKPT_START);
      if (!gk_store_checkpoint(s, NULL))
        _exit(5);
      send_event(fd, EV_CKPT_END);
    }
    if (mode == 3 && i % 20 == 1) {
      sqlite3_finalize(stmt);
      send_event(fd, EV_REKEY_START);
      if (!gk_store_rekey(s, NULL))
        _exit(6);
      send_event(fd, EV_REKEY_END);
      if (sqlite3_prepare_v2(gk_store_db(s), "INSERT INTO seq(n, pad) VALUES (?1, ?2)", -1,
                             &stmt, NULL) != SQLITE_OK)
        _exit(4);
    }
    n++;
    if (!gk_store_begin(s, NULL))
      _exit(7);
    sqlite3_bind_int64(stmt, 1, n);
    sqlite3_bind_text(stmt, 2, pad, g_rand_int_range(rand, 10, (gint32) sizeof pad), SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_DONE)
      _exit(8);
    sqlite3_reset(stmt);
    if (!gk_store_commit(s, NULL))
      _exit(9);
    send_event(fd, (gint32) n);
  }
}

static void
test_crash(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint iterations = 200, killed_in_rekey = 0, killed_in_ckpt = 0, rekeys_done = 0;
  gint64 prev_max = 0;
  gint64 started = g_get_monotonic_time();

  create_store(f);
  for (guint it = 0; it < iterations; it++) {
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    int mode = g_test_rand_int_range(0, 4);  /* 0, 1: commits; 2: +checkpoints; 3: +rekeys */
    guint32 seed = g_test_rand_int();
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
      close(fds[0]);
      crash_child(f, fds[1], mode, seed);
    }
    close(fds[1]);
    g_usleep((gulong) g_test_rand_int_range(0, 30001));
    kill(pid, SIGKILL);
    int status = 0;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
      g_error("crash child ended by itself (status 0x%x) in iteration %u", status, it);

    gint64 last_ack = 0;
    gint32 last_event = 0, v;
    ssize_t got;
    while ((got = read(fds[0], &v, sizeof v)) == sizeof v) {
      if (v > 0)
        last_ack = v;
      if (v == EV_REKEY_END)
        rekeys_done++;
      last_event = v;
    }
    close(fds[0]);
    killed_in_rekey += last_event == EV_REKEY_START;
    killed_in_ckpt += last_event == EV_CKPT_START;

    GkStore *s = gk_store_open(f->db, f->kek, migrations, G_N_ELEMENTS(migrations), &error);
    g_assert_no_error(error);
    assert_integrity_ok(s);
    gint64 max = query_i64(s, "SELECT coalesce(max(n), 0) FROM seq");
    gint64 count = query_i64(s, "SELECT count(*) FROM seq");
    gint64 min = query_i64(s, "SELECT coalesce(min(n), 0) FROM seq");
    /* Every acknowledged commit is there; at most the one in flight beyond it. */
    g_assert_cmpint(max, >=, last_ack);
    g_assert_cmpint(max, >=, prev_max);
    g_assert_cmpint(max, <=, MAX(prev_max, last_ack) + 1);
    g_assert_cmpint(count, ==, max);
    g_assert_cmpint(min, ==, max > 0 ? 1 : 0);
    gk_store_close(s);
    prev_max = max;
  }
  g_autofree char *leftover = g_strconcat(f->db, ".rekey", NULL);
  g_assert_false(g_file_test(leftover, G_FILE_TEST_EXISTS));
  g_test_message("crash loop: %u kills, %" G_GINT64_FORMAT " commits survived, %u kills during "
                 "rekey, %u during checkpoint, %u rekeys completed, %.1f s",
                 iterations, prev_max, killed_in_rekey, killed_in_ckpt, rekeys_done,
                 (double) (g_get_monotonic_time() - started) / G_USEC_PER_SEC);
}

/* ---- a forged commit marker in the WAL ----------------------------------------- */

static const GkMigration bank_migrations[] = {
  { 1, "CREATE TABLE a(id INTEGER PRIMARY KEY, bal INTEGER, pad BLOB);"
       "CREATE TABLE b(id INTEGER PRIMARY KEY, bal INTEGER, pad BLOB);"
       "INSERT INTO a VALUES(1, 100, zeroblob(3000));"
       "INSERT INTO b VALUES(1, 100, zeroblob(3000));" },
};

static guint32
be32(const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static void
put_be32(guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

/* SQLite's WAL checksum (walChecksumBytes). */
static void
wal_checksum(gboolean native, const guint8 *a, gsize n, guint32 out[2])
{
  guint32 s1 = 0, s2 = 0;
  for (gsize i = 0; i < n; i += 8) {
    guint32 x0, x1;
    if (native) {
      memcpy(&x0, a + i, 4);
      memcpy(&x1, a + i + 4, 4);
    } else {
      x0 = be32(a + i);
      x1 = be32(a + i + 4);
    }
    s1 += x0 + s2;
    s2 += x1 + s1;
  }
  out[0] = s1;
  out[1] = s2;
}

/* Someone with write access to the WAL marks the first frame of a committed
 * two-page transaction as a commit frame and fixes its (linear) checksum
 * without knowing any plaintext. Recovery must never show half the
 * transaction: the frame fails authentication and the log ends before it. */
static void
test_forged_commit_marker(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  create_store(f);
  GkStore *s = gk_store_open(f->db, f->kek, bank_migrations, 1, &error);
  g_assert_no_error(error);
  g_assert_true(gk_store_checkpoint(s, &error));
  /* Leave the transaction in the WAL, as a power cut after COMMIT would. */
  sqlite3_db_config(gk_store_db(s), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  g_assert_true(gk_store_exec(s, "BEGIN IMMEDIATE; UPDATE a SET bal = bal - 10; UPDATE b SET bal = bal + 10; COMMIT;",
                              &error));
  gk_store_close(s);

  g_autofree char *wal = g_strconcat(f->db, "-wal", NULL);
  g_autofree char *shm = g_strconcat(f->db, "-shm", NULL);
  g_autofree guint8 *w = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(wal, (char **) &w, &len, NULL));
  gsize frame_size = 24 + GK_VFS_PAGE_SIZE;
  guint nframes = (guint) ((len - 32) / frame_size);
  g_assert_cmpuint(nframes, >=, 2);
  guint8 *h = w + 32;
  g_assert_cmpuint(be32(h + 4), ==, 0); /* frame 1 is not a commit frame */
  guint32 commit = be32(w + 32 + (nframes - 1) * frame_size + 4);
  g_assert_cmpuint(commit, >, 0);
  gboolean native = (be32(w) & 1) == 0;
  guint8 before[8 + GK_VFS_PAGE_SIZE] = { 0 }, after[8 + GK_VFS_PAGE_SIZE] = { 0 };
  memcpy(before, h, 8);
  memcpy(after, h, 8);
  put_be32(after + 4, commit);
  guint32 c_old[2], c_new[2];
  wal_checksum(native, before, sizeof before, c_old);
  wal_checksum(native, after, sizeof after, c_new);
  put_be32(h + 4, commit);
  put_be32(h + 16, be32(h + 16) + (c_new[0] - c_old[0]));
  put_be32(h + 20, be32(h + 20) + (c_new[1] - c_old[1]));
  g_assert_true(g_file_set_contents(wal, (const char *) w, (gssize) len, NULL));
  g_unlink(shm);

  s = gk_store_open(f->db, f->kek, bank_migrations, 1, &error);
  if (s == NULL) {
    /* Refusing to open is also a clear outcome; half a transaction is not. */
    g_assert_nonnull(error);
    return;
  }
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "SELECT (SELECT bal FROM a), (SELECT bal FROM b)", -1, &st, NULL),
                  ==, SQLITE_OK);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    gint64 a = sqlite3_column_int64(st, 0), b = sqlite3_column_int64(st, 1);
    if (a + b != 200)
      g_error("half a transaction became visible: a=%" G_GINT64_FORMAT " b=%" G_GINT64_FORMAT, a, b);
  }
  sqlite3_finalize(st);
  gk_store_close(s);
}

/* A transaction that changes more pages than the page cache holds makes SQLite
 * spill pages to the WAL before the commit, and rewrite those frames in place
 * when it changes the same pages again; random keys touch pages all over the
 * b-tree, so this happens often. Every row must read back afterwards. */
static void
test_cache_spill(Fixture *f, gconstpointer data)
{
  create_store(f);
  GkStore *s = open_store(f);
  sqlite3 *db = gk_store_db(s);
  g_autoptr(GError) error = NULL;
  /* A small cache makes the spill come early; the default one spills at ~2 MB. */
  g_assert_true(gk_store_exec(s, "PRAGMA cache_size = 50", &error));
  sqlite3_stmt *stmt = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, "INSERT INTO spill(k, v) VALUES(?1, ?2)", -1, &stmt, NULL), ==, SQLITE_OK);
  const int rows = 20000, per_txn = 2000;
  for (int i = 0; i < rows; i++) {
    if (i % per_txn == 0)
      g_assert_true(gk_store_begin(s, &error));
    guint8 k[16];
    randombytes_buf(k, sizeof k);
    char v[64];
    g_snprintf(v, sizeof v, "row %d padded to take some room in the page", i);
    sqlite3_bind_blob(stmt, 1, k, sizeof k, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, v, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
      g_error("insert %d: %s (%d)", i, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    sqlite3_reset(stmt);
    if (i % per_txn == per_txn - 1) {
      g_assert_true(gk_store_commit(s, &error));
      g_assert_no_error(error);
    }
  }
  sqlite3_finalize(stmt);
  g_assert_cmpint(sqlite3_prepare_v2(db, "SELECT count(*) FROM spill", -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  g_assert_cmpint(sqlite3_column_int(stmt, 0), ==, rows);
  sqlite3_finalize(stmt);
  g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  g_assert_cmpstr((const char *) sqlite3_column_text(stmt, 0), ==, "ok");
  sqlite3_finalize(stmt);
  gk_store_close(s);

  /* And after reopening, from the WAL and after a checkpoint. */
  s = open_store(f);
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(s), "PRAGMA integrity_check", -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
  g_assert_cmpstr((const char *) sqlite3_column_text(stmt, 0), ==, "ok");
  sqlite3_finalize(stmt);
  g_assert_true(gk_store_checkpoint(s, &error));
  g_assert_no_error(error);
  gk_store_close(s);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_assert_cmpint(sodium_init(), >=, 0);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD("/shared/store/marker-not-on-disk", test_marker_not_on_disk);
  ADD("/shared/store/tamper-db", test_tamper_db);
  ADD("/shared/store/tamper-wal", test_tamper_wal);
  ADD("/shared/store/forged-commit-marker", test_forged_commit_marker);
  ADD("/shared/store/wrong-kek", test_wrong_kek);
  ADD("/shared/store/rekey", test_rekey);
  ADD("/shared/store/rewrap", test_rewrap);
  ADD("/shared/store/migrations", test_migrations);
  ADD("/shared/store/no-unsealed-files", test_no_unsealed_files);
  ADD("/shared/store/errors", test_errors);
  ADD("/shared/store/threads", test_threads);
  ADD("/shared/store/writer-queue", test_writer_queue);
  ADD("/shared/store/processes", test_processes);
  ADD("/shared/store/crash", test_crash);
  ADD("/shared/store/cache-spill", test_cache_spill);
#undef ADD
  return g_test_run();
}
