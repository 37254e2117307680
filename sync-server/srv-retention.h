/* Data retention: per-site settings (how long visitors' personal data and the
 * audit log are kept), the purge that enforces them (on demand and on a
 * schedule), the cap on devices' own retention, and deleting a site with all
 * its data (docs/retention.md). */
#pragma once
#include <glib.h>

#include "srv-app-private.h"
#include "srv-store.h"

/* Bounds of the per-site settings (the schema checks them too: migration 9). */
#define SRV_RETENTION_VISITOR_MIN 1
#define SRV_RETENTION_VISITOR_MAX 3650
#define SRV_RETENTION_AUDIT_MIN   180
#define SRV_RETENTION_AUDIT_MAX   3650

typedef struct {
  gint64 site_id;
  gint64 visitor_days;  /* visitors' personal data is kept this long after the visit */
  gint64 audit_days;    /* audit entries are kept this long (the longest of all sites wins) */
} SrvRetention;

/* What one purge removed from one site. */
typedef struct {
  gint64 site_id;
  guint visits;
  guint photos;
  guint tickets;
  guint redemptions;
  guint events;
  guint alerts;
  guint notifications;
  guint hosts;          /* removed hosts nothing referred to any more */
} SrvRetentionCounts;

/* What deleting a site removed. */
typedef struct {
  guint hosts;
  guint tickets;
  guint visits;
  guint events;
  guint devices;
  guint accounts_disabled;  /* accounts that had no other site */
} SrvSiteDeleteCounts;

/* NOT_FOUND: no such site. */
gboolean srv_retention_get(SrvStore *store, gint64 site_id, SrvRetention *out, GError **error);
/* Sets both values (INVALID outside the bounds above) and, in the same
 * transaction, bumps the settings version of every device of the site, so each
 * picks up its capped retention-hours at its next sync. */
gboolean srv_retention_set(SrvStore *store, const SrvRetention *retention, GError **error);

/* Purges every site as of @now: per site, in one transaction, visits that
 * ended more than visitor_days ago with their photos, tickets no kept visit
 * needs, their redemptions, events, alerts and notifications of that age, and
 * removed hosts nothing refers to; then the audit log's entries older than the
 * longest audit_days of all sites (a prefix of the chain: it still verifies).
 * Then the WAL is checkpointed and truncated, so (with secure_delete on) no
 * deleted row stays in any file. Records one "retention.purge" entry per site
 * (actor system). Returns the counts per site (GArray of SrvRetentionCounts);
 * *out_audit gets the number of audit entries removed. */
GArray *srv_retention_purge(SrvApp *app, gint64 now, guint *out_audit, GError **error);

/* Deletes site @site_id and every row of it in every table, in one transaction:
 * hosts, tickets, visits and photos, events, redemptions, alerts, devices (and
 * their settings), enrollment codes, notification settings and notifications,
 * allow-lists, account_sites; accounts left with no site are disabled and
 * their sessions end. The audit log keeps its entries (they carry ids only).
 * *out_serials gets the certificate serials of the deleted devices (GBytes),
 * for the caller to refuse at once. FAILED... NOT_FOUND: no such site. */
gboolean srv_retention_site_delete(SrvStore *store, gint64 site_id, gint64 now, SrvSiteDeleteCounts *out_counts,
                                   GPtrArray **out_serials, GError **error);

/* The value a device of @site_id gets for its setting retention-hours: its
 * own (@device_hours; <= 0 when not set) but never more than the site's
 * visitor retention. Sets *out_hours and returns TRUE when the device must be
 * sent a value (one was set, or the cap is below it). */
gboolean srv_retention_device_hours(SrvStore *store, gint64 site_id, gint64 device_hours, gint64 *out_hours,
                                    GError **error);

/* Parses the body of POST /v1/sites/{id}/retention (outside input:
 * tests/fuzz/fuzz-retention-body.c): {"visitor_days":N,"audit_days":N}, at
 * least one of them, each within its bounds, nothing else. Updates @inout
 * (the current settings) only when the whole body is good. */
gboolean srv_retention_parse_body(const char *data, gsize len, SrvRetention *inout, GError **error);
/* Parses the body of DELETE /v1/sites/{id}: {"confirm":"NAME"}; the name
 * (g_free) in *out_confirm. */
gboolean srv_retention_parse_confirm(const char *data, gsize len, char **out_confirm, GError **error);

/* ---- the scheduled purge (genkan-server.conf [retention]) ----------------------- */

typedef struct SrvRetentionScheduler SrvRetentionScheduler;
/* A thread that purges @first_run_s after the start and every @interval_s after. */
SrvRetentionScheduler *srv_retention_scheduler_start(SrvApp *app, gint64 first_run_s, gint64 interval_s);
void srv_retention_scheduler_stop(SrvRetentionScheduler *scheduler);
