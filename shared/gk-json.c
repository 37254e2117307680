/* Strict JSON input: caps first, then json-glib, then a declarative schema. */
#include "gk-json.h"

#include <string.h>

G_DEFINE_QUARK(gk-json-error-quark, gk_json_error)

/* json-glib's parser recurses once per nesting level; deep input would exhaust
 * the stack, so depth is counted on the raw bytes first (outside strings). */
static gboolean
depth_ok(const char *data, gsize len)
{
  int depth = 0;
  gboolean in_string = FALSE, escaped = FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = data[i];
    if (in_string) {
      if (escaped)
        escaped = FALSE;
      else if (c == '\\')
        escaped = TRUE;
      else if (c == '"')
        in_string = FALSE;
      continue;
    }
    if (c == '"')
      in_string = TRUE;
    else if (c == '{' || c == '[') {
      if (++depth > GK_JSON_MAX_DEPTH)
        return FALSE;
    } else if (c == '}' || c == ']')
      depth--;
  }
  return TRUE;
}

JsonNode *
gk_json_parse_object(const char *data, gsize len, gsize max_len, GError **error)
{
  if (data == NULL || len == 0) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX, "the body is empty; a JSON object was expected");
    return NULL;
  }
  if (len > max_len) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX, "the body is larger than %" G_GSIZE_FORMAT " bytes", max_len);
    return NULL;
  }
  if (memchr(data, '\0', len) != NULL || !g_utf8_validate(data, (gssize) len, NULL)) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX, "the body is not UTF-8 text");
    return NULL;
  }
  if (!depth_ok(data, len)) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX, "the body nests deeper than %d levels", GK_JSON_MAX_DEPTH);
    return NULL;
  }
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) local = NULL;
  if (!json_parser_load_from_data(parser, data, (gssize) len, &local)) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX, "the body is not valid JSON: %s", local->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_TYPE, "the body must be a JSON object");
    return NULL;
  }
  return json_node_copy(root);
}

static const char *
type_name(GkJsonType type)
{
  switch (type) {
  case GK_JSON_STRING: return "a string";
  case GK_JSON_INT: return "an integer";
  case GK_JSON_BOOL: return "true or false";
  case GK_JSON_ARRAY: return "an array";
  case GK_JSON_OBJECT: return "an object";
  default: return "?";
  }
}

static gboolean
check_field(JsonNode *node, const GkJsonField *f, const char *where, GError **error)
{
  gboolean type_ok = FALSE;
  switch (f->type) {
  case GK_JSON_STRING:
  case GK_JSON_INT:
  case GK_JSON_BOOL:
    if (JSON_NODE_HOLDS_VALUE(node)) {
      GType t = json_node_get_value_type(node);
      type_ok = (f->type == GK_JSON_STRING && t == G_TYPE_STRING) ||
                (f->type == GK_JSON_INT && t == G_TYPE_INT64) ||
                (f->type == GK_JSON_BOOL && t == G_TYPE_BOOLEAN);
    }
    break;
  case GK_JSON_ARRAY:
    type_ok = JSON_NODE_HOLDS_ARRAY(node);
    break;
  case GK_JSON_OBJECT:
    type_ok = JSON_NODE_HOLDS_OBJECT(node);
    break;
  default:
    break;
  }
  if (!type_ok) {
    g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_TYPE, "%s.%s must be %s", where, f->name, type_name(f->type));
    return FALSE;
  }

  gint64 measure;
  const char *what;
  if (f->type == GK_JSON_STRING) {
    const char *s = json_node_get_string(node);
    for (const char *p = s; *p; p++) {
      if (((guchar) *p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f) {
        g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_RANGE, "%s.%s contains a control character", where, f->name);
        return FALSE;
      }
    }
    measure = (gint64) strlen(s);
    what = "bytes long";
  } else if (f->type == GK_JSON_INT) {
    measure = json_node_get_int(node);
    what = "";
  } else if (f->type == GK_JSON_ARRAY) {
    measure = json_array_get_length(json_node_get_array(node));
    what = "elements";
  } else {
    return TRUE;
  }
  if (measure < f->min || measure > f->max) {
    if (f->type == GK_JSON_INT)
      g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_RANGE,
                  "%s.%s must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT, where, f->name, f->min, f->max);
    else
      g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_RANGE,
                  "%s.%s must be %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT " %s", where, f->name, f->min, f->max, what);
    return FALSE;
  }
  return TRUE;
}

gboolean
gk_json_check(JsonObject *object, const GkJsonField *fields, gsize n_fields, gboolean allow_unknown,
              const char *where, GError **error)
{
  g_return_val_if_fail(object != NULL && where != NULL, FALSE);
  for (gsize i = 0; i < n_fields; i++) {
    JsonNode *node = json_object_get_member(object, fields[i].name);
    if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
      if (fields[i].required) {
        g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_MISSING, "%s.%s is required", where, fields[i].name);
        return FALSE;
      }
      continue;
    }
    if (!check_field(node, &fields[i], where, error))
      return FALSE;
  }
  if (allow_unknown)
    return TRUE;

  g_autoptr(GList) members = json_object_get_members(object);
  for (GList *m = members; m; m = m->next) {
    gboolean known = FALSE;
    for (gsize i = 0; i < n_fields && !known; i++)
      known = strcmp(m->data, fields[i].name) == 0;
    if (!known) {
      /* The name came from outside: keep it short and printable in the message. */
      g_autofree char *shown = g_utf8_make_valid(m->data, MIN(strlen(m->data), 40));
      g_strcanon(shown, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", '?');
      g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_UNKNOWN, "%s has an unknown field \"%s\"", where, shown);
      return FALSE;
    }
  }
  return TRUE;
}

const char *
gk_json_get_string(JsonObject *object, const char *name, const char *fallback)
{
  JsonNode *node = json_object_get_member(object, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
    return fallback;
  return json_node_get_string(node);
}

gint64
gk_json_get_int(JsonObject *object, const char *name, gint64 fallback)
{
  JsonNode *node = json_object_get_member(object, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
    return fallback;
  return json_node_get_int(node);
}

gboolean
gk_json_get_bool(JsonObject *object, const char *name, gboolean fallback)
{
  JsonNode *node = json_object_get_member(object, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
    return fallback;
  return json_node_get_boolean(node);
}

char *
gk_json_builder_to_string(JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  return json_to_string(root, FALSE);
}

gboolean
gk_hex_decode_16(const char *hex, guint8 out[16])
{
  if (hex == NULL || strlen(hex) != 32)
    return FALSE;
  for (int i = 0; i < 16; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]);
    int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return FALSE;
    out[i] = (guint8) (hi << 4 | lo);
  }
  return TRUE;
}

char *
gk_hex_encode(const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc(len * 2 + 1);
  for (gsize i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  out[len * 2] = '\0';
  return out;
}

void
gk_json_add_str(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value != NULL)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

void
gk_json_add_int(JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, value);
}

void
gk_json_add_bool(JsonBuilder *b, const char *name, gboolean value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_boolean_value(b, value);
}

void
gk_json_add_time_or_null(JsonBuilder *b, const char *name, gint64 unix_seconds)
{
  json_builder_set_member_name(b, name);
  if (unix_seconds != 0)
    json_builder_add_int_value(b, unix_seconds);
  else
    json_builder_add_null_value(b);
}
