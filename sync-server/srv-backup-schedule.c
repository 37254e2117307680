/* The running server's scheduled backups: one thread that writes a backup when
 * the newest one in [backup] dir is older than interval-s, keeps the newest
 * `keep` files, and audits each run. */
#include "srv-backup.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gk-log.h"
#include "srv-audit.h"

struct SrvBackupScheduler {
  SrvApp *app;
  char *dir;
  char *key_file;
  gint64 interval_us;
  guint keep;
  GThread *thread;
  GMutex lock;
  GCond cond;
  gboolean stop;
};

static gboolean
is_backup_name(const char *name)
{
  return g_str_has_prefix(name, SRV_BACKUP_FILE_PREFIX) && g_str_has_suffix(name, SRV_BACKUP_FILE_SUFFIX) &&
         strlen(name) == strlen(SRV_BACKUP_FILE_PREFIX) + 16 + strlen(SRV_BACKUP_FILE_SUFFIX);
}

static gint
newest_first(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *) b, *(char *const *) a);
}

/* Our backup files in @dir, newest first (names sort by their UTC time). */
static GPtrArray *
list_backups(const char *dir, GError **error)
{
  GDir *d = g_dir_open(dir, 0, error);
  if (d == NULL)
    return NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL)
    if (is_backup_name(name))
      g_ptr_array_add(names, g_strdup(name));
  g_dir_close(d);
  g_ptr_array_sort(names, newest_first);
  return names;
}

gboolean
srv_backup_prune(const char *dir, guint keep, GError **error)
{
  g_autoptr(GPtrArray) names = list_backups(dir, error);
  if (names == NULL)
    return FALSE;
  for (guint i = keep; i < names->len; i++) {
    g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);
    if (g_unlink(path) != 0 && errno != ENOENT) {
      g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_IO, "cannot remove %s: %s", path, g_strerror(errno));
      return FALSE;
    }
  }
  return TRUE;
}

/* Wall-clock time (µs) of the newest backup in the directory, 0 if none. */
static gint64
newest_backup_time(const char *dir)
{
  g_autoptr(GPtrArray) names = list_backups(dir, NULL);
  if (names == NULL || names->len == 0)
    return 0;
  g_autofree char *path = g_build_filename(dir, names->pdata[0], NULL);
  GStatBuf st;
  if (g_stat(path, &st) != 0)
    return 0;
  return (gint64) st.st_mtime * G_USEC_PER_SEC;
}

static void
audit(SrvBackupScheduler *s, const char *action, SrvAuditResult result, const char *reason, const char *target)
{
  SrvAuditEntry entry = {
    .action = action,
    .result = result,
    .reason = reason,
    .target = target,
    .actor = "server",  /* as the scheduled audit purge */
    .actor_kind = SRV_AUDIT_ACTOR_SYSTEM,
    .source_ip = "-",
  };
  srv_audit_record(s->app, &entry);
}

static void
run_once(SrvBackupScheduler *s)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
  g_autofree char *name = g_strconcat(SRV_BACKUP_FILE_PREFIX, stamp, SRV_BACKUP_FILE_SUFFIX, NULL);
  g_autofree char *path = g_build_filename(s->dir, name, NULL);
  g_autoptr(GError) error = NULL;
  gint64 bytes = 0;
  gint64 t0 = g_get_monotonic_time();
  if (!srv_backup_create(s->app->data_dir, path, s->key_file, &bytes, &error)) {
    GK_LOG_WARN("backup.failed", GK_STR("file", name), GK_STR("error", error->message));
    audit(s, "backup.failed", SRV_AUDIT_ERROR, error->code == SRV_BACKUP_ERROR_KEY ? "key" : "io", name);
    return;
  }
  GK_LOG_INFO("backup.done", GK_STR("file", name), GK_INT("bytes", bytes),
              GK_INT("ms", (g_get_monotonic_time() - t0) / 1000));
  audit(s, "backup", SRV_AUDIT_OK, NULL, name);
  if (!srv_backup_prune(s->dir, s->keep, &error)) {
    GK_LOG_WARN("backup.prune-failed", GK_STR("error", error->message));
    audit(s, "backup.failed", SRV_AUDIT_ERROR, "prune", name);
  }
}

static gpointer
scheduler_thread(gpointer data)
{
  SrvBackupScheduler *s = data;
  /* Due when the newest generation is older than the interval, so restarts
   * neither skip a day nor pile up backups. */
  gint64 newest = newest_backup_time(s->dir);
  gint64 wait_us = newest > 0 ? newest + s->interval_us - g_get_real_time() : s->interval_us;
  for (;;) {
    gint64 deadline = g_get_monotonic_time() + MAX(wait_us, 0);
    g_mutex_lock(&s->lock);
    while (!s->stop && g_get_monotonic_time() < deadline)
      g_cond_wait_until(&s->cond, &s->lock, deadline);
    gboolean stop = s->stop;
    g_mutex_unlock(&s->lock);
    if (stop)
      return NULL;
    gint64 started = g_get_monotonic_time();
    run_once(s);
    wait_us = started + s->interval_us - g_get_monotonic_time();
  }
}

static void
scheduler_free(SrvBackupScheduler *s)
{
  g_free(s->dir);
  g_free(s->key_file);
  g_mutex_clear(&s->lock);
  g_cond_clear(&s->cond);
  g_free(s);
}

gboolean
srv_backup_scheduler_start(SrvApp *app, SrvBackupScheduler **out, GError **error)
{
  g_return_val_if_fail(app != NULL && out != NULL, FALSE);
  *out = NULL;
  const char *dir = gk_config_get_string(app->config, "backup.dir");
  const char *key_file = gk_config_get_string(app->config, "backup.key-file");
  if (dir == NULL || dir[0] == '\0')
    return TRUE;
  guint8 key[SRV_BACKUP_KEY_BYTES];
  if (!g_path_is_absolute(dir) || !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_REFUSED,
                "[backup] dir %s must be an absolute path to an existing directory", dir);
    return FALSE;
  }
  g_autofree char *real_dir = realpath(dir, NULL);
  g_autofree char *real_data = realpath(app->data_dir, NULL);
  if (real_dir == NULL || real_data == NULL ||
      (g_str_has_prefix(real_dir, real_data) &&
       (real_dir[strlen(real_data)] == '\0' || real_dir[strlen(real_data)] == '/'))) {
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_REFUSED,
                "[backup] dir %s is inside the data directory: backups must be stored apart "
                "(another disk or host)", dir);
    return FALSE;
  }
  if (key_file == NULL || key_file[0] == '\0') {
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_KEY,
                "[backup] dir is set but key-file is not (make one with genkan-server backup-key --out FILE)");
    return FALSE;
  }
  g_autofree char *key_dir = g_path_get_dirname(key_file);
  g_autofree char *real_key_dir = realpath(key_dir, NULL);
  if (real_key_dir != NULL && strcmp(real_key_dir, real_dir) == 0) {
    g_set_error(error, SRV_BACKUP_ERROR, SRV_BACKUP_ERROR_REFUSED,
                "[backup] key-file must not be kept beside the backups it opens");
    return FALSE;
  }
  /* Fail at start, not at the first backup a day later. */
  if (!srv_backup_key_load(key_file, key, error))
    return FALSE;
  memset(key, 0, sizeof key);

  SrvBackupScheduler *s = g_new0(SrvBackupScheduler, 1);
  s->app = app;
  s->dir = g_strdup(dir);
  s->key_file = g_strdup(key_file);
  s->interval_us = gk_config_get_int(app->config, "backup.interval-s") * G_USEC_PER_SEC;
  s->keep = (guint) gk_config_get_int(app->config, "backup.keep");
  g_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  s->thread = g_thread_new("backup", scheduler_thread, s);
  GK_LOG_INFO("backup.scheduled", GK_STR("dir", dir), GK_INT("interval_s", s->interval_us / G_USEC_PER_SEC),
              GK_INT("keep", s->keep));
  *out = s;
  return TRUE;
}

void
srv_backup_scheduler_stop(SrvBackupScheduler *s)
{
  if (s == NULL)
    return;
  g_mutex_lock(&s->lock);
  s->stop = TRUE;
  g_cond_signal(&s->cond);
  g_mutex_unlock(&s->lock);
  g_thread_join(s->thread);
  scheduler_free(s);
}
