/* Online backups of a data directory, restore into a new one, and the
 * server's scheduled backups (docs/backups.md). */
#pragma once
#include <glib.h>

#include "srv-app-private.h"
#include "srv-backup-file.h"

G_BEGIN_DECLS

/* Scheduled backup files: PREFIX YYYYMMDDTHHMMSSZ SUFFIX (UTC). */
#define SRV_BACKUP_FILE_PREFIX "genkan-backup-"
#define SRV_BACKUP_FILE_SUFFIX ".gkbackup"

/* Backs up the data directory @data_dir (the server may be running) into the
 * new file @out_path, encrypted under the key in @key_path: a consistent
 * snapshot of the store (read in one SQLite read transaction) and the files
 * needed to run the server again, not the store's key-encryption key. The
 * file appears whole (mode 0600) or not at all; refuses an existing @out_path
 * and one inside @data_dir. @out_bytes (may be NULL): the file's size. */
gboolean srv_backup_create(const char *data_dir, const char *out_path, const char *key_path,
                           gint64 *out_bytes, GError **error);

/* Restores the backup @in_path into @data_dir, which must not exist or be
 * empty: a new store with a new key-encryption key and data key, checked with
 * integrity_check and foreign_key_check, and the other files with their modes.
 * On any failure nothing is left behind (a directory we made is removed, one
 * that existed is emptied again). @out_summary (may be NULL): one line per
 * table, "name rows". */
gboolean srv_backup_restore(const char *in_path, const char *key_path, const char *data_dir,
                            char **out_summary, GError **error);

/* Records a command-line backup or restore in the audit log of @data_dir's
 * store (actor kind system, actor "unix:USER", server-wide); a failure to
 * record is printed as a warning, not fatal. */
void srv_backup_audit_offline(const char *data_dir, const char *action, gboolean ok, const char *reason,
                              const char *target);

/* ---- scheduled backups in the running server ------------------------------------------ */

typedef struct SrvBackupScheduler SrvBackupScheduler;

/* Checks the [backup] settings and starts the backup thread when [backup] dir
 * is set (*@out stays NULL when it is not). FALSE with a clear error for a
 * setting that cannot work (no key file, directory inside the data dir…). */
gboolean srv_backup_scheduler_start(SrvApp *app, SrvBackupScheduler **out, GError **error);
/* Stops and joins the thread (waits for a backup in progress). NULL is fine. */
void srv_backup_scheduler_stop(SrvBackupScheduler *scheduler);

/* Deletes all but the newest @keep scheduled backup files in @dir (by name,
 * which sorts by time); files not named like ours are never touched. */
gboolean srv_backup_prune(const char *dir, guint keep, GError **error);

G_END_DECLS
