/* The audit log: canonical encoding and hash chain, recording (explicit and one
 * entry per admin request from the router hook), verification, the query
 * parser and the admin API routes (list, verify, CSV export). */
#include "srv-audit-private.h"

#include <json-glib/json-glib.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "srv-api.h"
#include "srv-csv.h"
#include "srv-store-private.h"

G_DEFINE_QUARK(srv-audit-query-error-quark, srv_audit_query_error)

#define ACTOR_MAX  128
#define IP_MAX     64
#define ACTION_MAX 64
#define TARGET_MAX 256
#define REASON_MAX 64
#define VERIFY_PAGE 2000
#define LIST_DEFAULT 1000

const guint8 srv_audit_genesis[SRV_AUDIT_HASH_LEN] = { 0 };

static const char *const actor_kinds[] = {
  [SRV_AUDIT_ACTOR_NONE] = "none",
  [SRV_AUDIT_ACTOR_ACCOUNT] = "account",
  [SRV_AUDIT_ACTOR_DEVICE] = "device",
  [SRV_AUDIT_ACTOR_SYSTEM] = "system",
};
static const char *const results[] = {
  [SRV_AUDIT_OK] = "ok",
  [SRV_AUDIT_REFUSED] = "refused",
  [SRV_AUDIT_ERROR] = "error",
};

void
srv_audit_row_clear(SrvAuditRow *row)
{
  g_free(row->actor_kind);
  g_free(row->actor);
  g_free(row->source_ip);
  g_free(row->action);
  g_free(row->target);
  g_free(row->result);
  g_free(row->reason);
  memset(row, 0, sizeof *row);
}

/* ---- the canonical encoding and the chain ------------------------------------------- */

static void
put_u64(GByteArray *out, guint64 v)
{
  guint8 b[8];
  for (int i = 7; i >= 0; i--, v >>= 8)
    b[i] = (guint8) (v & 0xff);
  g_byte_array_append(out, b, sizeof b);
}

static void
put_text(GByteArray *out, const char *s)
{
  gsize len = s != NULL ? strlen(s) : 0;
  guint8 b[4] = { (guint8) (len >> 24), (guint8) (len >> 16), (guint8) (len >> 8), (guint8) len };
  g_byte_array_append(out, b, sizeof b);
  if (len > 0)
    g_byte_array_append(out, (const guint8 *) s, (guint) len);
}

/* "GKAUDIT1", then seq, at, site_id as 8-byte big-endian two's complement, then
 * actor_kind, actor, source_ip, action, target, result, reason, each as a
 * 4-byte big-endian byte length and its UTF-8 bytes. Lengths make it
 * unambiguous: no field can borrow bytes from its neighbour. */
GBytes *
srv_audit_encode(const SrvAuditRow *row)
{
  g_return_val_if_fail(row != NULL, NULL);
  GByteArray *out = g_byte_array_sized_new(128);
  g_byte_array_append(out, (const guint8 *) "GKAUDIT1", 8);
  put_u64(out, (guint64) row->seq);
  put_u64(out, (guint64) row->at);
  put_u64(out, (guint64) row->site_id);
  const char *texts[] = { row->actor_kind, row->actor, row->source_ip, row->action,
                          row->target, row->result, row->reason };
  for (guint i = 0; i < G_N_ELEMENTS(texts); i++)
    put_text(out, texts[i]);
  return g_byte_array_free_to_bytes(out);
}

void
srv_audit_chain_hash(const SrvAuditRow *row, const guint8 prev_hash[SRV_AUDIT_HASH_LEN],
                     guint8 out[SRV_AUDIT_HASH_LEN])
{
  g_autoptr(GBytes) enc = srv_audit_encode(row);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(enc, &len);
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, data, len);
  crypto_hash_sha256_update(&st, prev_hash, SRV_AUDIT_HASH_LEN);
  crypto_hash_sha256_final(&st, out);
}

/* ---- store-level functions ----------------------------------------------------------- */

#define AUDIT_OPS(store) ((const SrvAuditBackend *) (store)->ops->audit)

static gboolean
row_valid(const SrvAuditRow *row, GError **error)
{
  const struct {
    const char *value;
    gsize min, max;
    const char *name;
  } fields[] = {
    { row->actor_kind, 1, 16, "actor_kind" }, { row->actor, 1, ACTOR_MAX, "actor" },
    { row->source_ip, 1, IP_MAX, "source_ip" }, { row->action, 1, ACTION_MAX, "action" },
    { row->target, 0, TARGET_MAX, "target" },   { row->result, 1, 16, "result" },
    { row->reason, 0, REASON_MAX, "reason" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
    gsize len = fields[i].value != NULL ? strlen(fields[i].value) : 0;
    if (fields[i].value == NULL || len < fields[i].min || len > fields[i].max ||
        !g_utf8_validate(fields[i].value, (gssize) len, NULL)) {
      g_set_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID, "audit entry: %s is missing, too long or not UTF-8",
                  fields[i].name);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
srv_audit_store_append(SrvStore *store, SrvAuditRow *row, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->audit != NULL && row != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  if (!row_valid(row, error))
    return FALSE;
  return AUDIT_OPS(store)->append(store->backend, row, error);
}

GArray *
srv_audit_store_list(SrvStore *store, const SrvAuditFilter *filter, gboolean *out_more, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->audit != NULL && filter != NULL, NULL);
  g_return_val_if_fail(filter->limit >= 1 && filter->limit <= SRV_AUDIT_LIST_MAX, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  return AUDIT_OPS(store)->list(store->backend, filter, out_more, error);
}

const char *
srv_audit_problem_name(SrvAuditProblem problem)
{
  switch (problem) {
  case SRV_AUDIT_CHANGED:
    return "changed";
  case SRV_AUDIT_REMOVED:
    return "removed";
  case SRV_AUDIT_REORDERED:
    return "reordered";
  case SRV_AUDIT_INTACT:
  default:
    return NULL;
  }
}

/* Judges one entry against the chain so far: @expected is the seq it must
 * have, @prev the hash it must chain to, @base_seq where the chain starts.
 * Sets *out_bad_seq and returns the problem, or INTACT. */
static SrvAuditProblem
judge_row(SrvStore *store, const SrvAuditRow *row, gint64 expected, const guint8 prev[SRV_AUDIT_HASH_LEN],
          gint64 base_seq, gint64 *out_bad_seq, GError **error)
{
  guint8 h[SRV_AUDIT_HASH_LEN];
  *out_bad_seq = row->seq;
  if (row->seq != expected) {
    /* seq is the primary key and read in order: only a gap gets here. */
    *out_bad_seq = expected;
    return SRV_AUDIT_REMOVED;
  }
  gboolean link_ok = sodium_memcmp(row->prev_hash, prev, SRV_AUDIT_HASH_LEN) == 0;
  srv_audit_chain_hash(row, row->prev_hash, h);
  gboolean self_ok = sodium_memcmp(h, row->hash, SRV_AUDIT_HASH_LEN) == 0;
  if (link_ok)
    return self_ok ? SRV_AUDIT_INTACT : SRV_AUDIT_CHANGED;
  if (self_ok) {
    /* This entry is whole, so the one before was rewritten (hash and all). */
    if (row->seq - 1 > base_seq)
      *out_bad_seq = row->seq - 1;
    return SRV_AUDIT_CHANGED;
  }
  /* Only its stored link was edited? */
  srv_audit_chain_hash(row, prev, h);
  if (sodium_memcmp(h, row->hash, SRV_AUDIT_HASH_LEN) == 0)
    return SRV_AUDIT_CHANGED;
  /* It chains to an entry that is still there, elsewhere: moved. To one that is
   * gone: its predecessor was removed (and the rest renumbered). */
  gint64 found = 0;
  if (!AUDIT_OPS(store)->find_hash(store->backend, row->prev_hash, &found, error))
    return SRV_AUDIT_INTACT;
  return found > 0 ? SRV_AUDIT_REORDERED : SRV_AUDIT_REMOVED;
}

gboolean
srv_audit_verify(SrvStore *store, SrvAuditVerify *out, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->audit != NULL && out != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  memset(out, 0, sizeof *out);
  gint64 base_seq = 0;
  guint8 prev[SRV_AUDIT_HASH_LEN];
  if (!AUDIT_OPS(store)->base(store->backend, &base_seq, prev, error))
    return FALSE;
  memcpy(out->head_hash, prev, SRV_AUDIT_HASH_LEN);
  out->head_seq = base_seq;
  gint64 expected = base_seq + 1;
  gboolean more = TRUE;
  while (more) {
    SrvAuditFilter filter = { .site_id = 0, .after_seq = expected - 1, .limit = VERIFY_PAGE };
    g_autoptr(GArray) rows = AUDIT_OPS(store)->list(store->backend, &filter, &more, error);
    if (rows == NULL)
      return FALSE;
    for (guint i = 0; i < rows->len; i++) {
      const SrvAuditRow *row = &g_array_index(rows, SrvAuditRow, i);
      gint64 bad = 0;
      GError *local = NULL;
      SrvAuditProblem problem = judge_row(store, row, expected, prev, base_seq, &bad, &local);
      if (local != NULL) {
        g_propagate_error(error, local);
        return FALSE;
      }
      out->entries++;
      if (problem != SRV_AUDIT_INTACT) {
        out->problem = problem;
        out->first_bad_seq = bad;
        return TRUE;
      }
      memcpy(prev, row->hash, SRV_AUDIT_HASH_LEN);
      memcpy(out->head_hash, row->hash, SRV_AUDIT_HASH_LEN);
      out->head_seq = row->seq;
      expected = row->seq + 1;
    }
  }
  out->ok = TRUE;
  return TRUE;
}

static void
row_fill(SrvAuditRow *row, gint64 at, gint64 site_id, SrvAuditActorKind kind, const char *actor, const char *ip,
         const char *action, const char *target, SrvAuditResult result, const char *reason);

gboolean
srv_audit_purge(SrvStore *store, gint64 before, guint *out_deleted, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->audit != NULL && out_deleted != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  if (!AUDIT_OPS(store)->purge(store->backend, before, out_deleted, error))
    return FALSE;
  if (*out_deleted == 0)
    return TRUE;
  /* The purge itself is on record, server-wide (site 0). */
  g_autofree char *target = g_strdup_printf("before:%" G_GINT64_FORMAT, before);
  g_auto(SrvAuditRow) row = { 0 };
  row_fill(&row, g_get_real_time() / G_USEC_PER_SEC, 0, SRV_AUDIT_ACTOR_SYSTEM, "server", NULL, "audit.purge",
           target, SRV_AUDIT_OK, NULL);
  return srv_audit_store_append(store, &row, error);
}

/* ---- recording -------------------------------------------------------------------------- */

/* A copy of @s fit for the log: valid UTF-8, control characters as '?', at most
 * @max bytes (cut at a character boundary); @fallback when NULL or empty. */
static char *
clean_text(const char *s, gsize max, const char *fallback)
{
  if (s == NULL || *s == '\0')
    return g_strdup(fallback);
  g_autofree char *valid = g_utf8_make_valid(s, -1);
  GString *out = g_string_sized_new(MIN(strlen(valid), max));
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    gsize n = (gsize) (g_utf8_next_char(p) - p);
    if (out->len + n > max)
      break;
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
      g_string_append_c(out, '?');
    else
      g_string_append_len(out, p, (gssize) n);
  }
  return g_string_free(out, FALSE);
}

static void
row_fill(SrvAuditRow *row, gint64 at, gint64 site_id, SrvAuditActorKind kind, const char *actor, const char *ip,
         const char *action, const char *target, SrvAuditResult result, const char *reason)
{
  row->at = at;
  row->site_id = site_id;
  row->actor_kind = g_strdup(actor_kinds[kind <= SRV_AUDIT_ACTOR_SYSTEM ? kind : SRV_AUDIT_ACTOR_NONE]);
  row->actor = clean_text(actor, ACTOR_MAX, "-");
  row->source_ip = clean_text(ip, IP_MAX, "-");
  row->action = clean_text(action, ACTION_MAX, "-");
  row->target = clean_text(target, TARGET_MAX, "");
  row->result = g_strdup(results[result <= SRV_AUDIT_ERROR ? result : SRV_AUDIT_ERROR]);
  row->reason = clean_text(reason, REASON_MAX, "");
}

static gboolean
action_ok(const char *action)
{
  gsize n = action != NULL ? strlen(action) : 0;
  if (n == 0 || n > ACTION_MAX)
    return FALSE;
  for (const char *p = action; *p != '\0'; p++)
    if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '.' && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

/* What the router knows about the request this worker thread is handling. */
typedef struct {
  gboolean active;
  gboolean recorded;     /* a handler recorded the request's entry itself */
  SrvAuditActorKind kind;
  char *actor;
  gint64 site_id;        /* 0: the server's own site */
  const SrvRequest *request;
} Scope;

static void
scope_free(gpointer data)
{
  Scope *scope = data;
  if (scope != NULL)
    g_free(scope->actor);
  g_free(scope);
}

static GPrivate scope_key = G_PRIVATE_INIT(scope_free);

static Scope *
scope_current(void)
{
  Scope *scope = g_private_get(&scope_key);
  return scope != NULL && scope->active ? scope : NULL;
}

static void
append_row(SrvApp *app, SrvAuditRow *row)
{
  g_autoptr(GError) error = NULL;
  if (!srv_audit_store_append(app->store, row, &error))
    /* Never fatal: the request's answer is already made. But loud. */
    GK_LOG_ERR("audit.append_failed", GK_STR("action", row->action), GK_STR("error", error->message));
}

void
srv_audit_record(SrvApp *app, const SrvAuditEntry *entry)
{
  g_return_if_fail(app != NULL && entry != NULL);
  g_return_if_fail(action_ok(entry->action));
  Scope *scope = scope_current();
  SrvAuditActorKind kind = entry->actor_kind;
  const char *actor = entry->actor;
  const char *ip = entry->source_ip;
  if (actor == NULL && scope != NULL && scope->actor != NULL) {
    actor = scope->actor;
    kind = scope->kind;
  } else if (actor == NULL) {
    kind = SRV_AUDIT_ACTOR_NONE;
  }
  if (ip == NULL && scope != NULL)
    ip = scope->request->peer_ip;
  g_auto(SrvAuditRow) row = { 0 };
  gint64 site_id = scope != NULL && scope->site_id > 0 ? scope->site_id : app->site_id;
  row_fill(&row, srv_api_now(), site_id, kind, actor, ip, entry->action, entry->target, entry->result, entry->reason);
  append_row(app, &row);
  if (scope != NULL)
    scope->recorded = TRUE;
}

void
srv_audit_record_system(SrvApp *app, gint64 site_id, const char *action, const char *target, SrvAuditResult result,
                        const char *reason)
{
  g_return_if_fail(app != NULL && action_ok(action));
  g_auto(SrvAuditRow) row = { 0 };
  row_fill(&row, srv_api_now(), site_id, SRV_AUDIT_ACTOR_SYSTEM, "server", NULL, action, target, result, reason);
  append_row(app, &row);
}

void
srv_audit_request_begin(const SrvRequest *request)
{
  g_return_if_fail(request != NULL);
  Scope *scope = g_private_get(&scope_key);
  if (scope == NULL) {
    scope = g_new0(Scope, 1);
    g_private_set(&scope_key, scope);
  }
  g_clear_pointer(&scope->actor, g_free);
  scope->active = TRUE;
  scope->recorded = FALSE;
  scope->kind = SRV_AUDIT_ACTOR_NONE;
  scope->site_id = 0;
  scope->request = request;
}

void
srv_audit_request_actor(SrvAuditActorKind kind, const char *name)
{
  Scope *scope = scope_current();
  if (scope == NULL || name == NULL)
    return;
  g_free(scope->actor);
  scope->actor = g_strdup(name);
  scope->kind = kind;
}

void
srv_audit_request_site(gint64 site_id)
{
  Scope *scope = scope_current();
  if (scope != NULL)
    scope->site_id = site_id;
}

/* ---- the router's entry for a request ----------------------------------------------------- */

typedef enum {
  TARGET_NONE,
  TARGET_WILD,     /* the path segment that matched "*" */
  TARGET_ANSWER,   /* a member of the JSON answer (ids the server made) */
  TARGET_PATH,     /* METHOD and the raw path */
} TargetFrom;

/* Action names per route; first match wins. Routes not listed are recorded as
 * "request" with their method and path as the target. */
static const struct {
  SrvHttpMethod method;
  const char *pattern;
  const char *action;
  TargetFrom target;
  const char *member;    /* TARGET_ANSWER */
} route_actions[] = {
  { SRV_HTTP_METHOD_POST, "v1/login", "login", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_POST, "v1/logout", "logout", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_POST, "v1/enroll", "device.enroll", TARGET_ANSWER, "device_id" },
  { SRV_HTTP_METHOD_GET, "v1/devices/*/status", "device.status", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_GET, "v1/hosts", "host.list", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_POST, "v1/hosts", "host.add", TARGET_ANSWER, "id" },
  { SRV_HTTP_METHOD_PATCH, "v1/hosts/*", "host.edit", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_DELETE, "v1/hosts/*", "host.remove", TARGET_WILD, NULL },
  /* A success is recorded by the handler with the counts (srv-host-api.c). */
  { SRV_HTTP_METHOD_POST, "v1/hosts/import", "host.import", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_POST, "v1/tickets", "ticket.issue", TARGET_ANSWER, "ticket_id" },
  { SRV_HTTP_METHOD_POST, "v1/devices/enroll-codes", "device.enroll-code", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/devices", "device.list", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/devices/*/config", "config.show", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_POST, "v1/devices/*/config", "config.set", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_POST, "v1/devices/*/revoke", "device.revoke", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_GET, "v1/checkins", "checkin.list", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/alerts", "alert.list", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/visits", "visit.list", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/notify", "notify.show", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_POST, "v1/notify/*", "notify.set", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_GET, "v1/notifications", "notification.list", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_POST, "v1/notifications/*/retry", "notification.retry", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_GET, "v1/audit", "audit.list", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/audit/verify", "audit.verify", TARGET_NONE, NULL },
  /* Retention (srv-site-api.c); a purge also records one system entry per site. */
  { SRV_HTTP_METHOD_GET, "v1/sites/*/retention", "retention.show", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_POST, "v1/sites/*/retention", "retention.set", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_DELETE, "v1/sites/*", "site.delete", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_POST, "v1/retention/purge", "retention.purge", TARGET_NONE, NULL },
  /* Exports of personal data (srv-export.c records the filters and rows itself). */
  { SRV_HTTP_METHOD_GET, "v1/exports/visits", "export.visits", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/exports/checkins", "export.checkins", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_GET, "v1/exports/hosts", "export.hosts", TARGET_NONE, NULL },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/export-permission", "account.export-permission", TARGET_WILD, NULL },
  /* Every CSV export, whoever adds the route: the target says what was exported. */
  { SRV_HTTP_METHOD_GET, "v1/*/export", "export", TARGET_WILD, NULL },
  { SRV_HTTP_METHOD_GET, "v1/exports/*", "export", TARGET_WILD, NULL },
};

/* Public reads without a session that monitors poll: a success is not worth an
 * entry (and a write) each time; a refusal still is. */
static gboolean
quiet_route(char **seg, SrvHttpMethod method)
{
  return method == SRV_HTTP_METHOD_GET && (srv_api_path_match(seg, "healthz", NULL) ||
                                           srv_api_path_match(seg, "v1/ca", NULL));
}

/* The JSON object of a response body, or NULL. */
static JsonNode *
response_json(const SrvResponse *response)
{
  if (response->body == NULL || response->content_type == NULL ||
      !g_str_has_prefix(response->content_type, "application/json"))
    return NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data(response->body, &len);
  return data != NULL ? gk_json_parse_object(data, len, SRV_API_MAX_BODY, NULL) : NULL;
}

/* The string (or integer, as text) member @name of @node's object (g_free). */
static char *
json_member_text(JsonNode *node, const char *name)
{
  JsonObject *o = node != NULL ? json_node_get_object(node) : NULL;
  JsonNode *m = o != NULL ? json_object_get_member(o, name) : NULL;
  if (m == NULL || !JSON_NODE_HOLDS_VALUE(m))
    return NULL;
  if (json_node_get_value_type(m) == G_TYPE_STRING)
    return g_strdup(json_node_get_string(m));
  if (json_node_get_value_type(m) == G_TYPE_INT64)
    return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(m));
  return NULL;
}

static char *
error_code(const SrvResponse *response)
{
  g_autoptr(JsonNode) root = response_json(response);
  JsonObject *o = root != NULL ? json_node_get_object(root) : NULL;
  JsonNode *e = o != NULL ? json_object_get_member(o, "error") : NULL;
  if (e == NULL || !JSON_NODE_HOLDS_OBJECT(e))
    return g_strdup("unknown");
  return g_strdup(gk_json_get_string(json_node_get_object(e), "code", "unknown"));
}

static void
record_request(SrvApp *app, Scope *scope, const SrvRequest *request, const SrvResponse *response)
{
  g_auto(GStrv) seg = srv_api_path_segments(request);
  SrvHttpMethod method = request->http->method;
  if (seg != NULL && response->status < 300 && quiet_route(seg, method))
    return;
  const char *action = "request";
  TargetFrom from = TARGET_PATH;
  const char *member = NULL;
  const char *wild = NULL;
  for (guint i = 0; seg != NULL && i < G_N_ELEMENTS(route_actions); i++)
    if (route_actions[i].method == method && srv_api_path_match(seg, route_actions[i].pattern, &wild)) {
      action = route_actions[i].action;
      from = route_actions[i].target;
      member = route_actions[i].member;
      break;
    }

  SrvAuditResult result = response->status < 400 ? SRV_AUDIT_OK
                          : response->status < 500 ? SRV_AUDIT_REFUSED : SRV_AUDIT_ERROR;
  g_autofree char *reason = result != SRV_AUDIT_OK ? error_code(response) : NULL;
  g_autofree char *target = NULL;
  if (from == TARGET_WILD)
    target = g_strdup(wild);
  else if (from == TARGET_PATH)
    target = g_strdup_printf("%s %s", srv_http_method_name(method), request->http->path);
  else if (from == TARGET_ANSWER && result == SRV_AUDIT_OK) {
    g_autoptr(JsonNode) answer = response_json(response);
    target = json_member_text(answer, member);
  }

  SrvAuditEntry entry = { .action = action, .result = result, .reason = reason, .target = target };
  if (strcmp(action, "login") == 0 && result != SRV_AUDIT_OK) {
    entry.action = "login.refused";
  } else if (response->status == 401) {
    /* No valid session: what it tried is the target. */
    entry.action = "session.refused";
    entry.target = action;
  } else if (strcmp(action, "device.enroll") == 0 && result == SRV_AUDIT_OK && target != NULL) {
    entry.actor = target;
    entry.actor_kind = SRV_AUDIT_ACTOR_DEVICE;
  }
  srv_audit_record(app, &entry);
  scope->recorded = TRUE;
}

void
srv_audit_request_end(SrvApp *app, const SrvRequest *request, const SrvResponse *response)
{
  g_return_if_fail(app != NULL && request != NULL && response != NULL);
  Scope *scope = scope_current();
  if (scope == NULL)
    return;
  if (!scope->recorded)
    record_request(app, scope, request, response);
  scope->active = FALSE;
  scope->request = NULL;
  g_clear_pointer(&scope->actor, g_free);
}

/* ---- query strings ------------------------------------------------------------------------ */

void
srv_audit_query_clear(SrvAuditQuery *query)
{
  g_free(query->actor);
  g_free(query->action);
  memset(query, 0, sizeof *query);
}

static gboolean G_GNUC_PRINTF(2, 3)
bad_query(GError **error, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *message = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error_literal(error, SRV_AUDIT_QUERY_ERROR, SRV_AUDIT_QUERY_ERROR_INVALID, message);
  return FALSE;
}

/* Latest time accepted: 9999-12-31T23:59:59Z. */
#define TIME_MAX G_GINT64_CONSTANT(253402300799)

gboolean
srv_audit_query_time(const char *name, const char *text, gint64 *out, GError **error)
{
  guint64 v = 0;
  if (g_ascii_isdigit(text[0]) && strspn(text, "0123456789") == strlen(text)) {
    if (!g_ascii_string_to_unsigned(text, 10, 0, TIME_MAX, &v, NULL))
      return bad_query(error, "%s is out of range", name);
    *out = (gint64) v;
    return TRUE;
  }
  /* ISO 8601 with its zone: never the server's local time. */
  g_autoptr(GDateTime) dt = strlen(text) <= 40 ? g_date_time_new_from_iso8601(text, NULL) : NULL;
  if (dt == NULL || g_date_time_to_unix(dt) < 0 || g_date_time_to_unix(dt) > TIME_MAX)
    return bad_query(error, "%s must be Unix seconds or ISO 8601 with Z or an offset (2026-05-01T09:00:00Z)", name);
  *out = g_date_time_to_unix(dt);
  return TRUE;
}

static gboolean
parse_name(const char *what, const char *text, char **out, GError **error)
{
  g_autofree char *decoded = g_uri_unescape_string(text, NULL);
  gsize len = decoded != NULL ? strlen(decoded) : 0;
  if (decoded == NULL || len == 0 || len > ACTOR_MAX || !g_utf8_validate(decoded, (gssize) len, NULL))
    return bad_query(error, "%s must be 1-%d bytes of UTF-8, percent-encoded", what, ACTOR_MAX);
  for (const char *p = decoded; *p != '\0'; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
      return bad_query(error, "%s must not contain control characters", what);
  }
  *out = g_steal_pointer(&decoded);
  return TRUE;
}

static gboolean
parse_pair(const char *name, const char *value, gboolean allow_bom, SrvAuditQuery *out, GError **error)
{
  guint64 v = 0;
  if (strcmp(name, "since") == 0) {
    out->has_since = TRUE;
    return srv_audit_query_time("since", value, &out->since, error);
  }
  if (strcmp(name, "actor") == 0)
    return parse_name("actor", value, &out->actor, error);
  if (strcmp(name, "action") == 0)
    return parse_name("action", value, &out->action, error);
  if (strcmp(name, "limit") == 0) {
    if (!g_ascii_isdigit(value[0]) || !g_ascii_string_to_unsigned(value, 10, 1, SRV_AUDIT_LIST_MAX, &v, NULL))
      return bad_query(error, "limit must be a whole number from 1 to %d", SRV_AUDIT_LIST_MAX);
    out->limit = (guint) v;
    return TRUE;
  }
  if (strcmp(name, "after") == 0) {
    if (!g_ascii_isdigit(value[0]) || !g_ascii_string_to_unsigned(value, 10, 0, G_MAXINT64, &v, NULL))
      return bad_query(error, "after must be an entry's seq (a whole number)");
    out->after_seq = (gint64) v;
    out->has_after = TRUE;
    return TRUE;
  }
  if (allow_bom && strcmp(name, "bom") == 0) {
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
      return bad_query(error, "bom must be 0 or 1");
    out->bom = value[0] == '1';
    return TRUE;
  }
  return bad_query(error, "unknown query parameter");
}

gboolean
srv_audit_query_parse(const char *query, gboolean allow_bom, SrvAuditQuery *out, GError **error)
{
  g_return_val_if_fail(out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  if (query == NULL || *query == '\0')
    return TRUE;
  if (strlen(query) > 2048)
    return bad_query(error, "the query string is too long");
  g_auto(GStrv) pairs = g_strsplit(query, "&", 0);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; pairs[i] != NULL; i++) {
    char *eq = strchr(pairs[i], '=');
    if (eq == NULL) {
      srv_audit_query_clear(out);
      return bad_query(error, "query parameters must be name=value");
    }
    *eq = '\0';
    if (!g_hash_table_add(seen, pairs[i])) {
      srv_audit_query_clear(out);
      return bad_query(error, "a query parameter is given twice");
    }
    if (!parse_pair(pairs[i], eq + 1, allow_bom, out, error)) {
      srv_audit_query_clear(out);
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- admin API routes ------------------------------------------------------------------------ */

static char *
format_time(gint64 unix_seconds)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(unix_seconds);
  return dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("");
}

static void
add_text_or_null(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value != NULL && *value != '\0')
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void
add_int_or_null(JsonBuilder *b, const char *name, gint64 value, gboolean has)
{
  json_builder_set_member_name(b, name);
  if (has)
    json_builder_add_int_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void
add_hex(JsonBuilder *b, const char *name, const guint8 *data)
{
  g_autofree char *hex = gk_hex_encode(data, SRV_AUDIT_HASH_LEN);
  json_builder_set_member_name(b, name);
  json_builder_add_string_value(b, hex);
}

/* Parses the query and reads the entries; on failure fills @response. */
static GArray *
query_rows(SrvApp *app, const SrvRequest *request, SrvResponse *response, gboolean export, gboolean *out_more,
           gboolean *out_bom)
{
  g_auto(SrvAuditQuery) q = { 0 };
  g_autoptr(GError) error = NULL;
  if (!srv_audit_query_parse(request->http->query, export, &q, &error)) {
    srv_response_set_error(response, 400, "bad-request", error->message);
    return NULL;
  }
  SrvAuditFilter filter = {
    .site_id = app->site_id,
    .since = q.since,
    .after_seq = q.after_seq,
    .actor = q.actor,
    .action = q.action,
    .limit = q.limit > 0 ? q.limit : export ? SRV_AUDIT_LIST_MAX : LIST_DEFAULT,
    /* A plain list shows the latest; an export or a bounded query reads forward. */
    .newest = !export && !q.has_since && !q.has_after,
  };
  *out_bom = q.bom;
  GArray *rows = srv_audit_store_list(app->store, &filter, out_more, &error);
  if (rows == NULL)
    srv_api_reply_error(response, error);
  return rows;
}

void
srv_audit_handle_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  gboolean more = FALSE, bom = FALSE;
  g_autoptr(GArray) rows = query_rows(app, request, response, FALSE, &more, &bom);
  if (rows == NULL)
    return;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "entries");
  json_builder_begin_array(b);
  for (guint i = 0; i < rows->len; i++) {
    const SrvAuditRow *r = &g_array_index(rows, SrvAuditRow, i);
    json_builder_begin_object(b);
    add_int_or_null(b, "seq", r->seq, TRUE);
    add_int_or_null(b, "at", r->at, TRUE);
    add_text_or_null(b, "actor", r->actor);
    add_text_or_null(b, "actor_kind", r->actor_kind);
    add_text_or_null(b, "source_ip", r->source_ip);
    add_text_or_null(b, "action", r->action);
    add_text_or_null(b, "target", r->target);
    add_text_or_null(b, "result", r->result);
    add_text_or_null(b, "reason", r->reason);
    add_hex(b, "prev_hash", r->prev_hash);
    add_hex(b, "hash", r->hash);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  gk_json_add_bool(b, "more", more);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

void
srv_audit_handle_verify(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  if (request->http->query != NULL && *request->http->query != '\0') {
    srv_response_set_error(response, 400, "bad-request", "this route takes no query parameters");
    return;
  }
  SrvAuditVerify v;
  g_autoptr(GError) error = NULL;
  if (!srv_audit_verify(app->store, &v, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_bool(b, "ok", v.ok);
  add_int_or_null(b, "entries", v.entries, TRUE);
  add_int_or_null(b, "first_bad_seq", v.first_bad_seq, !v.ok);
  add_text_or_null(b, "problem", srv_audit_problem_name(v.problem));
  add_int_or_null(b, "head_seq", v.head_seq, TRUE);
  add_hex(b, "head_hash", v.head_hash);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  if (!v.ok)
    GK_LOG_ERR("audit.chain_broken", GK_INT("first_bad_seq", v.first_bad_seq),
               GK_STR("problem", srv_audit_problem_name(v.problem)));
}

void
srv_audit_handle_export(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  gboolean more = FALSE, bom = FALSE;
  g_autoptr(GArray) rows = query_rows(app, request, response, TRUE, &more, &bom);
  if (rows == NULL)
    return;
  GString *csv = g_string_sized_new(256 + (gsize) rows->len * 200);
  if (bom)
    g_string_append(csv, SRV_CSV_BOM);
  g_string_append(csv, "seq,time_utc,actor_kind,actor,source_ip,action,target,result,reason,hash\r\n");
  for (guint i = 0; i < rows->len; i++) {
    const SrvAuditRow *r = &g_array_index(rows, SrvAuditRow, i);
    g_autofree char *seq = g_strdup_printf("%" G_GINT64_FORMAT, r->seq);
    g_autofree char *at = format_time(r->at);
    g_autofree char *hash = gk_hex_encode(r->hash, SRV_AUDIT_HASH_LEN);
    const char *cells[] = { seq, at, r->actor_kind, r->actor, r->source_ip, r->action,
                            r->target, r->result, r->reason, hash };
    srv_csv_row(csv, cells, G_N_ELEMENTS(cells));
  }
  gint64 last = rows->len > 0 ? g_array_index(rows, SrvAuditRow, rows->len - 1).seq : 0;
  response->status = 200;
  response->content_type = g_strdup("text/csv; charset=utf-8");
  response->body = g_string_free_to_bytes(csv);
  /* More than one page: the client asks again with after=X-Genkan-Last-Seq. */
  g_autofree char *last_text = g_strdup_printf("%" G_GINT64_FORMAT, last);
  const char *headers[] = { "Content-Disposition", "attachment; filename=\"genkan-audit.csv\"",
                            "X-Genkan-More", more ? "1" : "0",
                            "X-Genkan-Last-Seq", last_text, NULL };
  response->extra_headers = g_strdupv((char **) headers);
}
