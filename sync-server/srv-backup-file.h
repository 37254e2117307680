/* The backup file format (docs/backups.md): a plain header, then a libsodium
 * secretstream (XChaCha20-Poly1305) of length-prefixed chunks carrying named
 * files. Writing, and a reader that refuses anything not written whole by
 * the holder of the backup key. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define SRV_BACKUP_ERROR srv_backup_error_quark()
GQuark srv_backup_error_quark(void);
typedef enum {
  SRV_BACKUP_ERROR_FORMAT,    /* not a Genkan backup, or an unknown version */
  SRV_BACKUP_ERROR_AUTH,      /* a chunk failed authentication: wrong key, changed or reordered data */
  SRV_BACKUP_ERROR_TRUNCATED, /* the stream ends before its final chunk */
  SRV_BACKUP_ERROR_CONTENT,   /* the decrypted content is malformed */
  SRV_BACKUP_ERROR_IO,        /* file system */
  SRV_BACKUP_ERROR_KEY,       /* the backup key file is missing, unsafe or malformed */
  SRV_BACKUP_ERROR_REFUSED,   /* an operation refused by policy (non-empty dir, out inside data dir…) */
} SrvBackupError;

#define SRV_BACKUP_KEY_BYTES   32
#define SRV_BACKUP_MAGIC       "GKBACKUP"
#define SRV_BACKUP_VERSION     1
/* Plaintext bytes per chunk (the last one may be shorter, even empty). */
#define SRV_BACKUP_CHUNK       65536
/* Longest file name inside a backup; names are [a-z0-9._-]. */
#define SRV_BACKUP_NAME_MAX    64

/* Makes a new random backup key in @path: 32 bytes, mode 0600; refuses an
 * existing file. */
gboolean srv_backup_key_generate(const char *path, GError **error);
/* Loads a key made by srv_backup_key_generate() (mode 0600 enforced). */
gboolean srv_backup_key_load(const char *path, guint8 key[SRV_BACKUP_KEY_BYTES], GError **error);

/* ---- writing ------------------------------------------------------------------- */

typedef struct SrvBackupWriter SrvBackupWriter;

/* Starts a backup stream written to @fd (not closed by the writer). */
SrvBackupWriter *srv_backup_writer_new(int fd, const guint8 key[SRV_BACKUP_KEY_BYTES], GError **error);
/* Appends one named file (name [a-z0-9._-]{1,64}, Unix mode bits). */
gboolean srv_backup_writer_add(SrvBackupWriter *writer, const char *name, guint32 mode,
                               const guint8 *data, gsize len, GError **error);
/* Writes the final chunk. Without it a reader refuses the stream. */
gboolean srv_backup_writer_finish(SrvBackupWriter *writer, GError **error);
void srv_backup_writer_free(SrvBackupWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrvBackupWriter, srv_backup_writer_free)

/* ---- reading -------------------------------------------------------------------- */

typedef struct {
  char *name;
  guint32 mode;
  GBytes *data;
} SrvBackupEntry;

/* Decrypts and parses a whole backup file held in memory. Returns the entries
 * in file order (a GPtrArray of SrvBackupEntry, freed with the array), or NULL
 * with an error; never a partial result. Secret contents (keys) are in
 * ordinary memory: callers write them out and drop them. */
GPtrArray *srv_backup_file_read(const guint8 *data, gsize len, const guint8 key[SRV_BACKUP_KEY_BYTES],
                                GError **error);
/* The inner parser on its own (decrypted payload → entries), for the fuzz target. */
GPtrArray *srv_backup_payload_parse(const guint8 *data, gsize len, GError **error);
/* The entry named @name, or NULL. */
const SrvBackupEntry *srv_backup_entries_find(GPtrArray *entries, const char *name);

G_END_DECLS
