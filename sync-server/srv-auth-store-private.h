/* Sign-in's part of a store backend (a member of SrvStoreBackend). */
#pragma once
#include "srv-auth-store.h"

G_BEGIN_DECLS

/* One entry per function of srv-auth-store.h, with the backend's handle in
 * place of the SrvStore; srv-auth-store.c has checked the arguments. */
typedef struct SrvAuthBackend {
  gboolean (*account_get)(gpointer backend, const char *username, gint64 id, SrvAuthAccount *out, GError **error);
  GArray *(*account_list)(gpointer backend, gint64 site_id, GError **error);
  gboolean (*account_create)(gpointer backend, const char *username, const char *password_hash, const char *role,
                             const gint64 *sites, guint n_sites, gint64 now, gint64 *out_id, GError **error);
  gboolean (*account_set_role)(gpointer backend, gint64 id, const char *role, const gint64 *sites, guint n_sites,
                               GError **error);
  gboolean (*account_set_disabled)(gpointer backend, gint64 id, gboolean disabled, gint64 now, GError **error);
  gboolean (*account_reset_password)(gpointer backend, gint64 id, const char *password_hash, GError **error);
  gboolean (*session_add)(gpointer backend, const guint8 token_hash[32], gint64 account_id, const char *ip,
                          gint64 now, gboolean second_factor, GError **error);
  gboolean (*session_check)(gpointer backend, const guint8 token_hash[32], gint64 now, gint64 max_age,
                            gint64 max_idle, gint64 *out_account_id, gboolean *out_second_factor, GError **error);
  gboolean (*failure_add)(gpointer backend, gint64 account_id, const char *ip, gint64 now, GError **error);
  gboolean (*failures)(gpointer backend, gint64 account_id, const char *ip, gint64 now, gint64 window_s,
                       SrvAuthFailures *out, GError **error);
  gboolean (*login_succeeded)(gpointer backend, gint64 account_id, gint64 now, GError **error);
  gboolean (*totp_begin)(gpointer backend, gint64 account_id, const guint8 *secret, GError **error);
  gboolean (*totp_confirm)(gpointer backend, gint64 account_id, gint64 step, const guint8 (*recovery)[32], guint n,
                           GError **error);
  gboolean (*totp_use_step)(gpointer backend, gint64 account_id, gint64 step, GError **error);
  gboolean (*recovery_use)(gpointer backend, gint64 account_id, const guint8 *hash, gint64 now, GError **error);
  gboolean (*totp_reset)(gpointer backend, gint64 account_id, GError **error);
  GPtrArray *(*allow_list)(gpointer backend, SrvAuthAllowScope scope, gint64 id, GError **error);
  gboolean (*allow_list_set)(gpointer backend, SrvAuthAllowScope scope, gint64 id, const char *const *cidrs,
                             guint n, GError **error);
  GArray *(*site_list)(gpointer backend, GError **error);
} SrvAuthBackend;

/* srv-auth-sqlite.c */
extern const SrvAuthBackend srv_auth_sqlite_backend;

G_END_DECLS
