/* Sign-in on the admin port: passwords (policy, common-password list, Argon2id
 * with a cap on concurrent hashes), rate limits and lockout, TOTP second
 * factor with recovery codes, sessions, the site a request acts on, and IP
 * allow-lists. srv-admin-api.c calls in here before any route runs. */
#pragma once
#include <glib.h>

#include "srv-api.h"
#include "srv-app-private.h"
#include "srv-auth-store.h"

/* The header a request names its site with (decimal id); without it an owner
 * acts on the first site and anyone else on the lowest of their sites. */
#define SRV_AUTH_SITE_HEADER "X-Genkan-Site"
/* Accounts a user name may name: 1-64 of [A-Za-z0-9._@-]. */
#define SRV_AUTH_USERNAME_MAX 64

/* Who is asking, as far as the routes care. */
typedef struct {
  SrvAuthAccount account;
  guint8 session_hash[32];
  gint64 site_id;          /* the site this request acts on (in the account's scope) */
  gboolean second_factor;  /* the session showed a TOTP or recovery code */
  gboolean enroll_only;    /* owner/admin without a second factor: only /v1/account routes */
  SrvApp *server;          /* the application itself: route handlers get a per-site view */
} SrvAuthContext;
void srv_auth_context_clear(SrvAuthContext *ctx);

/* POST /v1/login (docs/protocol.md, "Sign-in"). */
void srv_auth_handle_login(SrvApp *app, const SrvRequest *request, SrvResponse *response);

/* Checks the bearer token and everything around it: a live session of an
 * active account, the site (SRV_AUTH_SITE_HEADER) within the account's scope,
 * the site's and the account's allow-lists. FALSE with @response filled in
 * (401, 403, 400) and the refusal audited; TRUE with @ctx filled. */
gboolean srv_auth_request(SrvApp *app, const SrvRequest *request, SrvResponse *response, SrvAuthContext *ctx);

/* The routes of the signed-in account itself, reachable also while
 * ctx->enroll_only: GET /v1/account, POST /v1/account/totp/enroll and
 * /v1/account/totp/confirm. TRUE when @seg named one of them (answered). */
gboolean srv_auth_dispatch_self(SrvApp *app, char **seg, const SrvRequest *request, SrvAuthContext *ctx,
                                SrvResponse *response);

/* TRUE when @role must sign in with a second factor (owner, admin). */
gboolean srv_auth_role_needs_totp(const char *role);
/* TRUE when @role names one of the five roles. */
gboolean srv_auth_role_known(const char *role);
/* TRUE when the account may act on @site_id (owners: any existing site). */
gboolean srv_auth_account_has_site(const SrvAuthAccount *account, gint64 site_id);
/* User names: 1-SRV_AUTH_USERNAME_MAX of [A-Za-z0-9._@-]. */
gboolean srv_auth_username_ok(const char *username);

/* The password policy (gk_password_check_policy), not on the common-password
 * list (assets/common-passwords.txt, compared case-insensitively) and not the
 * user name. GK_PASSWORD_ERROR_POLICY with the reason. */
gboolean srv_auth_password_acceptable(const char *password, const char *username, GError **error);
/* Argon2id hash, at most two at once on the server (each takes 19 MiB and
 * tens of milliseconds on a worker that gates share). */
char *srv_auth_password_hash(const char *password, GError **error);
/* A new one-time password (for a new account or a reset) and its hash. */
char *srv_auth_one_time_password(char **out_hash, GError **error);

/* TRUE when @ip lies in one of @list's ranges (CIDR texts), or @list is empty
 * (no restriction). */
gboolean srv_auth_ip_allowed(GPtrArray *list, const char *ip);
/* Checks the [auth] settings the config parser cannot (auth.admin-allow holds
 * CIDR ranges), so a typo stops the start instead of locking admins out. */
gboolean srv_auth_check_config(GkConfig *config, GError **error);
