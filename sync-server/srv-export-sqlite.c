/* The exports in the SQLite master store: every SQL string of them, run on
 * connections borrowed from srv-store-sqlite.c. Rows go from the statement
 * straight to the caller's function, so an export never holds a list. Times
 * are formatted here, in UTC (strftime ... 'unixepoch'). */
#include "srv-export-private.h"

#include <string.h>

#include "gk-store.h"
#include "srv-outbox-private.h" /* srv_store_sqlite_borrow() */

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

#define UTC(x) "strftime('%Y-%m-%dT%H:%M:%SZ', " x ", 'unixepoch')"
#define HEX_OR_NULL(x) "CASE WHEN " x " IS NULL THEN NULL ELSE lower(hex(" x ")) END"

/* Parameters of every statement: ?1 site, ?2 since, ?3 until (0: none),
 * ?4 label (NULL: any), ?5 the row limit. Each FROM/WHERE serves both the
 * count and the rows, so the two always agree. */
#define VISITS_FROM                                                                              \
  " FROM visits v LEFT JOIN hosts h ON h.id = v.host_id AND h.site_id = v.site_id"               \
  " LEFT JOIN tickets t ON t.id = v.ticket_id AND t.site_id = v.site_id"                         \
  " LEFT JOIN devices d ON d.id = v.device_id"                                                   \
  " WHERE v.site_id = ?1 AND v.checked_in_at >= ?2 AND (?3 = 0 OR v.checked_in_at < ?3)"         \
  "  AND (?4 IS NULL OR instr(',' || t.labels || ',', ',' || ?4 || ',') > 0)"
#define CHECKINS_FROM                                                                            \
  " FROM events e LEFT JOIN tickets t ON t.id = e.ticket_id AND t.site_id = e.site_id"           \
  " LEFT JOIN visits v1 ON v1.checkin_event_id = e.id"                                           \
  " LEFT JOIN visits v2 ON v2.id = e.visit_id AND v2.site_id = e.site_id"                        \
  " LEFT JOIN devices d ON d.id = e.device_id"                                                   \
  " WHERE e.site_id = ?1 AND e.kind IN ('checkin', 'checkout')"                                  \
  "  AND e.device_time >= ?2 AND (?3 = 0 OR e.device_time < ?3) AND ?4 IS NULL"
/* Removed hosts (tombstones) are not staff any more: left out, as in lists. */
#define HOSTS_FROM                                                                               \
  " FROM hosts h WHERE h.site_id = ?1 AND h.removed_at IS NULL"                                  \
  "  AND h.created_at >= ?2 AND (?3 = 0 OR h.created_at < ?3) AND ?4 IS NULL"

static const struct {
  const char *rows;
  const char *count;
  guint n_cols;
} sql[SRV_EXPORT_N_KINDS] = {
  [SRV_EXPORT_VISITS] = {
    "SELECT v.id, v.kind, " UTC("v.checked_in_at") ", " UTC("v.checked_out_at") ","
    " v.visitor_name, v.company, v.purpose, v.host_id, h.name, t.labels,"
    " CASE WHEN v.terms_accepted THEN 'yes' ELSE 'no' END, v.device_id, d.name, " HEX_OR_NULL("v.ticket_id")
    VISITS_FROM " ORDER BY v.checked_in_at, v.id LIMIT ?5",
    "SELECT count(*)" VISITS_FROM, 14 },
  [SRV_EXPORT_CHECKINS] = {
    "SELECT e.id, e.kind, " UTC("e.device_time") ", " UTC("e.server_time") ", e.device_id, d.name,"
    " " HEX_OR_NULL("e.ticket_id") ", coalesce(e.visit_id, v1.id),"
    " coalesce(t.visitor_name, v1.visitor_name, v2.visitor_name),"
    " CASE WHEN e.offline THEN 'yes' ELSE 'no' END, CASE WHEN e.conflict THEN 'yes' ELSE 'no' END"
    CHECKINS_FROM " ORDER BY e.device_time, e.server_time, e.id LIMIT ?5",
    "SELECT count(*)" CHECKINS_FROM, 11 },
  [SRV_EXPORT_HOSTS] = {
    "SELECT h.id, h.name, h.reading, h.email, h.department,"
    " (SELECT s.channel FROM notify_settings s WHERE s.site_id = h.site_id AND s.scope = 'host'"
    "  AND s.host_id = h.id), " UTC("h.created_at")
    HOSTS_FROM " ORDER BY h.id LIMIT ?5",
    "SELECT count(*)" HOSTS_FROM, 7 },
};

static const char sql_set_permission[] = "UPDATE accounts SET may_export = ?2 WHERE id = ?1";

/* A statement on a borrowed connection, its parameters bound; NULL with
 * @error set (the connection is given back then). */
static sqlite3_stmt *
prepare(gpointer backend, gpointer *conn, const char *text, const SrvExportFilter *f, gint64 limit, GError **error)
{
  GkStore *gk = srv_store_sqlite_borrow(backend, conn);
  sqlite3 *db = gk_store_db(gk);
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(db, text, -1, &s, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 1, f->site_id);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 2, f->since);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 3, f->until);
  if (rc == SQLITE_OK)
    rc = f->label != NULL ? sqlite3_bind_text(s, 4, f->label, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, 4);
  if (rc == SQLITE_OK && limit > 0)
    rc = sqlite3_bind_int64(s, 5, limit);
  if (rc == SQLITE_OK)
    return s;
  g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "cannot prepare the export: %s", sqlite3_errmsg(db));
  sqlite3_finalize(s);
  srv_store_sqlite_give_back(backend, *conn);
  return NULL;
}

static gboolean
finish(gpointer backend, gpointer conn, sqlite3_stmt *s, int rc, GError **error)
{
  gboolean ok = rc == SQLITE_DONE;
  if (!ok)
    g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "cannot read the export: %s",
                sqlite3_errmsg(sqlite3_db_handle(s)));
  sqlite3_finalize(s);
  srv_store_sqlite_give_back(backend, conn);
  return ok;
}

static gboolean
sq_count(gpointer backend, SrvExportKind kind, const SrvExportFilter *filter, gint64 *out, GError **error)
{
  gpointer conn = NULL;
  sqlite3_stmt *s = prepare(backend, &conn, sql[kind].count, filter, 0, error);
  if (s == NULL)
    return FALSE;
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(s, 0);
    rc = sqlite3_step(s);
  }
  return finish(backend, conn, s, rc, error);
}

static gboolean
sq_rows(gpointer backend, SrvExportKind kind, const SrvExportFilter *filter, gint64 limit, SrvExportRowFunc fn,
        gpointer user_data, gint64 *out_rows, GError **error)
{
  gpointer conn = NULL;
  sqlite3_stmt *s = prepare(backend, &conn, sql[kind].rows, filter, limit, error);
  if (s == NULL)
    return FALSE;
  guint n = sql[kind].n_cols;
  g_assert((guint) sqlite3_column_count(s) == n);
  const char *cells[16];
  g_assert(n <= G_N_ELEMENTS(cells));
  gint64 rows = 0;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    for (guint i = 0; i < n; i++)
      cells[i] = (const char *) sqlite3_column_text(s, (int) i);
    fn(cells, n, user_data);
    rows++;
  }
  *out_rows = rows;
  return finish(backend, conn, s, rc, error);
}

static gboolean
sq_set_permission(gpointer backend, gint64 account_id, gboolean allow, GError **error)
{
  gpointer conn = NULL;
  GkStore *gk = srv_store_sqlite_borrow(backend, &conn);
  sqlite3 *db = gk_store_db(gk);
  g_autoptr(sqlite3_stmt) s = NULL;
  int rc = sqlite3_prepare_v2(db, sql_set_permission, -1, &s, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 1, account_id);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int(s, 2, allow ? 1 : 0);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(s);
  gboolean ok = rc == SQLITE_DONE;
  if (!ok)
    g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "cannot set the export permission: %s",
                sqlite3_errmsg(db));
  else if (sqlite3_changes(db) != 1) {
    g_set_error_literal(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no such account");
    ok = FALSE;
  }
  g_clear_pointer(&s, sqlite3_finalize);
  srv_store_sqlite_give_back(backend, conn);
  return ok;
}

const SrvExportBackend srv_export_sqlite_backend = {
  .count = sq_count,
  .rows = sq_rows,
  .set_permission = sq_set_permission,
};
