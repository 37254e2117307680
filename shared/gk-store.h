/* The local encrypted store both the kiosk and the server use: SQLite in WAL mode
 * over the sealing VFS, a wrapped data key, numbered migrations, rekey. */
#pragma once
#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define GK_STORE_ERROR gk_store_error_quark()
GQuark gk_store_error_quark(void);

typedef enum {
  GK_STORE_ERROR_WRONG_KEY,  /* the KEK does not unwrap the data key */
  GK_STORE_ERROR_CORRUPT,    /* a page failed authentication, or SQLite found damage */
  GK_STORE_ERROR_IO,         /* file system, locks, busy */
  GK_STORE_ERROR_SCHEMA,     /* migrations: failed, or the store is newer than us */
  GK_STORE_ERROR_SQL,        /* any other SQLite error */
  GK_STORE_ERROR_EXISTS,     /* the store exists; or a UNIQUE/PRIMARY KEY conflict */
  GK_STORE_ERROR_NOT_FOUND,  /* no store (or no KEK file) at that path */
} GkStoreError;

/* Numbered migrations: versions 1, 2, 3… in array order. Each one that the store
 * has not seen runs in its own transaction together with the PRAGMA user_version
 * bump, so a failing migration leaves the previous version intact. */
typedef struct {
  int version;
  const char *sql;
} GkMigration;

typedef struct _GkStore GkStore;

/* A new, empty store at @db_path: a random 256-bit data key (DEK) wrapped by the
 * key-encryption key (KEK) in @kek_path, stored in "<db_path>.key". Creates the
 * KEK file (0600, 32 random bytes) when it does not exist yet. Refuses
 * (GK_STORE_ERROR_EXISTS) when @db_path exists. */
gboolean gk_store_create(const char *db_path, const char *kek_path, GError **error);

/* Opens a store made by gk_store_create(): WAL, synchronous=FULL, foreign_keys=ON,
 * temp_store=MEMORY, a busy timeout; then applies the migrations the store has not
 * seen. Refuses a store whose schema is newer than @migrations. Any number of
 * GkStore objects in any number of threads and processes may share one store. */
GkStore *gk_store_open(const char *db_path, const char *kek_path,
                       const GkMigration *migrations, gsize n_migrations, GError **error);

/* The connection, for sqlite3_prepare_v2() + sqlite3_bind_*() + sqlite3_step().
 * Valid until gk_store_close() or gk_store_rekey(). */
sqlite3 *gk_store_db(GkStore *store);

/* Runs fixed SQL (BEGIN, DDL, PRAGMA): never build @sql from data — data goes
 * through prepared statements with bound parameters. */
gboolean gk_store_exec(GkStore *store, const char *sql, GError **error);

/* BEGIN IMMEDIATE (takes the write lock now, so no upgrade deadlock later). */
gboolean gk_store_begin(GkStore *store, GError **error);
gboolean gk_store_commit(GkStore *store, GError **error);
/* Rolls back the open transaction, if any. */
void gk_store_rollback(GkStore *store);

/* Sets @error from SQLite result @rc on this store's connection (an
 * authentication failure becomes GK_STORE_ERROR_CORRUPT with the page and file in
 * the message) and returns FALSE; returns TRUE for SQLITE_OK, _ROW and _DONE. */
gboolean gk_store_set_error_from_db(GkStore *store, int rc, GError **error);

/* Re-seals every page under a new DEK (and new file id), keeping the data; the
 * old DEK no longer opens the store. Needs this GkStore to be the only one open
 * on the store (else GK_STORE_ERROR_IO). Crash-safe: the new database is written
 * beside the old one and switched by rename, with the key file recording both
 * keys meanwhile. Prepared statements must be finalized before. */
gboolean gk_store_rekey(GkStore *store, GError **error);

/* Wraps the same DEK under the KEK in @new_kek_path (created if missing); after
 * this the old KEK no longer opens the store. Open stores are unaffected. */
gboolean gk_store_rewrap(const char *db_path, const char *old_kek_path,
                         const char *new_kek_path, GError **error);

/* Copies the WAL into the database and truncates the WAL (waits for readers up
 * to the busy timeout; GK_STORE_ERROR_IO when they stay). */
gboolean gk_store_checkpoint(GkStore *store, GError **error);

void gk_store_close(GkStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GkStore, gk_store_close)

G_END_DECLS
