/* Strict parsing of JSON bodies from outside (HTTP requests and answers): size
 * and nesting caps before json-glib sees a byte, then a declarative field list
 * that checks presence, type and bounds, and refuses unknown fields. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

#define GK_JSON_ERROR gk_json_error_quark()
GQuark gk_json_error_quark(void);
typedef enum {
  GK_JSON_ERROR_SYNTAX,   /* not JSON, too large or too deep */
  GK_JSON_ERROR_TYPE,     /* not an object / a field of the wrong type */
  GK_JSON_ERROR_MISSING,  /* a required field is absent */
  GK_JSON_ERROR_UNKNOWN,  /* a field the schema does not name */
  GK_JSON_ERROR_RANGE,    /* a value or length outside its bounds */
} GkJsonError;

#define GK_JSON_MAX_DEPTH 16

typedef enum {
  GK_JSON_STRING, /* bounds: length in bytes; no control characters but \t\n */
  GK_JSON_INT,    /* bounds: value; integers only, no fractions or exponents */
  GK_JSON_BOOL,
  GK_JSON_ARRAY,  /* bounds: number of elements */
  GK_JSON_OBJECT,
} GkJsonType;

typedef struct {
  const char *name;
  GkJsonType type;
  gboolean required;
  gint64 min;
  gint64 max;
} GkJsonField;

/* Parses @data (at most @max_len bytes, at most GK_JSON_MAX_DEPTH deep) into a
 * node whose root is an object. */
JsonNode *gk_json_parse_object(const char *data, gsize len, gsize max_len, GError **error);

/* Checks @object against @fields. With @allow_unknown FALSE, any other member is
 * an error. @where names the object in messages ("body", "events[3]"). */
gboolean gk_json_check(JsonObject *object, const GkJsonField *fields, gsize n_fields,
                       gboolean allow_unknown, const char *where, GError **error);

/* Getters for fields gk_json_check() has validated; absent optional fields give
 * the fallback. */
const char *gk_json_get_string(JsonObject *object, const char *name, const char *fallback);
gint64 gk_json_get_int(JsonObject *object, const char *name, gint64 fallback);
gboolean gk_json_get_bool(JsonObject *object, const char *name, gboolean fallback);

/* Serialises @builder's root compactly (g_free). */
char *gk_json_builder_to_string(JsonBuilder *builder);
/* Builder shorthands, "name": value. A NULL string and a zero time are null. */
void gk_json_add_str(JsonBuilder *b, const char *name, const char *value);
void gk_json_add_int(JsonBuilder *b, const char *name, gint64 value);
void gk_json_add_bool(JsonBuilder *b, const char *name, gboolean value);
void gk_json_add_time_or_null(JsonBuilder *b, const char *name, gint64 unix_seconds);

/* Parses exactly 32 lowercase or uppercase hex digits into 16 bytes. */
gboolean gk_hex_decode_16(const char *hex, guint8 out[16]);
/* 2*len lowercase hex digits (g_free). */
char *gk_hex_encode(const guint8 *data, gsize len);
