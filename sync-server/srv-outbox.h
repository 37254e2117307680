/* The notification outbox in the master store, and the notification settings it
 * is filled from. Check-ins (srv_store_redeem, srv_store_events_apply) add their
 * notifications in their own transaction; the sender claims due rows with a
 * lease, so a crash at any point leaves every notification either delivered or
 * due again. Times are Unix seconds, UTC. */
#pragma once
#include <glib.h>

#include "srv-store.h"

/* ---- settings ------------------------------------------------------------------ */

typedef struct {
  gint64 site_id;
  char *scope;             /* host | default | security | admins */
  gint64 host_id;          /* scope host; 0 otherwise */
  char *host_name;         /* filled by lists */
  char *channel;           /* email | slack | teams | webhook | none */
  char *target;            /* e-mail address or URL; NULL: the host's own e-mail */
  char *language;          /* ja | en */
  gboolean has_secret;     /* the secret itself never leaves the store but to the sender */
  gint64 offline_after_s;  /* scope admins: devices silent this long raise an alert; 0: never */
  gint64 updated_at;
} SrvNotifySetting;
void srv_notify_setting_clear(SrvNotifySetting *setting);

/* Creates or replaces the setting for (site, scope, host). @secret: a new
 * webhook secret, or NULL to keep the current one when channel and target are
 * unchanged (else the setting has no secret). NOT_FOUND for a host that is not
 * on the site; INVALID for a value the schema refuses. */
gboolean srv_outbox_setting_set(SrvStore *store, const SrvNotifySetting *setting, const char *secret, gint64 now,
                                GError **error);
/* The site's settings, hosts by name after the site-wide ones (GArray of SrvNotifySetting). */
GArray *srv_outbox_setting_list(SrvStore *store, gint64 site_id, GError **error);

/* ---- notifications ---------------------------------------------------------------- */

typedef struct {
  char *id;                /* "ntf-" + 32 hex digits; the idempotency key */
  gint64 site_id;
  char *kind;              /* checkin | walkin | double-entry | device-offline | invitation */
  char *recipient;         /* "host:ID", "security", "admins" or "visitor" */
  char *channel;           /* email | slack | teams | webhook */
  char *target;
  char *language;
  char *secret;            /* claim only (webhooks); zeroed by srv_notification_clear */
  char *facts;             /* JSON object: what the message says (personal data) */
  char *visitor_secrets;   /* claim only (invitations): JSON object with the reception_code
                            * and qr_text, kept until delivery; zeroed by srv_notification_clear */
  char *status;            /* pending | delivered | failed */
  gint64 attempts;
  gint64 next_attempt_at;
  gint64 window_start;     /* retries end give-up time after this */
  gint64 created_at;
  gint64 delivered_at;     /* 0: not delivered */
  char *last_error;
} SrvNotification;
void srv_notification_clear(SrvNotification *notification);
/* A new notification id: "ntf-" + 32 lowercase hex digits of 16 random bytes (g_free). */
char *srv_outbox_new_id(void);

/* Up to @max pending notifications due at @now, oldest first, each with its
 * attempt counted and its next attempt moved to @now + @lease_s, so no other
 * sender (thread or process) takes it meanwhile and a crashed sender's claim
 * runs out by itself. GArray of SrvNotification. */
GArray *srv_outbox_claim(SrvStore *store, gint64 now, gint64 lease_s, guint max, GError **error);
gboolean srv_outbox_delivered(SrvStore *store, const char *id, gint64 now, GError **error);
/* Another attempt at @next_at; @error_text says why this one failed. */
gboolean srv_outbox_reschedule(SrvStore *store, const char *id, gint64 next_at, const char *error_text,
                               GError **error);
/* Gives up: failed, for admins to see and retry by hand. */
gboolean srv_outbox_fail(SrvStore *store, const char *id, gint64 now, const char *error_text, GError **error);
/* A pending or failed notification of @site_id becomes due now with a new retry
 * window. NOT_FOUND: no such notification on the site; USED: delivered already. */
gboolean srv_outbox_retry(SrvStore *store, gint64 site_id, const char *id, gint64 now, GError **error);
/* Newest first; @failed_only: only failed ones. GArray of SrvNotification (no secrets). */
GArray *srv_outbox_list(SrvStore *store, gint64 site_id, gboolean failed_only, guint limit, GError **error);
/* Queues a device-offline alert for every device of every site whose admins
 * channel asks for them and that has been silent longer than asked, once per
 * silence (a device that comes back and goes silent again alerts again).
 * *out_queued: how many. */
gboolean srv_outbox_queue_offline(SrvStore *store, gint64 now, guint *out_queued, GError **error);
/* Deletes delivered and failed notifications created before @before. */
gboolean srv_outbox_purge(SrvStore *store, gint64 before, guint *out_deleted, GError **error);
