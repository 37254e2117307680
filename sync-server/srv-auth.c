/* Sign-in and request authentication for the admin port: password checks,
 * rate limits and lockout, TOTP, sessions, site scope and allow-lists
 * (docs/protocol.md, "Sign-in", "Accounts and sites"). */
#include "srv-auth.h"

#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-password.h"
#include "srv-app.h"
#include "srv-audit.h"
#include "srv-cidr.h"
#include "srv-totp.h"

#define SESSION_TOKEN_BYTES 32
#define FAILURE_WINDOW_S 3600
/* Delays double with each failure past the free ones; 2^12 s is past any cap. */
#define MAX_DELAY_SHIFT 12

/* The list in assets/common-passwords.txt, compiled in by sync-server/CMakeLists.txt. */
extern const char srv_auth_common_passwords[];
extern const gsize srv_auth_common_passwords_len;

void
srv_auth_context_clear(SrvAuthContext *ctx)
{
  if (ctx == NULL)
    return;
  srv_auth_store_account_clear(&ctx->account);
  sodium_memzero(ctx, sizeof *ctx);
}

/* ---- roles, names, sites ------------------------------------------------------------ */

gboolean
srv_auth_role_needs_totp(const char *role)
{
  return g_strcmp0(role, "owner") == 0 || g_strcmp0(role, "admin") == 0;
}

gboolean
srv_auth_role_known(const char *role)
{
  static const char *const roles[] = { "owner", "admin", "receptionist", "security", "auditor", NULL };
  return role != NULL && g_strv_contains(roles, role);
}

gboolean
srv_auth_account_has_site(const SrvAuthAccount *account, gint64 site_id)
{
  if (strcmp(account->role, "owner") == 0)
    return site_id > 0;
  for (guint i = 0; account->sites != NULL && i < account->sites->len; i++)
    if (g_array_index(account->sites, gint64, i) == site_id)
      return TRUE;
  return FALSE;
}

gboolean
srv_auth_username_ok(const char *username)
{
  gsize n = username != NULL ? strlen(username) : 0;
  if (n == 0 || n > SRV_AUTH_USERNAME_MAX)
    return FALSE;
  for (const char *p = username; *p; p++)
    if (!g_ascii_isalnum(*p) && strchr("._@-", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* ---- passwords -------------------------------------------------------------------------- */

/* Each Argon2id run takes 19 MiB and tens of milliseconds on a worker that
 * device requests share; at most this many run at once, so a burst of sign-in
 * attempts cannot starve the gates. */
#define MAX_CONCURRENT_HASHES 2
static GMutex hash_lock;
static GCond hash_cond;
static guint hashes_running;

static void
hash_slot_take(void)
{
  g_mutex_lock(&hash_lock);
  while (hashes_running >= MAX_CONCURRENT_HASHES)
    g_cond_wait(&hash_cond, &hash_lock);
  hashes_running++;
  g_mutex_unlock(&hash_lock);
}

static void
hash_slot_give(void)
{
  g_mutex_lock(&hash_lock);
  hashes_running--;
  g_cond_signal(&hash_cond);
  g_mutex_unlock(&hash_lock);
}

char *
srv_auth_password_hash(const char *password, GError **error)
{
  hash_slot_take();
  char *hash = gk_password_hash(password, error);
  hash_slot_give();
  return hash;
}

static gboolean
password_verify(const char *hash, const char *password)
{
  hash_slot_take();
  gboolean ok = gk_password_verify(hash, password);
  hash_slot_give();
  return ok;
}

/* Verifying against a fixed hash when the account does not exist keeps the
 * answer time the same, so the time does not tell which names exist. */
static const char *
dummy_hash(void)
{
  static gsize once;
  static char *hash;
  if (g_once_init_enter(&once)) {
    hash = gk_password_hash("not-a-real-password-9X!", NULL);
    g_once_init_leave(&once, 1);
  }
  return hash;
}

/* The compiled-in list as a set of lower-case lines, built on first use. */
static GHashTable *
common_passwords(void)
{
  static gsize once;
  static GHashTable *set;
  if (g_once_init_enter(&once)) {
    GHashTable *s = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *text = g_strndup(srv_auth_common_passwords, srv_auth_common_passwords_len);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
      g_strstrip(lines[i]);
      if (lines[i][0] != '\0' && lines[i][0] != '#')
        g_hash_table_add(s, g_ascii_strdown(lines[i], -1));
    }
    set = s;
    g_once_init_leave(&once, 1);
  }
  return set;
}

gboolean
srv_auth_password_acceptable(const char *password, const char *username, GError **error)
{
  if (!gk_password_check_policy(password, error))
    return FALSE;
  g_autofree char *lower = g_ascii_strdown(password, -1);
  gboolean common = g_hash_table_contains(common_passwords(), lower);
  sodium_memzero(lower, strlen(lower));
  if (common) {
    g_set_error_literal(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_POLICY,
                        "this password is on the list of common passwords: choose another");
    return FALSE;
  }
  if (username != NULL && g_ascii_strcasecmp(password, username) == 0) {
    g_set_error_literal(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_POLICY,
                        "the password must not be the user name");
    return FALSE;
  }
  return TRUE;
}

char *
srv_auth_one_time_password(char **out_hash, GError **error)
{
  char *password = gk_password_generate(20);
  *out_hash = srv_auth_password_hash(password, error);
  if (*out_hash == NULL) {
    sodium_memzero(password, strlen(password));
    g_free(password);
    return NULL;
  }
  return password;
}

/* ---- small helpers ---------------------------------------------------------------------- */

static void
token_hash(const char *token, guint8 out[32])
{
  crypto_hash_sha256(out, (const guint8 *) token, strlen(token));
}

/* A refusal this module answers itself: audited (the router then writes no
 * generic entry; the actor is the account once known, never a name as typed:
 * it may be a password), logged, answered. */
static void
refuse(SrvApp *app, SrvResponse *response, const char *action, const char *target, guint status, const char *code,
       const char *message)
{
  SrvAuditEntry entry = {
    .action = action,
    .result = SRV_AUDIT_REFUSED,
    .reason = code,
    .target = target,
  };
  srv_audit_record(app, &entry);
  GK_LOG_WARN(action, GK_STR("reason", code), GK_STR("target", target != NULL ? target : "-"));
  srv_response_set_error(response, status, code, message);
}

static void
set_retry_after(SrvResponse *response, gint64 seconds)
{
  g_strfreev(response->extra_headers);
  response->extra_headers = g_new0(char *, 3);
  response->extra_headers[0] = g_strdup("Retry-After");
  response->extra_headers[1] = g_strdup_printf("%" G_GINT64_FORMAT, MAX(seconds, 1));
}

/* ---- allow-lists -------------------------------------------------------------------------- */

gboolean
srv_auth_ip_allowed(GPtrArray *list, const char *ip)
{
  if (list == NULL || list->len == 0)
    return TRUE;
  SrvCidr peer;
  if (!srv_ip_parse(ip, &peer))
    return FALSE;
  for (guint i = 0; i < list->len; i++) {
    SrvCidr range;
    if (srv_cidr_parse(list->pdata[i], &range, NULL) && srv_cidr_contains(&range, &peer))
      return TRUE;
  }
  return FALSE;
}

/* The ranges of auth.admin-allow (g_free'd strings; empty: none given). */
static GPtrArray *
config_allow_list(GkConfig *config)
{
  const char *text = gk_config_get_string(config, "auth.admin-allow");
  GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
  g_auto(GStrv) parts = g_strsplit(text != NULL ? text : "", ",", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    g_strstrip(parts[i]);
    if (parts[i][0] != '\0')
      g_ptr_array_add(list, g_strdup(parts[i]));
  }
  return list;
}

gboolean
srv_auth_check_config(GkConfig *config, GError **error)
{
  g_autoptr(GPtrArray) list = config_allow_list(config);
  if (list->len > SRV_CIDR_LIST_MAX) {
    g_set_error(error, SRV_CIDR_ERROR, SRV_CIDR_ERROR_SYNTAX, "auth.admin-allow: at most %d ranges",
                SRV_CIDR_LIST_MAX);
    return FALSE;
  }
  for (guint i = 0; i < list->len; i++) {
    SrvCidr range;
    if (!srv_cidr_parse(list->pdata[i], &range, error)) {
      g_prefix_error(error, "auth.admin-allow: '%s': ", (const char *) list->pdata[i]);
      return FALSE;
    }
  }
  return TRUE;
}

/* The server-wide list of the config (auth.admin-allow, checked at start). */
static gboolean
global_allowed(SrvApp *app, const char *ip)
{
  g_autoptr(GPtrArray) list = config_allow_list(app->config);
  return srv_auth_ip_allowed(list, ip);
}

static gboolean
scope_allowed(SrvApp *app, SrvAuthAllowScope scope, gint64 id, const char *ip, GError **error)
{
  g_autoptr(GPtrArray) list = srv_auth_store_allow_list(app->store, scope, id, error);
  return list != NULL && srv_auth_ip_allowed(list, ip);
}

/* At sign-in: the account's own list, and the list of at least one site it
 * may act on (each later request checks the one site it names). */
static gboolean
login_ip_allowed(SrvApp *app, const SrvAuthAccount *account, const char *ip, GError **error)
{
  g_autoptr(GError) e = NULL;
  g_autoptr(GArray) sites = NULL;
  if (!scope_allowed(app, SRV_AUTH_ALLOW_ACCOUNT, account->id, ip, &e))
    goto out;
  if (strcmp(account->role, "owner") == 0) {
    sites = srv_auth_store_site_list(app->store, &e);
    for (guint i = 0; sites != NULL && i < sites->len; i++)
      if (scope_allowed(app, SRV_AUTH_ALLOW_SITE, g_array_index(sites, SrvAuthSite, i).id, ip, &e))
        return TRUE;
  } else {
    for (guint i = 0; i < account->sites->len; i++)
      if (scope_allowed(app, SRV_AUTH_ALLOW_SITE, g_array_index(account->sites, gint64, i), ip, &e))
        return TRUE;
  }
out:
  if (e != NULL)
    g_propagate_error(error, g_steal_pointer(&e));
  return FALSE;
}

/* ---- rate limits ---------------------------------------------------------------------------- */

/* 2 s after the last free failure, then 4, 8, ... up to @max_delay (times are
 * whole seconds, so the first wait is never shorter than one). */
static gint64
rising_delay(guint failures, guint free_failures, gint64 max_delay)
{
  if (failures < free_failures || max_delay <= 0)
    return 0;
  guint shift = MIN(failures - free_failures + 1, MAX_DELAY_SHIFT);
  return MIN((gint64) 1 << shift, max_delay);
}

/* Before any password is checked: TRUE (and the answer 429 with Retry-After,
 * audited) when the account or the address has failed too often within the
 * hour, or tries again before its delay is over. Refused attempts are not
 * failures themselves: the limit counts guesses actually checked. */
static gboolean
rate_limited(SrvApp *app, gint64 account_id, const char *ip, gint64 now, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  SrvAuthFailures f;
  if (!srv_auth_store_failures(app->store, account_id, ip, now, FAILURE_WINDOW_S, &f, &error)) {
    srv_api_reply_error(response, error);
    return TRUE;
  }
  GkConfig *cfg = app->config;
  gint64 max_delay = gk_config_get_int(cfg, "auth.max-delay-s");
  const char *code = NULL;
  gint64 wait = 0;
  if (account_id != 0 && f.account_window >= (guint) gk_config_get_int(cfg, "auth.max-failures-per-account")) {
    code = "locked-out";
    wait = f.account_oldest_at + FAILURE_WINDOW_S - now;
  } else if (f.ip_window >= (guint) gk_config_get_int(cfg, "auth.max-failures-per-ip")) {
    code = "too-many-attempts";
    wait = f.ip_oldest_at + FAILURE_WINDOW_S - now;
  } else {
    gint64 account_delay = account_id == 0 ? 0
                           : rising_delay(f.account_since_ok,
                                          (guint) gk_config_get_int(cfg, "auth.delay-after-failures"), max_delay);
    gint64 ip_delay = rising_delay(f.ip_window, (guint) gk_config_get_int(cfg, "auth.ip-delay-after-failures"),
                                   max_delay);
    gint64 left = MAX(f.account_last_at + account_delay - now, f.ip_last_at + ip_delay - now);
    if ((account_delay > 0 || ip_delay > 0) && left > 0) {
      code = "slow-down";
      wait = left;
    }
  }
  if (code == NULL)
    return FALSE;
  g_autofree char *message =
    g_strdup_printf("%s: try again in %" G_GINT64_FORMAT " seconds",
                    strcmp(code, "slow-down") == 0 ? "too many failed sign-ins, each next attempt waits longer"
                                                   : "too many failed sign-ins within the hour",
                    MAX(wait, 1));
  refuse(app, response, "login.refused", NULL, 429, code, message);
  set_retry_after(response, wait);
  return TRUE;
}

/* Recorded at the time of the answer, not of the request: a slow hash must
 * not eat into the delay the next attempt waits. */
static void
record_failure(SrvApp *app, gint64 account_id, const char *ip)
{
  g_autoptr(GError) error = NULL;
  if (!srv_auth_store_failure_add(app->store, account_id, ip, srv_api_now(), &error))
    GK_LOG_ERR("auth.failure_not_recorded", GK_STR("error", error->message));
}

/* ---- sign-in --------------------------------------------------------------------------------- */

/* Checks a TOTP or recovery code and spends it. NULL on success, else the
 * refusal code. */
static const char *
second_factor_refusal(SrvApp *app, const SrvAuthAccount *account, const char *totp, const char *recovery, gint64 now)
{
  g_autoptr(GError) error = NULL;
  if (totp != NULL) {
    gint64 step = 0;
    if (!srv_totp_verify(account->totp_secret, sizeof account->totp_secret, now, totp, account->totp_last_step,
                         &step))
      /* Right for a step already spent: a replay, told apart for the audit. */
      return srv_totp_verify(account->totp_secret, sizeof account->totp_secret, now, totp, -1, &step)
               ? "totp-reused" : "bad-totp";
    if (!srv_auth_store_totp_use_step(app->store, account->id, step, &error))
      return g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED) ? "totp-reused" : "bad-totp";
    return NULL;
  }
  char normalized[17];
  guint8 hash[32];
  if (!srv_totp_recovery_normalize(recovery, normalized))
    return "bad-recovery-code";
  srv_totp_recovery_hash(account->id, normalized, hash);
  sodium_memzero(normalized, sizeof normalized);
  if (!srv_auth_store_recovery_use(app->store, account->id, hash, now, &error))
    return g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED) ? "recovery-code-used" : "bad-recovery-code";
  GK_LOG_INFO("auth.recovery_code_used", GK_STR("user", account->username));
  return NULL;
}

/* A new session; the token goes into the answer being built, only there. */
static gboolean
new_session(SrvApp *app, const SrvAuthAccount *account, const char *ip, gboolean second_factor, JsonBuilder *b,
            GError **error)
{
  guint8 raw[SESSION_TOKEN_BYTES];
  randombytes_buf(raw, sizeof raw);
  char token[sodium_base64_ENCODED_LEN(SESSION_TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(token, sizeof token, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  guint8 hash[32];
  token_hash(token, hash);
  gboolean ok = srv_auth_store_session_add(app->store, hash, account->id, ip, srv_api_now(), second_factor, error);
  if (ok)
    gk_json_add_str(b, "token", token);
  sodium_memzero(token, sizeof token);
  return ok;
}

static void
add_sites(JsonBuilder *b, const SrvAuthAccount *account)
{
  json_builder_set_member_name(b, "sites");
  json_builder_begin_array(b);
  for (guint i = 0; account->sites != NULL && i < account->sites->len; i++)
    json_builder_add_int_value(b, g_array_index(account->sites, gint64, i));
  json_builder_end_array(b);
}

/* Changes the password as part of a sign-in; FALSE when answered. */
static gboolean
change_password(SrvApp *app, SrvAuthAccount *account, const char *new_password, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = srv_auth_password_hash(new_password, &error);
  if (hash == NULL || !srv_store_account_set_password(app->store, account->id, hash, &error)) {
    srv_api_reply_error(response, error);
    return FALSE;
  }
  if (account->must_change_password && strcmp(account->username, SRV_OWNER_USERNAME) == 0) {
    /* The one-time password is spent: it must not stay readable on disk. */
    g_autofree char *pw_file = g_build_filename(app->data_dir, SRV_DATA_OWNER_PW, NULL);
    g_unlink(pw_file);
  }
  account->must_change_password = FALSE;
  SrvAuditEntry entry = { .action = "account.password", .target = account->username };
  srv_audit_record(app, &entry);
  GK_LOG_INFO("auth.password_changed", GK_STR("user", account->username));
  return TRUE;
}

void
srv_auth_handle_login(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "username", GK_JSON_STRING, TRUE, 1, SRV_AUTH_USERNAME_MAX },
    { "password", GK_JSON_STRING, TRUE, 1, GK_PASSWORD_MAX_LEN },
    { "new_password", GK_JSON_STRING, FALSE, 1, GK_PASSWORD_MAX_LEN },
    { "totp", GK_JSON_STRING, FALSE, 1, 16 },
    { "recovery_code", GK_JSON_STRING, FALSE, 1, 40 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  const char *username = gk_json_get_string(o, "username", "");
  const char *password = gk_json_get_string(o, "password", "");
  const char *new_password = gk_json_get_string(o, "new_password", NULL);
  const char *totp = gk_json_get_string(o, "totp", NULL);
  const char *recovery = gk_json_get_string(o, "recovery_code", NULL);
  const char *ip = request->peer_ip;
  gint64 now = srv_api_now();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonBuilder) b = NULL;
  SrvAuthAccount account = { 0 };

  gboolean found = srv_auth_store_account_by_name(app->store, username, &account, &error);
  if (!found && !g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND)) {
    srv_api_reply_error(response, error);
    return;
  }
  if (found)
    srv_audit_request_actor(SRV_AUDIT_ACTOR_ACCOUNT, account.username);
  if (!global_allowed(app, ip)) {
    refuse(app, response, "login.refused", NULL, 403, "address-not-allowed",
           "the admin API is not reachable from this address");
    goto out;
  }
  if (rate_limited(app, found ? account.id : 0, ip, now, response))
    goto out;
  if (!password_verify(found ? account.password_hash : dummy_hash(), password) || !found) {
    record_failure(app, found ? account.id : 0, ip);
    GK_LOG_WARN("auth.login_failed", GK_STR("ip", ip), GK_STR("user", found ? account.username : "(unknown)"));
    refuse(app, response, "login.refused", NULL, 401, "bad-credentials", "wrong user name or password");
    goto out;
  }
  /* From here on the caller knows the password. */
  if (account.disabled_at != 0) {
    refuse(app, response, "login.refused", NULL, 403, "account-disabled", "this account is disabled");
    goto out;
  }
  g_clear_error(&error);
  if (!login_ip_allowed(app, &account, ip, &error)) {
    if (error != NULL)
      srv_api_reply_error(response, error);
    else
      refuse(app, response, "login.refused", NULL, 403, "address-not-allowed",
             "this account may not sign in from this address");
    goto out;
  }
  gboolean change = account.must_change_password || new_password != NULL;
  if (change && new_password == NULL) {
    srv_response_set_error(response, 403, "password-change-required",
                           "this password must be changed before anything else: send new_password");
    goto out;
  }
  /* The new password is checked before a TOTP code is spent on this attempt. */
  if (change && (!srv_auth_password_acceptable(new_password, username, &error) ||
                 strcmp(new_password, password) == 0)) {
    srv_response_set_error(response, 400, "weak-password",
                           error ? error->message : "the new password must differ from the old one");
    goto out;
  }
  if (account.totp_enrolled) {
    if (totp == NULL && recovery == NULL) {
      refuse(app, response, "login.refused", NULL, 401, "totp-required",
             "this account signs in with a second factor: send totp (or recovery_code)");
      goto out;
    }
    const char *why = second_factor_refusal(app, &account, totp, recovery, now);
    if (why != NULL) {
      record_failure(app, account.id, ip);
      refuse(app, response, "login.refused", NULL, 401, why,
             strcmp(why, "totp-reused") == 0 ? "this code was used already: wait for the next one"
             : strcmp(why, "recovery-code-used") == 0 ? "this recovery code was used already"
                                                     : "the second-factor code is wrong");
      goto out;
    }
  }
  if (change && !change_password(app, &account, new_password, response))
    goto out;

  gboolean needs_enroll = srv_auth_role_needs_totp(account.role) && !account.totp_enrolled;
  b = json_builder_new();
  json_builder_begin_object(b);
  if (!new_session(app, &account, ip, account.totp_enrolled, b, &error) ||
      !srv_auth_store_login_succeeded(app->store, account.id, now, &error)) {
    srv_api_reply_error(response, error);
    goto out;
  }
  gk_json_add_bool(b, "must_change_password", FALSE);
  gk_json_add_str(b, "role", account.role);
  add_sites(b, &account);
  gk_json_add_bool(b, "totp_enrolled", account.totp_enrolled);
  gk_json_add_bool(b, "totp_enrollment_required", needs_enroll);
  if (recovery != NULL)
    gk_json_add_int(b, "recovery_codes_left", account.recovery_left > 0 ? account.recovery_left - 1 : 0);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  SrvAuditEntry entry = { .action = "login" };
  srv_audit_record(app, &entry);
  GK_LOG_INFO("auth.login", GK_STR("user", account.username), GK_STR("ip", ip),
              GK_BOOL("second_factor", account.totp_enrolled), GK_BOOL("must_enroll", needs_enroll));
out:
  srv_auth_store_account_clear(&account);
}

/* ---- every later request ------------------------------------------------------------------------ */

/* The site named by the header, or the account's default. 0 with the answer
 * filled in when there is none it may use. */
static gint64
request_site(SrvApp *app, const SrvRequest *request, const SrvAuthAccount *account, SrvResponse *response)
{
  const char *text = srv_http_request_header(request->http, SRV_AUTH_SITE_HEADER);
  gboolean owner = strcmp(account->role, "owner") == 0;
  if (text == NULL) {
    if (owner)
      return app->site_id;
    if (account->sites->len > 0)
      return g_array_index(account->sites, gint64, 0);
    refuse(app, response, "session.refused", account->username, 403, "no-site",
           "this account has no site: an owner or admin must give it one");
    return 0;
  }
  guint64 id = 0;
  if (strlen(text) > 15 || !g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT64, &id, NULL) || text[0] == '0') {
    srv_response_set_error(response, 400, "bad-site", SRV_AUTH_SITE_HEADER " must be a site id (digits)");
    return 0;
  }
  gboolean allowed = !owner && srv_auth_account_has_site(account, (gint64) id);
  if (owner) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) sites = srv_auth_store_site_list(app->store, &error);
    if (sites == NULL) {
      srv_api_reply_error(response, error);
      return 0;
    }
    for (guint i = 0; i < sites->len; i++)
      allowed |= g_array_index(sites, SrvAuthSite, i).id == (gint64) id;
  }
  if (!allowed) {
    g_autofree char *target = g_strdup_printf("site:%" G_GUINT64_FORMAT, id);
    refuse(app, response, "session.refused", target, 403, "site-forbidden",
           "this account may not act on that site");
    return 0;
  }
  return (gint64) id;
}

gboolean
srv_auth_request(SrvApp *app, const SrvRequest *request, SrvResponse *response, SrvAuthContext *ctx)
{
  memset(ctx, 0, sizeof *ctx);
  ctx->server = app;
  const char *token = srv_api_bearer(request);
  g_autoptr(GError) error = NULL;
  gint64 account_id = 0;
  if (token == NULL || strlen(token) > 128) {
    srv_response_set_error(response, 401, "unauthenticated", "sign in first (genkanctl login)");
    return FALSE;
  }
  token_hash(token, ctx->session_hash);
  gint64 idle = gk_config_get_int(app->config, "sessions.idle-minutes") * 60;
  gint64 age = gk_config_get_int(app->config, "sessions.max-hours") * 3600;
  if (!srv_auth_store_session_check(app->store, ctx->session_hash, srv_api_now(), age, idle, &account_id,
                                    &ctx->second_factor, &error) ||
      !srv_auth_store_account_by_id(app->store, account_id, &ctx->account, &error) ||
      ctx->account.disabled_at != 0) {
    if (error == NULL || g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
      srv_response_set_error(response, 401, "unauthenticated", "the session has expired or ended; sign in again");
    else
      srv_api_reply_error(response, error);
    return FALSE;
  }
  srv_audit_request_actor(SRV_AUDIT_ACTOR_ACCOUNT, ctx->account.username);
  const char *ip = request->peer_ip;
  if (!global_allowed(app, ip) ||
      !scope_allowed(app, SRV_AUTH_ALLOW_ACCOUNT, ctx->account.id, ip, &error)) {
    if (error != NULL)
      srv_api_reply_error(response, error);
    else
      refuse(app, response, "session.refused", ctx->account.username, 403, "address-not-allowed",
             "this account may not use the admin API from this address");
    return FALSE;
  }
  ctx->site_id = request_site(app, request, &ctx->account, response);
  if (ctx->site_id == 0)
    return FALSE;
  if (!scope_allowed(app, SRV_AUTH_ALLOW_SITE, ctx->site_id, ip, &error)) {
    g_autofree char *target = g_strdup_printf("site:%" G_GINT64_FORMAT, ctx->site_id);
    if (error != NULL)
      srv_api_reply_error(response, error);
    else
      refuse(app, response, "session.refused", target, 403, "address-not-allowed",
             "this site's admin API is not reachable from this address");
    return FALSE;
  }
  ctx->enroll_only = srv_auth_role_needs_totp(ctx->account.role) && !ctx->second_factor;
  return TRUE;
}

/* ---- the account's own routes ------------------------------------------------------------------------ */

static void
handle_whoami(SrvAuthContext *ctx, SrvResponse *response)
{
  const SrvAuthAccount *a = &ctx->account;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_int(b, "id", a->id);
  gk_json_add_str(b, "username", a->username);
  gk_json_add_str(b, "role", a->role);
  add_sites(b, a);
  gk_json_add_int(b, "site_id", ctx->site_id);
  gk_json_add_bool(b, "totp_enrolled", a->totp_enrolled);
  gk_json_add_bool(b, "totp_required", srv_auth_role_needs_totp(a->role));
  gk_json_add_bool(b, "second_factor", ctx->second_factor);
  gk_json_add_int(b, "recovery_codes_left", a->recovery_left);
  gk_json_add_bool(b, "disabled", FALSE);
  gk_json_add_bool(b, "must_change_password", a->must_change_password);
  gk_json_add_int(b, "last_login_at", a->last_login_at);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

static void
handle_totp_enroll(SrvApp *app, SrvAuthContext *ctx, const SrvRequest *request, SrvResponse *response)
{
  /* An empty object: nothing to choose, but nothing unknown either. */
  g_autoptr(JsonNode) body = srv_api_body(request, response, NULL, 0);
  if (body == NULL)
    return;
  if (ctx->account.totp_enrolled) {
    srv_response_set_error(response, 409, "totp-enrolled",
                           "this account has a second factor already: an owner or admin can reset it");
    return;
  }
  guint8 secret[SRV_AUTH_TOTP_SECRET_LEN];
  randombytes_buf(secret, sizeof secret);
  g_autoptr(GError) error = NULL;
  if (!srv_auth_store_totp_begin(app->store, ctx->account.id, secret, &error)) {
    sodium_memzero(secret, sizeof secret);
    srv_api_reply_error(response, error);
    return;
  }
  const char *issuer = gk_config_get_string(app->config, "auth.totp-issuer");
  g_autofree char *b32 = srv_base32_encode(secret, sizeof secret);
  g_autofree char *uri = srv_totp_uri(issuer, ctx->account.username, secret, sizeof secret);
  sodium_memzero(secret, sizeof secret);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_str(b, "secret", b32);
  gk_json_add_str(b, "uri", uri);
  gk_json_add_str(b, "issuer", issuer);
  gk_json_add_int(b, "digits", SRV_TOTP_DIGITS);
  gk_json_add_int(b, "period", SRV_TOTP_PERIOD);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  sodium_memzero(b32, strlen(b32));
  sodium_memzero(uri, strlen(uri));
}

static void
handle_totp_confirm(SrvApp *app, SrvAuthContext *ctx, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = { { "code", GK_JSON_STRING, TRUE, 1, 16 } };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  const char *code = gk_json_get_string(json_node_get_object(body), "code", "");
  const SrvAuthAccount *a = &ctx->account;
  g_autoptr(GError) error = NULL;
  gint64 step = 0;
  if (!a->totp_pending) {
    srv_response_set_error(response, 409, "no-enrollment",
                           a->totp_enrolled ? "this account has a second factor already"
                                            : "start with POST /v1/account/totp/enroll");
    return;
  }
  if (!srv_totp_verify(a->totp_pending_secret, sizeof a->totp_pending_secret, srv_api_now(), code, -1, &step)) {
    refuse(app, response, "totp.enroll", a->username, 400, "bad-totp",
           "the code does not match: check the authenticator app's clock and try the next code");
    return;
  }
  char *codes[SRV_TOTP_RECOVERY_CODES];
  guint8 hashes[SRV_TOTP_RECOVERY_CODES][32];
  for (guint i = 0; i < SRV_TOTP_RECOVERY_CODES; i++) {
    char normalized[17];
    codes[i] = srv_totp_recovery_new();
    srv_totp_recovery_normalize(codes[i], normalized);
    srv_totp_recovery_hash(a->id, normalized, hashes[i]);
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  /* The session that showed the first code is replaced by one that counts as
   * signed in with both factors (a new token: privileges changed). */
  gboolean ok = srv_auth_store_totp_confirm(app->store, a->id, step, (const guint8 (*)[32]) hashes,
                                            SRV_TOTP_RECOVERY_CODES, &error) &&
                new_session(app, a, request->peer_ip, TRUE, b, &error) &&
                srv_store_session_delete(app->store, ctx->session_hash, &error);
  json_builder_set_member_name(b, "recovery_codes");
  json_builder_begin_array(b);
  for (guint i = 0; i < SRV_TOTP_RECOVERY_CODES; i++) {
    json_builder_add_string_value(b, codes[i]);
    sodium_memzero(codes[i], strlen(codes[i]));
    g_free(codes[i]);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  sodium_memzero(hashes, sizeof hashes);
  if (!ok) {
    srv_api_reply_error(response, error);
    return;
  }
  srv_api_reply(response, 200, b);
  SrvAuditEntry entry = { .action = "totp.enroll", .target = a->username };
  srv_audit_record(app, &entry);
  GK_LOG_INFO("auth.totp_enrolled", GK_STR("user", a->username));
}

gboolean
srv_auth_dispatch_self(SrvApp *app, char **seg, const SrvRequest *request, SrvAuthContext *ctx,
                       SrvResponse *response)
{
  SrvHttpMethod method = request->http->method;
  if (srv_api_path_match(seg, "v1/account", NULL)) {
    if (method == SRV_HTTP_METHOD_GET)
      handle_whoami(ctx, response);
    else
      srv_response_set_error(response, 405, "method-not-allowed", NULL);
    return TRUE;
  }
  gboolean enroll = srv_api_path_match(seg, "v1/account/totp/enroll", NULL);
  gboolean confirm = srv_api_path_match(seg, "v1/account/totp/confirm", NULL);
  if (!enroll && !confirm)
    return FALSE;
  if (method != SRV_HTTP_METHOD_POST)
    srv_response_set_error(response, 405, "method-not-allowed", NULL);
  else if (enroll)
    handle_totp_enroll(app, ctx, request, response);
  else
    handle_totp_confirm(app, ctx, request, response);
  return TRUE;
}
