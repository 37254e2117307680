/* SQLite VFS "genkan-sealed": wraps the unix VFS and seals every page of a store's
 * database and WAL with XChaCha20-Poly1305 (format: docs/store-format.md). */
#pragma once
#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define GK_VFS_NAME          "genkan-sealed"
#define GK_VFS_PAGE_SIZE     4096
#define GK_VFS_NONCE_BYTES   24
#define GK_VFS_TAG_BYTES     16
/* SQLite "reserved bytes" at the end of every page: nonce, then tag. */
#define GK_VFS_RESERVE       (GK_VFS_NONCE_BYTES + GK_VFS_TAG_BYTES)
#define GK_VFS_KEY_BYTES     32
#define GK_VFS_FILE_ID_BYTES 16

/* A data key (DEK, kept in sodium_malloc memory) and the store's file id.
 * Immutable once made; reference counted so open files can outlive a detach. */
typedef struct _GkVfsKey GkVfsKey;

/* Registers the VFS with SQLite (not as the default). Thread safe, idempotent. */
void gk_vfs_register(void);

GkVfsKey *gk_vfs_key_new(const guint8 *dek, const guint8 *file_id);
GkVfsKey *gk_vfs_key_ref(GkVfsKey *key);
void gk_vfs_key_unref(GkVfsKey *key);
const guint8 *gk_vfs_key_file_id(const GkVfsKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GkVfsKey, gk_vfs_key_unref)

/* Makes @key the key of the database at @db_path (and of its WAL) for every
 * connection this process opens through the VFS; the VFS refuses to open a
 * database that has no key attached. Attachments are counted: each successful
 * attach needs one detach. Returns FALSE when a different key is attached to
 * the same file already (or the path cannot be resolved). */
gboolean gk_vfs_attach(const char *db_path, GkVfsKey *key);
void gk_vfs_detach(const char *db_path);

/* Raw page operations on main-database pages (page numbers from 1), used by
 * rekey and recovery, which work on the file without SQLite. @page holds
 * GK_VFS_PAGE_SIZE bytes and is transformed in place; the reserved area of a
 * plaintext page must be zero. gk_vfs_open_db_page() returns FALSE when the
 * page fails authentication (then @page is unchanged). */
void gk_vfs_seal_db_page(const GkVfsKey *key, guint32 pgno, guint8 *page);
gboolean gk_vfs_open_db_page(const GkVfsKey *key, guint32 pgno, guint8 *page);

/* The description ("page 3 of /x/store.db failed authentication: ...") of the
 * last page that failed authentication in this thread, then forgets it; NULL
 * when none did since the last call. */
char *gk_vfs_take_auth_failure(void);

G_END_DECLS
