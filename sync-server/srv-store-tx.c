/* See srv-store-tx.h. */
#include "srv-store-tx.h"

#include "srv-outbox-private.h" /* srv_store_sqlite_borrow() */
#include "srv-store.h"

gboolean
srv_store_tx_fail(SrvStoreTx *tx, int rc, const char *what, GError **error)
{
  int code = SRV_STORE_ERROR_FAILED;
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    code = SRV_STORE_ERROR_INVALID;
  g_set_error(error, SRV_STORE_ERROR, code, "%s: %s", what, sqlite3_errmsg(tx->db));
  return FALSE;
}

gboolean
srv_store_tx_open(SrvStoreTx *tx, gpointer backend, gboolean write, GError **error)
{
  tx->backend = backend;
  tx->gk = srv_store_sqlite_borrow(backend, &tx->conn);
  tx->db = gk_store_db(tx->gk);
  tx->in_tx = FALSE;
  if (!write)
    return TRUE;
  GError *e = NULL;
  if (!gk_store_begin(tx->gk, &e)) {
    g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "cannot start a transaction: %s", e->message);
    g_error_free(e);
    /* The connection goes back: the caller does not close what failed to open. */
    srv_store_sqlite_give_back(backend, tx->conn);
    return FALSE;
  }
  tx->in_tx = TRUE;
  return TRUE;
}

gboolean
srv_store_tx_close(SrvStoreTx *tx, gboolean ok, const char *what, GError **error)
{
  if (tx->in_tx && ok) {
    GError *e = NULL;
    ok = gk_store_commit(tx->gk, &e);
    if (!ok) {
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED, "%s: %s", what, e->message);
      g_error_free(e);
    }
  }
  if (tx->in_tx && !ok)
    gk_store_rollback(tx->gk);
  srv_store_sqlite_give_back(tx->backend, tx->conn);
  return ok;
}
