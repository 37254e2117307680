/* The outbox's part of a store backend (a member of SrvStoreBackend), and the
 * hooks the SQLite backend calls inside its check-in transactions. */
#pragma once
#include "gk-store.h"
#include "srv-outbox.h"

G_BEGIN_DECLS

/* One entry per public function of srv-outbox.h, with the backend's handle in
 * place of the SrvStore; srv-outbox.c has checked the pointer arguments. */
typedef struct SrvOutboxBackend {
  gboolean (*setting_set)(gpointer backend, const SrvNotifySetting *setting, const char *secret, gint64 now,
                          GError **error);
  GArray *(*setting_list)(gpointer backend, gint64 site_id, GError **error);
  GArray *(*claim)(gpointer backend, gint64 now, gint64 lease_s, guint max, GError **error);
  gboolean (*delivered)(gpointer backend, const char *id, gint64 now, GError **error);
  gboolean (*reschedule)(gpointer backend, const char *id, gint64 next_at, const char *error_text, GError **error);
  gboolean (*fail)(gpointer backend, const char *id, gint64 now, const char *error_text, GError **error);
  gboolean (*retry)(gpointer backend, gint64 site_id, const char *id, gint64 now, GError **error);
  GArray *(*list)(gpointer backend, gint64 site_id, gboolean failed_only, guint limit, GError **error);
  gboolean (*queue_offline)(gpointer backend, gint64 now, guint *out_queued, GError **error);
  gboolean (*purge)(gpointer backend, gint64 before, guint *out_deleted, GError **error);
} SrvOutboxBackend;

/* srv-outbox-sqlite.c */
extern const SrvOutboxBackend srv_outbox_sqlite_backend;

/* Called by srv-store-sqlite.c inside the write transaction that stores the
 * check-in event @event_id (device time @at) of @ticket_id by @device_id:
 * queues a notification to the ticket's host when the host (or the site
 * default) has a channel. *out_queued tells whether one was queued; the same
 * event twice queues one. */
gboolean srv_outbox_sqlite_queue_checkin(GkStore *gk, gint64 site_id, const guint8 ticket_id[16],
                                         const char *device_id, const char *event_id, gint64 at, gint64 now,
                                         gboolean *out_queued, GError **error);
/* For a repeated online redemption: was the host's notification for this
 * check-in queued when it was first stored? */
gboolean srv_outbox_sqlite_checkin_queued(GkStore *gk, const char *event_id, const guint8 ticket_id[16],
                                          gboolean *out_queued, GError **error);
/* Likewise for a walk-in: the visit @visit_id (already stored) names the host,
 * who hears that a visitor is waiting. */
gboolean srv_outbox_sqlite_queue_walkin(GkStore *gk, gint64 site_id, const char *visit_id, const char *device_id,
                                        const char *event_id, gint64 at, gint64 now, gboolean *out_queued,
                                        GError **error);
/* Likewise for a double-entry alert raised for the conflicting event @event_id:
 * queued to the site's security channel, if it has one. */
gboolean srv_outbox_sqlite_queue_double_entry(GkStore *gk, gint64 site_id, const guint8 ticket_id[16],
                                              const char *event_id, const char *device_id,
                                              const char *first_device_id, gint64 now, GError **error);

/* Called by srv-store-sqlite.c inside the write transaction that stores the
 * ticket @ticket_id: queues the invitation e-mail @invitation to its visitor
 * (kind "invitation", recipient "visitor"), in the host's (else the site
 * default's, else Japanese) language, with the reception code and the ticket's
 * QR text as the row's visitor_secrets. */
gboolean srv_outbox_sqlite_queue_invitation(GkStore *gk, const guint8 ticket_id[16], const SrvInvitation *invitation,
                                            gint64 now, GError **error);

/* srv-store-sqlite.c lends its pooled connections to srv-outbox-sqlite.c. */
GkStore *srv_store_sqlite_borrow(gpointer backend, gpointer *out_conn);
void srv_store_sqlite_give_back(gpointer backend, gpointer conn);

G_END_DECLS
