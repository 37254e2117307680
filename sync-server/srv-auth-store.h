/* What sign-in keeps in the master store: accounts with their sites, sessions
 * with their second-factor state, failed attempts for the rate limits, TOTP
 * secrets and recovery codes, and IP allow-lists. Errors are SRV_STORE_ERROR. */
#pragma once
#include <glib.h>

#include "srv-store.h"

#define SRV_AUTH_TOTP_SECRET_LEN 20

typedef struct {
  gint64 id;
  char *username;
  char *password_hash;          /* Argon2id encoded string */
  char *role;                   /* owner | admin | receptionist | security | auditor */
  gboolean must_change_password;
  gint64 created_at;
  gint64 disabled_at;           /* 0: active */
  gint64 last_login_at;         /* 0: never */
  gboolean totp_enrolled;
  gint64 totp_last_step;        /* step of the last accepted code */
  guint8 totp_secret[SRV_AUTH_TOTP_SECRET_LEN];  /* valid when totp_enrolled */
  gboolean totp_pending;        /* enrollment begun, not confirmed */
  guint8 totp_pending_secret[SRV_AUTH_TOTP_SECRET_LEN];
  guint recovery_left;          /* unused recovery codes */
  GArray *sites;                /* gint64 site ids, ascending; owners: empty (every site) */
  gboolean may_export;          /* accounts.may_export (srv-export.c: owners always may) */
} SrvAuthAccount;
/* Frees and zeroes the secrets. */
void srv_auth_store_account_clear(SrvAuthAccount *account);

gboolean srv_auth_store_account_by_name(SrvStore *store, const char *username, SrvAuthAccount *out, GError **error);
gboolean srv_auth_store_account_by_id(SrvStore *store, gint64 id, SrvAuthAccount *out, GError **error);
/* Accounts that may act on @site_id (its own and every owner), or all with
 * @site_id 0; by user name. A GArray of SrvAuthAccount (clear func set). */
GArray *srv_auth_store_account_list(SrvStore *store, gint64 site_id, GError **error);
/* A new account that must change its password at first sign-in; @sites (n)
 * must exist (NOT_FOUND) and must be given unless the role is owner. */
gboolean srv_auth_store_account_create(SrvStore *store, const char *username, const char *password_hash,
                                       const char *role, const gint64 *sites, guint n_sites, gint64 now,
                                       gint64 *out_id, GError **error);
/* Sets the role and replaces the sites (n 0 keeps them). INVALID when it would
 * leave no active owner. */
gboolean srv_auth_store_account_set_role(SrvStore *store, gint64 id, const char *role, const gint64 *sites,
                                         guint n_sites, GError **error);
/* Disabling ends every session; INVALID for the last active owner. */
gboolean srv_auth_store_account_set_disabled(SrvStore *store, gint64 id, gboolean disabled, gint64 now,
                                             GError **error);
/* A password set by someone else: must be changed at next sign-in; ends every
 * session and forgets the failed attempts (an admin's reset unlocks). */
gboolean srv_auth_store_account_reset_password(SrvStore *store, gint64 id, const char *password_hash,
                                               GError **error);

/* ---- sessions (the token's SHA-256 only) --------------------------------------------- */

gboolean srv_auth_store_session_add(SrvStore *store, const guint8 token_hash[32], gint64 account_id,
                                    const char *ip, gint64 now, gboolean second_factor, GError **error);
/* A live session (age < @max_age, idle < @max_idle): refreshes it and gives its
 * account and whether a second factor was shown. NOT_FOUND when missing or
 * expired (an expired one is deleted). */
gboolean srv_auth_store_session_check(SrvStore *store, const guint8 token_hash[32], gint64 now, gint64 max_age,
                                      gint64 max_idle, gint64 *out_account_id, gboolean *out_second_factor,
                                      GError **error);

/* ---- failed sign-ins ------------------------------------------------------------------- */

typedef struct {
  guint account_window;     /* failures of the account within the window */
  guint account_since_ok;   /* of those, since its last successful sign-in */
  gint64 account_last_at;   /* latest failure of the account in the window, 0: none */
  gint64 account_oldest_at; /* earliest one in the window, 0: none */
  guint ip_window;          /* failures from the address within the window */
  gint64 ip_last_at;
  gint64 ip_oldest_at;
} SrvAuthFailures;

/* Records a failed attempt (@account_id 0: no such account) and forgets those
 * older than a day. */
gboolean srv_auth_store_failure_add(SrvStore *store, gint64 account_id, const char *ip, gint64 now, GError **error);
gboolean srv_auth_store_failures(SrvStore *store, gint64 account_id, const char *ip, gint64 now, gint64 window_s,
                                 SrvAuthFailures *out, GError **error);
gboolean srv_auth_store_login_succeeded(SrvStore *store, gint64 account_id, gint64 now, GError **error);

/* ---- TOTP ---------------------------------------------------------------------------------- */

/* Keeps @secret as the pending one (replacing an earlier pending one); EXISTS
 * when the account is enrolled already. */
gboolean srv_auth_store_totp_begin(SrvStore *store, gint64 account_id, const guint8 secret[SRV_AUTH_TOTP_SECRET_LEN],
                                   GError **error);
/* Makes the pending secret the account's, with @step as its last used step and
 * the @n recovery code hashes replacing any earlier ones; NOT_FOUND when
 * nothing is pending. */
gboolean srv_auth_store_totp_confirm(SrvStore *store, gint64 account_id, gint64 step, const guint8 (*recovery)[32],
                                     guint n, GError **error);
/* Spends @step in one conditional update: USED when that step or a later one
 * was accepted before (a replayed code, or two requests racing). */
gboolean srv_auth_store_totp_use_step(SrvStore *store, gint64 account_id, gint64 step, GError **error);
/* Spends a recovery code: USED when spent before, NOT_FOUND when unknown. */
gboolean srv_auth_store_recovery_use(SrvStore *store, gint64 account_id, const guint8 hash[32], gint64 now,
                                     GError **error);
/* Removes the secret (and a pending one) and the recovery codes, and ends
 * every session: the account enrolls again. */
gboolean srv_auth_store_totp_reset(SrvStore *store, gint64 account_id, GError **error);

/* ---- IP allow-lists (canonical CIDR texts) ----------------------------------------------------- */

typedef enum {
  SRV_AUTH_ALLOW_SITE,
  SRV_AUTH_ALLOW_ACCOUNT,
} SrvAuthAllowScope;

/* The list of one site or account (g_ptr_array_unref); empty: no restriction. */
GPtrArray *srv_auth_store_allow_list(SrvStore *store, SrvAuthAllowScope scope, gint64 id, GError **error);
/* Replaces the list in one transaction; NOT_FOUND when the site/account does not exist. */
gboolean srv_auth_store_allow_list_set(SrvStore *store, SrvAuthAllowScope scope, gint64 id,
                                       const char *const *cidrs, guint n, GError **error);

/* ---- sites ---------------------------------------------------------------------------------------- */

typedef struct {
  gint64 id;
  char *name;
  gint64 created_at;
} SrvAuthSite;
void srv_auth_store_site_clear(SrvAuthSite *site);
/* Every site by id; a GArray of SrvAuthSite (clear func set). */
GArray *srv_auth_store_site_list(SrvStore *store, GError **error);
