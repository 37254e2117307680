/* A connection borrowed from the SQLite store's pool, with or without a write
 * transaction, for the store backends that run several statements as one unit
 * (the audit chain, retention). */
#pragma once
#include <glib.h>
#include <sqlite3.h>

#include "gk-store.h"

typedef struct {
  gpointer backend;
  gpointer conn;
  GkStore *gk;
  sqlite3 *db;
  gboolean in_tx;
} SrvStoreTx;

/* Borrows a connection; with @write, also begins a transaction. */
gboolean srv_store_tx_open(SrvStoreTx *tx, gpointer backend, gboolean write, GError **error);
/* Commits when @ok and a transaction is open, else rolls back; gives the
 * connection back. Returns whether everything succeeded. */
gboolean srv_store_tx_close(SrvStoreTx *tx, gboolean ok, const char *what, GError **error);
/* Sets @error from SQLite's message for @rc ("WHAT: message"; constraint
 * failures are SRV_STORE_ERROR_INVALID) and returns FALSE. */
gboolean srv_store_tx_fail(SrvStoreTx *tx, int rc, const char *what, GError **error);
