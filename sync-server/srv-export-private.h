/* The exports' part of a store backend (a member of SrvStoreBackend). */
#pragma once
#include "srv-export.h"

G_BEGIN_DECLS

/* One entry per store-level function of srv-export.h, with the backend's
 * handle in place of the SrvStore; srv-export.c has checked the arguments. */
typedef struct SrvExportBackend {
  gboolean (*count)(gpointer backend, SrvExportKind kind, const SrvExportFilter *filter, gint64 *out,
                    GError **error);
  gboolean (*rows)(gpointer backend, SrvExportKind kind, const SrvExportFilter *filter, gint64 limit,
                   SrvExportRowFunc fn, gpointer user_data, gint64 *out_rows, GError **error);
  gboolean (*set_permission)(gpointer backend, gint64 account_id, gboolean allow, GError **error);
} SrvExportBackend;

/* srv-export-sqlite.c */
extern const SrvExportBackend srv_export_sqlite_backend;

G_END_DECLS
