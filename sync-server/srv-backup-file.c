/* The backup file format: header, secretstream chunks, named files inside
 * (docs/backups.md). The reader is a parser of outside input (fuzzed by
 * tests/fuzz/fuzz-backup-file.c): every length is checked before use. */
#include "srv-backup-file.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "gk-secure-file.h"

G_DEFINE_QUARK(srv-backup-error-quark, srv_backup_error)

/* magic (8) || version (1) || zero (3) || secretstream header (24) */
#define PREFIX_BYTES   12
#define HEADER_BYTES   (PREFIX_BYTES + crypto_secretstream_xchacha20poly1305_HEADERBYTES)
#define ABYTES         crypto_secretstream_xchacha20poly1305_ABYTES
#define CHUNK_MAX_CT   (SRV_BACKUP_CHUNK + ABYTES)
/* name length (1) || mode (4) || size (8) before each file's name and data */
#define ENTRY_FIXED    13

struct SrvBackupWriter {
  int fd;
  crypto_secretstream_xchacha20poly1305_state state;
  guint8 prefix[PREFIX_BYTES];
  GByteArray *pending;  /* plaintext not yet sealed (< one chunk) */
  guint8 *sealed;       /* length prefix + one sealed chunk */
  gboolean finished;
};

static void
put_be(guint8 *out, guint64 v, guint bytes)
{
  for (guint i = 0; i < bytes; i++)
    out[bytes - 1 - i] = (guint8) (v >> (8 * i));
}

static guint64
get_be(const guint8 *in, guint bytes)
{
  guint64 v = 0;
  for (guint i = 0; i < bytes; i++)
    v = (v << 8) | in[i];
  return v;
}

static gboolean
name_valid(const char *name, gsize len)
{
  if (len == 0 || len > SRV_BACKUP_NAME_MAX || name[0] == '.')
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return FALSE;
  }
  return TRUE;
}

/* ---- keys -------------------------------------------------------------------------- */

gboolean
srv_backup_key_generate(const char *path, GError **error)
{
  guint8 key[SRV_BACKUP_KEY_BYTES];
  g_autoptr(GError) local = NULL;
  if (sodium_init() < 0) {
    g_set_error_literal(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_KEY, "libsodium could not start");
    return FALSE;
  }
  crypto_secretstream_xchacha20poly1305_keygen(key);
  gboolean ok = gk_secure_file_write(path, key, sizeof key, TRUE, &local);
  sodium_memzero(key, sizeof key);
  if (!ok)
    g_set_error(error, SRV_BACKUP_ERROR,
                g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_EXIST) ? SRV_BACKUP_ERROR_REFUSED
                                                                         : SRV_BACKUP_ERROR_IO,
                "backup key %s: %s", path,
                g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_EXIST) ? "exists already; refusing to overwrite it"
                                                                         : local->message);
  return ok;
}

gboolean
srv_backup_key_load(const char *path, guint8 key[SRV_BACKUP_KEY_BYTES], GError **error)
{
  guint8 *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!gk_secure_file_read(path, 1024, &data, &len, &local)) {
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_KEY, "backup key: %s", local->message);
    return FALSE;
  }
  gboolean ok = len == SRV_BACKUP_KEY_BYTES;
  if (ok)
    memcpy(key, data, SRV_BACKUP_KEY_BYTES);
  else
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_KEY,
                "backup key %s must hold exactly %d bytes (make one with genkan-server backup-key)", path,
                SRV_BACKUP_KEY_BYTES);
  gk_secure_free(data, len);
  return ok;
}

/* ---- writing ----------------------------------------------------------------------------- */

static gboolean
write_all(int fd, const guint8 *buf, gsize len, GError **error)
{
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_IO, "cannot write the backup: %s",
                  g_strerror(n < 0 ? errno : EIO));
      return FALSE;
    }
    buf += n;
    len -= (gsize) n;
  }
  return TRUE;
}

static gboolean
seal_chunk(SrvBackupWriter *w, const guint8 *plain, gsize len, guint8 tag, GError **error)
{
  unsigned long long ct_len = 0;
  crypto_secretstream_xchacha20poly1305_push(&w->state, w->sealed + 4, &ct_len, plain, len, w->prefix,
                                             sizeof w->prefix, tag);
  put_be(w->sealed, ct_len, 4);
  return write_all(w->fd, w->sealed, 4 + (gsize) ct_len, error);
}

SrvBackupWriter *
srv_backup_writer_new(int fd, const guint8 key[SRV_BACKUP_KEY_BYTES], GError **error)
{
  g_return_val_if_fail(fd >= 0 && key != NULL, NULL);
  if (sodium_init() < 0) {
    g_set_error_literal(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_IO, "libsodium could not start");
    return NULL;
  }
  SrvBackupWriter *w = g_new0(SrvBackupWriter, 1);
  w->fd = fd;
  w->pending = g_byte_array_sized_new(SRV_BACKUP_CHUNK);
  w->sealed = g_malloc(4 + CHUNK_MAX_CT);
  memcpy(w->prefix, SRV_BACKUP_MAGIC, 8);
  w->prefix[8] = SRV_BACKUP_VERSION;
  guint8 header[HEADER_BYTES];
  memcpy(header, w->prefix, PREFIX_BYTES);
  crypto_secretstream_xchacha20poly1305_init_push(&w->state, header + PREFIX_BYTES, key);
  if (!write_all(fd, header, sizeof header, error)) {
    srv_backup_writer_free(w);
    return NULL;
  }
  return w;
}

static gboolean
writer_append(SrvBackupWriter *w, const guint8 *data, gsize len, GError **error)
{
  while (len > 0) {
    gsize room = SRV_BACKUP_CHUNK - w->pending->len;
    gsize take = MIN(room, len);
    g_byte_array_append(w->pending, data, (guint) take);
    data += take;
    len -= take;
    if (w->pending->len == SRV_BACKUP_CHUNK) {
      if (!seal_chunk(w, w->pending->data, w->pending->len, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
                      error))
        return FALSE;
      sodium_memzero(w->pending->data, w->pending->len);
      g_byte_array_set_size(w->pending, 0);
    }
  }
  return TRUE;
}

gboolean
srv_backup_writer_add(SrvBackupWriter *w, const char *name, guint32 mode, const guint8 *data, gsize len,
                      GError **error)
{
  g_return_val_if_fail(w != NULL && name != NULL && (data != NULL || len == 0), FALSE);
  g_return_val_if_fail(!w->finished, FALSE);
  gsize name_len = strlen(name);
  g_return_val_if_fail(name_valid(name, name_len), FALSE);
  guint8 fixed[ENTRY_FIXED];
  fixed[0] = (guint8) name_len;
  put_be(fixed + 1, mode, 4);
  put_be(fixed + 5, len, 8);
  return writer_append(w, fixed, sizeof fixed, error) &&
         writer_append(w, (const guint8 *) name, name_len, error) &&
         writer_append(w, data, len, error);
}

gboolean
srv_backup_writer_finish(SrvBackupWriter *w, GError **error)
{
  g_return_val_if_fail(w != NULL && !w->finished, FALSE);
  w->finished = TRUE;
  return seal_chunk(w, w->pending->data, w->pending->len, crypto_secretstream_xchacha20poly1305_TAG_FINAL,
                    error);
}

void
srv_backup_writer_free(SrvBackupWriter *w)
{
  if (w == NULL)
    return;
  sodium_memzero(&w->state, sizeof w->state);
  sodium_memzero(w->pending->data, w->pending->len);
  g_byte_array_unref(w->pending);
  sodium_memzero(w->sealed, 4 + CHUNK_MAX_CT);
  g_free(w->sealed);
  g_free(w);
}

/* ---- reading ------------------------------------------------------------------------------ */

static void
entry_free(gpointer p)
{
  SrvBackupEntry *e = p;
  g_free(e->name);
  g_bytes_unref(e->data);
  g_free(e);
}

const SrvBackupEntry *
srv_backup_entries_find(GPtrArray *entries, const char *name)
{
  for (guint i = 0; entries != NULL && i < entries->len; i++) {
    const SrvBackupEntry *e = entries->pdata[i];
    if (strcmp(e->name, name) == 0)
      return e;
  }
  return NULL;
}

GPtrArray *
srv_backup_payload_parse(const guint8 *data, gsize len, GError **error)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_free);
  gsize off = 0;
  while (off < len) {
    if (len - off < ENTRY_FIXED) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT,
                  "backup content: entry %u is cut short", entries->len + 1);
      return NULL;
    }
    gsize name_len = data[off];
    guint32 mode = (guint32) get_be(data + off + 1, 4);
    guint64 size = get_be(data + off + 5, 8);
    off += ENTRY_FIXED;
    if (name_len > len - off || !name_valid((const char *) data + off, name_len)) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT,
                  "backup content: entry %u has a bad name", entries->len + 1);
      return NULL;
    }
    g_autofree char *name = g_strndup((const char *) data + off, name_len);
    off += name_len;
    if (size > len - off) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT,
                  "backup content: %s claims %" G_GUINT64_FORMAT " bytes, only %" G_GSIZE_FORMAT " remain", name,
                  size, len - off);
      return NULL;
    }
    if ((mode & ~(guint32) 0777) != 0) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT, "backup content: %s has bad mode %o", name,
                  mode);
      return NULL;
    }
    if (srv_backup_entries_find(entries, name) != NULL) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_CONTENT, "backup content: %s appears twice", name);
      return NULL;
    }
    SrvBackupEntry *e = g_new0(SrvBackupEntry, 1);
    e->name = g_steal_pointer(&name);
    e->mode = mode;
    e->data = g_bytes_new(data + off, (gsize) size);
    g_ptr_array_add(entries, e);
    off += (gsize) size;
  }
  return g_steal_pointer(&entries);
}

GPtrArray *
srv_backup_file_read(const guint8 *data, gsize len, const guint8 key[SRV_BACKUP_KEY_BYTES], GError **error)
{
  g_return_val_if_fail((data != NULL || len == 0) && key != NULL, NULL);
  if (sodium_init() < 0) {
    g_set_error_literal(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_IO, "libsodium could not start");
    return NULL;
  }
  /* The decrypted content goes into one GByteArray, whose length is a guint. */
  if (len > G_MAXUINT32 - CHUNK_MAX_CT) {
    g_set_error_literal(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT, "backups over 4 GiB are not supported");
    return NULL;
  }
  if (len < HEADER_BYTES || memcmp(data, SRV_BACKUP_MAGIC, 8) != 0) {
    g_set_error_literal(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT, "not a Genkan backup file");
    return NULL;
  }
  if (data[8] != SRV_BACKUP_VERSION || data[9] != 0 || data[10] != 0 || data[11] != 0) {
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT,
                "backup format version %u is not supported (this program reads version %d)", data[8],
                SRV_BACKUP_VERSION);
    return NULL;
  }
  crypto_secretstream_xchacha20poly1305_state state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state, data + PREFIX_BYTES, key) != 0) {
    g_set_error_literal(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT, "bad backup stream header");
    return NULL;
  }
  /* Never more plaintext than input; sized up front so ->data is never NULL
   * (an empty chunk decrypts to plain->data + old). */
  GByteArray *plain = g_byte_array_sized_new((guint) len + 1);
  GPtrArray *entries = NULL;
  gsize off = HEADER_BYTES;
  guint chunk = 0;
  gboolean final = FALSE;
  while (!final) {
    chunk++;
    if (len - off < 4) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_TRUNCATED,
                  "backup is truncated: it ends before its final chunk (chunk %u missing)", chunk);
      goto out;
    }
    guint64 ct_len = get_be(data + off, 4);
    off += 4;
    if (ct_len < ABYTES || ct_len > CHUNK_MAX_CT) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT, "backup chunk %u has a bad length", chunk);
      goto out;
    }
    if (ct_len > len - off) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_TRUNCATED, "backup is truncated inside chunk %u",
                  chunk);
      goto out;
    }
    guint old = plain->len;
    unsigned long long pt_len = 0;
    guint8 tag = 0;
    g_byte_array_set_size(plain, old + (guint) (ct_len - ABYTES));
    if (crypto_secretstream_xchacha20poly1305_pull(&state, plain->data + old, &pt_len, &tag, data + off, ct_len,
                                                   data, PREFIX_BYTES) != 0) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_AUTH,
                  "backup chunk %u failed authentication: wrong backup key, or the file was changed or reordered",
                  chunk);
      goto out;
    }
    off += ct_len;
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
      final = TRUE;
    } else if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT, "backup chunk %u has an unknown tag", chunk);
      goto out;
    }
  }
  if (off != len) {
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_FORMAT,
                "backup has %" G_GSIZE_FORMAT " bytes after its final chunk", len - off);
    goto out;
  }
  entries = srv_backup_payload_parse(plain->data, plain->len, error);
out:
  sodium_memzero(&state, sizeof state);
  if (plain->len > 0)
    sodium_memzero(plain->data, plain->len);
  g_byte_array_unref(plain);
  return entries;
}
