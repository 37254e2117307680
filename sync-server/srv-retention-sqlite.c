/* Retention in the SQLite master store: every SQL string of the purge, the
 * per-site settings and site deletion, run on connections borrowed from
 * srv-store-sqlite.c. Columns: migration 9 there. */
#include "srv-retention-private.h"

#include <string.h>

#include "gk-store.h"
#include "srv-store-tx.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* ---- SQL ------------------------------------------------------------------------------
 * ?1 is the site, ?2 the cutoff (purge) or now (delete). Order matters: rows go
 * before the rows they refer to (tickets.host_id, redemptions.ticket_id are
 * checked at once; references to events are deferred to the commit). */

static const char sql_get[] = "SELECT id, visitor_retention_days, audit_retention_days FROM sites WHERE id = ?1";
static const char sql_list[] = "SELECT id, visitor_retention_days, audit_retention_days FROM sites ORDER BY id";
static const char sql_set[] = "UPDATE sites SET visitor_retention_days = ?2, audit_retention_days = ?3 WHERE id = ?1";
static const char sql_bump_devices[] = "UPDATE devices SET config_version = config_version + 1 WHERE site_id = ?1";

/* A visit ends at its check-out; one never checked out, at its check-in. */
#define VISIT_GONE "site_id = ?1 AND coalesce(checked_out_at, checked_in_at) < ?2"
/* A ticket past its window that no kept visit came from. */
#define TICKET_GONE "t.site_id = ?1 AND t.valid_until < ?2 AND t.id NOT IN (SELECT ticket_id FROM visits" \
                    " WHERE ticket_id IS NOT NULL)"
#define HOST_GONE "site_id = ?1 AND removed_at IS NOT NULL"                               \
                  " AND id NOT IN (SELECT host_id FROM tickets WHERE host_id IS NOT NULL)" \
                  " AND id NOT IN (SELECT host_id FROM visits WHERE host_id IS NOT NULL)"

typedef enum {
  P_PHOTOS,
  P_VISITS,
  P_ALERTS,
  P_REDEMPTIONS,
  P_TICKETS,
  P_EVENTS,
  P_NOTIFICATIONS,
  P_HOST_SETTINGS,
  P_HOSTS,
  N_PURGE
} PurgeStep;

static const char *const purge_sql[N_PURGE] = {
  [P_PHOTOS] = "DELETE FROM visit_photos WHERE visit_id IN (SELECT id FROM visits WHERE " VISIT_GONE ")",
  [P_VISITS] = "DELETE FROM visits WHERE " VISIT_GONE,
  [P_ALERTS] = "DELETE FROM alerts WHERE site_id = ?1 AND created_at < ?2",
  [P_REDEMPTIONS] = "DELETE FROM redemptions WHERE ticket_id IN (SELECT t.id FROM tickets t WHERE " TICKET_GONE ")",
  [P_TICKETS] = "DELETE FROM tickets AS t WHERE " TICKET_GONE
                " AND t.id NOT IN (SELECT ticket_id FROM redemptions)",
  /* Events of that age (when they happened, as visits count it) that nothing
   * kept refers to (NOT IN: one lookup table per column, not a scan of visits
   * per event). */
  [P_EVENTS] = "DELETE FROM events WHERE site_id = ?1 AND device_time < ?2"
               " AND id NOT IN (SELECT checkin_event_id FROM visits)"
               " AND id NOT IN (SELECT checkout_event_id FROM visits WHERE checkout_event_id IS NOT NULL)"
               " AND id NOT IN (SELECT event_id FROM redemptions)"
               " AND id NOT IN (SELECT event_id FROM alerts)"
               " AND id NOT IN (SELECT first_event_id FROM alerts)",
  [P_NOTIFICATIONS] = "DELETE FROM notifications WHERE site_id = ?1 AND created_at < ?2",
  /* A removed host's own channel holds its address: it goes with the host. */
  [P_HOST_SETTINGS] = "DELETE FROM notify_settings WHERE site_id = ?1 AND scope = 'host'"
                      " AND host_id IN (SELECT id FROM hosts WHERE " HOST_GONE ")",
  [P_HOSTS] = "DELETE FROM hosts WHERE " HOST_GONE,
};

static const char sql_site_exists[] = "SELECT 1 FROM sites WHERE id = ?1";
static const char sql_site_serials[] = "SELECT serial FROM devices WHERE site_id = ?1";

typedef enum {
  D_PHOTOS,
  D_ALERTS,
  D_REDEMPTIONS,
  D_VISITS,
  D_TICKETS,
  D_EVENTS,
  D_NOTIFICATIONS,
  D_NOTIFY_SETTINGS,
  D_ENROLL_CODES,
  D_DEVICES,
  D_HOSTS,
  D_SITE_ALLOW,
  D_SESSIONS,
  D_DISABLE,
  D_ACCOUNT_SITES,
  D_SITE,
  N_DELETE
} DeleteStep;

/* Accounts (not owners: they act on every site) whose only site this is. */
#define ONLY_THIS_SITE                                                          \
  "SELECT a.id FROM accounts a WHERE a.role <> 'owner'"                         \
  " AND a.id IN (SELECT account_id FROM account_sites WHERE site_id = ?1)"      \
  " AND a.id NOT IN (SELECT account_id FROM account_sites WHERE site_id <> ?1)"

static const char *const delete_sql[N_DELETE] = {
  [D_PHOTOS] = "DELETE FROM visit_photos WHERE visit_id IN (SELECT id FROM visits WHERE site_id = ?1)",
  [D_ALERTS] = "DELETE FROM alerts WHERE site_id = ?1",
  [D_REDEMPTIONS] = "DELETE FROM redemptions WHERE site_id = ?1",
  [D_VISITS] = "DELETE FROM visits WHERE site_id = ?1",
  [D_TICKETS] = "DELETE FROM tickets WHERE site_id = ?1",
  [D_EVENTS] = "DELETE FROM events WHERE site_id = ?1",
  [D_NOTIFICATIONS] = "DELETE FROM notifications WHERE site_id = ?1",
  [D_NOTIFY_SETTINGS] = "DELETE FROM notify_settings WHERE site_id = ?1",
  [D_ENROLL_CODES] = "DELETE FROM enroll_codes WHERE site_id = ?1",
  [D_DEVICES] = "DELETE FROM devices WHERE site_id = ?1", /* device_settings: ON DELETE CASCADE */
  [D_HOSTS] = "DELETE FROM hosts WHERE site_id = ?1",
  [D_SITE_ALLOW] = "DELETE FROM site_allow_list WHERE site_id = ?1",
  [D_SESSIONS] = "DELETE FROM sessions WHERE account_id IN (" ONLY_THIS_SITE ")",
  [D_DISABLE] = "UPDATE accounts SET disabled_at = coalesce(disabled_at, ?2) WHERE id IN (" ONLY_THIS_SITE ")",
  [D_ACCOUNT_SITES] = "DELETE FROM account_sites WHERE site_id = ?1",
  [D_SITE] = "DELETE FROM sites WHERE id = ?1",
};

/* ---- a borrowed connection ------------------------------------------------------------- */

typedef SrvStoreTx Tx;

/* Prepares @sql and binds ?1 = @a and, when it has one, ?2 = @b. */
static sqlite3_stmt *
prepare2(Tx *tx, const char *sql, gint64 a, gint64 b, const char *what, GError **error)
{
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(tx->db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 1, a);
  if (rc == SQLITE_OK && sqlite3_bind_parameter_count(s) >= 2)
    rc = sqlite3_bind_int64(s, 2, b);
  if (rc == SQLITE_OK)
    return s;
  srv_store_tx_fail(tx, rc, what, error);
  sqlite3_finalize(s);
  return NULL;
}

/* Runs a statement that returns no rows; *out_changes (may be NULL) gets the
 * rows it changed. */
static gboolean
run2(Tx *tx, const char *sql, gint64 a, gint64 b, guint *out_changes, const char *what, GError **error)
{
  g_autoptr(sqlite3_stmt) s = prepare2(tx, sql, a, b, what, error);
  if (s == NULL)
    return FALSE;
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE)
    return srv_store_tx_fail(tx, rc, what, error);
  if (out_changes != NULL)
    *out_changes = (guint) sqlite3_changes(tx->db);
  return TRUE;
}

static void
read_retention(sqlite3_stmt *s, SrvRetention *out)
{
  out->site_id = sqlite3_column_int64(s, 0);
  out->visitor_days = sqlite3_column_int64(s, 1);
  out->audit_days = sqlite3_column_int64(s, 2);
}

/* ---- the backend ----------------------------------------------------------------------- */

static gboolean
sq_get(gpointer backend, gint64 site_id, SrvRetention *out, GError **error)
{
  const char *what = "cannot read the retention settings";
  Tx tx;
  srv_store_tx_open(&tx, backend, FALSE, NULL);
  g_autoptr(sqlite3_stmt) s = prepare2(&tx, sql_get, site_id, 0, what, error);
  gboolean ok = s != NULL;
  if (ok) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
      read_retention(s, out);
    else if (rc == SQLITE_DONE)
      ok = (g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no such site"), FALSE);
    else
      ok = srv_store_tx_fail(&tx, rc, what, error);
  }
  g_clear_pointer(&s, sqlite3_finalize);
  return srv_store_tx_close(&tx, ok, NULL, error);
}

static GArray *
sq_list(gpointer backend, GError **error)
{
  const char *what = "cannot read the retention settings";
  Tx tx;
  srv_store_tx_open(&tx, backend, FALSE, NULL);
  g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(SrvRetention));
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(tx.db, sql_list, -1, &s, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    SrvRetention r;
    read_retention(s, &r);
    g_array_append_val(out, r);
    rc = SQLITE_OK;
  }
  gboolean ok = rc == SQLITE_DONE || srv_store_tx_fail(&tx, rc, what, error);
  sqlite3_finalize(s);
  if (!srv_store_tx_close(&tx, ok, what, error))
    return NULL;
  return g_steal_pointer(&out);
}

static gboolean
sq_set(gpointer backend, const SrvRetention *r, GError **error)
{
  const char *what = "cannot change the retention settings";
  Tx tx;
  if (!srv_store_tx_open(&tx, backend, TRUE, error))
    return srv_store_tx_close(&tx, FALSE, NULL, NULL);
  guint changed = 0;
  gboolean ok = FALSE;
  g_autoptr(sqlite3_stmt) s = prepare2(&tx, sql_set, r->site_id, r->visitor_days, what, error);
  if (s != NULL) {
    int rc = sqlite3_bind_int64(s, 3, r->audit_days);
    if (rc == SQLITE_OK)
      rc = sqlite3_step(s);
    ok = rc == SQLITE_DONE || srv_store_tx_fail(&tx, rc, what, error);
    changed = ok ? (guint) sqlite3_changes(tx.db) : 0;
  }
  if (ok && changed == 0)
    ok = (g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no such site"), FALSE);
  ok = ok && run2(&tx, sql_bump_devices, r->site_id, 0, NULL, what, error);
  g_clear_pointer(&s, sqlite3_finalize);
  return srv_store_tx_close(&tx, ok, what, error);
}

static gboolean
sq_purge_site(gpointer backend, gint64 site_id, gint64 cutoff, SrvRetentionCounts *out, GError **error)
{
  const char *what = "cannot purge the site's old data";
  memset(out, 0, sizeof *out);
  out->site_id = site_id;
  guint *counts[N_PURGE] = {
    [P_PHOTOS] = &out->photos,
    [P_VISITS] = &out->visits,
    [P_ALERTS] = &out->alerts,
    [P_REDEMPTIONS] = &out->redemptions,
    [P_TICKETS] = &out->tickets,
    [P_EVENTS] = &out->events,
    [P_NOTIFICATIONS] = &out->notifications,
    [P_HOST_SETTINGS] = NULL,
    [P_HOSTS] = &out->hosts,
  };
  Tx tx;
  if (!srv_store_tx_open(&tx, backend, TRUE, error))
    return srv_store_tx_close(&tx, FALSE, NULL, NULL);
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < N_PURGE; i++)
    ok = run2(&tx, purge_sql[i], site_id, cutoff, counts[i], what, error);
  if (!ok)
    memset(out, 0, sizeof *out);
  return srv_store_tx_close(&tx, ok, what, error);
}

static gboolean
sq_checkpoint(gpointer backend, GError **error)
{
  Tx tx;
  srv_store_tx_open(&tx, backend, FALSE, NULL);
  GError *e = NULL;
  gboolean ok = gk_store_checkpoint(tx.gk, &e);
  if (!ok) {
    g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "cannot checkpoint the store: %s", e->message);
    g_error_free(e);
  }
  return srv_store_tx_close(&tx, ok, NULL, error);
}

static gboolean
collect_serials(Tx *tx, gint64 site_id, GPtrArray *out, GError **error)
{
  const char *what = "cannot read the site's devices";
  g_autoptr(sqlite3_stmt) s = prepare2(tx, sql_site_serials, site_id, 0, what, error);
  if (s == NULL)
    return FALSE;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    g_ptr_array_add(out, g_bytes_new(sqlite3_column_blob(s, 0), (gsize) sqlite3_column_bytes(s, 0)));
  return rc == SQLITE_DONE || srv_store_tx_fail(tx, rc, what, error);
}

static gboolean
sq_site_delete(gpointer backend, gint64 site_id, gint64 now, SrvSiteDeleteCounts *out, GPtrArray *out_serials,
               GError **error)
{
  const char *what = "cannot delete the site";
  memset(out, 0, sizeof *out);
  guint *counts[N_DELETE] = {
    [D_VISITS] = &out->visits,   [D_TICKETS] = &out->tickets, [D_EVENTS] = &out->events,
    [D_DEVICES] = &out->devices, [D_HOSTS] = &out->hosts,     [D_DISABLE] = &out->accounts_disabled,
  };
  Tx tx;
  if (!srv_store_tx_open(&tx, backend, TRUE, error))
    return srv_store_tx_close(&tx, FALSE, NULL, NULL);
  gboolean ok = TRUE;
  {
    g_autoptr(sqlite3_stmt) s = prepare2(&tx, sql_site_exists, site_id, 0, what, error);
    int rc = s != NULL ? sqlite3_step(s) : SQLITE_ERROR;
    if (s == NULL)
      ok = FALSE;
    else if (rc == SQLITE_DONE)
      ok = (g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no such site"), FALSE);
    else if (rc != SQLITE_ROW)
      ok = srv_store_tx_fail(&tx, rc, what, error);
  }
  ok = ok && collect_serials(&tx, site_id, out_serials, error);
  for (guint i = 0; ok && i < N_DELETE; i++)
    ok = run2(&tx, delete_sql[i], site_id, now, counts[i], what, error);
  if (!ok) {
    memset(out, 0, sizeof *out);
    g_ptr_array_set_size(out_serials, 0);
  }
  return srv_store_tx_close(&tx, ok, what, error);
}

const SrvRetentionBackend srv_retention_sqlite_backend = {
  .get = sq_get,
  .set = sq_set,
  .list = sq_list,
  .purge_site = sq_purge_site,
  .checkpoint = sq_checkpoint,
  .site_delete = sq_site_delete,
};
