/* Strict JSON bodies: caps, types, bounds, unknown fields, hex ids. */
#include <string.h>

#include "gk-json.h"

static const GkJsonField fields[] = {
  { "token", GK_JSON_STRING, TRUE, 8, 64 },
  { "count", GK_JSON_INT, FALSE, 0, 100 },
  { "multi", GK_JSON_BOOL, FALSE, 0, 0 },
  { "events", GK_JSON_ARRAY, FALSE, 0, 3 },
};

static int
check_text(const char *text, GError **error)
{
  g_autoptr(JsonNode) node = gk_json_parse_object(text, strlen(text), 4096, error);
  if (node == NULL)
    return -1;
  return gk_json_check(json_node_get_object(node), fields, G_N_ELEMENTS(fields), FALSE, "body", error) ? 1 : 0;
}

static void
test_good(void)
{
  g_autoptr(GError) error = NULL;
  const char *text = "{\"token\":\"abcdefgh\",\"count\":3,\"multi\":true,\"events\":[1,2]}";
  g_autoptr(JsonNode) node = gk_json_parse_object(text, strlen(text), 4096, &error);
  g_assert_no_error(error);
  JsonObject *o = json_node_get_object(node);
  g_assert_true(gk_json_check(o, fields, G_N_ELEMENTS(fields), FALSE, "body", &error));
  g_assert_cmpstr(gk_json_get_string(o, "token", NULL), ==, "abcdefgh");
  g_assert_cmpint(gk_json_get_int(o, "count", -1), ==, 3);
  g_assert_true(gk_json_get_bool(o, "multi", FALSE));
  g_assert_cmpint(gk_json_get_int(o, "absent", 7), ==, 7);
}

static void
test_bad(void)
{
  static const struct {
    const char *text;
    int code;
    const char *mentions;
  } cases[] = {
    { "", GK_JSON_ERROR_SYNTAX, "empty" },
    { "{", GK_JSON_ERROR_SYNTAX, "not valid JSON" },
    { "[1]", GK_JSON_ERROR_TYPE, "object" },
    { "{}", GK_JSON_ERROR_MISSING, "body.token" },
    { "{\"token\":null}", GK_JSON_ERROR_MISSING, "body.token" },
    { "{\"token\":12345678}", GK_JSON_ERROR_TYPE, "body.token must be a string" },
    { "{\"token\":\"short\"}", GK_JSON_ERROR_RANGE, "8 to 64" },
    { "{\"token\":\"abcdefgh\",\"count\":1.5}", GK_JSON_ERROR_TYPE, "integer" },
    { "{\"token\":\"abcdefgh\",\"count\":101}", GK_JSON_ERROR_RANGE, "between 0 and 100" },
    { "{\"token\":\"abcdefgh\",\"count\":-1}", GK_JSON_ERROR_RANGE, "count" },
    { "{\"token\":\"abcdefgh\",\"multi\":\"yes\"}", GK_JSON_ERROR_TYPE, "true or false" },
    { "{\"token\":\"abcdefgh\",\"events\":[1,2,3,4]}", GK_JSON_ERROR_RANGE, "elements" },
    { "{\"token\":\"abcdefgh\",\"admin\":true}", GK_JSON_ERROR_UNKNOWN, "\"admin\"" },
    { "{\"token\":\"abcd\\u0001efgh\"}", GK_JSON_ERROR_RANGE, "control character" },
    /* json-glib takes a backslash and digits as an octal escape, which makes a
     * byte (here 0x8d) that is not UTF-8 (found by fuzz-retention-body). */
    { "{\"token\":\"abcd\\615efgh\"}", GK_JSON_ERROR_RANGE, "UTF-8" },
    { "{\"token\":\"abcdefgh\"} trailing", GK_JSON_ERROR_SYNTAX, "JSON" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_cmpint(check_text(cases[i].text, &error), <=, 0);
    g_assert_nonnull(error);
    if (error->code != cases[i].code || strstr(error->message, cases[i].mentions) == NULL)
      g_error("case %u (%s): got code %d '%s'", i, cases[i].text, error->code, error->message);
  }
}

static void
test_caps(void)
{
  g_autoptr(GError) error = NULL;
  /* Deep nesting is refused before json-glib recurses into it. */
  GString *deep = g_string_new("{\"token\":");
  for (int i = 0; i < 100000; i++)
    g_string_append_c(deep, '[');
  g_assert_null(gk_json_parse_object(deep->str, deep->len, 1 << 20, &error));
  g_assert_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX);
  g_assert_nonnull(strstr(error->message, "deeper"));
  g_string_free(deep, TRUE);
  g_clear_error(&error);

  /* Brackets inside strings do not count as nesting. */
  const char *in_string = "{\"token\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
  g_autoptr(JsonNode) ok = gk_json_parse_object(in_string, strlen(in_string), 4096, &error);
  g_assert_no_error(error);
  g_assert_nonnull(ok);

  const char *big = "{\"token\":\"abcdefghijkl\"}";
  g_assert_null(gk_json_parse_object(big, strlen(big), 10, &error));
  g_assert_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX);
  g_clear_error(&error);

  const char nul[] = "{\"token\":\"a\0bcdefgh\"}";
  g_assert_null(gk_json_parse_object(nul, sizeof nul - 1, 4096, &error));
  g_assert_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX);
  g_clear_error(&error);

  const char *bad_utf8 = "{\"token\":\"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\"}";
  g_assert_null(gk_json_parse_object(bad_utf8, strlen(bad_utf8), 4096, &error));
  g_assert_error(error, GK_JSON_ERROR, GK_JSON_ERROR_SYNTAX);
}

static void
test_hex(void)
{
  guint8 id[16];
  g_assert_true(gk_hex_decode_16("00112233445566778899aabbccddeeFF", id));
  g_assert_cmpuint(id[0], ==, 0x00);
  g_assert_cmpuint(id[15], ==, 0xff);
  g_autofree char *hex = gk_hex_encode(id, 16);
  g_assert_cmpstr(hex, ==, "00112233445566778899aabbccddeeff");
  g_assert_false(gk_hex_decode_16("00112233445566778899aabbccddeef", id));
  g_assert_false(gk_hex_decode_16("00112233445566778899aabbccddeeffa", id));
  g_assert_false(gk_hex_decode_16("0011223344556677889gaabbccddeeff", id));
  g_assert_false(gk_hex_decode_16(NULL, id));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/json/good", test_good);
  g_test_add_func("/shared/json/bad", test_bad);
  g_test_add_func("/shared/json/caps", test_caps);
  g_test_add_func("/shared/json/hex", test_hex);
  return g_test_run();
}
