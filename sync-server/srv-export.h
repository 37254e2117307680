/* CSV exports of a site's personal data (visits, check-ins, hosts) through
 * the admin API, the export permission (accounts.may_export) and who may
 * grant it. docs/exports.md has the columns; every export is audited. */
#pragma once
#include <glib.h>

#include "srv-account-api.h"
#include "srv-store.h"

#define SRV_EXPORT_QUERY_ERROR srv_export_query_error_quark()
GQuark srv_export_query_error_quark(void);
typedef enum {
  SRV_EXPORT_QUERY_ERROR_INVALID, /* a query parameter or value is not acceptable */
} SrvExportQueryError;

typedef enum {
  SRV_EXPORT_VISITS,
  SRV_EXPORT_CHECKINS,
  SRV_EXPORT_HOSTS,
  SRV_EXPORT_N_KINDS,
} SrvExportKind;

/* "visits", "checkins", "hosts". */
const char *srv_export_kind_name(SrvExportKind kind);
/* The header line's names, @out_n of them; each row has as many cells. */
const char *const *srv_export_columns(SrvExportKind kind, guint *out_n);

/* ---- query strings (outside input: tests/fuzz/fuzz-export-query.c) ------------ */

#define SRV_EXPORT_LABEL_MAX 64

typedef struct {
  gint64 since;      /* >= since; 0 with !has_since */
  gint64 until;      /* < until */
  gboolean has_since;
  gboolean has_until;
  char *label;       /* visits only: the ticket's labels hold it; NULL: any */
  gboolean bom;
} SrvExportQuery;
void srv_export_query_clear(SrvExportQuery *query);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SrvExportQuery, srv_export_query_clear)
/* Parses the raw query string (NULL: empty) of GET /v1/exports/@kind: since,
 * until (as srv_audit_query_time), label (visits only; percent-decoded, 1-64
 * bytes of visible text without a comma), bom 0|1; each at most once, nothing
 * else; until after since. */
gboolean srv_export_query_parse(const char *query, SrvExportKind kind, SrvExportQuery *out, GError **error);

/* ---- the store's part ----------------------------------------------------------- */

typedef struct {
  gint64 site_id;
  gint64 since;      /* 0: no lower bound */
  gint64 until;      /* 0: no upper bound */
  const char *label; /* NULL: any */
} SrvExportFilter;

/* Called once per row with the row's cells (srv_export_columns() many, NULL for
 * none), valid during the call only. */
typedef void (*SrvExportRowFunc)(const char *const *cells, guint n, gpointer user_data);

/* How many rows an export of @kind with @filter holds. */
gboolean srv_export_store_count(SrvStore *store, SrvExportKind kind, const SrvExportFilter *filter, gint64 *out,
                                GError **error);
/* Reads up to @limit rows, oldest first, straight from the store into @fn (no
 * list in memory); *out_rows: how many. */
gboolean srv_export_store_rows(SrvStore *store, SrvExportKind kind, const SrvExportFilter *filter, gint64 limit,
                               SrvExportRowFunc fn, gpointer user_data, gint64 *out_rows, GError **error);
/* Sets accounts.may_export; NOT_FOUND when there is no such account. */
gboolean srv_export_store_set_permission(SrvStore *store, gint64 account_id, gboolean allow, GError **error);

/* ---- admin API routes (srv-admin-api.c checks the role's read right first) ---- */

/* GET /v1/exports/visits|checkins|hosts?since=&until=&label=&bom=0|1 (text/csv) */
void srv_export_handle_visits(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                              SrvResponse *response);
void srv_export_handle_checkins(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                SrvResponse *response);
void srv_export_handle_hosts(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                             SrvResponse *response);
/* POST /v1/accounts/NAME/export-permission {"allow": true|false} */
void srv_export_handle_permission(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                  SrvResponse *response);
