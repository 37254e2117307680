/* The outbox's public face: argument checks at the API boundary, dispatch to the
 * store's backend, and the *_clear helpers. */
#include "srv-outbox-private.h"

#include <sodium.h>
#include <string.h>

#include "srv-store-private.h"

#define CHECK_STORE(ret)                                                         \
  do {                                                                           \
    g_return_val_if_fail(store != NULL && store->ops->outbox != NULL, ret);      \
    g_return_val_if_fail(error == NULL || *error == NULL, ret);                  \
  } while (0)

#define OPS (store->ops->outbox)

gboolean
srv_outbox_setting_set(SrvStore *store, const SrvNotifySetting *setting, const char *secret, gint64 now,
                       GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(setting != NULL && setting->scope != NULL && setting->channel != NULL, FALSE);
  return OPS->setting_set(store->backend, setting, secret, now, error);
}

GArray *
srv_outbox_setting_list(SrvStore *store, gint64 site_id, GError **error)
{
  CHECK_STORE(NULL);
  return OPS->setting_list(store->backend, site_id, error);
}

GArray *
srv_outbox_claim(SrvStore *store, gint64 now, gint64 lease_s, guint max, GError **error)
{
  CHECK_STORE(NULL);
  g_return_val_if_fail(max > 0 && lease_s > 0, NULL);
  return OPS->claim(store->backend, now, lease_s, max, error);
}

gboolean
srv_outbox_delivered(SrvStore *store, const char *id, gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(id != NULL, FALSE);
  return OPS->delivered(store->backend, id, now, error);
}

gboolean
srv_outbox_reschedule(SrvStore *store, const char *id, gint64 next_at, const char *error_text, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(id != NULL, FALSE);
  return OPS->reschedule(store->backend, id, next_at, error_text, error);
}

gboolean
srv_outbox_fail(SrvStore *store, const char *id, gint64 now, const char *error_text, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(id != NULL, FALSE);
  return OPS->fail(store->backend, id, now, error_text, error);
}

gboolean
srv_outbox_retry(SrvStore *store, gint64 site_id, const char *id, gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(id != NULL, FALSE);
  return OPS->retry(store->backend, site_id, id, now, error);
}

GArray *
srv_outbox_list(SrvStore *store, gint64 site_id, gboolean failed_only, guint limit, GError **error)
{
  CHECK_STORE(NULL);
  return OPS->list(store->backend, site_id, failed_only, limit, error);
}

gboolean
srv_outbox_queue_offline(SrvStore *store, gint64 now, guint *out_queued, GError **error)
{
  CHECK_STORE(FALSE);
  return OPS->queue_offline(store->backend, now, out_queued, error);
}

gboolean
srv_outbox_purge(SrvStore *store, gint64 before, guint *out_deleted, GError **error)
{
  CHECK_STORE(FALSE);
  return OPS->purge(store->backend, before, out_deleted, error);
}

void
srv_notify_setting_clear(SrvNotifySetting *setting)
{
  if (setting == NULL)
    return;
  g_free(setting->scope);
  g_free(setting->host_name);
  g_free(setting->channel);
  g_free(setting->target);
  g_free(setting->language);
  memset(setting, 0, sizeof *setting);
}

void
srv_notification_clear(SrvNotification *n)
{
  if (n == NULL)
    return;
  g_free(n->id);
  g_free(n->kind);
  g_free(n->recipient);
  g_free(n->channel);
  g_free(n->target);
  g_free(n->language);
  if (n->secret != NULL)
    sodium_memzero(n->secret, strlen(n->secret));
  g_free(n->secret);
  if (n->visitor_secrets != NULL)
    sodium_memzero(n->visitor_secrets, strlen(n->visitor_secrets));
  g_free(n->visitor_secrets);
  g_free(n->facts);
  g_free(n->status);
  g_free(n->last_error);
  memset(n, 0, sizeof *n);
}

char *
srv_outbox_new_id(void)
{
  guint8 raw[16];
  randombytes_buf(raw, sizeof raw);
  char hex[2 * sizeof raw + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return g_strconcat("ntf-", hex, NULL);
}
