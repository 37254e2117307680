/* Retention's part of a store backend (a member of SrvStoreBackend). */
#pragma once
#include "srv-retention.h"

G_BEGIN_DECLS

/* One entry per store-level function of srv-retention.h, with the backend's
 * handle in place of the SrvStore; srv-retention.c has checked the arguments. */
typedef struct SrvRetentionBackend {
  gboolean (*get)(gpointer backend, gint64 site_id, SrvRetention *out, GError **error);
  gboolean (*set)(gpointer backend, const SrvRetention *retention, GError **error);
  /* Every site's settings, by id (GArray of SrvRetention). */
  GArray *(*list)(gpointer backend, GError **error);
  gboolean (*purge_site)(gpointer backend, gint64 site_id, gint64 cutoff, SrvRetentionCounts *out, GError **error);
  /* Copies the WAL into the database and truncates it. */
  gboolean (*checkpoint)(gpointer backend, GError **error);
  gboolean (*site_delete)(gpointer backend, gint64 site_id, gint64 now, SrvSiteDeleteCounts *out,
                          GPtrArray *out_serials, GError **error);
} SrvRetentionBackend;

/* srv-retention-sqlite.c */
extern const SrvRetentionBackend srv_retention_sqlite_backend;

G_END_DECLS
