/* kiosk-settings: every key's good and bad values, the defaults, a pull's
 * device.config stored whole (unknown keys skipped, a bad value refuses all),
 * and the purge following retention-hours. */
#include <string.h>

#include "gk-json.h"
#include "gk-test-util.h"
#include "kiosk-settings.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"

typedef struct {
  const char *key;
  const char *good[6];
  const char *bad[10];
} ValueCase;

static const ValueCase value_cases[] = {
  { "mode", { "reception", "gate" }, { "", "Gate", "door", "gate " } },
  { "language", { "ja", "en" }, { "", "fr", "EN", "ja,en" } },
  { "site-text", { "Welcome", "ようこそ", "x" }, { "", "two\nlines", "esc\x1b[2J", "\xff\xfe" } },
  { "terms-text", { "Line 1\nLine 2\n\nLine 4", "利用規約" }, { "", "bell\x07", "tab\t", "cr\r\n", "\xc3" } },
  { "walkin-required", { "name,host", "name", "name,company,purpose,host", "host,host,host,host,host,host,host,host,host,host,host,host,host,host,host" },
    { "", "name,", ",name", "name,,host", "phone", "Name" } },
  { "photo", { "true", "false" }, { "", "yes", "1", "TRUE" } },
  { "host-browse", { "true", "false" }, { "", "on", "0", "False" } },
  /* '+' and leading zeros: the server takes them (g_ascii_string_to_signed), so must the device. */
  { "idle-timeout-s", { "10", "60", "600", "+60", "060" }, { "", "9", "601", "-10", "60s", " 60", "0x3c", "99999999999" } },
  { "retention-hours", { "1", "24", "8760" }, { "", "0", "8761", "1.5", "24h" } },
  { "admin-pin-hash", { "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g" },
    { "", "1234", "$argon2i$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$ space", "$argon2id$\n" } },
  { "printer", { "Office_Printer-2", "lp.0" }, { "", "my printer", "a/b", "プリンタ" } },
  { "door-output", { "none", "command", "gpio" }, { "", "relay", "None" } },
  { "door-command", { "/usr/local/bin/open-door --pulse 1", "open" }, { "", "a\nb" } },
  { "door-gpio", { "gpiochip0:17", "gpiochip1:0", "gpio_chip-2:1023" },
    { "", "gpiochip0", ":17", "gpiochip0:", "gpiochip0:x", "gpio chip:1", "gpiochip0:1024", "gpio.chip:1",
      "a23456789012345678901234567890123:1" } },
  { "door-pulse-ms", { "50", "1000", "10000" }, { "", "49", "10001", "1e3" } },
  /* Good logos are real PNGs, made in test_values (gk_test_png_base64). */
  { "logo", { NULL }, { "", "not base64!", "aGVsbG8=", "iVBORw0KGgo=" } },
};

static void
test_values(void)
{
  gsize n = 0;
  const KioskSetting *table = kiosk_settings_table(&n);
  /* Every key in the table has cases here, and the other way round. */
  g_assert_cmpuint(n, ==, G_N_ELEMENTS(value_cases));
  for (gsize i = 0; i < n; i++)
    g_assert_cmpstr(table[i].key, ==, value_cases[i].key);

  for (gsize i = 0; i < G_N_ELEMENTS(value_cases); i++) {
    const ValueCase *c = &value_cases[i];
    for (gsize k = 0; k < G_N_ELEMENTS(c->good) && c->good[k] != NULL; k++) {
      g_autoptr(GError) error = NULL;
      if (!kiosk_settings_validate(c->key, c->good[k], &error))
        g_error("%s=%s refused: %s", c->key, c->good[k], error->message);
    }
    for (gsize k = 0; k < G_N_ELEMENTS(c->bad) && c->bad[k] != NULL; k++) {
      g_autoptr(GError) error = NULL;
      if (kiosk_settings_validate(c->key, c->bad[k], &error))
        g_error("%s=%s accepted", c->key, c->bad[k]);
      g_assert_error(error, KIOSK_SETTINGS_ERROR, KIOSK_SETTINGS_ERROR_BAD_VALUE);
      g_assert_nonnull(strstr(error->message, c->key));
    }
  }

  g_autofree char *logo = gk_test_png_base64(180, 60);
  g_assert_true(kiosk_settings_validate("logo", logo, NULL));

  /* Length limits are bytes. */
  g_autofree char *site200 = g_strnfill(200, 'a'), *site201 = g_strnfill(201, 'a');
  g_autofree char *terms = g_strnfill(20000, 'a'), *terms_long = g_strnfill(20001, 'a');
  g_autofree char *printer_long = g_strnfill(101, 'p'), *cmd_long = g_strnfill(501, 'c');
  g_assert_true(kiosk_settings_validate("site-text", site200, NULL));
  g_assert_false(kiosk_settings_validate("site-text", site201, NULL));
  g_assert_true(kiosk_settings_validate("terms-text", terms, NULL));
  g_assert_false(kiosk_settings_validate("terms-text", terms_long, NULL));
  g_assert_false(kiosk_settings_validate("printer", printer_long, NULL));
  g_assert_false(kiosk_settings_validate("door-command", cmd_long, NULL));

  /* Keys outside the table; the PIN itself never reaches a device. */
  static const char *const unknown[] = { "admin-pin", "colour", "", "Language" };
  for (gsize i = 0; i < G_N_ELEMENTS(unknown); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_false(kiosk_settings_validate(unknown[i], "x", &error));
    g_assert_error(error, KIOSK_SETTINGS_ERROR, KIOSK_SETTINGS_ERROR_UNKNOWN_KEY);
  }
  /* A bad PIN hash is not quoted in the message. */
  g_autoptr(GError) error = NULL;
  g_assert_false(kiosk_settings_validate("admin-pin-hash", "secret-1234", &error));
  g_assert_null(strstr(error->message, "1234"));
}

static JsonObject *
parse_object(const char *json, JsonNode **keep)
{
  g_autoptr(GError) error = NULL;
  *keep = gk_json_parse_object(json, strlen(json), 1 << 20, &error);
  g_assert_no_error(error);
  return json_node_get_object(*keep);
}

static gboolean
apply(KioskStore *s, const char *json, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  JsonObject *o = parse_object(json, &root);
  return kiosk_sync_apply_device(s, o, error);
}

static void
test_store(void)
{
  g_autofree char *tmp = gk_test_make_tmpdir("kiosk-settings");
  g_autoptr(GError) error = NULL;
  KioskStore *s = kiosk_store_create(tmp, &error);
  g_assert_no_error(error);
  g_assert_true(kiosk_store_set_meta(s, "mode", "gate", &error));

  /* Defaults before anything is set. */
  g_autofree char *lang = kiosk_settings_get(s, "language");
  g_assert_cmpstr(lang, ==, "ja");
  g_autofree char *mode = kiosk_settings_get(s, "mode");
  g_assert_cmpstr(mode, ==, "gate");
  g_assert_null(kiosk_store_get_setting(s, "language"));
  g_assert_null(kiosk_settings_get(s, "printer"));
  g_assert_cmpint(kiosk_settings_get_int(s, "idle-timeout-s"), ==, 60);
  g_assert_cmpint(kiosk_settings_get_int(s, "retention-hours"), ==, 24);
  g_assert_cmpint(kiosk_settings_get_int(s, "door-pulse-ms"), ==, 1000);
  g_assert_false(kiosk_settings_get_bool(s, "photo"));

  /* An older server: no config, nothing changes, no version. */
  g_assert_true(apply(s, "{\"name\":\"Gate 1\",\"mode\":\"gate\",\"cert_expires_at\":5000}", &error));
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_store_get_meta_int(s, "config_version", -1), ==, -1);
  g_assert_cmpint(kiosk_store_get_meta_int(s, "cert_expires_at", 0), ==, 5000);

  /* A config: stored with its version; an unknown key is skipped; mode follows. */
  g_assert_true(apply(s,
                      "{\"name\":\"Gate 1\",\"mode\":\"gate\",\"config_version\":3,\"config\":{"
                      "\"language\":\"en\",\"idle-timeout-s\":\"30\",\"retention-hours\":\"48\",\"photo\":\"true\","
                      "\"mode\":\"reception\",\"hologram\":\"on\",\"admin-pin-hash\":\"$argon2id$v=19$abc\"}}",
                      &error));
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_store_get_meta_int(s, "config_version", -1), ==, 3);
  g_autofree char *lang2 = kiosk_settings_get(s, "language");
  g_assert_cmpstr(lang2, ==, "en");
  g_assert_cmpint(kiosk_settings_get_int(s, "idle-timeout-s"), ==, 30);
  g_assert_cmpint(kiosk_settings_get_int(s, "retention-hours"), ==, 48);
  g_assert_true(kiosk_settings_get_bool(s, "photo"));
  g_autofree char *mode2 = kiosk_store_get_meta(s, "mode");
  g_assert_cmpstr(mode2, ==, "reception");
  g_assert_null(kiosk_store_get_setting(s, "hologram"));
  g_autofree char *hash = kiosk_store_get_setting(s, "admin-pin-hash");
  g_assert_cmpstr(hash, ==, "$argon2id$v=19$abc");

  /* Bad answers change nothing: a bad value, a non-string, a config without
   * its version, a negative version. */
  static const char *const bad[] = {
    "{\"config_version\":4,\"config\":{\"language\":\"fr\"}}",
    "{\"config_version\":4,\"config\":{\"language\":\"ja\",\"idle-timeout-s\":\"5\"}}",
    "{\"config_version\":4,\"config\":{\"idle-timeout-s\":30}}",
    "{\"config_version\":4,\"config\":{\"language\":null}}",
    "{\"config\":{\"language\":\"ja\"}}",
    "{\"config_version\":-1,\"config\":{}}",
    "{\"config_version\":4,\"config\":[]}",
    "{\"config_version\":\"4\",\"config\":{}}",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    if (apply(s, bad[i], &error))
      g_error("accepted %s", bad[i]);
    g_assert_error(error, KIOSK_SYNC_ERROR, KIOSK_SYNC_ERROR_BAD_ANSWER);
    g_clear_error(&error);
    g_assert_cmpint(kiosk_store_get_meta_int(s, "config_version", -1), ==, 3);
    g_autofree char *l = kiosk_settings_get(s, "language");
    g_assert_cmpstr(l, ==, "en");
  }

  /* A key left out goes back to its default; the version without a config
   * means "no settings". */
  g_assert_true(apply(s, "{\"config_version\":5,\"config\":{\"retention-hours\":\"1\"}}", &error));
  g_assert_no_error(error);
  g_autofree char *lang3 = kiosk_settings_get(s, "language");
  g_assert_cmpstr(lang3, ==, "ja");
  g_assert_null(kiosk_store_get_setting(s, "admin-pin-hash"));
  g_assert_cmpint(kiosk_settings_get_int(s, "retention-hours"), ==, 1);
  g_autofree char *mode3 = kiosk_settings_get(s, "mode");
  g_assert_cmpstr(mode3, ==, "reception"); /* the device row's mode stays */

  /* The purge keeps visitor data for retention-hours (1 h now) after the visit. */
  static const char page_json[] =
    "{\"changes\":[{\"seq\":1,\"type\":\"ticket\",\"data\":{\"id\":\"00112233445566778899aabbccddeeff\","
    "\"valid_from\":100,\"valid_until\":200,\"flags\":0,\"key_id\":1,\"revoked\":false,\"visitor\":\"Ada\","
    "\"host_id\":null}}]}";
  g_autoptr(JsonNode) page_root = NULL;
  JsonObject *page = parse_object(page_json, &page_root);
  g_assert_true(kiosk_store_apply_page(s, json_object_get_array_member(page, "changes"), 1, NULL, &error));
  g_assert_no_error(error);
  g_assert_true(kiosk_store_put_redemption(s, "00112233445566778899aabbccddeeff", 150, "dev-1", "Gate 1", 200,
                                           &error));
  KioskRedemption r;
  g_assert_true(kiosk_store_purge(s, 200 + 3600, &error)); /* not yet past */
  g_assert_true(kiosk_store_get_redemption(s, "00112233445566778899aabbccddeeff", &r, &error));
  g_assert_true(r.found);
  kiosk_redemption_clear(&r);
  g_assert_true(kiosk_store_purge(s, 200 + 3600 + 1, &error));
  g_assert_true(kiosk_store_get_redemption(s, "00112233445566778899aabbccddeeff", &r, &error));
  g_assert_false(r.found);
  kiosk_redemption_clear(&r);

  /* No setting: the 24 h default. */
  g_assert_true(apply(s, "{\"config_version\":6}", &error));
  g_assert_true(kiosk_store_put_redemption(s, "00112233445566778899aabbccddeeff", 150, "dev-1", "Gate 1", 200,
                                           &error));
  g_assert_true(kiosk_store_purge(s, 200 + 86400, &error));
  g_assert_true(kiosk_store_get_redemption(s, "00112233445566778899aabbccddeeff", &r, &error));
  g_assert_true(r.found);
  kiosk_redemption_clear(&r);
  g_assert_true(kiosk_store_purge(s, 200 + 86400 + 1, &error));
  g_assert_true(kiosk_store_get_redemption(s, "00112233445566778899aabbccddeeff", &r, &error));
  g_assert_false(r.found);
  kiosk_redemption_clear(&r);

  kiosk_store_close(s);
  gk_test_rmtree(tmp);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/kiosk/settings/values", test_values);
  g_test_add_func("/kiosk/settings/store", test_store);
  return g_test_run();
}
