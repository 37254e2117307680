/* The audit log's part of a store backend (a member of SrvStoreBackend). */
#pragma once
#include "srv-audit.h"

G_BEGIN_DECLS

/* One entry per store-level function of srv-audit.h, with the backend's handle
 * in place of the SrvStore; srv-audit.c has checked the arguments. */
typedef struct SrvAuditBackend {
  /* Takes the write lock, reads the head (or the base), fills @row's seq,
   * prev_hash and hash (srv_audit_chain_hash()) and inserts it. */
  gboolean (*append)(gpointer backend, SrvAuditRow *row, GError **error);
  GArray *(*list)(gpointer backend, const SrvAuditFilter *filter, gboolean *out_more, GError **error);
  /* Where the chain starts: seq 0 and the genesis value, or the last purged entry. */
  gboolean (*base)(gpointer backend, gint64 *out_seq, guint8 out_hash[SRV_AUDIT_HASH_LEN], GError **error);
  /* The seq of an entry whose hash is @hash; TRUE with *out_seq 0 when none. */
  gboolean (*find_hash)(gpointer backend, const guint8 hash[SRV_AUDIT_HASH_LEN], gint64 *out_seq, GError **error);
  gboolean (*purge)(gpointer backend, gint64 before, guint *out_deleted, GError **error);
} SrvAuditBackend;

/* srv-audit-sqlite.c */
extern const SrvAuditBackend srv_audit_sqlite_backend;

G_END_DECLS
