/* The master store's public face: picks a backend, checks arguments at the API
 * boundary and dispatches through the backend vtable; plus the *_clear helpers. */
#include "srv-store-private.h"

#include <string.h>

G_DEFINE_QUARK(srv-store-error-quark, srv_store_error)

/* A "postgresql://" (or "postgres://") connection URI selects PostgreSQL; anything
 * else is a file path for the embedded SQLite store. */
static const SrvStoreBackend *
pick_backend(const char *db_path, GError **error)
{
  if (g_str_has_prefix(db_path, "postgresql://") || g_str_has_prefix(db_path, "postgres://")) {
    g_set_error_literal(error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED,
                        "the PostgreSQL store backend is not built into this server");
    return NULL;
  }
  return &srv_store_sqlite_backend;
}

gboolean
srv_store_create(const char *db_path, const char *kek_path, GError **error)
{
  g_return_val_if_fail(db_path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  const SrvStoreBackend *ops = pick_backend(db_path, error);
  if (ops == NULL)
    return FALSE;
  return ops->create(db_path, kek_path, error);
}

SrvStore *
srv_store_open(const char *db_path, const char *kek_path, guint connections, GError **error)
{
  g_return_val_if_fail(db_path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  const SrvStoreBackend *ops = pick_backend(db_path, error);
  if (ops == NULL)
    return NULL;
  gpointer backend = ops->open(db_path, kek_path, MAX(connections, 1u), error);
  if (backend == NULL)
    return NULL;
  SrvStore *store = g_new0(SrvStore, 1);
  store->ops = ops;
  store->backend = backend;
  return store;
}

void
srv_store_close(SrvStore *store)
{
  if (store == NULL)
    return;
  store->ops->close(store->backend);
  g_free(store);
}

/* ---- argument checks shared by every dispatcher ------------------------------ */

#define CHECK_STORE(ret)                                         \
  do {                                                           \
    g_return_val_if_fail(store != NULL, ret);                    \
    g_return_val_if_fail(error == NULL || *error == NULL, ret);  \
  } while (0)

gboolean
srv_store_site_add(SrvStore *store, const char *name, gint64 now, gint64 *out_id, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(name != NULL, FALSE);
  return store->ops->site_add(store->backend, name, now, out_id, error);
}

gboolean
srv_store_site_default(SrvStore *store, gint64 *out_id, char **out_name, GError **error)
{
  CHECK_STORE(FALSE);
  return store->ops->site_default(store->backend, out_id, out_name, error);
}

gboolean
srv_store_account_add(SrvStore *store, const char *username, const char *password_hash, const char *role,
                      gboolean must_change_password, gint64 now, gint64 *out_id, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(username != NULL && password_hash != NULL && role != NULL, FALSE);
  return store->ops->account_add(store->backend, username, password_hash, role, must_change_password, now,
                                 out_id, error);
}

gboolean
srv_store_account_get(SrvStore *store, const char *username, SrvAccount *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(username != NULL && out != NULL, FALSE);
  return store->ops->account_get(store->backend, username, out, error);
}

gboolean
srv_store_account_get_by_id(SrvStore *store, gint64 id, SrvAccount *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(out != NULL, FALSE);
  return store->ops->account_get_by_id(store->backend, id, out, error);
}

gboolean
srv_store_account_set_password(SrvStore *store, gint64 account_id, const char *password_hash, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(password_hash != NULL, FALSE);
  return store->ops->account_set_password(store->backend, account_id, password_hash, error);
}

gboolean
srv_store_session_add(SrvStore *store, const guint8 token_hash[32], gint64 account_id, const char *ip,
                      gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(token_hash != NULL, FALSE);
  return store->ops->session_add(store->backend, token_hash, account_id, ip, now, error);
}

gboolean
srv_store_session_touch(SrvStore *store, const guint8 token_hash[32], gint64 now, gint64 max_age,
                        gint64 max_idle, gint64 *out_account_id, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(token_hash != NULL, FALSE);
  return store->ops->session_touch(store->backend, token_hash, now, max_age, max_idle, out_account_id, error);
}

gboolean
srv_store_session_delete(SrvStore *store, const guint8 token_hash[32], GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(token_hash != NULL, FALSE);
  return store->ops->session_delete(store->backend, token_hash, error);
}

gboolean
srv_store_host_add(SrvStore *store, const SrvHost *host, gint64 now, gint64 *out_id, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(host != NULL && host->name != NULL, FALSE);
  return store->ops->host_add(store->backend, host, now, out_id, error);
}

GArray *
srv_store_host_list(SrvStore *store, gint64 site_id, GError **error)
{
  CHECK_STORE(NULL);
  return store->ops->host_list(store->backend, site_id, error);
}

gboolean
srv_store_host_find(SrvStore *store, gint64 site_id, const char *id_or_name, SrvHost *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(id_or_name != NULL && out != NULL, FALSE);
  return store->ops->host_find(store->backend, site_id, id_or_name, out, error);
}

gboolean
srv_store_ticket_add(SrvStore *store, const SrvTicket *ticket, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(ticket != NULL && ticket->visitor_name != NULL && ticket->text != NULL, FALSE);
  return store->ops->ticket_add(store->backend, ticket, error);
}

gboolean
srv_store_ticket_get(SrvStore *store, const guint8 id[16], SrvTicket *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(id != NULL && out != NULL, FALSE);
  return store->ops->ticket_get(store->backend, id, out, error);
}

gboolean
srv_store_ticket_revoke(SrvStore *store, const guint8 id[16], GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(id != NULL, FALSE);
  return store->ops->ticket_revoke(store->backend, id, error);
}

gboolean
srv_store_signing_key_add(SrvStore *store, guint key_id, const guint8 public_key[32], gint64 now,
                          GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(public_key != NULL, FALSE);
  return store->ops->signing_key_add(store->backend, key_id, public_key, now, error);
}

gboolean
srv_store_enroll_code_add(SrvStore *store, const guint8 token_hash[32], gint64 site_id, const char *name,
                          const char *mode, gint64 now, gint64 expires_at, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(token_hash != NULL && name != NULL && mode != NULL, FALSE);
  return store->ops->enroll_code_add(store->backend, token_hash, site_id, name, mode, now, expires_at, error);
}

gboolean
srv_store_enroll_code_redeem(SrvStore *store, const guint8 token_hash[32], gint64 now, const char *device_id,
                             GBytes *serial, gint64 cert_expires_at, SrvDevice *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(token_hash != NULL && device_id != NULL && serial != NULL, FALSE);
  return store->ops->enroll_code_redeem(store->backend, token_hash, now, device_id, serial, cert_expires_at,
                                        out, error);
}

GArray *
srv_store_device_list(SrvStore *store, gint64 site_id, GError **error)
{
  CHECK_STORE(NULL);
  return store->ops->device_list(store->backend, site_id, error);
}

gboolean
srv_store_device_get(SrvStore *store, const char *device_id, SrvDevice *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL && out != NULL, FALSE);
  return store->ops->device_get(store->backend, device_id, out, error);
}

gboolean
srv_store_device_by_serial(SrvStore *store, GBytes *serial, SrvDevice *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(serial != NULL && out != NULL, FALSE);
  return store->ops->device_by_serial(store->backend, serial, out, error);
}

gboolean
srv_store_device_revoke(SrvStore *store, const char *device_id, gint64 now, SrvDevice *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL, FALSE);
  return store->ops->device_revoke(store->backend, device_id, now, out, error);
}

GPtrArray *
srv_store_revoked_serials(SrvStore *store, GError **error)
{
  CHECK_STORE(NULL);
  return store->ops->revoked_serials(store->backend, error);
}

gboolean
srv_store_device_renew(SrvStore *store, const char *device_id, GBytes *old_serial, GBytes *new_serial,
                       gint64 cert_expires_at, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL && old_serial != NULL && new_serial != NULL, FALSE);
  return store->ops->device_renew(store->backend, device_id, old_serial, new_serial, cert_expires_at, error);
}

gboolean
srv_store_device_settings_set(SrvStore *store, const char *device_id, const char *const *keys,
                              const char *const *values, guint n, gint64 *out_version, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL && (n == 0 || (keys != NULL && values != NULL)), FALSE);
  return store->ops->device_settings_set(store->backend, device_id, keys, values, n, out_version, error);
}

GHashTable *
srv_store_device_settings_get(SrvStore *store, const char *device_id, GError **error)
{
  CHECK_STORE(NULL);
  g_return_val_if_fail(device_id != NULL, NULL);
  return store->ops->device_settings_get(store->backend, device_id, error);
}

gboolean
srv_store_device_config_running(SrvStore *store, const char *device_id, gint64 version, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL, FALSE);
  return store->ops->device_config_running(store->backend, device_id, version, error);
}

gboolean
srv_store_device_seen(SrvStore *store, const char *device_id, gint64 now, gint64 clock_offset_ms,
                      gint64 queue_length, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL, FALSE);
  return store->ops->device_seen(store->backend, device_id, now, clock_offset_ms, queue_length, error);
}

gboolean
srv_store_redeem(SrvStore *store, const char *device_id, gint64 site_id, const guint8 ticket_id[16],
                 const char *event_id, gint64 device_time, gint64 now, SrvRedeemOutcome *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL && ticket_id != NULL && event_id != NULL && out != NULL, FALSE);
  return store->ops->redeem(store->backend, device_id, site_id, ticket_id, event_id, device_time, now, out,
                            error);
}

gboolean
srv_store_events_apply(SrvStore *store, const char *device_id, gint64 site_id, const SrvEvent *events,
                       guint n, gint64 now, SrvEventStatus *statuses, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL, FALSE);
  g_return_val_if_fail(n == 0 || (events != NULL && statuses != NULL), FALSE);
  return store->ops->events_apply(store->backend, device_id, site_id, events, n, now, statuses, NULL, error);
}

gboolean
srv_store_events_apply_full(SrvStore *store, const char *device_id, gint64 site_id, const SrvEvent *events,
                            guint n, gint64 now, SrvEventStatus *statuses, gboolean *notified, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL, FALSE);
  g_return_val_if_fail(n == 0 || (events != NULL && statuses != NULL && notified != NULL), FALSE);
  return store->ops->events_apply(store->backend, device_id, site_id, events, n, now, statuses, notified, error);
}

GArray *
srv_store_checkin_list(SrvStore *store, gint64 site_id, guint limit, GError **error)
{
  CHECK_STORE(NULL);
  return store->ops->checkin_list(store->backend, site_id, limit, error);
}

GArray *
srv_store_alert_list(SrvStore *store, gint64 site_id, GError **error)
{
  CHECK_STORE(NULL);
  return store->ops->alert_list(store->backend, site_id, error);
}

gboolean
srv_store_redeem_code(SrvStore *store, const char *device_id, gint64 site_id, const guint8 code_hash[32],
                      const char *event_id, gint64 device_time, gint64 now, guint max_wrong, gint64 window_s,
                      SrvCodeOutcome *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(device_id != NULL && code_hash != NULL && event_id != NULL && out != NULL, FALSE);
  g_return_val_if_fail(max_wrong > 0 && window_s > 0, FALSE);
  return store->ops->redeem_code(store->backend, device_id, site_id, code_hash, event_id, device_time, now,
                                 max_wrong, window_s, out, error);
}

GArray *
srv_store_visit_list(SrvStore *store, gint64 site_id, gboolean present_only, guint limit, GError **error)
{
  CHECK_STORE(NULL);
  return store->ops->visit_list(store->backend, site_id, present_only, limit, error);
}

gboolean
srv_store_visit_photo(SrvStore *store, gint64 site_id, const char *visit_id, GBytes **out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(visit_id != NULL && out != NULL, FALSE);
  *out = NULL;
  return store->ops->visit_photo(store->backend, site_id, visit_id, out, error);
}

GArray *
srv_store_changes_since(SrvStore *store, gint64 site_id, gint64 cursor, guint limit, gboolean *out_more,
                        GError **error)
{
  CHECK_STORE(NULL);
  return store->ops->changes_since(store->backend, site_id, cursor, limit, out_more, error);
}

/* ---- clear helpers: free the members, leave the struct zeroed (safe twice) ---- */

void
srv_account_clear(SrvAccount *account)
{
  if (account == NULL)
    return;
  g_free(account->username);
  /* The hash is not a secret key, but there is no reason to leave it in freed memory. */
  if (account->password_hash != NULL)
    memset(account->password_hash, 0, strlen(account->password_hash));
  g_free(account->password_hash);
  g_free(account->role);
  memset(account, 0, sizeof *account);
}

void
srv_host_clear(SrvHost *host)
{
  if (host == NULL)
    return;
  g_free(host->name);
  g_free(host->reading);
  g_free(host->email);
  g_free(host->department);
  memset(host, 0, sizeof *host);
}

void
srv_ticket_clear(SrvTicket *ticket)
{
  if (ticket == NULL)
    return;
  g_free(ticket->visitor_name);
  g_free(ticket->company);
  g_free(ticket->text);
  g_free(ticket->purpose);
  g_free(ticket->labels);
  memset(ticket, 0, sizeof *ticket);
}

void
srv_device_clear(SrvDevice *device)
{
  if (device == NULL)
    return;
  g_free(device->id);
  g_free(device->name);
  g_free(device->mode);
  g_clear_pointer(&device->serial, g_bytes_unref);
  memset(device, 0, sizeof *device);
}

void
srv_redeem_outcome_clear(SrvRedeemOutcome *outcome)
{
  if (outcome == NULL)
    return;
  g_free(outcome->used_by_device);
  g_free(outcome->used_by_name);
  memset(outcome, 0, sizeof *outcome);
}

void
srv_event_clear(SrvEvent *event)
{
  if (event == NULL)
    return;
  g_free(event->id);
  g_free(event->reason);
  g_free(event->visit_id);
  g_free(event->visitor_name);
  g_free(event->company);
  g_free(event->purpose);
  g_clear_pointer(&event->photo, g_bytes_unref);
  memset(event, 0, sizeof *event);
}

void
srv_checkin_clear(SrvCheckin *checkin)
{
  if (checkin == NULL)
    return;
  g_free(checkin->id);
  g_free(checkin->device_id);
  g_free(checkin->visitor_name);
  memset(checkin, 0, sizeof *checkin);
}

void
srv_alert_clear(SrvAlert *alert)
{
  if (alert == NULL)
    return;
  g_free(alert->kind);
  g_free(alert->event_id);
  g_free(alert->first_event_id);
  g_free(alert->device_id);
  g_free(alert->first_device_id);
  memset(alert, 0, sizeof *alert);
}

void
srv_code_outcome_clear(SrvCodeOutcome *outcome)
{
  if (outcome == NULL)
    return;
  srv_redeem_outcome_clear(&outcome->redeem);
  g_free(outcome->visit_id);
  g_free(outcome->visitor_name);
  g_free(outcome->company);
  g_free(outcome->host_name);
  memset(outcome, 0, sizeof *outcome);
}

void
srv_visit_clear(SrvVisit *visit)
{
  if (visit == NULL)
    return;
  g_free(visit->id);
  g_free(visit->kind);
  g_free(visit->device_id);
  g_free(visit->visitor_name);
  g_free(visit->company);
  g_free(visit->purpose);
  g_free(visit->host_name);
  g_free(visit->labels);
  memset(visit, 0, sizeof *visit);
}

void
srv_change_clear(SrvChange *change)
{
  if (change == NULL)
    return;
  g_free(change->json);
  memset(change, 0, sizeof *change);
}
