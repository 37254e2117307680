/* The outbox and notification settings in the SQLite master store: every SQL
 * string of them, run on connections borrowed from srv-store-sqlite.c (or, for
 * the check-in hooks, on the connection of the caller's open transaction).
 * Schema: migrations 4 and 7 in srv-store-sqlite.c. */
#include "srv-outbox-private.h"

#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* Notification ids come from SQLite's own CSPRNG so the one INSERT ... SELECT
 * that decides whether to notify also names the row. */
#define NEW_ID "'ntf-' || lower(hex(randomblob(16)))"
#define INSERT_COLS                                                                            \
  "INSERT INTO notifications (id, site_id, kind, source, recipient, channel, target, language," \
  " secret, facts, next_attempt_at, window_start, created_at) "

/* The host's own setting, else the site default; a default e-mail setting
 * without an address sends to each host's own address. */
#define HOST_SETTING_JOIN                                                                       \
  " JOIN hosts h ON h.id = x.host_id AND h.site_id = x.site_id"                                 \
  " JOIN notify_settings s ON s.site_id = x.site_id AND"                                        \
  "  ((s.scope = 'host' AND s.host_id = h.id) OR"                                               \
  "   (s.scope = 'default' AND NOT EXISTS (SELECT 1 FROM notify_settings o"                     \
  "     WHERE o.site_id = x.site_id AND o.scope = 'host' AND o.host_id = h.id)))"               \
  " LEFT JOIN devices d ON d.id = ?3"                                                           \
  " WHERE s.channel <> 'none' AND coalesce(s.target, h.email) IS NOT NULL"

/* A one-time ticket notifies once, whatever gates admitted it (conflicts raise
 * a security alert instead); a multi-entry ticket at each check-in. */
static const char sql_queue_checkin[] =
  INSERT_COLS
  "SELECT " NEW_ID ", x.site_id, 'checkin', CASE WHEN x.flags & 1 THEN ?2 ELSE lower(hex(x.id)) END,"
  " 'host:' || h.id, s.channel, coalesce(s.target, h.email),"
  " s.language, s.secret,"
  " json_object('visitor', x.visitor_name, 'company', x.company, 'host', h.name,"
  "             'location', coalesce(d.name, ?3), 'device_id', ?3, 'at', ?4, 'ticket_id', lower(hex(x.id))),"
  " ?5, ?5, ?5"
  " FROM tickets x" HOST_SETTING_JOIN " AND x.id = ?1 AND x.site_id = ?6"
  " ON CONFLICT DO NOTHING";

static const char sql_checkin_queued[] =
  "SELECT 1 FROM notifications WHERE kind = 'checkin' AND source IN (?1, lower(hex(?2))) LIMIT 1";

static const char sql_queue_walkin[] =
  INSERT_COLS
  "SELECT " NEW_ID ", x.site_id, 'walkin', ?2, 'host:' || h.id, s.channel, coalesce(s.target, h.email),"
  " s.language, s.secret,"
  " json_object('visitor', x.visitor_name, 'company', x.company, 'purpose', x.purpose, 'host', h.name,"
  "             'location', coalesce(d.name, ?3), 'device_id', ?3, 'at', ?4, 'visit_id', x.id),"
  " ?5, ?5, ?5"
  " FROM visits x" HOST_SETTING_JOIN " AND x.id = ?1 AND x.site_id = ?6"
  " ON CONFLICT DO NOTHING";

static const char sql_queue_double_entry[] =
  INSERT_COLS
  "SELECT " NEW_ID ", s.site_id, 'double-entry', ?1, 'security', s.channel, s.target, s.language, s.secret,"
  " json_object('ticket_id', lower(hex(?2)), 'visitor', (SELECT visitor_name FROM tickets WHERE id = ?2),"
  "             'location', coalesce((SELECT name FROM devices WHERE id = ?3), ?3), 'device_id', ?3,"
  "             'first_location', coalesce((SELECT name FROM devices WHERE id = ?4), ?4),"
  "             'first_device_id', ?4, 'at', ?5),"
  " ?5, ?5, ?5"
  " FROM notify_settings s"
  " WHERE s.site_id = ?6 AND s.scope = 'security' AND s.host_id = 0 AND s.channel <> 'none'"
  "  AND s.target IS NOT NULL"
  " ON CONFLICT DO NOTHING";

/* One alert per silence: the source names the last time the device was seen. */
static const char sql_queue_offline[] =
  INSERT_COLS
  "SELECT " NEW_ID ", d.site_id, 'device-offline', d.id || '@' || coalesce(d.last_seen_at, d.enrolled_at),"
  " 'admins', s.channel, s.target, s.language, s.secret,"
  " json_object('location', d.name, 'device_id', d.id, 'at', coalesce(d.last_seen_at, d.enrolled_at)),"
  " ?1, ?1, ?1"
  " FROM devices d JOIN notify_settings s ON s.site_id = d.site_id AND s.scope = 'admins' AND s.host_id = 0"
  " WHERE s.offline_after_s > 0 AND s.channel <> 'none' AND s.target IS NOT NULL AND d.revoked_at IS NULL"
  "  AND coalesce(d.last_seen_at, d.enrolled_at) <= ?1 - s.offline_after_s"
  " ON CONFLICT DO NOTHING";

/* The visitor's own invitation goes to the address given at issue, in the
 * host's language; what only the visitor may see waits in visitor_secrets. */
static const char sql_queue_invitation[] =
  "INSERT INTO notifications (id, site_id, kind, source, recipient, channel, target, language, facts,"
  " visitor_secrets, next_attempt_at, window_start, created_at) "
  "SELECT ?2, x.site_id, 'invitation', lower(hex(x.id)), 'visitor', 'email', ?3,"
  " coalesce((SELECT language FROM notify_settings WHERE site_id = x.site_id AND scope = 'host'"
  "           AND host_id = x.host_id),"
  "          (SELECT language FROM notify_settings WHERE site_id = x.site_id AND scope = 'default'"
  "           AND host_id = 0), 'ja'),"
  " json_object('visitor', x.visitor_name, 'company', x.company, 'host', h.name, 'site', st.name,"
  "             'valid_from', x.valid_from, 'valid_until', x.valid_until, 'ticket_id', lower(hex(x.id))),"
  " json_object('reception_code', ?4, 'qr_text', x.text),"
  " ?5, ?5, ?5"
  " FROM tickets x JOIN sites st ON st.id = x.site_id"
  " LEFT JOIN hosts h ON h.id = x.host_id AND h.site_id = x.site_id"
  " WHERE x.id = ?1";

#define NOTIFICATION_COLS                                                                        \
  "id, site_id, kind, recipient, channel, target, language, secret, facts, status, attempts,"   \
  " next_attempt_at, window_start, created_at, delivered_at, last_error, visitor_secrets"

static const char sql_claim[] =
  "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?1 + ?2"
  " WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= ?1"
  "              ORDER BY next_attempt_at, created_at LIMIT ?3)"
  " RETURNING " NOTIFICATION_COLS;

static const char sql_list[] =
  "SELECT id, site_id, kind, recipient, channel, target, language, NULL, NULL, status, attempts,"
  " next_attempt_at, window_start, created_at, delivered_at, last_error, NULL"
  " FROM notifications WHERE site_id = ?1 AND (?2 = 0 OR status = 'failed')"
  " ORDER BY created_at DESC, id LIMIT ?3";

/* Secrets go as soon as they are no longer needed (a failed notification keeps
 * them for a retry by hand, until the purge). */
static const char sql_delivered[] =
  "UPDATE notifications SET status = 'delivered', delivered_at = ?2, secret = NULL, visitor_secrets = NULL,"
  " last_error = NULL"
  " WHERE id = ?1 AND status = 'pending'";
static const char sql_reschedule[] =
  "UPDATE notifications SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND status = 'pending'";
static const char sql_fail[] =
  "UPDATE notifications SET status = 'failed', next_attempt_at = ?2, last_error = ?3"
  " WHERE id = ?1 AND status = 'pending'";
static const char sql_retry[] =
  "UPDATE notifications SET status = 'pending', next_attempt_at = ?3, window_start = ?3, attempts = 0"
  " WHERE id = ?1 AND site_id = ?2 AND status IN ('pending', 'failed')";
static const char sql_status[] = "SELECT status FROM notifications WHERE id = ?1 AND site_id = ?2";
static const char sql_purge[] =
  "DELETE FROM notifications WHERE status IN ('delivered', 'failed') AND created_at < ?1";

static const char sql_host_of_site[] = "SELECT 1 FROM hosts WHERE id = ?1 AND site_id = ?2";
/* A new secret replaces the old; none keeps the old one only for the same
 * endpoint (an admin changing the language keeps the secret receivers know). */
static const char sql_setting_put[] =
  "INSERT INTO notify_settings (site_id, scope, host_id, channel, target, language, secret, offline_after_s,"
  " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
  " ON CONFLICT (site_id, scope, host_id) DO UPDATE SET"
  "  secret = CASE WHEN excluded.secret IS NOT NULL THEN excluded.secret"
  "                WHEN notify_settings.channel = excluded.channel AND notify_settings.target IS excluded.target"
  "                THEN notify_settings.secret END,"
  "  channel = excluded.channel, target = excluded.target, language = excluded.language,"
  "  offline_after_s = excluded.offline_after_s, updated_at = excluded.updated_at";
static const char sql_setting_list[] =
  "SELECT s.site_id, s.scope, s.host_id, h.name, s.channel, s.target, s.language, s.secret IS NOT NULL,"
  " s.offline_after_s, s.updated_at"
  " FROM notify_settings s LEFT JOIN hosts h ON s.scope = 'host' AND h.id = s.host_id AND h.site_id = s.site_id"
  " WHERE s.site_id = ?1"
  " ORDER BY s.scope = 'host', s.scope <> 'default', s.scope <> 'security', h.name, s.host_id";

/* ---- small helpers ---------------------------------------------------------------- */

/* A constraint names its kind; other failures carry SQLite's words (never a value). */
static gboolean
fail_db(GkStore *gk, int rc, const char *what, GError **error)
{
  sqlite3 *db = gk_store_db(gk);
  int ext = sqlite3_extended_errcode(db);
  int code = SRV_STORE_ERROR_FAILED;
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    code = ext == SQLITE_CONSTRAINT_FOREIGNKEY                                   ? SRV_STORE_ERROR_NOT_FOUND
           : ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY ? SRV_STORE_ERROR_EXISTS
                                                                                  : SRV_STORE_ERROR_INVALID;
  g_set_error(error, SRV_STORE_ERROR, code, "%s: %s", what, sqlite3_errmsg(db));
  return FALSE;
}

static sqlite3_stmt *
prepare(GkStore *gk, const char *sql, const char *what, GError **error)
{
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(gk_store_db(gk), sql, -1, &s, NULL);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s);
    fail_db(gk, rc, what, error);
    return NULL;
  }
  return s;
}

/* Binds in order: 'i' gint64, 's' text (NULL binds NULL), 'b' 16-byte blob.
 * FALSE (and @error) when a bind fails. */
static gboolean
bind(GkStore *gk, sqlite3_stmt *s, const char *what, GError **error, const char *types, ...)
{
  va_list args;
  va_start(args, types);
  int rc = SQLITE_OK;
  for (int i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
    if (types[i] == 'i') {
      rc = sqlite3_bind_int64(s, i + 1, va_arg(args, gint64));
    } else if (types[i] == 's') {
      const char *v = va_arg(args, const char *);
      rc = v != NULL ? sqlite3_bind_text(s, i + 1, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i + 1);
    } else {
      const guint8 *v = va_arg(args, const guint8 *);
      rc = sqlite3_bind_blob(s, i + 1, v, 16, SQLITE_STATIC);
    }
  }
  va_end(args);
  return rc == SQLITE_OK ? TRUE : fail_db(gk, rc, what, error);
}

/* 1: a row; 0: done; -1: failed. */
static int
step(GkStore *gk, sqlite3_stmt *s, const char *what, GError **error)
{
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  fail_db(gk, rc, what, error);
  return -1;
}

static char *
col_text(sqlite3_stmt *s, int i)
{
  return g_strdup((const char *) sqlite3_column_text(s, i));
}

static gboolean
begin(GkStore *gk, GError **error)
{
  GError *e = NULL;
  if (gk_store_begin(gk, &e))
    return TRUE;
  g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "cannot start a transaction: %s", e->message);
  g_error_free(e);
  return FALSE;
}

static gboolean
commit(GkStore *gk, const char *what, GError **error)
{
  GError *e = NULL;
  if (gk_store_commit(gk, &e))
    return TRUE;
  gk_store_rollback(gk);
  g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "%s: %s", what, e->message);
  g_error_free(e);
  return FALSE;
}

/* ---- hooks inside check-in transactions ------------------------------------------------- */

gboolean
srv_outbox_sqlite_queue_checkin(GkStore *gk, gint64 site_id, const guint8 ticket_id[16], const char *device_id,
                                const char *event_id, gint64 at, gint64 now, gboolean *out_queued, GError **error)
{
  const char *what = "cannot queue the host's notification";
  *out_queued = FALSE;
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_queue_checkin, what, error);
  if (s == NULL || !bind(gk, s, what, error, "bssiii", ticket_id, event_id, device_id, at, now, site_id) ||
      step(gk, s, what, error) != 0)
    return FALSE;
  *out_queued = sqlite3_changes(gk_store_db(gk)) > 0;
  return TRUE;
}

gboolean
srv_outbox_sqlite_checkin_queued(GkStore *gk, const char *event_id, const guint8 ticket_id[16], gboolean *out_queued,
                                 GError **error)
{
  const char *what = "cannot look up the host's notification";
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_checkin_queued, what, error);
  int r = -1;
  if (s != NULL && bind(gk, s, what, error, "sb", event_id, ticket_id))
    r = step(gk, s, what, error);
  *out_queued = r == 1;
  return r >= 0;
}

gboolean
srv_outbox_sqlite_queue_walkin(GkStore *gk, gint64 site_id, const char *visit_id, const char *device_id,
                               const char *event_id, gint64 at, gint64 now, gboolean *out_queued, GError **error)
{
  const char *what = "cannot queue the host's notification";
  *out_queued = FALSE;
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_queue_walkin, what, error);
  if (s == NULL || !bind(gk, s, what, error, "sssiii", visit_id, event_id, device_id, at, now, site_id) ||
      step(gk, s, what, error) != 0)
    return FALSE;
  *out_queued = sqlite3_changes(gk_store_db(gk)) > 0;
  return TRUE;
}

gboolean
srv_outbox_sqlite_queue_double_entry(GkStore *gk, gint64 site_id, const guint8 ticket_id[16], const char *event_id,
                                     const char *device_id, const char *first_device_id, gint64 now, GError **error)
{
  const char *what = "cannot queue the double-entry alert";
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_queue_double_entry, what, error);
  return s != NULL &&
         bind(gk, s, what, error, "sbssii", event_id, ticket_id, device_id, first_device_id, now, site_id) &&
         step(gk, s, what, error) == 0;
}

gboolean
srv_outbox_sqlite_queue_invitation(GkStore *gk, const guint8 ticket_id[16], const SrvInvitation *invitation,
                                   gint64 now, GError **error)
{
  const char *what = "cannot queue the invitation e-mail";
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_queue_invitation, what, error);
  if (s == NULL ||
      !bind(gk, s, what, error, "bsssi", ticket_id, invitation->notification_id, invitation->email,
            invitation->reception_code, now) ||
      step(gk, s, what, error) != 0)
    return FALSE;
  if (sqlite3_changes(gk_store_db(gk)) == 1)
    return TRUE;
  g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "%s: the ticket is not stored", what);
  return FALSE;
}

/* ---- the outbox on a borrowed connection -------------------------------------------------- */

typedef gboolean (*ConnWork)(GkStore *gk, gpointer data, GError **error);

/* Runs @work on a pooled connection, in a write transaction when @write. */
static gboolean
with_conn(gpointer backend, gboolean write, const char *what, ConnWork work, gpointer data, GError **error)
{
  gpointer conn = NULL;
  GkStore *gk = srv_store_sqlite_borrow(backend, &conn);
  gboolean ok = (!write || begin(gk, error)) && work(gk, data, error) && (!write || commit(gk, what, error));
  if (!ok && write)
    gk_store_rollback(gk);
  srv_store_sqlite_give_back(backend, conn);
  return ok;
}

static void
read_notification(sqlite3_stmt *s, SrvNotification *n)
{
  n->id = col_text(s, 0);
  n->site_id = sqlite3_column_int64(s, 1);
  n->kind = col_text(s, 2);
  n->recipient = col_text(s, 3);
  n->channel = col_text(s, 4);
  n->target = col_text(s, 5);
  n->language = col_text(s, 6);
  n->secret = col_text(s, 7);
  n->facts = col_text(s, 8);
  n->status = col_text(s, 9);
  n->attempts = sqlite3_column_int64(s, 10);
  n->next_attempt_at = sqlite3_column_int64(s, 11);
  n->window_start = sqlite3_column_int64(s, 12);
  n->created_at = sqlite3_column_int64(s, 13);
  n->delivered_at = sqlite3_column_int64(s, 14);
  n->last_error = col_text(s, 15);
  n->visitor_secrets = col_text(s, 16);
}

static GArray *
new_notification_array(void)
{
  GArray *list = g_array_new(FALSE, TRUE, sizeof(SrvNotification));
  g_array_set_clear_func(list, (GDestroyNotify) srv_notification_clear);
  return list;
}

/* Reads every row of @s into @list; FALSE on a failure. */
static gboolean
read_notifications(GkStore *gk, sqlite3_stmt *s, GArray *list, const char *what, GError **error)
{
  int r;
  while ((r = step(gk, s, what, error)) == 1) {
    g_array_set_size(list, list->len + 1);
    read_notification(s, &g_array_index(list, SrvNotification, list->len - 1));
  }
  return r == 0;
}

typedef struct {
  gint64 now, lease_s;
  guint max;
  GArray *list;
} ClaimWork;

static gboolean
claim_work(GkStore *gk, gpointer data, GError **error)
{
  ClaimWork *w = data;
  const char *what = "cannot claim notifications";
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_claim, what, error);
  return s != NULL && bind(gk, s, what, error, "iii", w->now, w->lease_s, (gint64) w->max) &&
         read_notifications(gk, s, w->list, what, error);
}

static GArray *
ob_claim(gpointer backend, gint64 now, gint64 lease_s, guint max, GError **error)
{
  ClaimWork w = { now, lease_s, max, new_notification_array() };
  if (!with_conn(backend, TRUE, "cannot claim notifications", claim_work, &w, error))
    g_clear_pointer(&w.list, g_array_unref);
  return w.list;
}

typedef struct {
  const char *sql;
  const char *types;
  const char *id;
  gint64 a, b;
  const char *text;
  guint changes;
} UpdateWork;

static gboolean
update_work(GkStore *gk, gpointer data, GError **error)
{
  UpdateWork *w = data;
  const char *what = "cannot update the notification";
  g_autoptr(sqlite3_stmt) s = prepare(gk, w->sql, what, error);
  gboolean bound = FALSE;
  if (s == NULL)
    return FALSE;
  if (strcmp(w->types, "si") == 0)
    bound = bind(gk, s, what, error, "si", w->id, w->a);
  else if (strcmp(w->types, "sis") == 0)
    bound = bind(gk, s, what, error, "sis", w->id, w->a, w->text);
  else if (strcmp(w->types, "sii") == 0)
    bound = bind(gk, s, what, error, "sii", w->id, w->a, w->b);
  else
    bound = bind(gk, s, what, error, "i", w->a);
  if (!bound || step(gk, s, what, error) != 0)
    return FALSE;
  w->changes = (guint) sqlite3_changes(gk_store_db(gk));
  return TRUE;
}

static gboolean
run_update(gpointer backend, UpdateWork *w, GError **error)
{
  return with_conn(backend, TRUE, "cannot update the notification", update_work, w, error);
}

static gboolean
ob_delivered(gpointer backend, const char *id, gint64 now, GError **error)
{
  UpdateWork w = { .sql = sql_delivered, .types = "si", .id = id, .a = now };
  return run_update(backend, &w, error);
}

/* Error texts are ours (curl's words, HTTP statuses), but cap them anyway. */
static char *
short_text(const char *text)
{
  if (text == NULL)
    return NULL;
  g_autofree char *valid = g_utf8_make_valid(text, -1);
  return g_utf8_substring(valid, 0, MIN(g_utf8_strlen(valid, -1), 300));
}

static gboolean
ob_reschedule(gpointer backend, const char *id, gint64 next_at, const char *error_text, GError **error)
{
  g_autofree char *text = short_text(error_text);
  UpdateWork w = { .sql = sql_reschedule, .types = "sis", .id = id, .a = next_at, .text = text };
  return run_update(backend, &w, error);
}

static gboolean
ob_fail(gpointer backend, const char *id, gint64 now, const char *error_text, GError **error)
{
  g_autofree char *text = short_text(error_text);
  UpdateWork w = { .sql = sql_fail, .types = "sis", .id = id, .a = now, .text = text };
  return run_update(backend, &w, error);
}

typedef struct {
  gint64 site_id, now;
  const char *id;
} RetryWork;

static gboolean
retry_work(GkStore *gk, gpointer data, GError **error)
{
  RetryWork *w = data;
  const char *what = "cannot retry the notification";
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_retry, what, error);
  if (s == NULL || !bind(gk, s, what, error, "sii", w->id, w->site_id, w->now) || step(gk, s, what, error) != 0)
    return FALSE;
  if (sqlite3_changes(gk_store_db(gk)) > 0)
    return TRUE;
  g_autoptr(sqlite3_stmt) q = prepare(gk, sql_status, what, error);
  if (q == NULL || !bind(gk, q, what, error, "si", w->id, w->site_id))
    return FALSE;
  int r = step(gk, q, what, error);
  if (r < 0)
    return FALSE;
  if (r == 0)
    g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no notification %s on this site", w->id);
  else
    g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED, "notification %s was delivered already", w->id);
  return FALSE;
}

static gboolean
ob_retry(gpointer backend, gint64 site_id, const char *id, gint64 now, GError **error)
{
  RetryWork w = { site_id, now, id };
  return with_conn(backend, TRUE, "cannot retry the notification", retry_work, &w, error);
}

typedef struct {
  gint64 site_id;
  gboolean failed_only;
  guint limit;
  GArray *list;
} ListWork;

static gboolean
list_work(GkStore *gk, gpointer data, GError **error)
{
  ListWork *w = data;
  const char *what = "cannot list the notifications";
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_list, what, error);
  return s != NULL &&
         bind(gk, s, what, error, "iii", w->site_id, (gint64) (w->failed_only ? 1 : 0), (gint64) w->limit) &&
         read_notifications(gk, s, w->list, what, error);
}

static GArray *
ob_list(gpointer backend, gint64 site_id, gboolean failed_only, guint limit, GError **error)
{
  ListWork w = { site_id, failed_only, limit, new_notification_array() };
  if (!with_conn(backend, FALSE, "cannot list the notifications", list_work, &w, error))
    g_clear_pointer(&w.list, g_array_unref);
  return w.list;
}

static gboolean
ob_queue_offline(gpointer backend, gint64 now, guint *out_queued, GError **error)
{
  UpdateWork w = { .sql = sql_queue_offline, .types = "i", .a = now };
  if (!run_update(backend, &w, error))
    return FALSE;
  if (out_queued != NULL)
    *out_queued = w.changes;
  return TRUE;
}

static gboolean
ob_purge(gpointer backend, gint64 before, guint *out_deleted, GError **error)
{
  UpdateWork w = { .sql = sql_purge, .types = "i", .a = before };
  if (!run_update(backend, &w, error))
    return FALSE;
  if (out_deleted != NULL)
    *out_deleted = w.changes;
  return TRUE;
}

/* ---- settings -------------------------------------------------------------------------- */

typedef struct {
  const SrvNotifySetting *setting;
  const char *secret;
  gint64 now;
} SettingWork;

static gboolean
setting_work(GkStore *gk, gpointer data, GError **error)
{
  SettingWork *w = data;
  const SrvNotifySetting *st = w->setting;
  const char *what = "cannot change the notification settings";
  gboolean is_host = g_strcmp0(st->scope, "host") == 0;
  if (is_host) {
    g_autoptr(sqlite3_stmt) q = prepare(gk, sql_host_of_site, what, error);
    if (q == NULL || !bind(gk, q, what, error, "ii", st->host_id, st->site_id))
      return FALSE;
    int r = step(gk, q, what, error);
    if (r < 0)
      return FALSE;
    if (r == 0) {
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no host %" G_GINT64_FORMAT " on this site",
                  st->host_id);
      return FALSE;
    }
  }
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_setting_put, what, error);
  return s != NULL &&
         bind(gk, s, what, error, "isissssii", st->site_id, st->scope, is_host ? st->host_id : (gint64) 0,
              st->channel, st->target, st->language ? st->language : "ja", w->secret, st->offline_after_s, w->now) &&
         step(gk, s, what, error) == 0;
}

static gboolean
ob_setting_set(gpointer backend, const SrvNotifySetting *setting, const char *secret, gint64 now, GError **error)
{
  SettingWork w = { setting, secret, now };
  return with_conn(backend, TRUE, "cannot change the notification settings", setting_work, &w, error);
}

typedef struct {
  gint64 site_id;
  GArray *list;
} SettingListWork;

static gboolean
setting_list_work(GkStore *gk, gpointer data, GError **error)
{
  SettingListWork *w = data;
  const char *what = "cannot list the notification settings";
  g_autoptr(sqlite3_stmt) s = prepare(gk, sql_setting_list, what, error);
  if (s == NULL || !bind(gk, s, what, error, "i", w->site_id))
    return FALSE;
  int r;
  while ((r = step(gk, s, what, error)) == 1) {
    SrvNotifySetting st = {
      .site_id = sqlite3_column_int64(s, 0),
      .scope = col_text(s, 1),
      .host_id = sqlite3_column_int64(s, 2),
      .host_name = col_text(s, 3),
      .channel = col_text(s, 4),
      .target = col_text(s, 5),
      .language = col_text(s, 6),
      .has_secret = sqlite3_column_int(s, 7) != 0,
      .offline_after_s = sqlite3_column_int64(s, 8),
      .updated_at = sqlite3_column_int64(s, 9),
    };
    g_array_append_val(w->list, st);
  }
  return r == 0;
}

static GArray *
ob_setting_list(gpointer backend, gint64 site_id, GError **error)
{
  SettingListWork w = { site_id, g_array_new(FALSE, TRUE, sizeof(SrvNotifySetting)) };
  g_array_set_clear_func(w.list, (GDestroyNotify) srv_notify_setting_clear);
  if (!with_conn(backend, FALSE, "cannot list the notification settings", setting_list_work, &w, error))
    g_clear_pointer(&w.list, g_array_unref);
  return w.list;
}

const SrvOutboxBackend srv_outbox_sqlite_backend = {
  .setting_set = ob_setting_set,
  .setting_list = ob_setting_list,
  .claim = ob_claim,
  .delivered = ob_delivered,
  .reschedule = ob_reschedule,
  .fail = ob_fail,
  .retry = ob_retry,
  .list = ob_list,
  .queue_offline = ob_queue_offline,
  .purge = ob_purge,
};
