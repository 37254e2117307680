/* The audit log in the SQLite master store: every SQL string of it, run on
 * connections borrowed from srv-store-sqlite.c. Schema: migration 5 there. */
#include "srv-audit-private.h"

#include <string.h>

#include "gk-store.h"
#include "srv-store-tx.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

#define AUDIT_COLS "seq, at, site_id, actor_kind, actor, source_ip, action, target, result, reason, prev_hash, hash"

static const char sql_head[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char sql_base[] = "SELECT base_seq, base_hash FROM audit_chain WHERE id = 1";
static const char sql_insert[] =
  "INSERT INTO audit_log (" AUDIT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
/* ?6 is the limit plus one: a row beyond it says that more match. */
#define SQL_LIST(order)                                                                        \
  "SELECT " AUDIT_COLS " FROM audit_log"                                                       \
  " WHERE (?1 = 0 OR site_id IN (?1, 0)) AND at >= ?2 AND seq > ?3"                                \
  "  AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR action = ?5)"                           \
  " ORDER BY seq " order " LIMIT ?6"
static const char sql_list[] = SQL_LIST("ASC");
static const char sql_list_newest[] = SQL_LIST("DESC");
static const char sql_find_hash[] = "SELECT seq FROM audit_log WHERE hash = ?1 ORDER BY seq LIMIT 1";
/* The last entry of the prefix that is older than ?1: purges never cut holes. */
static const char sql_purge_last[] =
  "SELECT seq, hash FROM audit_log WHERE seq < coalesce((SELECT min(seq) FROM audit_log WHERE at >= ?1),"
  " (SELECT max(seq) FROM audit_log) + 1) ORDER BY seq DESC LIMIT 1";
static const char sql_move_base[] = "UPDATE audit_chain SET base_seq = ?1, base_hash = ?2 WHERE id = 1";
static const char sql_purge[] = "DELETE FROM audit_log WHERE seq <= ?1";

/* ---- statements on a borrowed connection ---------------------------------------------- */

typedef SrvStoreTx Tx;

static sqlite3_stmt *
prepare(Tx *tx, const char *sql, const char *what, GError **error)
{
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(tx->db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK)
    return s;
  sqlite3_finalize(s);
  srv_store_tx_fail(tx, rc, what, error);
  return NULL;
}

/* 1: a row; 0: done; -1: failed, @error set. */
static int
next_row(Tx *tx, sqlite3_stmt *s, const char *what, GError **error)
{
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    return rc == SQLITE_ROW;
  srv_store_tx_fail(tx, rc, what, error);
  return -1;
}

static void
col_hash(sqlite3_stmt *s, int i, guint8 out[SRV_AUDIT_HASH_LEN])
{
  const void *data = sqlite3_column_blob(s, i);
  /* A damaged value must not verify: zeros never equal a SHA-256 we made. */
  if (data != NULL && sqlite3_column_bytes(s, i) == SRV_AUDIT_HASH_LEN)
    memcpy(out, data, SRV_AUDIT_HASH_LEN);
  else
    memset(out, 0, SRV_AUDIT_HASH_LEN);
}

static char *
col_str(sqlite3_stmt *s, int i)
{
  const char *v = (const char *) sqlite3_column_text(s, i);
  return g_strdup(v != NULL ? v : "");
}

/* Reads (seq, hash) of the one row @sql gives; *found FALSE when none. */
static gboolean
read_seq_hash(Tx *tx, const char *sql, gint64 bound, gboolean *found, gint64 *out_seq,
              guint8 out_hash[SRV_AUDIT_HASH_LEN], GError **error)
{
  const char *what = "cannot read the audit chain";
  g_autoptr(sqlite3_stmt) s = prepare(tx, sql, what, error);
  if (s == NULL)
    return FALSE;
  if (sqlite3_bind_parameter_count(s) > 0 && sqlite3_bind_int64(s, 1, bound) != SQLITE_OK)
    return srv_store_tx_fail(tx, SQLITE_ERROR, what, error);
  int r = next_row(tx, s, what, error);
  if (r < 0)
    return FALSE;
  *found = r == 1;
  if (r == 1) {
    *out_seq = sqlite3_column_int64(s, 0);
    col_hash(s, 1, out_hash);
  }
  return TRUE;
}

/* ---- the backend ----------------------------------------------------------------------- */

static gboolean
sq_base(gpointer backend, gint64 *out_seq, guint8 out_hash[SRV_AUDIT_HASH_LEN], GError **error)
{
  Tx tx;
  gboolean found = FALSE;
  srv_store_tx_open(&tx, backend, FALSE, NULL);
  gboolean ok = read_seq_hash(&tx, sql_base, 0, &found, out_seq, out_hash, error);
  if (ok && !found)
    ok = srv_store_tx_fail(&tx, SQLITE_CORRUPT, "the audit chain's base row is missing", error);
  return srv_store_tx_close(&tx, ok, NULL, error);
}

static gboolean
append_in_tx(Tx *tx, SrvAuditRow *row, GError **error)
{
  const char *what = "cannot append to the audit log";
  gboolean found = FALSE;
  gint64 last = 0;
  if (!read_seq_hash(tx, sql_head, 0, &found, &last, row->prev_hash, error))
    return FALSE;
  if (!found) {
    if (!read_seq_hash(tx, sql_base, 0, &found, &last, row->prev_hash, error))
      return FALSE;
    if (!found)
      return srv_store_tx_fail(tx, SQLITE_CORRUPT, "the audit chain's base row is missing", error);
  }
  row->seq = last + 1;
  srv_audit_chain_hash(row, row->prev_hash, row->hash);

  g_autoptr(sqlite3_stmt) s = prepare(tx, sql_insert, what, error);
  if (s == NULL)
    return FALSE;
  const char *texts[] = { row->actor_kind, row->actor, row->source_ip, row->action,
                          row->target, row->result, row->reason };
  int rc = sqlite3_bind_int64(s, 1, row->seq);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 2, row->at);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 3, row->site_id);
  for (guint i = 0; i < G_N_ELEMENTS(texts) && rc == SQLITE_OK; i++)
    rc = sqlite3_bind_text(s, 4 + (int) i, texts[i], -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_blob(s, 11, row->prev_hash, SRV_AUDIT_HASH_LEN, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_blob(s, 12, row->hash, SRV_AUDIT_HASH_LEN, SQLITE_STATIC);
  if (rc != SQLITE_OK)
    return srv_store_tx_fail(tx, rc, what, error);
  return next_row(tx, s, what, error) == 0;
}

static gboolean
sq_append(gpointer backend, SrvAuditRow *row, GError **error)
{
  Tx tx;
  /* BEGIN IMMEDIATE holds the one write lock from reading the head to the
   * insert, so two appends can never chain to the same entry. */
  if (!srv_store_tx_open(&tx, backend, TRUE, error))
    return srv_store_tx_close(&tx, FALSE, NULL, NULL);
  gboolean ok = append_in_tx(&tx, row, error);
  return srv_store_tx_close(&tx, ok, "cannot append to the audit log", error);
}

static void
read_row(sqlite3_stmt *s, SrvAuditRow *row)
{
  row->seq = sqlite3_column_int64(s, 0);
  row->at = sqlite3_column_int64(s, 1);
  row->site_id = sqlite3_column_int64(s, 2);
  row->actor_kind = col_str(s, 3);
  row->actor = col_str(s, 4);
  row->source_ip = col_str(s, 5);
  row->action = col_str(s, 6);
  row->target = col_str(s, 7);
  row->result = col_str(s, 8);
  row->reason = col_str(s, 9);
  col_hash(s, 10, row->prev_hash);
  col_hash(s, 11, row->hash);
}

static GArray *
sq_list(gpointer backend, const SrvAuditFilter *filter, gboolean *out_more, GError **error)
{
  const char *what = "cannot list the audit log";
  Tx tx;
  srv_store_tx_open(&tx, backend, FALSE, NULL);
  g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, sizeof(SrvAuditRow));
  g_array_set_clear_func(rows, (GDestroyNotify) srv_audit_row_clear);
  g_autoptr(sqlite3_stmt) s = prepare(&tx, filter->newest ? sql_list_newest : sql_list, what, error);
  int rc = s != NULL ? SQLITE_OK : SQLITE_ERROR;
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 1, filter->site_id);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 2, filter->since);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 3, filter->after_seq);
  if (rc == SQLITE_OK)
    rc = filter->actor != NULL ? sqlite3_bind_text(s, 4, filter->actor, -1, SQLITE_STATIC) : sqlite3_bind_null(s, 4);
  if (rc == SQLITE_OK)
    rc = filter->action != NULL ? sqlite3_bind_text(s, 5, filter->action, -1, SQLITE_STATIC)
                                : sqlite3_bind_null(s, 5);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(s, 6, (gint64) filter->limit + 1);
  gboolean ok = rc == SQLITE_OK || (s != NULL && srv_store_tx_fail(&tx, rc, what, error));
  int r = ok ? 1 : -1;
  while (ok && (r = next_row(&tx, s, what, error)) == 1 && rows->len < filter->limit) {
    SrvAuditRow row = { 0 };
    read_row(s, &row);
    g_array_append_val(rows, row);
  }
  ok = ok && r >= 0;
  if (out_more != NULL)
    *out_more = ok && r == 1;
  if (!srv_store_tx_close(&tx, ok, NULL, error))
    return NULL;
  if (filter->newest)
    for (guint i = 0; i < rows->len / 2; i++) {
      SrvAuditRow tmp = g_array_index(rows, SrvAuditRow, i);
      g_array_index(rows, SrvAuditRow, i) = g_array_index(rows, SrvAuditRow, rows->len - 1 - i);
      g_array_index(rows, SrvAuditRow, rows->len - 1 - i) = tmp;
    }
  return g_steal_pointer(&rows);
}

static gboolean
sq_find_hash(gpointer backend, const guint8 hash[SRV_AUDIT_HASH_LEN], gint64 *out_seq, GError **error)
{
  const char *what = "cannot search the audit log";
  Tx tx;
  srv_store_tx_open(&tx, backend, FALSE, NULL);
  *out_seq = 0;
  g_autoptr(sqlite3_stmt) s = prepare(&tx, sql_find_hash, what, error);
  int r = -1;
  if (s != NULL) {
    int rc = sqlite3_bind_blob(s, 1, hash, SRV_AUDIT_HASH_LEN, SQLITE_STATIC);
    r = rc == SQLITE_OK ? next_row(&tx, s, what, error) : (srv_store_tx_fail(&tx, rc, what, error), -1);
  }
  if (r == 1)
    *out_seq = sqlite3_column_int64(s, 0);
  return srv_store_tx_close(&tx, r >= 0, NULL, error);
}

static gboolean
purge_in_tx(Tx *tx, gint64 before, guint *out_deleted, GError **error)
{
  const char *what = "cannot purge the audit log";
  gboolean found = FALSE;
  gint64 last = 0;
  guint8 hash[SRV_AUDIT_HASH_LEN];
  if (!read_seq_hash(tx, sql_purge_last, before, &found, &last, hash, error))
    return FALSE;
  if (!found)
    return TRUE;
  /* The base moves first: the trigger lets only entries at or below it go. */
  g_autoptr(sqlite3_stmt) move = prepare(tx, sql_move_base, what, error);
  if (move == NULL)
    return FALSE;
  int rc = sqlite3_bind_int64(move, 1, last);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_blob(move, 2, hash, SRV_AUDIT_HASH_LEN, SQLITE_STATIC);
  if (rc != SQLITE_OK)
    return srv_store_tx_fail(tx, rc, what, error);
  if (next_row(tx, move, what, error) != 0)
    return FALSE;
  g_autoptr(sqlite3_stmt) del = prepare(tx, sql_purge, what, error);
  if (del == NULL)
    return FALSE;
  rc = sqlite3_bind_int64(del, 1, last);
  if (rc != SQLITE_OK)
    return srv_store_tx_fail(tx, rc, what, error);
  if (next_row(tx, del, what, error) != 0)
    return FALSE;
  *out_deleted = (guint) sqlite3_changes(tx->db);
  return TRUE;
}

static gboolean
sq_purge(gpointer backend, gint64 before, guint *out_deleted, GError **error)
{
  Tx tx;
  *out_deleted = 0;
  if (!srv_store_tx_open(&tx, backend, TRUE, error))
    return srv_store_tx_close(&tx, FALSE, NULL, NULL);
  gboolean ok = purge_in_tx(&tx, before, out_deleted, error);
  return srv_store_tx_close(&tx, ok, "cannot purge the audit log", error);
}

const SrvAuditBackend srv_audit_sqlite_backend = {
  .append = sq_append,
  .list = sq_list,
  .base = sq_base,
  .find_hash = sq_find_hash,
  .purge = sq_purge,
};
