/* The master store's backend vtable: srv-store.c checks arguments and dispatches
 * every public call to one of these; each backend keeps its SQL to itself. */
#pragma once
#include "gk-store.h"
#include "srv-store.h"

G_BEGIN_DECLS

/* One entry per public function of srv-store.h, same arguments, with the
 * backend's own handle in place of the SrvStore. srv-store.c has already checked
 * the pointer arguments (g_return_val_if_fail), so backends need not. Every
 * function must be callable from any number of threads at once. */
typedef struct SrvStoreBackend {
  const char *name;

  gboolean (*create)(const char *db_path, const char *kek_path, GError **error);
  gpointer (*open)(const char *db_path, const char *kek_path, guint connections, GError **error);
  void (*close)(gpointer backend);

  gboolean (*site_add)(gpointer backend, const char *name, gint64 now, gint64 *out_id, GError **error);
  gboolean (*site_default)(gpointer backend, gint64 *out_id, char **out_name, GError **error);

  gboolean (*account_add)(gpointer backend, const char *username, const char *password_hash,
                          const char *role, gboolean must_change_password, gint64 now, gint64 *out_id,
                          GError **error);
  gboolean (*account_get)(gpointer backend, const char *username, SrvAccount *out, GError **error);
  gboolean (*account_get_by_id)(gpointer backend, gint64 id, SrvAccount *out, GError **error);
  gboolean (*account_set_password)(gpointer backend, gint64 account_id, const char *password_hash,
                                   GError **error);

  gboolean (*session_add)(gpointer backend, const guint8 token_hash[32], gint64 account_id, const char *ip,
                          gint64 now, GError **error);
  gboolean (*session_touch)(gpointer backend, const guint8 token_hash[32], gint64 now, gint64 max_age,
                            gint64 max_idle, gint64 *out_account_id, GError **error);
  gboolean (*session_delete)(gpointer backend, const guint8 token_hash[32], GError **error);

  gboolean (*host_add)(gpointer backend, const SrvHost *host, gint64 now, gint64 *out_id, GError **error);
  GArray *(*host_list)(gpointer backend, gint64 site_id, GError **error);
  gboolean (*host_find)(gpointer backend, gint64 site_id, const char *id_or_name, SrvHost *out,
                        GError **error);

  gboolean (*ticket_add)(gpointer backend, const SrvTicket *ticket, GError **error);
  gboolean (*ticket_get)(gpointer backend, const guint8 id[16], SrvTicket *out, GError **error);
  gboolean (*ticket_revoke)(gpointer backend, const guint8 id[16], GError **error);

  gboolean (*signing_key_add)(gpointer backend, guint key_id, const guint8 public_key[32], gint64 now,
                              GError **error);

  gboolean (*enroll_code_add)(gpointer backend, const guint8 token_hash[32], gint64 site_id,
                              const char *name, const char *mode, gint64 now, gint64 expires_at,
                              GError **error);
  gboolean (*enroll_code_redeem)(gpointer backend, const guint8 token_hash[32], gint64 now,
                                 const char *device_id, GBytes *serial, gint64 cert_expires_at,
                                 SrvDevice *out, GError **error);
  GArray *(*device_list)(gpointer backend, gint64 site_id, GError **error);
  gboolean (*device_get)(gpointer backend, const char *device_id, SrvDevice *out, GError **error);
  gboolean (*device_by_serial)(gpointer backend, GBytes *serial, SrvDevice *out, GError **error);
  gboolean (*device_revoke)(gpointer backend, const char *device_id, gint64 now, SrvDevice *out,
                            GError **error);
  GPtrArray *(*revoked_serials)(gpointer backend, GError **error);
  gboolean (*device_renew)(gpointer backend, const char *device_id, GBytes *old_serial, GBytes *new_serial,
                           gint64 cert_expires_at, GError **error);
  gboolean (*device_settings_set)(gpointer backend, const char *device_id, const char *const *keys,
                                  const char *const *values, guint n, gint64 *out_version, GError **error);
  GHashTable *(*device_settings_get)(gpointer backend, const char *device_id, GError **error);
  gboolean (*device_config_running)(gpointer backend, const char *device_id, gint64 version, GError **error);
  gboolean (*device_seen)(gpointer backend, const char *device_id, gint64 now, gint64 clock_offset_ms,
                          gint64 queue_length, GError **error);

  gboolean (*redeem)(gpointer backend, const char *device_id, gint64 site_id, const guint8 ticket_id[16],
                     const char *event_id, gint64 device_time, gint64 now, SrvRedeemOutcome *out,
                     GError **error);
  gboolean (*events_apply)(gpointer backend, const char *device_id, gint64 site_id, const SrvEvent *events,
                           guint n, gint64 now, SrvEventStatus *statuses, gboolean *notified, GError **error);
  GArray *(*checkin_list)(gpointer backend, gint64 site_id, guint limit, GError **error);
  GArray *(*alert_list)(gpointer backend, gint64 site_id, GError **error);
  gboolean (*redeem_code)(gpointer backend, const char *device_id, gint64 site_id, const guint8 code_hash[32],
                          const char *event_id, gint64 device_time, gint64 now, guint max_wrong, gint64 window_s,
                          SrvCodeOutcome *out, GError **error);
  GArray *(*visit_list)(gpointer backend, gint64 site_id, gboolean present_only, guint limit, GError **error);
  gboolean (*visit_photo)(gpointer backend, gint64 site_id, const char *visit_id, GBytes **out, GError **error);

  GArray *(*changes_since)(gpointer backend, gint64 site_id, gint64 cursor, guint limit, gboolean *out_more,
                           GError **error);

  /* The notification outbox and its settings (srv-outbox-private.h). */
  const struct SrvOutboxBackend *outbox;
  /* The hash-chained audit log (srv-audit-private.h). */
  const struct SrvAuditBackend *audit;
  /* Accounts, sessions, sign-in limits, TOTP, allow-lists (srv-auth-store-private.h). */
  const struct SrvAuthBackend *auth;
  /* Hosts' edits, removal and import (srv-host-store-private.h). */
  const struct SrvHostBackend *hosts;
  /* Retention settings, the purge, site deletion (srv-retention-private.h). */
  const struct SrvRetentionBackend *retention;
  /* CSV exports and the export permission (srv-export-private.h). */
  const struct SrvExportBackend *export;
} SrvStoreBackend;

struct SrvStore {
  const SrvStoreBackend *ops;
  gpointer backend;
};

/* srv-store-sqlite.c: the embedded default (encrypted SQLite through gk-store). */
extern const SrvStoreBackend srv_store_sqlite_backend;

/* For tests that inspect the SQLite schema directly (row counts, flags no API
 * shows): the migrations the SQLite backend runs. */
const GkMigration *srv_store_sqlite_migrations(gsize *n_migrations);

G_END_DECLS
