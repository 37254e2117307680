/* Fuzz target: strict JSON body parsing and schema checks. Accepted input must
 * yield values inside the schema's bounds; refused input must carry an error. */
#include <stdint.h>
#include <string.h>

#include "gk-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const GkJsonField event_fields[] = {
  { "id", GK_JSON_STRING, TRUE, 8, 64 },
  { "kind", GK_JSON_STRING, TRUE, 1, 20 },
  { "ticket_id", GK_JSON_STRING, FALSE, 32, 32 },
  { "at", GK_JSON_INT, TRUE, 0, G_MAXINT32 },
  { "offline", GK_JSON_BOOL, FALSE, 0, 0 },
};
static const GkJsonField body_fields[] = {
  { "events", GK_JSON_ARRAY, TRUE, 0, 500 },
  { "device_time", GK_JSON_INT, FALSE, 0, G_MAXINT32 },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GError *error = NULL;
  JsonNode *node = gk_json_parse_object((const char *) data, size, 1 << 16, &error);
  if (node == NULL) {
    if (error == NULL)
      __builtin_trap();
    g_error_free(error);
    return 0;
  }
  JsonObject *body = json_node_get_object(node);
  if (gk_json_check(body, body_fields, G_N_ELEMENTS(body_fields), FALSE, "body", &error)) {
    JsonArray *events = json_object_get_array_member(body, "events");
    if (json_array_get_length(events) > 500)
      __builtin_trap();
    for (guint i = 0; i < json_array_get_length(events); i++) {
      JsonNode *el = json_array_get_element(events, i);
      if (!JSON_NODE_HOLDS_OBJECT(el))
        continue;
      JsonObject *ev = json_node_get_object(el);
      if (gk_json_check(ev, event_fields, G_N_ELEMENTS(event_fields), FALSE, "event", &error)) {
        gsize len = strlen(gk_json_get_string(ev, "id", ""));
        gint64 at = gk_json_get_int(ev, "at", -1);
        const char *tid = gk_json_get_string(ev, "ticket_id", NULL);
        guint8 id[16];
        if (len < 8 || len > 64 || at < 0 || at > G_MAXINT32 || (tid && strlen(tid) != 32))
          __builtin_trap();
        if (tid)
          (void) gk_hex_decode_16(tid, id);
      } else {
        g_clear_error(&error);
      }
    }
  } else {
    if (error == NULL)
      __builtin_trap();
    g_clear_error(&error);
  }
  json_node_unref(node);
  return 0;
}
