/* SQLite VFS that seals each database and WAL page with XChaCha20-Poly1305 in
 * SQLite's per-page reserved bytes, so file offsets match plain SQLite's. */
#include "gk-vfs.h"

#include <sodium.h>
#include <string.h>

#define PAGE       GK_VFS_PAGE_SIZE
#define BODY       (PAGE - GK_VFS_RESERVE)     /* bytes of a page under encryption */
#define WAL_HDR    32                          /* WAL file header, plain */
#define FRAME_HDR  24                          /* WAL frame header, plain */
#define WAL_SALT_OFFSET 16                     /* salt-1, salt-2 in the WAL header */
#define FRAME_SIZE (FRAME_HDR + PAGE)
#define AD_BYTES   45

static const char page_tag[8] = { 'G', 'K', 'S', 'T', 'P', 'G', '0', '2' };

struct _GkVfsKey {
  gint refcount;
  guint8 *dek;                          /* sodium_malloc: guarded, never swapped */
  guint8 file_id[GK_VFS_FILE_ID_BYTES];
};

typedef enum { KIND_DB = 1, KIND_WAL = 2 } FileKind;

typedef struct {
  sqlite3_file base;      /* must come first: SQLite sees this */
  sqlite3_file *real;     /* the unix VFS's file, stored right after this struct */
  GkVfsKey *key;
  FileKind kind;
  const char *path;       /* SQLite keeps the name alive until xClose */
  guint8 *scratch;        /* one page: ciphertext on write, whole page on partial read */
} SealedFile;

/* One region of a file: a sealed page, or a plain header (WAL only). */
typedef struct {
  sqlite3_int64 start, end;
  gboolean sealed;
  guint32 frame;          /* WAL frame index from 1; 0 in the database */
  guint32 pgno;           /* database page number (WAL: read from the frame header) */
} Segment;

static sqlite3_vfs *base_vfs;
static sqlite3_vfs sealed_vfs;
static GMutex registry_lock;
static GHashTable *registry;  /* full db path -> Attachment */

typedef struct {
  GkVfsKey *key;
  guint count;
} Attachment;

/* Last authentication failure of this thread, for the store's error message. */
static __thread gboolean auth_failed;
static __thread char auth_message[512];

/* --- keys ------------------------------------------------------------------- */

GkVfsKey *
gk_vfs_key_new(const guint8 *dek, const guint8 *file_id)
{
  g_return_val_if_fail(dek != NULL && file_id != NULL, NULL);
  if (sodium_init() < 0)
    g_error("libsodium failed to initialise");
  GkVfsKey *key = g_new0(GkVfsKey, 1);
  key->refcount = 1;
  key->dek = sodium_malloc(GK_VFS_KEY_BYTES);
  if (key->dek == NULL)
    g_error("sodium_malloc failed");
  memcpy(key->dek, dek, GK_VFS_KEY_BYTES);
  memcpy(key->file_id, file_id, GK_VFS_FILE_ID_BYTES);
  return key;
}

GkVfsKey *
gk_vfs_key_ref(GkVfsKey *key)
{
  g_return_val_if_fail(key != NULL, NULL);
  g_atomic_int_inc(&key->refcount);
  return key;
}

void
gk_vfs_key_unref(GkVfsKey *key)
{
  if (key == NULL || !g_atomic_int_dec_and_test(&key->refcount))
    return;
  sodium_free(key->dek);  /* zeroes before unmapping */
  sodium_memzero(key->file_id, sizeof key->file_id);
  g_free(key);
}

const guint8 *
gk_vfs_key_file_id(const GkVfsKey *key)
{
  g_return_val_if_fail(key != NULL, NULL);
  return key->file_id;
}

static gboolean
key_equal(const GkVfsKey *a, const GkVfsKey *b)
{
  return sodium_memcmp(a->dek, b->dek, GK_VFS_KEY_BYTES) == 0 &&
         memcmp(a->file_id, b->file_id, GK_VFS_FILE_ID_BYTES) == 0;
}

/* --- page sealing ------------------------------------------------------------ */

static void
put_be32(guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static guint32
get_be32(const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Associated data binds a page to its format, file kind, store, position and
 * (in the WAL) its WAL generation and commit marker, so no sealed page can be
 * moved or replayed to another place undetected, and no frame can be turned
 * into (or out of) the last frame of a transaction: SQLite's frame checksum is
 * linear and would not stop a forged commit marker on its own. */
static void
build_ad(guint8 ad[AD_BYTES], const GkVfsKey *key, FileKind kind, guint32 pgno,
         guint32 frame, const guint8 *frame_hdr)
{
  memcpy(ad, page_tag, 8);
  ad[8] = (guint8) kind;
  memcpy(ad + 9, key->file_id, GK_VFS_FILE_ID_BYTES);
  put_be32(ad + 25, pgno);
  put_be32(ad + 29, frame);
  if (frame_hdr != NULL) {
    memcpy(ad + 33, frame_hdr + 8, 8);  /* salt-1, salt-2 */
    memcpy(ad + 41, frame_hdr + 4, 4);  /* commit size: non-zero on a commit frame */
  } else {
    memset(ad + 33, 0, 12);
  }
}

static void
seal(const GkVfsKey *key, FileKind kind, guint32 pgno, guint32 frame,
     const guint8 *frame_hdr, const guint8 *in, guint8 *out)
{
  guint8 ad[AD_BYTES];
  guint8 *nonce = out + BODY;
  guint8 *tag = nonce + GK_VFS_NONCE_BYTES;
  build_ad(ad, key, kind, pgno, frame, frame_hdr);
  /* A fresh random 192-bit nonce per write: no counter to keep crash-safe. */
  randombytes_buf(nonce, GK_VFS_NONCE_BYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out, tag, NULL, in, BODY, ad,
                                                       AD_BYTES, NULL, nonce, key->dek);
}

static gboolean
unseal(const GkVfsKey *key, FileKind kind, guint32 pgno, guint32 frame,
       const guint8 *frame_hdr, guint8 *page)
{
  guint8 ad[AD_BYTES];
  build_ad(ad, key, kind, pgno, frame, frame_hdr);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(page, NULL, page, BODY,
                                                          page + BODY + GK_VFS_NONCE_BYTES,
                                                          ad, AD_BYTES, page + BODY,
                                                          key->dek) != 0)
    return FALSE;
  /* SQLite sums WAL frames over what it wrote, and it wrote zeros here. */
  memset(page + BODY, 0, GK_VFS_RESERVE);
  return TRUE;
}

void
gk_vfs_seal_db_page(const GkVfsKey *key, guint32 pgno, guint8 *page)
{
  g_return_if_fail(key != NULL && page != NULL && pgno > 0);
  guint8 tmp[PAGE];
  memcpy(tmp, page, PAGE);
  seal(key, KIND_DB, pgno, 0, NULL, tmp, page);
  sodium_memzero(tmp, sizeof tmp);
}

gboolean
gk_vfs_open_db_page(const GkVfsKey *key, guint32 pgno, guint8 *page)
{
  g_return_val_if_fail(key != NULL && page != NULL && pgno > 0, FALSE);
  return unseal(key, KIND_DB, pgno, 0, NULL, page);
}

static void
record_auth_failure(const SealedFile *f, const Segment *s)
{
  auth_failed = TRUE;
  if (f->kind == KIND_WAL)
    g_snprintf(auth_message, sizeof auth_message,
               "page %u (WAL frame %u) of %s failed authentication: "
               "wrong key or data changed on disk", s->pgno, s->frame, f->path);
  else
    g_snprintf(auth_message, sizeof auth_message,
               "page %u of %s failed authentication: wrong key or data changed on disk",
               s->pgno, f->path);
  sqlite3_log(SQLITE_IOERR_DATA, "%s", auth_message);
}

char *
gk_vfs_take_auth_failure(void)
{
  if (!auth_failed)
    return NULL;
  auth_failed = FALSE;
  return g_strdup(auth_message);
}

/* --- file layout ------------------------------------------------------------- */

static void
segment_at(const SealedFile *f, sqlite3_int64 off, Segment *s)
{
  if (f->kind == KIND_DB) {
    sqlite3_int64 n = off / PAGE;
    s->start = n * PAGE;
    s->end = s->start + PAGE;
    s->sealed = TRUE;
    s->frame = 0;
    s->pgno = (guint32) (n + 1);
    return;
  }
  s->pgno = 0;
  if (off < WAL_HDR) {
    s->start = 0;
    s->end = WAL_HDR;
    s->sealed = FALSE;
    s->frame = 0;
    return;
  }
  sqlite3_int64 n = (off - WAL_HDR) / FRAME_SIZE;
  sqlite3_int64 frame_start = WAL_HDR + n * FRAME_SIZE;
  s->frame = (guint32) (n + 1);
  if (off < frame_start + FRAME_HDR) {
    s->start = frame_start;
    s->end = frame_start + FRAME_HDR;
    s->sealed = FALSE;
  } else {
    s->start = frame_start + FRAME_HDR;
    s->end = frame_start + FRAME_SIZE;
    s->sealed = TRUE;
  }
}

/* The plain header of the WAL frame that holds page segment @s: from the caller's
 * buffer when it covers it, else from disk (SQLite writes it just before).
 * Bytes 8..15 (the salts) are replaced by the WAL header's: once a transaction
 * has rewritten one of its own frames in place (a page spilled from a full cache
 * and changed again), SQLite writes the following frame headers with zero salts
 * and fills them in at commit (walRewriteChecksums), after the page was sealed.
 * The WAL header's salts are the frame's for every frame of the current WAL
 * generation, which are the only frames SQLite accepts. */
static int
frame_header(SealedFile *f, const Segment *s, const guint8 *buf, sqlite3_int64 off,
             sqlite3_int64 end, guint8 hdr[FRAME_HDR])
{
  sqlite3_int64 hdr_start = s->start - FRAME_HDR;
  if (off <= hdr_start && end >= s->start)
    memcpy(hdr, buf + (hdr_start - off), FRAME_HDR);
  else {
    int rc = f->real->pMethods->xRead(f->real, hdr, FRAME_HDR, hdr_start);
    if (rc != SQLITE_OK)
      return rc;
  }
  return f->real->pMethods->xRead(f->real, hdr + 8, 8, WAL_SALT_OFFSET);
}

/* --- io methods ---------------------------------------------------------------- */

static int
sealed_close(sqlite3_file *file)
{
  SealedFile *f = (SealedFile *) file;
  int rc = SQLITE_OK;
  if (f->real->pMethods != NULL)
    rc = f->real->pMethods->xClose(f->real);
  gk_vfs_key_unref(f->key);
  f->key = NULL;
  if (f->scratch != NULL)
    sodium_memzero(f->scratch, PAGE);
  g_free(f->scratch);
  f->scratch = NULL;
  return rc;
}

static int
sealed_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
  SealedFile *f = (SealedFile *) file;
  guint8 *out = buf;
  sqlite3_int64 pos = off, end = off + amt;
  gboolean short_read = FALSE;
  int rc = SQLITE_OK;

  while (pos < end) {
    Segment s;
    segment_at(f, pos, &s);
    sqlite3_int64 stop = MIN(end, s.end);
    guint8 *dst = out + (pos - off);

    if (!s.sealed) {
      rc = f->real->pMethods->xRead(f->real, dst, (int) (stop - pos), pos);
      if (rc == SQLITE_IOERR_SHORT_READ) {
        memset(out + (stop - off), 0, (size_t) (end - stop));
        short_read = TRUE;
        rc = SQLITE_OK;
        break;
      }
      if (rc != SQLITE_OK)
        goto out;
      pos = stop;
      continue;
    }

    gboolean whole = pos == s.start && stop == s.end;
    guint8 *page = whole ? dst : f->scratch;
    rc = f->real->pMethods->xRead(f->real, page, PAGE, s.start);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      sqlite3_int64 size = 0;
      rc = f->real->pMethods->xFileSize(f->real, &size);
      if (rc != SQLITE_OK)
        goto out;
      if (size <= s.start) {
        /* Beyond the end of file: zeros and a short read, as SQLite expects. */
        memset(dst, 0, (size_t) (end - pos));
        short_read = TRUE;
        break;
      }
      /* Part of a page cannot be authenticated. */
      record_auth_failure(f, &s);
      rc = SQLITE_IOERR_DATA;
      goto out;
    }
    if (rc != SQLITE_OK)
      goto out;

    guint8 hdr[FRAME_HDR];
    const guint8 *hdr_p = NULL;
    if (f->kind == KIND_WAL) {
      /* The read so far is in @out already, so a header in range is plain there. */
      rc = frame_header(f, &s, out, off, end, hdr);
      if (rc != SQLITE_OK) {
        rc = SQLITE_IOERR_READ;
        goto out;
      }
      s.pgno = get_be32(hdr);
      hdr_p = hdr;
    }
    if (!unseal(f->key, f->kind, s.pgno, s.frame, hdr_p, page)) {
      if (f->kind == KIND_WAL && off <= s.start - FRAME_HDR) {
        /* Whole-frame reads come from WAL recovery, which must meet torn frames
         * after a crash: a page that fails authentication reads as zeros, its
         * checksum fails, and SQLite ends the log there as it would unencrypted. */
        g_debug("store: WAL frame %u of %s failed authentication; end of log", s.frame,
                f->path);
        memset(page, 0, PAGE);
      } else {
        record_auth_failure(f, &s);
        rc = SQLITE_IOERR_DATA;
        goto out;
      }
    }
    if (!whole)
      memcpy(dst, f->scratch + (pos - s.start), (size_t) (stop - pos));
    pos = stop;
  }
  rc = short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
out:
  return rc;
}

static gboolean
is_zero(const guint8 *p, size_t n)
{
  guint8 acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc == 0;
}

static int
sealed_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
  SealedFile *f = (SealedFile *) file;
  const guint8 *in = buf;
  sqlite3_int64 pos = off, end = off + amt;
  int rc = SQLITE_OK;

  while (pos < end) {
    Segment s;
    segment_at(f, pos, &s);
    sqlite3_int64 stop = MIN(end, s.end);
    const guint8 *src = in + (pos - off);

    if (!s.sealed) {
      rc = f->real->pMethods->xWrite(f->real, src, (int) (stop - pos), pos);
      if (rc != SQLITE_OK)
        goto out;
      pos = stop;
      continue;
    }
    /* A page is sealed as a whole; a part of one would need the rest from disk. */
    if (pos != s.start || stop != s.end) {
      sqlite3_log(SQLITE_IOERR_WRITE, "genkan-sealed: partial page write to %s", f->path);
      rc = SQLITE_IOERR_WRITE;
      goto out;
    }
    guint8 hdr[FRAME_HDR];
    const guint8 *hdr_p = NULL;
    if (f->kind == KIND_WAL) {
      rc = frame_header(f, &s, in, off, end, hdr);
      if (rc != SQLITE_OK) {
        rc = SQLITE_IOERR_WRITE;
        goto out;
      }
      s.pgno = get_be32(hdr);
      hdr_p = hdr;
    }
    /* The nonce and tag go where SQLite left room; anything else there means the
     * database lacks the reserve and sealing would destroy data. */
    if (!is_zero(src + BODY, GK_VFS_RESERVE) ||
        (s.pgno == 1 && (src[16] != (PAGE >> 8) || src[17] != 0 || src[20] != GK_VFS_RESERVE))) {
      sqlite3_log(SQLITE_IOERR_WRITE,
                  "genkan-sealed: page %u of %s lacks the reserved bytes for sealing",
                  s.pgno, f->path);
      rc = SQLITE_IOERR_WRITE;
      goto out;
    }
    seal(f->key, f->kind, s.pgno, s.frame, hdr_p, src, f->scratch);
    rc = f->real->pMethods->xWrite(f->real, f->scratch, PAGE, s.start);
    if (rc != SQLITE_OK)
      goto out;
    pos = stop;
  }
out:
  return rc;
}

static int
sealed_truncate(sqlite3_file *file, sqlite3_int64 size)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xTruncate(f->real, size);
}

static int
sealed_sync(sqlite3_file *file, int flags)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xSync(f->real, flags);
}

static int
sealed_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xFileSize(f->real, size);
}

static int
sealed_lock(sqlite3_file *file, int level)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xLock(f->real, level);
}

static int
sealed_unlock(sqlite3_file *file, int level)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xUnlock(f->real, level);
}

static int
sealed_check_reserved_lock(sqlite3_file *file, int *out)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
sealed_file_control(sqlite3_file *file, int op, void *arg)
{
  SealedFile *f = (SealedFile *) file;
  if (op == SQLITE_FCNTL_PRAGMA && f->kind == KIND_DB) {
    char **args = arg;
    /* Any journal but WAL would put unsealed pages on disk (a rollback journal) or
     * lose crash safety; only a new, empty database may pass through another mode
     * on its way to WAL. */
    if (args[1] != NULL && sqlite3_stricmp(args[1], "journal_mode") == 0 &&
        args[2] != NULL && sqlite3_stricmp(args[2], "wal") != 0) {
      sqlite3_int64 size = 0;
      int rc = f->real->pMethods->xFileSize(f->real, &size);
      if (rc != SQLITE_OK)
        return rc;
      if (size > 0) {
        args[0] = sqlite3_mprintf("a Genkan store must stay in WAL journal mode");
        return SQLITE_ERROR;
      }
    }
  }
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
sealed_sector_size(sqlite3_file *file)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xSectorSize(f->real);
}

static int
sealed_device_characteristics(sqlite3_file *file)
{
  SealedFile *f = (SealedFile *) file;
  /* Batch-atomic writes bypass the journal logic this VFS relies on. */
  return f->real->pMethods->xDeviceCharacteristics(f->real) & ~SQLITE_IOCAP_BATCH_ATOMIC;
}

/* The wal-index (-shm) holds page numbers, frame indexes, checksums and salts,
 * never row data, so it passes through unsealed. */
static int
sealed_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **pp)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xShmMap(f->real, region, size, extend, pp);
}

static int
sealed_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
sealed_shm_barrier(sqlite3_file *file)
{
  SealedFile *f = (SealedFile *) file;
  f->real->pMethods->xShmBarrier(f->real);
}

static int
sealed_shm_unmap(sqlite3_file *file, int delete_flag)
{
  SealedFile *f = (SealedFile *) file;
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

/* Version 2: no xFetch, so SQLite never memory-maps (and reads ciphertext). */
static const sqlite3_io_methods sealed_io_methods = {
  .iVersion = 2,
  .xClose = sealed_close,
  .xRead = sealed_read,
  .xWrite = sealed_write,
  .xTruncate = sealed_truncate,
  .xSync = sealed_sync,
  .xFileSize = sealed_file_size,
  .xLock = sealed_lock,
  .xUnlock = sealed_unlock,
  .xCheckReservedLock = sealed_check_reserved_lock,
  .xFileControl = sealed_file_control,
  .xSectorSize = sealed_sector_size,
  .xDeviceCharacteristics = sealed_device_characteristics,
  .xShmMap = sealed_shm_map,
  .xShmLock = sealed_shm_lock,
  .xShmBarrier = sealed_shm_barrier,
  .xShmUnmap = sealed_shm_unmap,
};

/* --- vfs methods --------------------------------------------------------------- */

static GkVfsKey *
lookup_key(const char *db_path)
{
  GkVfsKey *key = NULL;
  g_mutex_lock(&registry_lock);
  Attachment *a = registry != NULL ? g_hash_table_lookup(registry, db_path) : NULL;
  if (a != NULL)
    key = gk_vfs_key_ref(a->key);
  g_mutex_unlock(&registry_lock);
  return key;
}

static int
sealed_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
            int *out_flags)
{
  SealedFile *f = (SealedFile *) file;
  int rc = SQLITE_CANTOPEN;

  memset(f, 0, sizeof *f);
  f->real = (sqlite3_file *) ((char *) f + ((sizeof(SealedFile) + 7) & ~(size_t) 7));

  /* Only what can be sealed may be opened: rollback and statement journals, temp
   * databases and sorter spills would write plaintext (temp_store=MEMORY keeps
   * SQLite from asking for them). */
  if ((flags & SQLITE_OPEN_MAIN_DB) && name != NULL) {
    f->kind = KIND_DB;
    f->key = lookup_key(name);
  } else if ((flags & SQLITE_OPEN_WAL) && name != NULL) {
    f->kind = KIND_WAL;
    f->key = lookup_key(sqlite3_filename_database(name));
  } else {
    sqlite3_log(SQLITE_CANTOPEN, "genkan-sealed: refusing unsealed file %s (flags 0x%x)",
                name != NULL ? name : "(temp)", flags);
    goto out;
  }
  if (f->key == NULL) {
    sqlite3_log(SQLITE_CANTOPEN, "genkan-sealed: no key attached for %s", name);
    goto out;
  }
  f->path = name;
  f->scratch = g_malloc(PAGE);
  rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK)
    goto out;
  f->base.pMethods = &sealed_io_methods;
  rc = SQLITE_OK;
out:
  if (rc != SQLITE_OK) {
    if (f->real->pMethods != NULL)
      f->real->pMethods->xClose(f->real);
    gk_vfs_key_unref(f->key);
    g_free(f->scratch);
    memset(f, 0, sizeof *f);  /* pMethods NULL: SQLite will not call xClose */
  }
  return rc;
}

static int
sealed_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
  return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int
sealed_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
  return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int
sealed_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
  return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *
sealed_dl_open(sqlite3_vfs *vfs, const char *name)
{
  return base_vfs->xDlOpen(base_vfs, name);
}

static void
sealed_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
  base_vfs->xDlError(base_vfs, n, msg);
}

static void (*sealed_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
  return base_vfs->xDlSym(base_vfs, h, sym);
}

static void
sealed_dl_close(sqlite3_vfs *vfs, void *h)
{
  base_vfs->xDlClose(base_vfs, h);
}

static int
sealed_randomness(sqlite3_vfs *vfs, int n, char *out)
{
  return base_vfs->xRandomness(base_vfs, n, out);
}

static int
sealed_sleep(sqlite3_vfs *vfs, int usec)
{
  return base_vfs->xSleep(base_vfs, usec);
}

static int
sealed_current_time(sqlite3_vfs *vfs, double *out)
{
  return base_vfs->xCurrentTime(base_vfs, out);
}

static int
sealed_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
  return base_vfs->xGetLastError(base_vfs, n, out);
}

static int
sealed_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
  return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static gpointer
register_once(gpointer data)
{
  if (sodium_init() < 0)
    g_error("libsodium failed to initialise");
  if (sqlite3_initialize() != SQLITE_OK)
    g_error("SQLite failed to initialise");
  base_vfs = sqlite3_vfs_find("unix");
  if (base_vfs == NULL || base_vfs->iVersion < 2)
    g_error("SQLite has no usable unix VFS");
  sealed_vfs = (sqlite3_vfs) {
    .iVersion = 2,
    .szOsFile = (int) (((sizeof(SealedFile) + 7) & ~(size_t) 7) + (size_t) base_vfs->szOsFile),
    .mxPathname = base_vfs->mxPathname,
    .zName = GK_VFS_NAME,
    .xOpen = sealed_open,
    .xDelete = sealed_delete,
    .xAccess = sealed_access,
    .xFullPathname = sealed_full_pathname,
    .xDlOpen = sealed_dl_open,
    .xDlError = sealed_dl_error,
    .xDlSym = sealed_dl_sym,
    .xDlClose = sealed_dl_close,
    .xRandomness = sealed_randomness,
    .xSleep = sealed_sleep,
    .xCurrentTime = sealed_current_time,
    .xGetLastError = sealed_get_last_error,
    .xCurrentTimeInt64 = sealed_current_time_int64,
  };
  if (sqlite3_vfs_register(&sealed_vfs, 0) != SQLITE_OK)
    g_error("cannot register the %s SQLite VFS", GK_VFS_NAME);
  return NULL;
}

void
gk_vfs_register(void)
{
  static GOnce once = G_ONCE_INIT;
  g_once(&once, register_once, NULL);
}

/* --- key registry ---------------------------------------------------------------- */

/* SQLite hands xOpen the path its xFullPathname made; key by the same string. */
static char *
full_path(const char *db_path)
{
  gk_vfs_register();
  int n = base_vfs->mxPathname + 1;
  char *out = g_malloc0((gsize) n);
  if (base_vfs->xFullPathname(base_vfs, db_path, n, out) != SQLITE_OK) {
    g_free(out);
    return NULL;
  }
  return out;
}

static void
attachment_free(gpointer data)
{
  Attachment *a = data;
  gk_vfs_key_unref(a->key);
  g_free(a);
}

gboolean
gk_vfs_attach(const char *db_path, GkVfsKey *key)
{
  g_return_val_if_fail(db_path != NULL && key != NULL, FALSE);
  char *path = full_path(db_path);
  gboolean ok = FALSE;
  if (path == NULL)
    return FALSE;

  g_mutex_lock(&registry_lock);
  if (registry == NULL)
    registry = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, attachment_free);
  Attachment *a = g_hash_table_lookup(registry, path);
  if (a == NULL) {
    a = g_new0(Attachment, 1);
    a->key = gk_vfs_key_ref(key);
    a->count = 1;
    g_hash_table_insert(registry, path, a);
    path = NULL;
    ok = TRUE;
  } else if (key_equal(a->key, key)) {
    a->count++;
    ok = TRUE;
  }
  g_mutex_unlock(&registry_lock);
  g_free(path);
  return ok;
}

void
gk_vfs_detach(const char *db_path)
{
  g_return_if_fail(db_path != NULL);
  g_autofree char *path = full_path(db_path);
  if (path == NULL)
    return;
  g_mutex_lock(&registry_lock);
  Attachment *a = registry != NULL ? g_hash_table_lookup(registry, path) : NULL;
  if (a != NULL && --a->count == 0)
    g_hash_table_remove(registry, path);
  g_mutex_unlock(&registry_lock);
}
