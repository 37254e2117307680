/* Small helpers both API route files use: strict bodies, JSON answers, paths,
 * query strings, and mapping store errors to HTTP answers. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

#include "gk-json.h"
#include "srv-loop.h"

/* Largest JSON body any API route accepts (the loop caps all bodies at 1 MiB). */
#define SRV_API_MAX_BODY (1024 * 1024)

/* Parses and checks the request body; on failure fills @response with 400 and
 * returns NULL. */
JsonNode *srv_api_body(const SrvRequest *request, SrvResponse *response, const GkJsonField *fields,
                       gsize n_fields);
/* Answers 200 (or @status) with @builder's object. */
void srv_api_reply(SrvResponse *response, guint status, JsonBuilder *builder);
/* Maps a GError from the store or elsewhere to a 4xx/5xx answer; details of
 * internal failures go to the log only. */
void srv_api_reply_error(SrvResponse *response, const GError *error);

/* The decoded path split into segments ("/v1/devices/x" -> v1, devices, x), or
 * NULL when the path is not acceptable (bad escapes, dot segments...). */
char **srv_api_path_segments(const SrvRequest *request);
/* TRUE when the segments equal @pattern ("v1/devices/ * /revoke", with "*" for one
 * segment); *out_wild gets the segment that matched "*". */
gboolean srv_api_path_match(char **segments, const char *pattern, const char **out_wild);
/* Reads an integer query parameter within bounds; FALSE (and a 400 answer) for a
 * bad value or any parameter not listed in @allowed. */
gboolean srv_api_query_int(const SrvRequest *request, SrvResponse *response, const char *const *allowed,
                           const char *name, gint64 min, gint64 max, gint64 fallback, gint64 *out);
/* "Bearer TOKEN" from the Authorization header, or NULL. */
const char *srv_api_bearer(const SrvRequest *request);

/* Unix seconds now (UTC). */
gint64 srv_api_now(void);
