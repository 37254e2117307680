/* The hosts' part of a store backend (a member of SrvStoreBackend). */
#pragma once
#include "srv-host-store.h"

G_BEGIN_DECLS

/* One entry per function of srv-host-store.h, with the backend's handle in
 * place of the SrvStore; srv-host-store.c has checked the arguments. */
typedef struct SrvHostBackend {
  gboolean (*add)(gpointer backend, gint64 site_id, const SrvHostFields *fields, gint64 now, SrvHostWritten *out,
                  GError **error);
  gboolean (*edit)(gpointer backend, gint64 site_id, gint64 host_id, const SrvHostFields *fields, gint64 now,
                   SrvHostWritten *out, GError **error);
  gboolean (*remove)(gpointer backend, gint64 site_id, gint64 host_id, gint64 now, GError **error);
  gboolean (*import)(gpointer backend, gint64 site_id, GArray *rows, gboolean dry_run, gint64 now,
                     GArray *written, GError **error);
} SrvHostBackend;

/* srv-host-sqlite.c */
extern const SrvHostBackend srv_host_sqlite_backend;

G_END_DECLS
