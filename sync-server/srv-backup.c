/* Online backup of a data directory (a consistent SQLite snapshot taken with
 * the backup API, never a byte copy of the live file), restore into a new
 * directory under new store keys, and the server's backup thread. */
#include "srv-backup.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gk-log.h"
#include "gk-secure-file.h"
#include "gk-store.h"
#include "srv-app.h"
#include "srv-audit.h"
#include "srv-store-private.h"

/* The files besides the store that a restored server needs, and whether each
 * is required. The store's key-encryption key (master.kek) is deliberately not
 * here: a backup opens with the backup key alone, and a restore makes new keys. */
static const struct {
  const char *name;
  gboolean required;
} data_files[] = {
  { SRV_CA_CERT_FILE, TRUE },
  { SRV_CA_KEY_FILE, TRUE },
  { SRV_DATA_SERVER_CERT, TRUE },
  { SRV_DATA_SERVER_KEY, TRUE },
  { SRV_DATA_SIGNING_KEY, TRUE },
  { SRV_DATA_CONFIG, FALSE },
};
/* The store snapshot inside a backup: a plain SQLite database image. */
#define SNAPSHOT_NAME "master.db"

#define SQLITE_HEADER "SQLite format 3"

static gboolean
fail(GError **error, SrvBackupError code, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
fail(GError **error, SrvBackupError code, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *msg = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error_literal(error, SRV_BACKUP_ERROR, code, msg);
  return FALSE;
}

static gboolean
sql_fail(sqlite3 *db, const char *what, GError **error)
{
  return fail(error, SRV_BACKUP_ERROR_IO, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

/* Is @path (which need not exist; its parent must) inside directory @dir? */
static gboolean
path_inside(const char *path, const char *dir)
{
  g_autofree char *parent = g_path_get_dirname(path);
  g_autofree char *real_parent = realpath(parent, NULL);
  g_autofree char *real_dir = realpath(dir, NULL);
  if (real_parent == NULL || real_dir == NULL)
    return FALSE;
  gsize n = strlen(real_dir);
  return strcmp(real_parent, real_dir) == 0 ||
         (strncmp(real_parent, real_dir, n) == 0 && (real_dir[n - 1] == '/' || real_parent[n] == '/'));
}

/* ---- snapshot ------------------------------------------------------------------------- */

/* Copies the live store into memory in one read transaction (WAL readers see
 * one commit, writers go on meanwhile) and returns the database image. */
static guint8 *
snapshot_store(const char *data_dir, sqlite3_int64 *out_len, GError **error)
{
  g_autoptr(GError) local_kek = NULL;
  g_autofree char *db_path = g_build_filename(data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek_path = srv_data_kek_path(data_dir, &local_kek);
  if (kek_path == NULL) {
    fail(error, SRV_BACKUP_ERROR_IO, "%s", local_kek->message);
    return NULL;
  }
  gsize n_migrations = 0;
  const GkMigration *migrations = srv_store_sqlite_migrations(&n_migrations);
  g_autoptr(GError) local = NULL;
  sqlite3 *mem = NULL;
  guint8 *image = NULL;

  /* The same program as the server, so the migrations are the server's own:
   * on a store the server opened, gk_store_open finds nothing to do. */
  g_autoptr(GkStore) store = gk_store_open(db_path, kek_path, migrations, n_migrations, &local);
  if (store == NULL) {
    fail(error, SRV_BACKUP_ERROR_IO, "cannot open the store of %s: %s", data_dir, local->message);
    return NULL;
  }
  sqlite3 *live = gk_store_db(store);
  /* This connection only reads: make SQLite enforce it. */
  if (sqlite3_exec(live, "PRAGMA query_only=ON", NULL, NULL, NULL) != SQLITE_OK) {
    sql_fail(live, "store", error);
    return NULL;
  }
  if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    sql_fail(mem, "snapshot", error);
    goto out;
  }
  sqlite3_backup *b = sqlite3_backup_init(mem, "main", live, "main");
  if (b == NULL) {
    sql_fail(mem, "snapshot", error);
    goto out;
  }
  /* -1: every page in one step, so one read transaction: a consistent copy. */
  int rc = sqlite3_backup_step(b, -1);
  int rc_finish = sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE || rc_finish != SQLITE_OK) {
    fail(error, SRV_BACKUP_ERROR_IO, "snapshot of the store failed: %s",
         sqlite3_errstr(rc != SQLITE_DONE ? rc : rc_finish));
    goto out;
  }
  image = sqlite3_serialize(mem, "main", out_len, 0);
  if (image == NULL)
    fail(error, SRV_BACKUP_ERROR_IO, "snapshot of the store failed: cannot serialize");
out:
  sqlite3_close(mem);
  return image;
}

/* ---- backup ----------------------------------------------------------------------------- */

static gboolean
add_data_file(SrvBackupWriter *w, const char *data_dir, const char *name, gboolean required, GError **error)
{
  g_autofree char *path = g_build_filename(data_dir, name, NULL);
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT && !required)
      return TRUE;
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot back up %s: %s", path, g_strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot back up %s: not a regular file", path);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!g_file_get_contents(path, &data, &len, &local))
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot back up %s: %s", path, local->message);
  gboolean ok = srv_backup_writer_add(w, name, st.st_mode & 0777, (const guint8 *) data, len, error);
  sodium_memzero(data, len);  /* keys among them */
  return ok;
}

gboolean
srv_backup_create(const char *data_dir, const char *out_path, const char *key_path, gint64 *out_bytes,
                  GError **error)
{
  g_return_val_if_fail(data_dir != NULL && out_path != NULL && key_path != NULL, FALSE);
  guint8 key[SRV_BACKUP_KEY_BYTES];
  g_autofree char *db_path = g_build_filename(data_dir, SRV_DATA_DB, NULL);
  g_autofree char *out_dir = g_path_get_dirname(out_path);
  g_autofree char *base = g_path_get_basename(out_path);
  g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", out_dir, base);
  g_autoptr(SrvBackupWriter) w = NULL;
  g_autoptr(GError) sync_error = NULL;
  struct stat st;
  sqlite3_int64 image_len = 0;
  guint8 *image = NULL;
  gboolean ok = FALSE;
  int fd = -1;

  if (sodium_init() < 0)
    return fail(error, SRV_BACKUP_ERROR_IO, "libsodium could not start");
  if (!g_file_test(db_path, G_FILE_TEST_IS_REGULAR))
    return fail(error, SRV_BACKUP_ERROR_IO, "%s is not a Genkan data directory (no %s)", data_dir, SRV_DATA_DB);
  if (!g_file_test(out_dir, G_FILE_TEST_IS_DIR))
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot write %s: %s is not a directory", out_path, out_dir);
  if (path_inside(out_path, data_dir))
    return fail(error, SRV_BACKUP_ERROR_REFUSED,
                "refusing to write a backup inside the data directory %s: keep backups on another disk or host",
                data_dir);
  if (g_file_test(out_path, G_FILE_TEST_EXISTS))
    return fail(error, SRV_BACKUP_ERROR_REFUSED, "%s exists already; refusing to overwrite it", out_path);
  if (!srv_backup_key_load(key_path, key, error))
    return FALSE;

  image = snapshot_store(data_dir, &image_len, error);
  if (image == NULL)
    goto out;
  fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    fail(error, SRV_BACKUP_ERROR_IO, "cannot create a file in %s: %s", out_dir, g_strerror(errno));
    g_clear_pointer(&tmp, g_free);
    goto out;
  }
  w = srv_backup_writer_new(fd, key, error);
  if (w == NULL)
    goto out;
  for (gsize i = 0; i < G_N_ELEMENTS(data_files); i++)
    if (!add_data_file(w, data_dir, data_files[i].name, data_files[i].required, error))
      goto out;
  if (!srv_backup_writer_add(w, SNAPSHOT_NAME, 0600, image, (gsize) image_len, error) ||
      !srv_backup_writer_finish(w, error))
    goto out;
  if (fsync(fd) != 0) {
    fail(error, SRV_BACKUP_ERROR_IO, "cannot sync %s: %s", tmp, g_strerror(errno));
    goto out;
  }
  if (out_bytes != NULL && fstat(fd, &st) == 0)
    *out_bytes = st.st_size;
  /* link(), not rename(): an existing file of that name is never replaced. */
  if (link(tmp, out_path) != 0) {
    fail(error, errno == EEXIST ? SRV_BACKUP_ERROR_REFUSED : SRV_BACKUP_ERROR_IO, "cannot create %s: %s",
         out_path, g_strerror(errno));
    goto out;
  }
  if (!gk_fsync_parent_dir(out_path, &sync_error)) {
    g_unlink(out_path);
    fail(error, SRV_BACKUP_ERROR_IO, "%s", sync_error->message);
    goto out;
  }
  ok = TRUE;
out:
  if (fd >= 0)
    close(fd);
  if (tmp != NULL && fd >= 0)
    g_unlink(tmp);
  if (image != NULL) {
    sodium_memzero(image, (gsize) image_len);
    sqlite3_free(image);
  }
  sodium_memzero(key, sizeof key);
  return ok;
}

/* ---- restore ----------------------------------------------------------------------------- */

/* Removes everything inside @dir (the restore's own files; the data dir is flat). */
static void
empty_dir(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  if (d == NULL)
    return;
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (g_unlink(path) != 0 && g_file_test(path, G_FILE_TEST_IS_DIR)) {
      empty_dir(path);
      g_rmdir(path);
    }
  }
  g_dir_close(d);
}

static gboolean
known_entry(const char *name)
{
  if (strcmp(name, SNAPSHOT_NAME) == 0)
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS(data_files); i++)
    if (strcmp(name, data_files[i].name) == 0)
      return TRUE;
  return FALSE;
}

/* Every entry is one we know, the required ones are there, the snapshot looks
 * like one of our stores (page size 4096, 40 reserved bytes). */
static gboolean
check_entries(GPtrArray *entries, GError **error)
{
  for (guint i = 0; i < entries->len; i++) {
    const SrvBackupEntry *e = entries->pdata[i];
    if (!known_entry(e->name))
      return fail(error, SRV_BACKUP_ERROR_CONTENT, "backup holds an unknown file %s", e->name);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(data_files); i++)
    if (data_files[i].required && srv_backup_entries_find(entries, data_files[i].name) == NULL)
      return fail(error, SRV_BACKUP_ERROR_CONTENT, "backup lacks %s", data_files[i].name);
  const SrvBackupEntry *snap = srv_backup_entries_find(entries, SNAPSHOT_NAME);
  if (snap == NULL)
    return fail(error, SRV_BACKUP_ERROR_CONTENT, "backup lacks the store snapshot");
  gsize len = 0;
  const guint8 *img = g_bytes_get_data(snap->data, &len);
  if (len < 4096 || len % 4096 != 0 || memcmp(img, SQLITE_HEADER, sizeof SQLITE_HEADER) != 0 ||
      img[16] != 0x10 || img[17] != 0x00 || img[20] != 40)
    return fail(error, SRV_BACKUP_ERROR_CONTENT, "the store snapshot in the backup is not a Genkan store");
  return TRUE;
}

/* Runs integrity_check and foreign_key_check on @db ("main"). */
static gboolean
check_db(sqlite3 *db, const char *what, GError **error)
{
  sqlite3_stmt *st = NULL;
  gboolean ok = FALSE;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
    return fail(error, SRV_BACKUP_ERROR_CONTENT, "%s fails integrity_check: %s", what, sqlite3_errmsg(db));
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW || g_strcmp0((const char *) sqlite3_column_text(st, 0), "ok") != 0) {
    fail(error, SRV_BACKUP_ERROR_CONTENT, "%s fails integrity_check: %s", what,
         rc == SQLITE_ROW ? (const char *) sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
    goto out;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
    return fail(error, SRV_BACKUP_ERROR_CONTENT, "%s fails foreign_key_check: %s", what, sqlite3_errmsg(db));
  rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) {
    fail(error, SRV_BACKUP_ERROR_CONTENT, "%s fails foreign_key_check%s%s", what, rc == SQLITE_ROW ? " in table " : ": ",
         rc == SQLITE_ROW ? (const char *) sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
    goto out;
  }
  ok = TRUE;
out:
  sqlite3_finalize(st);
  return ok;
}

static gboolean
query_int(sqlite3 *db, const char *sql, gint64 *out)
{
  sqlite3_stmt *st = NULL;
  gboolean ok = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
  if (ok)
    *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return ok;
}

/* "table rows" per line for every table of @db. */
static char *
table_summary(sqlite3 *db, GError **error)
{
  sqlite3_stmt *st = NULL;
  GString *out = g_string_new(NULL);
  if (sqlite3_prepare_v2(db,
                         "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                         "ESCAPE '\\' ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK) {
    sql_fail(db, "restored store", error);
    g_string_free(out, TRUE);
    return NULL;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *name = (const char *) sqlite3_column_text(st, 0);
    /* A table name cannot be a bound parameter; %w quotes it as an identifier. */
    char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", name);
    gint64 n = -1;
    gboolean ok = sql != NULL && query_int(db, sql, &n);
    sqlite3_free(sql);
    if (!ok) {
      sql_fail(db, "restored store", error);
      sqlite3_finalize(st);
      g_string_free(out, TRUE);
      return NULL;
    }
    g_string_append_printf(out, "%s %" G_GINT64_FORMAT "\n", name, n);
  }
  sqlite3_finalize(st);
  return g_string_free(out, FALSE);
}

/* Opens the snapshot image read-only in memory and checks it. */
static sqlite3 *
open_snapshot(GBytes *snapshot, gsize n_migrations, GError **error)
{
  gsize len = 0;
  const guint8 *img = g_bytes_get_data(snapshot, &len);
  sqlite3 *mem = NULL;
  guint8 *copy = sqlite3_malloc64(len);
  if (copy == NULL || sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    sqlite3_free(copy);
    sqlite3_close(mem);
    fail(error, SRV_BACKUP_ERROR_IO, "out of memory");
    return NULL;
  }
  memcpy(copy, img, len);
  /* Header bytes 18-19 say WAL (2) in a store; an in-memory database cannot
   * open a WAL, so read it as rollback (1). The backup into the new store sets
   * WAL again. */
  copy[18] = copy[19] = 1;
  gint64 version = -1;
  if (sqlite3_deserialize(mem, "main", copy, (sqlite3_int64) len, (sqlite3_int64) len,
                          SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) != SQLITE_OK) {
    sql_fail(mem, "store snapshot", error);
    goto fail;
  }
  if (!query_int(mem, "PRAGMA user_version", &version)) {
    fail(error, SRV_BACKUP_ERROR_CONTENT, "the store snapshot in the backup is damaged: %s", sqlite3_errmsg(mem));
    goto fail;
  }
  if (version < 1 || version > (gint64) n_migrations) {
    fail(error, SRV_BACKUP_ERROR_CONTENT,
         "the store snapshot has schema version %" G_GINT64_FORMAT "; this program knows 1 to %" G_GSIZE_FORMAT,
         version, n_migrations);
    goto fail;
  }
  if (!check_db(mem, "the store snapshot in the backup", error))
    goto fail;
  return mem;
fail:
  sqlite3_close(mem);
  return NULL;
}

/* Writes the snapshot into a new encrypted store at @db_path (new KEK and DEK). */
static gboolean
write_store(sqlite3 *snapshot, gsize snapshot_len, const char *db_path, const char *kek_path, char **out_summary,
            GError **error)
{
  gsize n_migrations = 0;
  const GkMigration *migrations = srv_store_sqlite_migrations(&n_migrations);
  g_autoptr(GError) local = NULL;
  if (!gk_store_create(db_path, kek_path, &local))
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot create the new store: %s", local->message);
  g_autoptr(GkStore) store = gk_store_open(db_path, kek_path, migrations, n_migrations, &local);
  if (store == NULL)
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot open the new store: %s", local->message);
  sqlite3 *db = gk_store_db(store);
  /* The backup writes every page in one transaction. A page cache larger than
   * the store keeps SQLite from spilling dirty pages into the WAL before the
   * commit, where they would be sealed and written twice (and the sealing VFS
   * mishandled such spills before main's e4c1906). */
  g_autofree char *cache = g_strdup_printf("PRAGMA cache_size=-%" G_GSIZE_FORMAT, snapshot_len / 1024 + 4096);
  if (sqlite3_exec(db, cache, NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(db, "new store", error);
  sqlite3_backup *b = sqlite3_backup_init(db, "main", snapshot, "main");
  if (b == NULL)
    return sql_fail(db, "new store", error);
  int rc = sqlite3_backup_step(b, -1);
  int rc_finish = sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE || rc_finish != SQLITE_OK)
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot write the new store: %s",
                sqlite3_errstr(rc != SQLITE_DONE ? rc : rc_finish));
  if (sqlite3_exec(db, "PRAGMA cache_size=-2000", NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail(db, "new store", error);
  if (!gk_store_checkpoint(store, &local))
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot write the new store: %s", local->message);
  if (!check_db(db, "the restored store", error))
    return FALSE;
  if (out_summary != NULL) {
    *out_summary = table_summary(db, error);
    if (*out_summary == NULL)
      return FALSE;
  }
  return TRUE;
}

static gboolean
restore_into(GPtrArray *entries, const char *data_dir, char **out_summary, GError **error)
{
  gsize n_migrations = 0;
  srv_store_sqlite_migrations(&n_migrations);
  if (!check_entries(entries, error))
    return FALSE;
  const SrvBackupEntry *snap = srv_backup_entries_find(entries, SNAPSHOT_NAME);
  sqlite3 *mem = open_snapshot(snap->data, n_migrations, error);
  if (mem == NULL)
    return FALSE;
  g_autofree char *db_path = g_build_filename(data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek_path = srv_data_kek_path(data_dir, error);
  gboolean ok = kek_path != NULL && write_store(mem, g_bytes_get_size(snap->data), db_path, kek_path, out_summary, error);
  sqlite3_close(mem);
  for (guint i = 0; ok && i < entries->len; i++) {
    const SrvBackupEntry *e = entries->pdata[i];
    if (strcmp(e->name, SNAPSHOT_NAME) == 0)
      continue;
    g_autofree char *path = g_build_filename(data_dir, e->name, NULL);
    g_autoptr(GError) local = NULL;
    gsize len = 0;
    const char *data = g_bytes_get_data(e->data, &len);
    /* Never more than owner read-write / others read: no execute, no group write. */
    int mode = (int) (e->mode & 0644);
    ok = g_file_set_contents_full(path, data != NULL ? data : "", (gssize) len,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, mode, &local) &&
         g_chmod(path, mode) == 0;
    if (!ok)
      fail(error, SRV_BACKUP_ERROR_IO, "cannot write %s: %s", path, local ? local->message : g_strerror(errno));
  }
  return ok;
}

gboolean
srv_backup_restore(const char *in_path, const char *key_path, const char *data_dir, char **out_summary,
                   GError **error)
{
  g_return_val_if_fail(in_path != NULL && key_path != NULL && data_dir != NULL, FALSE);
  guint8 key[SRV_BACKUP_KEY_BYTES];
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  gboolean made_dir = FALSE, ok = FALSE;

  if (out_summary != NULL)
    *out_summary = NULL;
  if (sodium_init() < 0)
    return fail(error, SRV_BACKUP_ERROR_IO, "libsodium could not start");
  /* Checked first and again just before writing: nothing is read or made for a
   * directory we would refuse anyway. */
  GDir *d = g_dir_open(data_dir, 0, NULL);
  if (d != NULL) {
    gboolean empty = g_dir_read_name(d) == NULL;
    g_dir_close(d);
    if (!empty)
      return fail(error, SRV_BACKUP_ERROR_REFUSED,
                  "%s already holds files: restore only into a new or empty directory", data_dir);
  } else if (g_file_test(data_dir, G_FILE_TEST_EXISTS)) {
    return fail(error, SRV_BACKUP_ERROR_REFUSED, "%s is not a directory", data_dir);
  }
  if (!srv_backup_key_load(key_path, key, error))
    return FALSE;
  if (!g_file_get_contents(in_path, &data, &len, &local)) {
    sodium_memzero(key, sizeof key);
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot read the backup: %s", local->message);
  }
  entries = srv_backup_file_read((const guint8 *) data, len, key, error);
  sodium_memzero(key, sizeof key);
  if (entries == NULL)
    return FALSE;

  if (!g_file_test(data_dir, G_FILE_TEST_EXISTS)) {
    if (g_mkdir_with_parents(data_dir, 0700) != 0)
      return fail(error, SRV_BACKUP_ERROR_IO, "cannot create %s: %s", data_dir, g_strerror(errno));
    made_dir = TRUE;
  } else if (g_chmod(data_dir, 0700) != 0) {
    return fail(error, SRV_BACKUP_ERROR_IO, "cannot restrict %s: %s", data_dir, g_strerror(errno));
  }
  ok = restore_into(entries, data_dir, out_summary, error);
  if (!ok) {
    empty_dir(data_dir);
    if (made_dir)
      g_rmdir(data_dir);
    if (out_summary != NULL)
      g_clear_pointer(out_summary, g_free);
  }
  /* The decrypted files (keys among them) leave memory now. */
  for (guint i = 0; i < entries->len; i++) {
    const SrvBackupEntry *e = entries->pdata[i];
    gsize n = 0;
    void *p = (void *) g_bytes_get_data(e->data, &n);
    if (p != NULL)
      sodium_memzero(p, n);
  }
  return ok;
}

/* ---- audit of the command-line tools ---------------------------------------------------- */

void
srv_backup_audit_offline(const char *data_dir, const char *action, gboolean ok, const char *reason,
                         const char *target)
{
  g_return_if_fail(data_dir != NULL && action != NULL);
  g_autofree char *db = g_build_filename(data_dir, SRV_DATA_DB, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *kek = srv_data_kek_path(data_dir, &error);
  g_autoptr(SrvStore) store = kek != NULL ? srv_store_open(db, kek, 1, &error) : NULL;
  g_auto(SrvAuditRow) row = {
    .at = g_get_real_time() / G_USEC_PER_SEC,
    .site_id = 0,  /* server-wide */
    .actor_kind = g_strdup("system"),
    /* Who ran the tool: the Unix account (there is no session outside the server). */
    .actor = g_strdup_printf("unix:%s", g_get_user_name()),
    .source_ip = g_strdup("-"),
    .action = g_strdup(action),
    .target = g_strdup(target != NULL ? target : ""),
    .result = g_strdup(ok ? "ok" : "error"),
    .reason = g_strdup(reason != NULL ? reason : ""),
  };
  if (store == NULL || !srv_audit_store_append(store, &row, &error))
    g_printerr("genkan-server: warning: could not record %s in the audit log of %s: %s\n", action, data_dir,
               error->message);
}
