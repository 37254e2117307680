/* The encrypted local store: key file and KEK handling, connection setup,
 * migrations, rekey/rewrap and crash recovery (format: docs/store-format.md). */
#include "gk-store.h"

#include "gk-secure-file.h"
#include "gk-vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEK_BYTES        32
#define BUSY_TIMEOUT_MS  10000
#define LOCK_TIMEOUT_US  (30 * G_USEC_PER_SEC)

/* Key file "<db>.key": header, then one slot per data key (two during rekey). */
#define KEYFILE_MAGIC    "GKSTKEY1"
#define KEYFILE_VERSION  1
#define KEYFILE_HDR      12
#define SLOT_BYTES       (GK_VFS_FILE_ID_BYTES + 24 + GK_VFS_KEY_BYTES + 16)
#define SLOT_AD_BYTES    26
#define MAX_SLOTS        2

/* Byte-range locks on "<db>.lock" (open file description locks, so threads and
 * processes alike conflict, and closing one store's fd never drops another's). */
#define LOCK_USE         0  /* shared by each open store; exclusive: create, rekey, recovery */
#define LOCK_KEYFILE     1  /* exclusive while rewrap rewrites the key file */

struct _GkStore {
  sqlite3 *db;
  char *db_path;
  char *kek_path;
  int lock_fd;
  GkVfsKey *key;
  gboolean attached;
  GRecMutex *write_gate;  /* shared by this process's connections to db_path */
  gboolean write_held;    /* this connection holds write_gate (BEGIN..COMMIT) */
};

/* One writer at a time per database file within this process. SQLite's busy
 * handler waits by polling with sleeps, so under load a writer can starve past
 * the busy timeout while others keep winning (a server under a burst of
 * check-ins saw "database is locked"); a mutex queues this process's writers
 * instead. Writers in other processes still meet the busy timeout. Gates live
 * as long as the process (one per database path). */
static GRecMutex *
write_gate_for(const char *db_path)
{
  static GMutex gates_lock;
  static GHashTable *gates;
  g_mutex_lock(&gates_lock);
  if (gates == NULL)
    gates = g_hash_table_new(g_str_hash, g_str_equal);
  GRecMutex *gate = g_hash_table_lookup(gates, db_path);
  if (gate == NULL) {
    gate = g_new0(GRecMutex, 1);
    g_rec_mutex_init(gate);
    g_hash_table_insert(gates, g_strdup(db_path), gate);
  }
  g_mutex_unlock(&gates_lock);
  return gate;
}

static void
release_write_gate(GkStore *store)
{
  /* Only once the connection is back in autocommit: the transaction is over. */
  if (store->write_held && sqlite3_get_autocommit(store->db)) {
    store->write_held = FALSE;
    g_rec_mutex_unlock(store->write_gate);
  }
}

typedef struct {
  guint n;
  guint8 file_id[MAX_SLOTS][GK_VFS_FILE_ID_BYTES];
  guint8 *dek[MAX_SLOTS];  /* sodium_malloc */
} KeyFile;

G_DEFINE_QUARK(gk-store-error-quark, gk_store_error)

static char *key_path(const char *db_path) { return g_strconcat(db_path, ".key", NULL); }
static char *lock_path(const char *db_path) { return g_strconcat(db_path, ".lock", NULL); }
static char *rekey_path(const char *db_path) { return g_strconcat(db_path, ".rekey", NULL); }

static guint8 *
secret_new(gsize len)
{
  guint8 *p = sodium_malloc(len);
  if (p == NULL)
    g_error("sodium_malloc failed");
  return p;
}

static void
secret_free(guint8 *p)
{
  if (p != NULL)
    sodium_free(p);
}

static void
keyfile_clear(KeyFile *kf)
{
  for (guint i = 0; i < MAX_SLOTS; i++)
    secret_free(kf->dek[i]);
  memset(kf, 0, sizeof *kf);
}

/* --- errors ---------------------------------------------------------------------- */

static gboolean
set_db_error(sqlite3 *db, const char *path, int rc, GError **error)
{
  int ext = db != NULL ? sqlite3_extended_errcode(db) : rc;
  if ((ext & 0xff) != (rc & 0xff))
    ext = rc;
  g_autofree char *auth = gk_vfs_take_auth_failure();
  const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

  if (ext == SQLITE_IOERR_DATA) {
    if (auth != NULL)
      g_set_error_literal(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT, auth);
    else
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT,
                  "a page of %s failed authentication: wrong key or data changed on disk",
                  path);
    return FALSE;
  }
  GkStoreError code;
  switch (rc & 0xff) {
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    code = GK_STORE_ERROR_CORRUPT;
    break;
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN:
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_NOMEM:
  case SQLITE_PROTOCOL:
    code = GK_STORE_ERROR_IO;
    break;
  case SQLITE_CONSTRAINT:
    code = (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
             ? GK_STORE_ERROR_EXISTS : GK_STORE_ERROR_SQL;
    break;
  default:
    code = GK_STORE_ERROR_SQL;
    break;
  }
  g_set_error(error, GK_STORE_ERROR, code, "%s: %s", path, msg);
  return FALSE;
}

static gboolean
set_errno_error(GError **error, int saved_errno, const char *what, const char *path)
{
  g_set_error(error, GK_STORE_ERROR,
              saved_errno == ENOENT ? GK_STORE_ERROR_NOT_FOUND : GK_STORE_ERROR_IO,
              "%s %s: %s", what, path, g_strerror(saved_errno));
  return FALSE;
}

/* --- locks ------------------------------------------------------------------------ */

static int
open_lock_file(const char *db_path, GError **error)
{
  g_autofree char *path = lock_path(db_path);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    set_errno_error(error, errno, "cannot open lock file", path);
  return fd;
}

static gboolean
ofd_lock(int fd, short type, off_t byte, gboolean wait)
{
  struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
  gint64 deadline = g_get_monotonic_time() + LOCK_TIMEOUT_US;
  for (;;) {
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
      return TRUE;
    if (errno != EAGAIN && errno != EACCES && errno != EINTR)
      return FALSE;
    if (!wait || g_get_monotonic_time() > deadline)
      return FALSE;
    g_usleep(2000);
  }
}

static gboolean
lock_or_fail(int fd, short type, off_t byte, const char *db_path, GError **error)
{
  if (ofd_lock(fd, type, byte, TRUE))
    return TRUE;
  g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
              "store %s is busy (being created, rekeyed or recovered elsewhere)", db_path);
  return FALSE;
}

/* --- KEK and key file ---------------------------------------------------------------- */

static guint8 *
load_kek(const char *kek_path, gboolean create, GError **error)
{
  g_autoptr(GError) local = NULL;
  guint8 *data = NULL;
  gsize len = 0;
  guint8 *kek = secret_new(KEK_BYTES);

  if (!gk_secure_file_read(kek_path, 1024, &data, &len, &local)) {
    if (!create || !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      goto fail;
    g_clear_error(&local);
    randombytes_buf(kek, KEK_BYTES);
    if (gk_secure_file_write(kek_path, kek, KEK_BYTES, TRUE, &local))
      return kek;
    /* Another creator won the race: use theirs. */
    if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_EXIST))
      goto fail;
    g_clear_error(&local);
    if (!gk_secure_file_read(kek_path, 1024, &data, &len, &local))
      goto fail;
  }
  if (len != KEK_BYTES) {
    gk_secure_free(data, len);
    secret_free(kek);
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY,
                "key-encryption key %s must hold exactly %d bytes", kek_path, KEK_BYTES);
    return NULL;
  }
  memcpy(kek, data, KEK_BYTES);
  gk_secure_free(data, len);
  return kek;

fail:
  secret_free(kek);
  g_set_error(error, GK_STORE_ERROR,
              g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                ? GK_STORE_ERROR_NOT_FOUND : GK_STORE_ERROR_IO,
              "key-encryption key: %s", local->message);
  return NULL;
}

static void
slot_ad(guint8 ad[SLOT_AD_BYTES], guint slot, const guint8 *file_id)
{
  memcpy(ad, KEYFILE_MAGIC, 8);
  ad[8] = KEYFILE_VERSION;
  ad[9] = (guint8) slot;
  memcpy(ad + 10, file_id, GK_VFS_FILE_ID_BYTES);
}

static gboolean
keyfile_read(const char *db_path, const guint8 *kek, KeyFile *kf, GError **error)
{
  g_autofree char *path = key_path(db_path);
  g_autoptr(GError) local = NULL;
  guint8 *data = NULL;
  gsize len = 0;
  gboolean ok = FALSE;

  memset(kf, 0, sizeof *kf);
  if (!gk_secure_file_read(path, 4096, &data, &len, &local)) {
    g_set_error(error, GK_STORE_ERROR,
                g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                  ? GK_STORE_ERROR_NOT_FOUND : GK_STORE_ERROR_IO,
                "store key file: %s", local->message);
    return FALSE;
  }
  if (len < KEYFILE_HDR || memcmp(data, KEYFILE_MAGIC, 8) != 0 ||
      data[8] != KEYFILE_VERSION || data[9] < 1 || data[9] > MAX_SLOTS ||
      len != KEYFILE_HDR + (gsize) data[9] * SLOT_BYTES) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT,
                "%s is not a Genkan store key file (version %d)", path, KEYFILE_VERSION);
    goto out;
  }
  kf->n = data[9];
  for (guint i = 0; i < kf->n; i++) {
    const guint8 *slot = data + KEYFILE_HDR + i * SLOT_BYTES;
    guint8 ad[SLOT_AD_BYTES];
    memcpy(kf->file_id[i], slot, GK_VFS_FILE_ID_BYTES);
    slot_ad(ad, i, kf->file_id[i]);
    kf->dek[i] = secret_new(GK_VFS_KEY_BYTES);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          kf->dek[i], NULL, slot + 40, GK_VFS_KEY_BYTES, slot + 72, ad, sizeof ad,
          slot + 16, kek) != 0) {
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_WRONG_KEY,
                  "the key-encryption key does not unwrap the data key in %s "
                  "(wrong key-encryption key, or the key file changed)", path);
      goto out;
    }
  }
  ok = TRUE;
out:
  if (!ok)
    keyfile_clear(kf);
  gk_secure_free(data, len);
  return ok;
}

/* Writes the key file atomically (temp file, fsync, rename, directory fsync). */
static gboolean
keyfile_write(const char *db_path, const guint8 *kek, guint n,
              const guint8 *const *file_ids, guint8 *const *deks, GError **error)
{
  g_autofree char *path = key_path(db_path);
  g_autoptr(GError) local = NULL;
  guint8 buf[KEYFILE_HDR + MAX_SLOTS * SLOT_BYTES] = { 0 };
  gsize len = KEYFILE_HDR + n * SLOT_BYTES;

  g_return_val_if_fail(n >= 1 && n <= MAX_SLOTS, FALSE);
  memcpy(buf, KEYFILE_MAGIC, 8);
  buf[8] = KEYFILE_VERSION;
  buf[9] = (guint8) n;
  for (guint i = 0; i < n; i++) {
    guint8 *slot = buf + KEYFILE_HDR + i * SLOT_BYTES;
    guint8 ad[SLOT_AD_BYTES];
    memcpy(slot, file_ids[i], GK_VFS_FILE_ID_BYTES);
    slot_ad(ad, i, file_ids[i]);
    randombytes_buf(slot + 16, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(slot + 40, slot + 72, NULL, deks[i],
                                                        GK_VFS_KEY_BYTES, ad, sizeof ad,
                                                        NULL, slot + 16, kek);
  }
  gboolean ok = gk_secure_file_write(path, buf, len, FALSE, &local);
  sodium_memzero(buf, sizeof buf);
  if (!ok)
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO, "store key file: %s",
                local->message);
  return ok;
}

/* --- raw file work (no SQLite): recovery and rekey ------------------------------------- */

static gboolean
pread_full(int fd, guint8 *buf, gsize len, off_t off)
{
  while (len > 0) {
    ssize_t n = pread(fd, buf, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    buf += n;
    len -= (gsize) n;
    off += n;
  }
  return TRUE;
}

static gboolean
pwrite_full(int fd, const guint8 *buf, gsize len, off_t off)
{
  while (len > 0) {
    ssize_t n = pwrite(fd, buf, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    buf += n;
    len -= (gsize) n;
    off += n;
  }
  return TRUE;
}

/* Does page 1 of the database authenticate under this DEK and file id? */
static gboolean
page1_opens(const char *db_path, const guint8 *dek, const guint8 *file_id)
{
  guint8 page[GK_VFS_PAGE_SIZE];
  gboolean ok = FALSE;
  int fd = open(db_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  if (pread_full(fd, page, sizeof page, 0)) {
    g_autoptr(GkVfsKey) key = gk_vfs_key_new(dek, file_id);
    ok = gk_vfs_open_db_page(key, 1, page);
  }
  close(fd);
  sodium_memzero(page, sizeof page);
  return ok;
}

/* Finishes or undoes an interrupted rekey. Needs LOCK_USE exclusive: with it
 * nobody else has the database open, and its WAL is empty (rekey empties it
 * before it writes the two-slot key file). */
static gboolean
recover_locked(const char *db_path, const guint8 *kek, GError **error)
{
  g_autofree char *tmp = rekey_path(db_path);
  KeyFile kf;
  gboolean ok = FALSE;

  if (!keyfile_read(db_path, kek, &kf, error))
    return FALSE;
  if (kf.n == 2) {
    /* Slot 1 is the new key: it opens page 1 exactly when the rename happened. */
    int chosen = page1_opens(db_path, kf.dek[1], kf.file_id[1]) ? 1
               : page1_opens(db_path, kf.dek[0], kf.file_id[0]) ? 0 : -1;
    if (chosen < 0) {
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT,
                  "page 1 of %s failed authentication under both keys of an "
                  "interrupted rekey: data changed on disk", db_path);
      goto out;
    }
    const guint8 *ids[1] = { kf.file_id[chosen] };
    guint8 *deks[1] = { kf.dek[chosen] };
    if (!keyfile_write(db_path, kek, 1, ids, deks, error))
      goto out;
    g_debug("store: %s rekey of %s after a crash", chosen == 1 ? "finished" : "undid",
            db_path);
  }
  if (g_unlink(tmp) != 0 && errno != ENOENT) {
    set_errno_error(error, errno, "cannot remove", tmp);
    goto out;
  }
  ok = TRUE;
out:
  keyfile_clear(&kf);
  return ok;
}

/* Copies @src to @dst page by page, opening each page under @old and sealing it
 * under @new_key; the result is fsync()ed. */
static gboolean
reseal_file(const char *src, const char *dst, const GkVfsKey *old, const GkVfsKey *new_key,
            GError **error)
{
  guint8 *page = g_malloc(GK_VFS_PAGE_SIZE);
  int in = -1, out_fd = -1;
  gboolean ok = FALSE;
  struct stat st;

  in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0 || fstat(in, &st) != 0) {
    set_errno_error(error, errno, "cannot read", src);
    goto out;
  }
  if (st.st_size % GK_VFS_PAGE_SIZE != 0) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT,
                "%s is not a whole number of pages", src);
    goto out;
  }
  out_fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out_fd < 0) {
    set_errno_error(error, errno, "cannot create", dst);
    goto out;
  }
  for (off_t off = 0; off < st.st_size; off += GK_VFS_PAGE_SIZE) {
    guint32 pgno = (guint32) (off / GK_VFS_PAGE_SIZE) + 1;
    if (!pread_full(in, page, GK_VFS_PAGE_SIZE, off)) {
      set_errno_error(error, errno ? errno : EIO, "cannot read", src);
      goto out;
    }
    if (!gk_vfs_open_db_page(old, pgno, page)) {
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT,
                  "page %u of %s failed authentication: wrong key or data changed on disk",
                  pgno, src);
      goto out;
    }
    gk_vfs_seal_db_page(new_key, pgno, page);
    if (!pwrite_full(out_fd, page, GK_VFS_PAGE_SIZE, off)) {
      set_errno_error(error, errno ? errno : EIO, "cannot write", dst);
      goto out;
    }
  }
  if (fsync(out_fd) != 0) {
    set_errno_error(error, errno, "cannot sync", dst);
    goto out;
  }
  ok = TRUE;
out:
  if (in >= 0)
    close(in);
  if (out_fd >= 0)
    close(out_fd);
  sodium_memzero(page, GK_VFS_PAGE_SIZE);
  g_free(page);
  return ok;
}

/* --- SQLite connection ------------------------------------------------------------------ */

static gboolean
exec_db(sqlite3 *db, const char *path, const char *sql, GError **error)
{
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK || set_db_error(db, path, rc, error);
}

/* First column of the first row of a fixed query, as text (NULL if no row). */
static gboolean
query_text(sqlite3 *db, const char *path, const char *sql, char **out, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      *out = g_strdup((const char *) sqlite3_column_text(stmt, 0));
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      *out = NULL;
      rc = SQLITE_OK;
    }
  }
  if (rc != SQLITE_OK)
    set_db_error(db, path, rc, error);
  sqlite3_finalize(stmt);
  return rc == SQLITE_OK;
}

static gboolean
query_int(sqlite3 *db, const char *path, const char *sql, int *out, GError **error)
{
  g_autofree char *text = NULL;
  if (!query_text(db, path, sql, &text, error))
    return FALSE;
  gint64 v = 0;
  if (text == NULL || !g_ascii_string_to_signed(text, 10, G_MININT, G_MAXINT, &v, NULL)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SQL, "%s: unexpected answer to %s",
                path, sql);
    return FALSE;
  }
  *out = (int) v;
  return TRUE;
}

static int
store_disconnect(GkStore *s, gboolean force)
{
  if (s->db != NULL) {
    int rc = force ? sqlite3_close_v2(s->db) : sqlite3_close(s->db);
    if (rc != SQLITE_OK)
      return rc;
    s->db = NULL;
  }
  if (s->attached) {
    gk_vfs_detach(s->db_path);
    s->attached = FALSE;
  }
  return SQLITE_OK;
}

static gboolean
store_connect(GkStore *s, GError **error)
{
  g_autofree char *mode = NULL;
  int page_size = 0, reserve = -1;

  if (!gk_vfs_attach(s->db_path, s->key)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "%s is open in this process under a different key", s->db_path);
    return FALSE;
  }
  s->attached = TRUE;
  int rc = sqlite3_open_v2(s->db_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE,
                           GK_VFS_NAME);
  if (rc != SQLITE_OK) {
    set_db_error(s->db, s->db_path, rc, error);
    goto fail;
  }
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  /* temp_store first: with it SQLite keeps sorts, temp tables and statement
   * journals in memory, where the VFS need not seal them. */
  if (!exec_db(s->db, s->db_path, "PRAGMA temp_store=MEMORY", error) ||
      !query_text(s->db, s->db_path, "PRAGMA journal_mode=WAL", &mode, error))
    goto fail;
  if (g_strcmp0(mode, "wal") != 0) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "%s: cannot use WAL journal mode (got %s)", s->db_path, mode);
    goto fail;
  }
  /* secure_delete: deleted rows and freed pages are overwritten with zeros, so
   * purged personal data does not linger in free space (docs/store-format.md). */
  if (!exec_db(s->db, s->db_path, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON",
               error) ||
      !query_int(s->db, s->db_path, "PRAGMA page_size", &page_size, error))
    goto fail;
  sqlite3_file_control(s->db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
  if (page_size != GK_VFS_PAGE_SIZE || reserve != GK_VFS_RESERVE) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_CORRUPT,
                "%s: page size %d / reserve %d, expected %d / %d", s->db_path, page_size,
                reserve, GK_VFS_PAGE_SIZE, GK_VFS_RESERVE);
    goto fail;
  }
  return TRUE;
fail:
  store_disconnect(s, TRUE);
  return FALSE;
}

static gboolean
run_migrations(GkStore *s, const GkMigration *migrations, gsize n, GError **error)
{
  int current = 0;
  if (!query_int(s->db, s->db_path, "PRAGMA user_version", &current, error))
    return FALSE;
  for (gsize i = 0; i <= n; i++) {
    if (current > (int) n) {
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SCHEMA,
                  "%s has schema version %d, newer than this program knows (%d)",
                  s->db_path, current, (int) n);
      return FALSE;
    }
    if (i == n || migrations[i].version <= current)
      continue;
    if (!gk_store_begin(s, error))
      return FALSE;
    /* Another connection may have migrated while we waited for the lock. */
    if (!query_int(s->db, s->db_path, "PRAGMA user_version", &current, error)) {
      gk_store_rollback(s);
      return FALSE;
    }
    if (migrations[i].version <= current || current > (int) n) {
      gk_store_rollback(s);
      continue;
    }
    g_autoptr(GError) local = NULL;
    /* PRAGMA takes no bound parameters; the version is our own integer. */
    g_autofree char *bump = g_strdup_printf("PRAGMA user_version=%d", migrations[i].version);
    if (!exec_db(s->db, s->db_path, migrations[i].sql, &local) ||
        !exec_db(s->db, s->db_path, bump, &local) || !gk_store_commit(s, &local)) {
      gk_store_rollback(s);
      if (local->code == GK_STORE_ERROR_CORRUPT || local->code == GK_STORE_ERROR_IO) {
        g_propagate_error(error, g_steal_pointer(&local));
      } else {
        g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SCHEMA,
                    "migration %d failed (store stays at version %d): %s",
                    migrations[i].version, current, local->message);
      }
      return FALSE;
    }
    current = migrations[i].version;
  }
  return TRUE;
}

/* --- public API --------------------------------------------------------------------------- */

gboolean
gk_store_create(const char *db_path, const char *kek_path, GError **error)
{
  g_return_val_if_fail(db_path != NULL && kek_path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  g_autofree char *tmp = g_strconcat(db_path, ".creating", NULL);
  g_autofree char *tmp_wal = g_strconcat(tmp, "-wal", NULL);
  g_autofree char *tmp_shm = g_strconcat(tmp, "-shm", NULL);
  guint8 *kek = NULL, *dek = NULL;
  guint8 file_id[GK_VFS_FILE_ID_BYTES];
  GkVfsKey *key = NULL;
  sqlite3 *db = NULL;
  gboolean attached = FALSE, ok = FALSE;
  g_autofree char *mode = NULL;
  g_autoptr(GError) sync_error = NULL;
  struct stat st;

  gk_vfs_register();
  int lock_fd = open_lock_file(db_path, error);
  if (lock_fd < 0)
    return FALSE;
  if (!lock_or_fail(lock_fd, F_WRLCK, LOCK_USE, db_path, error))
    goto out;
  if (g_file_test(db_path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_EXISTS,
                "refusing to create a store at %s: it exists already", db_path);
    goto out;
  }
  kek = load_kek(kek_path, TRUE, error);
  if (kek == NULL)
    goto out;
  dek = secret_new(GK_VFS_KEY_BYTES);
  randombytes_buf(dek, GK_VFS_KEY_BYTES);
  randombytes_buf(file_id, sizeof file_id);
  key = gk_vfs_key_new(dek, file_id);

  /* Build the database under a temporary name, so a crash never leaves a
   * half-made store at @db_path. Leftovers of an earlier crash go first. */
  g_unlink(tmp);
  g_unlink(tmp_wal);
  g_unlink(tmp_shm);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    set_errno_error(error, errno, "cannot create", tmp);
    goto out;
  }
  close(fd);  /* SQLite gives the WAL and -shm the database's mode: 0600 */
  if (!gk_vfs_attach(tmp, key)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO, "cannot attach a key to %s", tmp);
    goto out;
  }
  attached = TRUE;
  int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE,
                           GK_VFS_NAME);
  if (rc != SQLITE_OK) {
    set_db_error(db, tmp, rc, error);
    goto out;
  }
  /* Page size and reserve must be set while the file is empty; journal_mode=OFF
   * makes the switch to WAL (which writes page 1) use no rollback journal. */
  int reserve = GK_VFS_RESERVE;
  if (!exec_db(db, tmp, "PRAGMA temp_store=MEMORY; PRAGMA journal_mode=OFF; "
                        "PRAGMA page_size=4096", error))
    goto out;
  rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
  if (rc != SQLITE_OK) {
    set_db_error(db, tmp, rc, error);
    goto out;
  }
  if (!query_text(db, tmp, "PRAGMA journal_mode=WAL", &mode, error))
    goto out;
  if (g_strcmp0(mode, "wal") != 0) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "%s: cannot use WAL journal mode (got %s)", tmp, mode);
    goto out;
  }
  rc = sqlite3_close(db);
  db = NULL;
  if (rc != SQLITE_OK) {
    set_db_error(NULL, tmp, rc, error);
    goto out;
  }
  if (stat(tmp, &st) != 0 || st.st_size != GK_VFS_PAGE_SIZE ||
      g_file_test(tmp_wal, G_FILE_TEST_EXISTS)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "%s: new database was not written as expected", tmp);
    goto out;
  }
  const guint8 *ids[1] = { file_id };
  guint8 *deks[1] = { dek };
  if (!keyfile_write(db_path, kek, 1, ids, deks, error))
    goto out;
  /* link() refuses an existing target, unlike rename(). */
  if (link(tmp, db_path) != 0) {
    if (errno == EEXIST)
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_EXISTS,
                  "refusing to create a store at %s: it exists already", db_path);
    else
      set_errno_error(error, errno, "cannot create", db_path);
    goto out;
  }
  g_unlink(tmp);
  if (!gk_fsync_parent_dir(db_path, &sync_error)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO, "%s", sync_error->message);
    goto out;
  }
  ok = TRUE;
out:
  if (db != NULL)
    sqlite3_close_v2(db);
  if (attached)
    gk_vfs_detach(tmp);
  if (!ok) {
    g_unlink(tmp);
    g_unlink(tmp_wal);
    g_unlink(tmp_shm);
  }
  gk_vfs_key_unref(key);
  secret_free(dek);
  secret_free(kek);
  sodium_memzero(file_id, sizeof file_id);
  close(lock_fd);
  return ok;
}

GkStore *
gk_store_open(const char *db_path, const char *kek_path, const GkMigration *migrations,
              gsize n_migrations, GError **error)
{
  g_return_val_if_fail(db_path != NULL && kek_path != NULL, NULL);
  g_return_val_if_fail(migrations != NULL || n_migrations == 0, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  g_autoptr(GkStore) s = NULL;
  g_autofree char *tmp = rekey_path(db_path);
  guint8 *kek = NULL;
  KeyFile kf = { 0 };
  GkStore *result = NULL;

  gk_vfs_register();
  for (gsize i = 0; i < n_migrations; i++) {
    if (migrations[i].version != (int) i + 1 || migrations[i].sql == NULL) {
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SCHEMA,
                  "migration #%" G_GSIZE_FORMAT " has version %d: migrations must be "
                  "numbered 1, 2, 3... in order", i, migrations[i].version);
      return NULL;
    }
  }
  if (!g_file_test(db_path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_NOT_FOUND, "no store at %s", db_path);
    return NULL;
  }

  s = g_new0(GkStore, 1);
  s->db_path = g_strdup(db_path);
  s->kek_path = g_strdup(kek_path);
  g_autofree char *canonical = g_canonicalize_filename(db_path, NULL);
  s->write_gate = write_gate_for(canonical);
  s->lock_fd = open_lock_file(db_path, error);
  if (s->lock_fd < 0 || !lock_or_fail(s->lock_fd, F_RDLCK, LOCK_USE, db_path, error))
    goto out;
  kek = load_kek(kek_path, FALSE, error);
  if (kek == NULL || !keyfile_read(db_path, kek, &kf, error))
    goto out;

  /* Under the shared lock no rekey runs, so a second slot or a leftover rekey
   * file is a crashed one. Recover under the exclusive lock (dropping ours
   * first: two openers upgrading at once would wait for each other). */
  if (kf.n > 1 || g_file_test(tmp, G_FILE_TEST_EXISTS)) {
    keyfile_clear(&kf);
    struct flock unlock = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = LOCK_USE, .l_len = 1 };
    fcntl(s->lock_fd, F_OFD_SETLK, &unlock);
    if (!lock_or_fail(s->lock_fd, F_WRLCK, LOCK_USE, db_path, error) ||
        !recover_locked(db_path, kek, error) ||
        !lock_or_fail(s->lock_fd, F_RDLCK, LOCK_USE, db_path, error) ||
        !keyfile_read(db_path, kek, &kf, error))
      goto out;
  }
  s->key = gk_vfs_key_new(kf.dek[0], kf.file_id[0]);
  if (!store_connect(s, error) || !run_migrations(s, migrations, n_migrations, error))
    goto out;
  result = g_steal_pointer(&s);
out:
  keyfile_clear(&kf);
  secret_free(kek);
  return result;
}

sqlite3 *
gk_store_db(GkStore *store)
{
  g_return_val_if_fail(store != NULL, NULL);
  return store->db;
}

gboolean
gk_store_set_error_from_db(GkStore *store, int rc, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
    return TRUE;
  return set_db_error(store->db, store->db_path, rc, error);
}

gboolean
gk_store_exec(GkStore *store, const char *sql, GError **error)
{
  g_return_val_if_fail(store != NULL && store->db != NULL && sql != NULL, FALSE);
  return exec_db(store->db, store->db_path, sql, error);
}

gboolean
gk_store_begin(GkStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL && store->db != NULL, FALSE);
  if (!store->write_held) {
    g_rec_mutex_lock(store->write_gate);
    store->write_held = TRUE;
  }
  gboolean ok = gk_store_exec(store, "BEGIN IMMEDIATE", error);
  release_write_gate(store);
  return ok;
}

gboolean
gk_store_commit(GkStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL && store->db != NULL, FALSE);
  gboolean ok = gk_store_exec(store, "COMMIT", error);
  release_write_gate(store);
  return ok;
}

void
gk_store_rollback(GkStore *store)
{
  g_return_if_fail(store != NULL);
  if (store->db != NULL && !sqlite3_get_autocommit(store->db))
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
  if (store->db != NULL)
    release_write_gate(store);
}

static gboolean
checkpoint_truncate(GkStore *store, GError **error)
{
  int log = -1, done = -1;
  int rc = sqlite3_wal_checkpoint_v2(store->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
  if (rc == SQLITE_BUSY) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "checkpoint of %s incomplete: other connections are using the WAL",
                store->db_path);
    return FALSE;
  }
  return rc == SQLITE_OK || set_db_error(store->db, store->db_path, rc, error);
}

gboolean
gk_store_checkpoint(GkStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL && store->db != NULL, FALSE);
  return checkpoint_truncate(store, error);
}

gboolean
gk_store_rekey(GkStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL && store->db != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  g_autofree char *tmp = rekey_path(store->db_path);
  g_autofree char *wal = g_strconcat(store->db_path, "-wal", NULL);
  guint8 *kek = NULL, *new_dek = NULL;
  guint8 new_id[GK_VFS_FILE_ID_BYTES];
  GkVfsKey *new_key = NULL;
  KeyFile kf = { 0 };
  gboolean ok = FALSE, pending = FALSE, switched = FALSE;
  struct stat st;

  if (!ofd_lock(store->lock_fd, F_WRLCK, LOCK_USE, FALSE)) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "cannot rekey %s: another connection has it open", store->db_path);
    return FALSE;
  }
  /* Alone now: empty the WAL and close, so the database file holds every page
   * and SQLite deletes the WAL and -shm. */
  if (!checkpoint_truncate(store, error))
    goto out;
  if (store_disconnect(store, FALSE) != SQLITE_OK) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_SQL,
                "cannot rekey %s: finalize its prepared statements first", store->db_path);
    goto out;
  }
  if (stat(wal, &st) == 0 && st.st_size > 0) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "cannot rekey %s: its WAL still holds frames", store->db_path);
    goto out;
  }
  kek = load_kek(store->kek_path, FALSE, error);
  if (kek == NULL || !keyfile_read(store->db_path, kek, &kf, error))
    goto out;
  if (kf.n != 1 || memcmp(kf.file_id[0], gk_vfs_key_file_id(store->key), GK_VFS_FILE_ID_BYTES) != 0) {
    g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO,
                "cannot rekey %s: its key file changed since it was opened", store->db_path);
    goto out;
  }
  new_dek = secret_new(GK_VFS_KEY_BYTES);
  randombytes_buf(new_dek, GK_VFS_KEY_BYTES);
  randombytes_buf(new_id, sizeof new_id);
  new_key = gk_vfs_key_new(new_dek, new_id);

  if (!reseal_file(store->db_path, tmp, store->key, new_key, error))
    goto out;
  {
    /* Both keys in the key file first: whichever file a crash leaves at
     * db_path, recovery finds the key that opens it. */
    const guint8 *ids[2] = { kf.file_id[0], new_id };
    guint8 *deks[2] = { kf.dek[0], new_dek };
    if (!keyfile_write(store->db_path, kek, 2, ids, deks, error))
      goto out;
    pending = TRUE;
  }
  if (rename(tmp, store->db_path) != 0) {
    set_errno_error(error, errno, "cannot replace", store->db_path);
    goto out;
  }
  switched = TRUE;
  {
    g_autoptr(GError) local = NULL;
    const guint8 *ids[1] = { new_id };
    guint8 *deks[1] = { new_dek };
    if (!gk_fsync_parent_dir(store->db_path, &local)) {
      g_set_error(error, GK_STORE_ERROR, GK_STORE_ERROR_IO, "%s", local->message);
      goto out;
    }
    /* If this fails, the two-slot key file stays and the next open finishes. */
    if (!keyfile_write(store->db_path, kek, 1, ids, deks, error))
      goto out;
  }
  ok = TRUE;
out:
  if (switched) {
    gk_vfs_key_unref(store->key);
    store->key = g_steal_pointer(&new_key);
  } else {
    g_unlink(tmp);
    if (pending) {
      const guint8 *ids[1] = { kf.file_id[0] };
      guint8 *deks[1] = { kf.dek[0] };
      keyfile_write(store->db_path, kek, 1, ids, deks, NULL);
    }
  }
  if (store->db == NULL && !store_connect(store, ok ? error : NULL))
    ok = FALSE;
  /* Back to shared; a downgrade never waits. */
  ofd_lock(store->lock_fd, F_RDLCK, LOCK_USE, TRUE);
  gk_vfs_key_unref(new_key);
  keyfile_clear(&kf);
  secret_free(new_dek);
  secret_free(kek);
  return ok;
}

gboolean
gk_store_rewrap(const char *db_path, const char *old_kek_path, const char *new_kek_path,
                GError **error)
{
  g_return_val_if_fail(db_path != NULL && old_kek_path != NULL && new_kek_path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  guint8 *old_kek = NULL, *new_kek = NULL;
  KeyFile kf = { 0 };
  gboolean ok = FALSE;

  int lock_fd = open_lock_file(db_path, error);
  if (lock_fd < 0)
    return FALSE;
  /* Shared use (no rekey meanwhile), exclusive key-file writing. */
  if (!lock_or_fail(lock_fd, F_RDLCK, LOCK_USE, db_path, error) ||
      !lock_or_fail(lock_fd, F_WRLCK, LOCK_KEYFILE, db_path, error))
    goto out;
  old_kek = load_kek(old_kek_path, FALSE, error);
  if (old_kek == NULL || !keyfile_read(db_path, old_kek, &kf, error))
    goto out;
  new_kek = load_kek(new_kek_path, TRUE, error);
  if (new_kek == NULL)
    goto out;
  {
    const guint8 *ids[MAX_SLOTS] = { kf.file_id[0], kf.file_id[1] };
    if (!keyfile_write(db_path, new_kek, kf.n, ids, kf.dek, error))
      goto out;
  }
  ok = TRUE;
out:
  keyfile_clear(&kf);
  secret_free(old_kek);
  secret_free(new_kek);
  close(lock_fd);
  return ok;
}

void
gk_store_close(GkStore *store)
{
  if (store == NULL)
    return;
  /* A transaction left open is rolled back by the disconnect: let the next
   * writer in. */
  if (store->write_held) {
    store->write_held = FALSE;
    g_rec_mutex_unlock(store->write_gate);
  }
  /* close_v2: statements a caller forgot keep the connection until finalized. */
  store_disconnect(store, TRUE);
  if (store->lock_fd >= 0)
    close(store->lock_fd);
  gk_vfs_key_unref(store->key);
  g_free(store->db_path);
  g_free(store->kek_path);
  g_free(store);
}
