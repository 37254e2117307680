/* Accounts, sites and allow-lists through the admin API: who may manage whom
 * (delegation), one-time passwords for new accounts and resets, and the
 * allow-list guard that keeps an admin from locking themselves out. */
#include "srv-account-api.h"

#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-visit.h"
#include "srv-audit.h"
#include "srv-cidr.h"

#define SITES_MAX 64
#define SITE_NAME_MAX 100

/* ---- answers -------------------------------------------------------------------------- */

static void
set_member(JsonBuilder *b, const char *name)
{
  json_builder_set_member_name(b, name);
}

static void
build_account(JsonBuilder *b, const SrvAuthAccount *a)
{
  json_builder_begin_object(b);
  set_member(b, "id");
  json_builder_add_int_value(b, a->id);
  set_member(b, "username");
  json_builder_add_string_value(b, a->username);
  set_member(b, "role");
  json_builder_add_string_value(b, a->role);
  set_member(b, "sites");
  json_builder_begin_array(b);
  for (guint i = 0; a->sites != NULL && i < a->sites->len; i++)
    json_builder_add_int_value(b, g_array_index(a->sites, gint64, i));
  json_builder_end_array(b);
  set_member(b, "disabled");
  json_builder_add_boolean_value(b, a->disabled_at != 0);
  set_member(b, "totp_enrolled");
  json_builder_add_boolean_value(b, a->totp_enrolled);
  set_member(b, "must_change_password");
  json_builder_add_boolean_value(b, a->must_change_password);
  set_member(b, "recovery_codes_left");
  json_builder_add_int_value(b, a->recovery_left);
  gk_json_add_time_or_null(b, "last_login_at", a->last_login_at);
  gk_json_add_time_or_null(b, "disabled_at", a->disabled_at);
  set_member(b, "created_at");
  json_builder_add_int_value(b, a->created_at);
  /* Owners always may export (srv-export.c). */
  set_member(b, "may_export");
  json_builder_add_boolean_value(b, a->may_export || strcmp(a->role, "owner") == 0);
  json_builder_end_object(b);
}

static void
audit_ok(SrvApp *app, const char *action, const char *target)
{
  SrvAuditEntry entry = { .action = action, .target = target };
  srv_audit_record(app, &entry);
}

/* Re-reads the account and answers it (after a change). */
static void
reply_account(SrvApp *app, gint64 id, SrvResponse *response)
{
  SrvAuthAccount a = { 0 };
  g_autoptr(GError) error = NULL;
  if (!srv_auth_store_account_by_id(app->store, id, &a, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  build_account(b, &a);
  srv_api_reply(response, 200, b);
  srv_auth_store_account_clear(&a);
}

/* ---- who may manage whom ------------------------------------------------------------------ */

static gboolean
is_owner(const SrvAuthAccount *a)
{
  return strcmp(a->role, "owner") == 0;
}

static gboolean
is_staff_role(const char *role)
{
  return strcmp(role, "receptionist") == 0 || strcmp(role, "security") == 0 || strcmp(role, "auditor") == 0;
}

static gboolean
sites_within(const SrvAuthAccount *actor, const GArray *sites)
{
  for (guint i = 0; sites != NULL && i < sites->len; i++)
    if (!srv_auth_account_has_site(actor, g_array_index(sites, gint64, i)))
      return FALSE;
  return TRUE;
}

/* Delegation: an owner manages anyone; an admin only staff accounts (not
 * owners or admins) whose every site is one of its own, and only into staff
 * roles on its own sites. */
static gboolean
may_manage(const SrvAuthAccount *actor, const char *target_role, const GArray *target_sites, const char *new_role,
           const GArray *new_sites)
{
  if (is_owner(actor))
    return TRUE;
  if (strcmp(actor->role, "admin") != 0)
    return FALSE;
  return is_staff_role(target_role) && sites_within(actor, target_sites) &&
         (new_role == NULL || is_staff_role(new_role)) && sites_within(actor, new_sites);
}

/* The account @name as the caller sees it from the request's site: FALSE (404
 * answered) when it does not exist there. Owners see every account. */
static gboolean
target_get(SrvApp *app, SrvAuthContext *ctx, const char *name, SrvAuthAccount *out, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  if (name == NULL || !srv_auth_username_ok(name) || !srv_auth_store_account_by_name(app->store, name, out, &error)) {
    if (error != NULL && !g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
      srv_api_reply_error(response, error);
    else
      srv_response_set_error(response, 404, "not-found", "no such account");
    return FALSE;
  }
  if (!is_owner(&ctx->account) && !srv_auth_account_has_site(out, ctx->site_id)) {
    srv_auth_store_account_clear(out);
    srv_response_set_error(response, 404, "not-found", "no such account");
    return FALSE;
  }
  return TRUE;
}

/* A target the caller may change: FALSE with the answer set otherwise. */
static gboolean
target_for_change(SrvApp *app, SrvAuthContext *ctx, const char *name, gboolean self_ok, SrvAuthAccount *out,
                  SrvResponse *response)
{
  if (!target_get(app, ctx, name, out, response))
    return FALSE;
  const char *why = NULL;
  if (!self_ok && out->id == ctx->account.id)
    why = "an account cannot do this to itself: ask another owner or admin (your own password: genkanctl login "
          "--new-password)";
  else if (!may_manage(&ctx->account, out->role, out->sites, NULL, NULL))
    why = "an admin manages only receptionist, security and auditor accounts of its own sites";
  if (why == NULL)
    return TRUE;
  srv_response_set_error(response, 403, "forbidden", why);
  srv_auth_store_account_clear(out);
  return FALSE;
}

/* ---- request bodies ---------------------------------------------------------------------- */

/* body.sites: 1..SITES_MAX site ids; absent: the request's site. */
static GArray *
body_sites(JsonObject *o, gint64 fallback, SrvResponse *response)
{
  GArray *sites = g_array_new(FALSE, FALSE, sizeof(gint64));
  if (!json_object_has_member(o, "sites")) {
    g_array_append_val(sites, fallback);
    return sites;
  }
  JsonArray *list = json_object_get_array_member(o, "sites");
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonNode *n = json_array_get_element(list, i);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 || json_node_get_int(n) < 1) {
      srv_response_set_error(response, 400, "bad-request", "body.sites must hold site ids (whole numbers >= 1)");
      g_array_unref(sites);
      return NULL;
    }
    gint64 id = json_node_get_int(n);
    g_array_append_val(sites, id);
  }
  return sites;
}

/* body.cidrs: canonical texts (g_ptr_array_unref), or NULL with a 400 answer. */
static GPtrArray *
body_cidrs(JsonObject *o, SrvResponse *response)
{
  JsonArray *list = json_object_get_array_member(o, "cidrs");
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonNode *n = json_array_get_element(list, i);
    const char *text = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                         ? json_node_get_string(n) : NULL;
    g_autoptr(GError) error = NULL;
    SrvCidr range;
    if (text == NULL || !srv_cidr_parse(text, &range, &error)) {
      g_autofree char *msg = g_strdup_printf("body.cidrs[%u]: %s", i, error != NULL ? error->message
                                                                                    : "must be a string");
      srv_response_set_error(response, 400, "bad-cidr", msg);
      return NULL;
    }
    g_ptr_array_add(out, srv_cidr_to_string(&range));
  }
  return g_steal_pointer(&out);
}

/* ---- accounts --------------------------------------------------------------------------------- */

void
srv_account_api_list(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                     SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) list = srv_auth_store_account_list(app->store, ctx->site_id, &error);
  if (list == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  set_member(b, "accounts");
  json_builder_begin_array(b);
  for (guint i = 0; i < list->len; i++)
    build_account(b, &g_array_index(list, SrvAuthAccount, i));
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

/* Answers the one-time password, shown this once. */
static void
reply_one_time(SrvResponse *response, guint status, gint64 id, const char *username, const char *password)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  set_member(b, "id");
  json_builder_add_int_value(b, id);
  set_member(b, "username");
  json_builder_add_string_value(b, username);
  set_member(b, "one_time_password");
  json_builder_add_string_value(b, password);
  set_member(b, "must_change_password");
  json_builder_add_boolean_value(b, TRUE);
  json_builder_end_object(b);
  srv_api_reply(response, status, b);
}

void
srv_account_api_add(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                    SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "username", GK_JSON_STRING, TRUE, 1, SRV_AUTH_USERNAME_MAX },
    { "role", GK_JSON_STRING, TRUE, 1, 16 },
    { "sites", GK_JSON_ARRAY, FALSE, 1, SITES_MAX },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  const char *username = gk_json_get_string(o, "username", "");
  const char *role = gk_json_get_string(o, "role", "");
  if (!srv_auth_username_ok(username)) {
    srv_response_set_error(response, 400, "bad-request", "body.username must be 1-64 of A-Z a-z 0-9 . _ @ -");
    return;
  }
  if (!srv_auth_role_known(role)) {
    srv_response_set_error(response, 400, "bad-request",
                           "body.role must be owner, admin, receptionist, security or auditor");
    return;
  }
  g_autoptr(GArray) sites = body_sites(o, ctx->site_id, response);
  if (sites == NULL)
    return;
  if (!may_manage(&ctx->account, "receptionist", NULL, role, sites)) {
    srv_response_set_error(response, 403, "forbidden",
                           "an admin may add only receptionist, security and auditor accounts on its own sites");
    return;
  }
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = NULL;
  gint64 id = 0;
  char *password = srv_auth_one_time_password(&hash, &error);
  if (password == NULL || !srv_auth_store_account_create(app->store, username, hash, role, (gint64 *) sites->data,
                                                         sites->len, srv_api_now(), &id, &error)) {
    if (g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
      srv_response_set_error(response, 400, "bad-request", error->message);
    else
      srv_api_reply_error(response, error);
  } else {
    reply_one_time(response, 201, id, username, password);
    audit_ok(app, "account.add", username);
    GK_LOG_INFO("account.added", GK_STR("user", username), GK_STR("role", role),
                GK_STR("by", ctx->account.username));
  }
  if (password != NULL)
    sodium_memzero(password, strlen(password));
  g_free(password);
}

void
srv_account_api_set_role(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                         SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "role", GK_JSON_STRING, TRUE, 1, 16 },
    { "sites", GK_JSON_ARRAY, FALSE, 1, SITES_MAX },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  const char *role = gk_json_get_string(o, "role", "");
  if (!srv_auth_role_known(role)) {
    srv_response_set_error(response, 400, "bad-request",
                           "body.role must be owner, admin, receptionist, security or auditor");
    return;
  }
  SrvAuthAccount target = { 0 };
  if (!target_for_change(app, ctx, wild, TRUE, &target, response))
    return;
  /* Without body.sites the account keeps its sites. */
  g_autoptr(GArray) sites = json_object_has_member(o, "sites") ? body_sites(o, 0, response)
                                                               : g_array_ref(target.sites);
  g_autoptr(GError) error = NULL;
  if (sites == NULL) {
    /* answered */
  } else if (!may_manage(&ctx->account, target.role, target.sites, role, sites)) {
    srv_response_set_error(response, 403, "forbidden",
                           "an admin may give only receptionist, security and auditor roles on its own sites");
  } else if (!srv_auth_store_account_set_role(app->store, target.id, role, (gint64 *) sites->data, sites->len,
                                              &error)) {
    if (g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID))
      srv_response_set_error(response, 409, "refused", error->message);
    else if (g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
      srv_response_set_error(response, 400, "bad-request", error->message);
    else
      srv_api_reply_error(response, error);
  } else {
    audit_ok(app, "account.role", target.username);
    GK_LOG_INFO("account.role_changed", GK_STR("user", target.username), GK_STR("role", role),
                GK_STR("by", ctx->account.username));
    reply_account(app, target.id, response);
  }
  srv_auth_store_account_clear(&target);
}

static void
set_disabled(SrvApp *app, SrvAuthContext *ctx, const char *name, gboolean disabled, const SrvRequest *request,
             SrvResponse *response)
{
  g_autoptr(JsonNode) body = srv_api_body(request, response, NULL, 0);
  if (body == NULL)
    return;
  SrvAuthAccount target = { 0 };
  if (!target_for_change(app, ctx, name, FALSE, &target, response))
    return;
  g_autoptr(GError) error = NULL;
  if (!srv_auth_store_account_set_disabled(app->store, target.id, disabled, srv_api_now(), &error)) {
    if (g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID))
      srv_response_set_error(response, 409, "refused", error->message);
    else
      srv_api_reply_error(response, error);
  } else {
    audit_ok(app, disabled ? "account.disable" : "account.enable", target.username);
    GK_LOG_INFO(disabled ? "account.disabled" : "account.enabled", GK_STR("user", target.username),
                GK_STR("by", ctx->account.username));
    reply_account(app, target.id, response);
  }
  srv_auth_store_account_clear(&target);
}

void
srv_account_api_disable(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                        SrvResponse *response)
{
  set_disabled(app, ctx, wild, TRUE, request, response);
}

void
srv_account_api_enable(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                       SrvResponse *response)
{
  set_disabled(app, ctx, wild, FALSE, request, response);
}

void
srv_account_api_reset_password(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                               SrvResponse *response)
{
  g_autoptr(JsonNode) body = srv_api_body(request, response, NULL, 0);
  if (body == NULL)
    return;
  SrvAuthAccount target = { 0 };
  if (!target_for_change(app, ctx, wild, FALSE, &target, response))
    return;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = NULL;
  char *password = srv_auth_one_time_password(&hash, &error);
  if (password == NULL || !srv_auth_store_account_reset_password(app->store, target.id, hash, &error)) {
    srv_api_reply_error(response, error);
  } else {
    reply_one_time(response, 200, target.id, target.username, password);
    audit_ok(app, "account.reset-password", target.username);
    GK_LOG_INFO("account.password_reset", GK_STR("user", target.username), GK_STR("by", ctx->account.username));
  }
  if (password != NULL)
    sodium_memzero(password, strlen(password));
  g_free(password);
  srv_auth_store_account_clear(&target);
}

void
srv_account_api_totp_reset(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                           SrvResponse *response)
{
  g_autoptr(JsonNode) body = srv_api_body(request, response, NULL, 0);
  if (body == NULL)
    return;
  SrvAuthAccount target = { 0 };
  if (!target_for_change(app, ctx, wild, FALSE, &target, response))
    return;
  g_autoptr(GError) error = NULL;
  if (!srv_auth_store_totp_reset(app->store, target.id, &error)) {
    srv_api_reply_error(response, error);
  } else {
    audit_ok(app, "account.totp-reset", target.username);
    GK_LOG_INFO("account.totp_reset", GK_STR("user", target.username), GK_STR("by", ctx->account.username));
    reply_account(app, target.id, response);
  }
  srv_auth_store_account_clear(&target);
}

/* ---- allow-lists ------------------------------------------------------------------------------- */

static void
reply_allow_list(SrvApp *app, SrvAuthAllowScope scope, gint64 id, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = srv_auth_store_allow_list(app->store, scope, id, &error);
  if (list == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  set_member(b, "cidrs");
  json_builder_begin_array(b);
  for (guint i = 0; i < list->len; i++)
    json_builder_add_string_value(b, list->pdata[i]);
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

/* Replaces a list. @guard: the list applies to this very request (the
 * caller's own account, or the site it acts on): one that leaves out the
 * caller's address would lock the caller out, so it is refused. */
static void
set_allow_list(SrvApp *app, SrvAuthAllowScope scope, gint64 id, const char *target, gboolean guard,
               const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = { { "cidrs", GK_JSON_ARRAY, TRUE, 0, SRV_CIDR_LIST_MAX } };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  g_autoptr(GPtrArray) cidrs = body_cidrs(json_node_get_object(body), response);
  if (cidrs == NULL)
    return;
  if (guard && !srv_auth_ip_allowed(cidrs, request->peer_ip)) {
    g_autofree char *msg = g_strdup_printf("the list leaves out the address this request comes from (%s): it "
                                           "would lock you out",
                                           request->peer_ip);
    srv_response_set_error(response, 409, "would-lock-out", msg);
    return;
  }
  g_autoptr(GError) error = NULL;
  if (!srv_auth_store_allow_list_set(app->store, scope, id, (const char *const *) cidrs->pdata, cidrs->len,
                                     &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  audit_ok(app, "allowlist.set", target);
  GK_LOG_INFO("auth.allow_list_set", GK_STR("target", target), GK_UINT("ranges", cidrs->len));
  reply_allow_list(app, scope, id, response);
}

void
srv_account_api_allow_get(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                          SrvResponse *response)
{
  SrvAuthAccount target = { 0 };
  if (!target_get(app, ctx, wild, &target, response))
    return;
  reply_allow_list(app, SRV_AUTH_ALLOW_ACCOUNT, target.id, response);
  srv_auth_store_account_clear(&target);
}

void
srv_account_api_allow_set(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                          SrvResponse *response)
{
  SrvAuthAccount target = { 0 };
  if (!target_for_change(app, ctx, wild, TRUE, &target, response))
    return;
  g_autofree char *label = g_strconcat("account:", target.username, NULL);
  set_allow_list(app, SRV_AUTH_ALLOW_ACCOUNT, target.id, label, target.id == ctx->account.id, request, response);
  srv_auth_store_account_clear(&target);
}

/* ---- sites ------------------------------------------------------------------------------------- */

void
srv_account_api_site_list(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                          SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) sites = srv_auth_store_site_list(app->store, &error);
  if (sites == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  set_member(b, "sites");
  json_builder_begin_array(b);
  for (guint i = 0; i < sites->len; i++) {
    SrvAuthSite *s = &g_array_index(sites, SrvAuthSite, i);
    if (!srv_auth_account_has_site(&ctx->account, s->id))
      continue;
    json_builder_begin_object(b);
    set_member(b, "id");
    json_builder_add_int_value(b, s->id);
    set_member(b, "name");
    json_builder_add_string_value(b, s->name);
    set_member(b, "created_at");
    json_builder_add_int_value(b, s->created_at);
    set_member(b, "current");
    json_builder_add_boolean_value(b, s->id == ctx->site_id);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

void
srv_account_api_site_add(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                         SrvResponse *response)
{
  static const GkJsonField fields[] = { { "name", GK_JSON_STRING, TRUE, 1, SITE_NAME_MAX } };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  const char *name = gk_json_get_string(json_node_get_object(body), "name", "");
  const char *why = NULL;
  if (!gk_visit_text_ok(name, SITE_NAME_MAX, &why)) {
    g_autofree char *msg = g_strdup_printf("body.name %s", why);
    srv_response_set_error(response, 400, "bad-request", msg);
    return;
  }
  g_autoptr(GError) error = NULL;
  gint64 id = 0;
  if (!srv_store_site_add(app->store, name, srv_api_now(), &id, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autofree char *target = g_strdup_printf("site:%" G_GINT64_FORMAT, id);
  audit_ok(app, "site.add", target);
  GK_LOG_INFO("site.added", GK_INT("site", id), GK_STR("by", ctx->account.username));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  set_member(b, "id");
  json_builder_add_int_value(b, id);
  set_member(b, "name");
  json_builder_add_string_value(b, name);
  json_builder_end_object(b);
  srv_api_reply(response, 201, b);
}

/* The site id in the path, an existing site within the caller's scope: 0
 * (404 answered) otherwise. */
static gint64
path_site(SrvApp *app, SrvAuthContext *ctx, const char *wild, SrvResponse *response)
{
  guint64 id = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) sites = srv_auth_store_site_list(app->store, &error);
  if (sites == NULL) {
    srv_api_reply_error(response, error);
    return 0;
  }
  gboolean exists = FALSE;
  if (wild != NULL && strlen(wild) <= 15 && wild[0] != '0' &&
      g_ascii_string_to_unsigned(wild, 10, 1, G_MAXINT64, &id, NULL))
    for (guint i = 0; i < sites->len; i++)
      exists |= g_array_index(sites, SrvAuthSite, i).id == (gint64) id;
  if (!exists || !srv_auth_account_has_site(&ctx->account, (gint64) id)) {
    srv_response_set_error(response, 404, "not-found", "no such site");
    return 0;
  }
  return (gint64) id;
}

void
srv_account_api_site_allow_get(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                               SrvResponse *response)
{
  gint64 id = path_site(app, ctx, wild, response);
  if (id != 0)
    reply_allow_list(app, SRV_AUTH_ALLOW_SITE, id, response);
}

void
srv_account_api_site_allow_set(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                               SrvResponse *response)
{
  gint64 id = path_site(app, ctx, wild, response);
  if (id == 0)
    return;
  g_autofree char *target = g_strdup_printf("site:%" G_GINT64_FORMAT, id);
  set_allow_list(app, SRV_AUTH_ALLOW_SITE, id, target, id == ctx->site_id, request, response);
}

/* ---- for srv-export.c (the export permission) ---------------------------------------------- */

gboolean
srv_account_api_target_for_change(SrvApp *app, SrvAuthContext *ctx, const char *name, SrvAuthAccount *out,
                                  SrvResponse *response)
{
  return target_for_change(app, ctx, name, FALSE, out, response);
}

void
srv_account_api_reply_account(SrvApp *app, gint64 id, SrvResponse *response)
{
  reply_account(app, id, response);
}
