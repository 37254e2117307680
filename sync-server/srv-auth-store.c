/* Sign-in's store functions: argument checks at the API boundary, dispatch to
 * the store's backend, and the *_clear helpers. */
#include "srv-auth-store-private.h"

#include <sodium.h>
#include <string.h>

#include "srv-store-private.h"

#define CHECK_STORE(ret)                                                     \
  do {                                                                       \
    g_return_val_if_fail(store != NULL && store->ops->auth != NULL, ret);    \
    g_return_val_if_fail(error == NULL || *error == NULL, ret);              \
  } while (0)

#define OPS (store->ops->auth)

void
srv_auth_store_account_clear(SrvAuthAccount *a)
{
  if (a == NULL)
    return;
  g_free(a->username);
  if (a->password_hash != NULL)
    sodium_memzero(a->password_hash, strlen(a->password_hash));
  g_free(a->password_hash);
  g_free(a->role);
  if (a->sites != NULL)
    g_array_unref(a->sites);
  sodium_memzero(a, sizeof *a);
}

void
srv_auth_store_site_clear(SrvAuthSite *site)
{
  if (site == NULL)
    return;
  g_clear_pointer(&site->name, g_free);
}

gboolean
srv_auth_store_account_by_name(SrvStore *store, const char *username, SrvAuthAccount *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(username != NULL && out != NULL, FALSE);
  return OPS->account_get(store->backend, username, 0, out, error);
}

gboolean
srv_auth_store_account_by_id(SrvStore *store, gint64 id, SrvAuthAccount *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(out != NULL, FALSE);
  return OPS->account_get(store->backend, NULL, id, out, error);
}

GArray *
srv_auth_store_account_list(SrvStore *store, gint64 site_id, GError **error)
{
  CHECK_STORE(NULL);
  return OPS->account_list(store->backend, site_id, error);
}

gboolean
srv_auth_store_account_create(SrvStore *store, const char *username, const char *password_hash, const char *role,
                              const gint64 *sites, guint n_sites, gint64 now, gint64 *out_id, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(username != NULL && password_hash != NULL && role != NULL, FALSE);
  g_return_val_if_fail(n_sites == 0 || sites != NULL, FALSE);
  return OPS->account_create(store->backend, username, password_hash, role, sites, n_sites, now, out_id, error);
}

gboolean
srv_auth_store_account_set_role(SrvStore *store, gint64 id, const char *role, const gint64 *sites, guint n_sites,
                                GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(role != NULL && (n_sites == 0 || sites != NULL), FALSE);
  return OPS->account_set_role(store->backend, id, role, sites, n_sites, error);
}

gboolean
srv_auth_store_account_set_disabled(SrvStore *store, gint64 id, gboolean disabled, gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  return OPS->account_set_disabled(store->backend, id, disabled, now, error);
}

gboolean
srv_auth_store_account_reset_password(SrvStore *store, gint64 id, const char *password_hash, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(password_hash != NULL, FALSE);
  return OPS->account_reset_password(store->backend, id, password_hash, error);
}

gboolean
srv_auth_store_session_add(SrvStore *store, const guint8 token_hash[32], gint64 account_id, const char *ip,
                           gint64 now, gboolean second_factor, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(token_hash != NULL, FALSE);
  return OPS->session_add(store->backend, token_hash, account_id, ip, now, second_factor, error);
}

gboolean
srv_auth_store_session_check(SrvStore *store, const guint8 token_hash[32], gint64 now, gint64 max_age,
                             gint64 max_idle, gint64 *out_account_id, gboolean *out_second_factor, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(token_hash != NULL && out_account_id != NULL && out_second_factor != NULL, FALSE);
  return OPS->session_check(store->backend, token_hash, now, max_age, max_idle, out_account_id, out_second_factor,
                            error);
}

gboolean
srv_auth_store_failure_add(SrvStore *store, gint64 account_id, const char *ip, gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(ip != NULL, FALSE);
  return OPS->failure_add(store->backend, account_id, ip, now, error);
}

gboolean
srv_auth_store_failures(SrvStore *store, gint64 account_id, const char *ip, gint64 now, gint64 window_s,
                        SrvAuthFailures *out, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(ip != NULL && out != NULL && window_s > 0, FALSE);
  return OPS->failures(store->backend, account_id, ip, now, window_s, out, error);
}

gboolean
srv_auth_store_login_succeeded(SrvStore *store, gint64 account_id, gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  return OPS->login_succeeded(store->backend, account_id, now, error);
}

gboolean
srv_auth_store_totp_begin(SrvStore *store, gint64 account_id, const guint8 secret[SRV_AUTH_TOTP_SECRET_LEN],
                          GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(secret != NULL, FALSE);
  return OPS->totp_begin(store->backend, account_id, secret, error);
}

gboolean
srv_auth_store_totp_confirm(SrvStore *store, gint64 account_id, gint64 step, const guint8 (*recovery)[32], guint n,
                            GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(n == 0 || recovery != NULL, FALSE);
  return OPS->totp_confirm(store->backend, account_id, step, recovery, n, error);
}

gboolean
srv_auth_store_totp_use_step(SrvStore *store, gint64 account_id, gint64 step, GError **error)
{
  CHECK_STORE(FALSE);
  return OPS->totp_use_step(store->backend, account_id, step, error);
}

gboolean
srv_auth_store_recovery_use(SrvStore *store, gint64 account_id, const guint8 hash[32], gint64 now, GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(hash != NULL, FALSE);
  return OPS->recovery_use(store->backend, account_id, hash, now, error);
}

gboolean
srv_auth_store_totp_reset(SrvStore *store, gint64 account_id, GError **error)
{
  CHECK_STORE(FALSE);
  return OPS->totp_reset(store->backend, account_id, error);
}

GPtrArray *
srv_auth_store_allow_list(SrvStore *store, SrvAuthAllowScope scope, gint64 id, GError **error)
{
  CHECK_STORE(NULL);
  return OPS->allow_list(store->backend, scope, id, error);
}

gboolean
srv_auth_store_allow_list_set(SrvStore *store, SrvAuthAllowScope scope, gint64 id, const char *const *cidrs, guint n,
                              GError **error)
{
  CHECK_STORE(FALSE);
  g_return_val_if_fail(n == 0 || cidrs != NULL, FALSE);
  return OPS->allow_list_set(store->backend, scope, id, cidrs, n, error);
}

GArray *
srv_auth_store_site_list(SrvStore *store, GError **error)
{
  CHECK_STORE(NULL);
  return OPS->site_list(store->backend, error);
}
