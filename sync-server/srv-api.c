/* Helpers both API route files use: strict JSON bodies and answers, decoded
 * paths, strict query strings, and error mapping. */
#include "srv-api.h"

#include <string.h>

#include "gk-log.h"
#include "srv-store.h"

gint64
srv_api_now(void)
{
  return g_get_real_time() / G_USEC_PER_SEC;
}

JsonNode *
srv_api_body(const SrvRequest *request, SrvResponse *response, const GkJsonField *fields, gsize n_fields)
{
  g_autoptr(GError) error = NULL;
  const SrvHttpRequest *http = request->http;
  JsonNode *node = gk_json_parse_object((const char *) http->body, http->body_len, SRV_API_MAX_BODY, &error);
  if (node != NULL &&
      !gk_json_check(json_node_get_object(node), fields, n_fields, FALSE, "body", &error))
    g_clear_pointer(&node, json_node_unref);
  if (node == NULL) {
    const char *code = "bad-request";
    if (error->code == GK_JSON_ERROR_SYNTAX)
      code = "bad-json";
    else if (error->code == GK_JSON_ERROR_UNKNOWN)
      code = "unknown-field";
    srv_response_set_error(response, 400, code, error->message);
  }
  return node;
}

void
srv_api_reply(SrvResponse *response, guint status, JsonBuilder *builder)
{
  srv_response_take_json(response, status, gk_json_builder_to_string(builder));
}

void
srv_api_reply_error(SrvResponse *response, const GError *error)
{
  if (error->domain == SRV_STORE_ERROR) {
    switch (error->code) {
    case SRV_STORE_ERROR_NOT_FOUND:
      srv_response_set_error(response, 404, "not-found", error->message);
      return;
    case SRV_STORE_ERROR_EXISTS:
      srv_response_set_error(response, 409, "exists", error->message);
      return;
    case SRV_STORE_ERROR_USED:
      srv_response_set_error(response, 409, "code-used", error->message);
      return;
    case SRV_STORE_ERROR_INVALID:
      srv_response_set_error(response, 400, "bad-request", error->message);
      return;
    default:
      break;
    }
  }
  GK_LOG_ERR("api.internal_error", GK_STR("domain", g_quark_to_string(error->domain)),
             GK_INT("code", error->code), GK_STR("error", error->message));
  srv_response_set_error(response, 500, "internal", "the server could not complete the request");
}

char **
srv_api_path_segments(const SrvRequest *request)
{
  g_autofree char *decoded = NULL;
  if (!srv_http_path_decode(request->http->path, &decoded))
    return NULL;
  /* "/v1/hosts" -> "", "v1", "hosts"; drop the empty first one. A trailing
   * slash gives an empty last segment, which no route matches. */
  g_auto(GStrv) parts = g_strsplit(decoded, "/", 16);
  guint n = g_strv_length(parts);
  if (n < 2)
    return NULL;
  char **out = g_new0(char *, n);
  for (guint i = 1; i < n; i++)
    out[i - 1] = g_strdup(parts[i]);
  return out;
}

gboolean
srv_api_path_match(char **segments, const char *pattern, const char **out_wild)
{
  g_auto(GStrv) want = g_strsplit(pattern, "/", -1);
  guint n = g_strv_length(want);
  if (segments == NULL || g_strv_length(segments) != n)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (strcmp(want[i], "*") == 0) {
      if (segments[i][0] == '\0')
        return FALSE;
      if (out_wild)
        *out_wild = segments[i];
    } else if (strcmp(want[i], segments[i]) != 0) {
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
srv_api_query_int(const SrvRequest *request, SrvResponse *response, const char *const *allowed,
                  const char *name, gint64 min, gint64 max, gint64 fallback, gint64 *out)
{
  *out = fallback;
  const char *query = request->http->query;
  if (query == NULL || *query == '\0')
    return TRUE;
  g_auto(GStrv) pairs = g_strsplit(query, "&", 16);
  for (guint i = 0; pairs[i]; i++) {
    char *eq = strchr(pairs[i], '=');
    if (eq == NULL) {
      srv_response_set_error(response, 400, "bad-request", "query parameters must be name=value");
      return FALSE;
    }
    *eq = '\0';
    if (!g_strv_contains(allowed, pairs[i])) {
      srv_response_set_error(response, 400, "bad-request", "unknown query parameter");
      return FALSE;
    }
    if (strcmp(pairs[i], name) != 0)
      continue;
    gint64 v;
    if (!g_ascii_string_to_signed(eq + 1, 10, min, max, &v, NULL)) {
      g_autofree char *msg = g_strdup_printf("%s must be a whole number from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                                             name, min, max);
      srv_response_set_error(response, 400, "bad-request", msg);
      return FALSE;
    }
    *out = v;
  }
  return TRUE;
}

const char *
srv_api_bearer(const SrvRequest *request)
{
  const char *auth = srv_http_request_header(request->http, "Authorization");
  if (auth == NULL || g_ascii_strncasecmp(auth, "Bearer ", 7) != 0)
    return NULL;
  return auth + 7;
}
