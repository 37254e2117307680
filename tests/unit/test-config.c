/* Config loader: defaults, strict validation naming the bad key, and that a bad
 * file changes nothing. */
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "gk-config.h"
#include "gk-test-util.h"

static const char *const modes[] = { "reception", "gate", NULL };

static const GkConfigOption table[] = {
  { "server", "bind", GK_CONFIG_STRING, 1, 255, "127.0.0.1", NULL, "address to listen on" },
  { "server", "device-port", GK_CONFIG_INT, 1, 65535, "8443", NULL, "device port" },
  { "server", "verbose", GK_CONFIG_BOOL, 0, 0, "false", NULL, "more logging" },
  { "kiosk", "mode", GK_CONFIG_ENUM, 0, 0, "reception", modes, "what the device does" },
};

static GkConfig *
new_config(void)
{
  GkConfig *config = gk_config_new(table, G_N_ELEMENTS(table));
  g_assert_nonnull(config);
  return config;
}

static void
test_defaults(void)
{
  g_autoptr(GkConfig) c = new_config();
  g_assert_cmpstr(gk_config_get_string(c, "server.bind"), ==, "127.0.0.1");
  g_assert_cmpint(gk_config_get_int(c, "server.device-port"), ==, 8443);
  g_assert_false(gk_config_get_bool(c, "server.verbose"));
  g_assert_cmpstr(gk_config_get_string(c, "kiosk.mode"), ==, "reception");
}

static void
test_load_good(void)
{
  g_autoptr(GkConfig) c = new_config();
  g_autoptr(GError) error = NULL;
  const char *ini = "# comment\n[server]\nbind = 0.0.0.0\ndevice-port=9443\nverbose=true\n"
                    "[kiosk]\nmode=gate\n";
  g_assert_true(gk_config_load_data(c, ini, strlen(ini), "test.conf", &error));
  g_assert_no_error(error);
  g_assert_cmpstr(gk_config_get_string(c, "server.bind"), ==, "0.0.0.0");
  g_assert_cmpint(gk_config_get_int(c, "server.device-port"), ==, 9443);
  g_assert_true(gk_config_get_bool(c, "server.verbose"));
  g_assert_cmpstr(gk_config_get_string(c, "kiosk.mode"), ==, "gate");
}

/* Each bad file must fail with the right code, name the culprit, and leave
 * every setting (including ones set earlier in the same file) untouched. */
static void
test_bad_files(void)
{
  static const struct {
    const char *ini;
    int code;
    const char *mentions;
  } cases[] = {
    { "[server]\ndevice-port=9443\nport=1\n", GK_CONFIG_ERROR_UNKNOWN_KEY, "server.port" },
    { "[srever]\nbind=x\n", GK_CONFIG_ERROR_UNKNOWN_KEY, "srever" },
    { "[server]\ndevice-port=9443\ndevice-port=9444\n", GK_CONFIG_ERROR_PARSE, "twice" },
    { "[server]\ndevice-port=80x\n", GK_CONFIG_ERROR_INVALID_VALUE, "server.device-port" },
    { "[server]\ndevice-port=0\n", GK_CONFIG_ERROR_OUT_OF_RANGE, "server.device-port" },
    { "[server]\ndevice-port=65536\n", GK_CONFIG_ERROR_OUT_OF_RANGE, "between 1 and 65535" },
    { "[server]\ndevice-port=99999999999999999999\n", GK_CONFIG_ERROR_INVALID_VALUE, "device-port" },
    { "[server]\nverbose=yes\n", GK_CONFIG_ERROR_INVALID_VALUE, "true or false" },
    { "[kiosk]\nmode=lobby\n", GK_CONFIG_ERROR_INVALID_VALUE, "reception, gate" },
    { "[server]\nbind=\n", GK_CONFIG_ERROR_OUT_OF_RANGE, "server.bind" },
    { "[server]\nbind=a\tb\n", GK_CONFIG_ERROR_INVALID_VALUE, "control character" },
    { "[server\nbind=x\n", GK_CONFIG_ERROR_PARSE, "test.conf" },
    { "bind=x\n", GK_CONFIG_ERROR_PARSE, "test.conf" },
    { "[server]\nbind=\xff\xfe\n", GK_CONFIG_ERROR_PARSE, "UTF-8" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GkConfig) c = new_config();
    g_autoptr(GError) error = NULL;
    g_assert_false(gk_config_load_data(c, cases[i].ini, strlen(cases[i].ini), "test.conf", &error));
    g_assert_error(error, GK_CONFIG_ERROR, cases[i].code);
    if (strstr(error->message, cases[i].mentions) == NULL)
      g_error("case %u: message '%s' does not mention '%s'", i, error->message, cases[i].mentions);
    g_assert_cmpint(gk_config_get_int(c, "server.device-port"), ==, 8443);
    g_assert_cmpstr(gk_config_get_string(c, "server.bind"), ==, "127.0.0.1");
  }
}

static void
test_nul_and_size(void)
{
  g_autoptr(GkConfig) c = new_config();
  g_autoptr(GError) error = NULL;
  const char with_nul[] = "[server]\nbind=a\0b\n";
  g_assert_false(gk_config_load_data(c, with_nul, sizeof with_nul - 1, "x", &error));
  g_assert_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_PARSE);
  g_clear_error(&error);

  gsize big = GK_CONFIG_MAX_FILE_BYTES + 1;
  g_autofree char *huge = g_malloc(big);
  memset(huge, '#', big);
  g_assert_false(gk_config_load_data(c, huge, big, "x", &error));
  g_assert_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_TOO_LARGE);
}

/* Only @len bytes belong to the file: what follows them in memory must not be
 * read (here it would look like a repeated key). */
static void
test_length_bounded(void)
{
  g_autoptr(GkConfig) c = new_config();
  g_autoptr(GError) error = NULL;
  const char *buf = "[server]\ndevice-port=9000\ndevice-port=9001\n";
  gsize len = strlen("[server]\ndevice-port=9000\n");
  g_assert_true(gk_config_load_data(c, buf, len, "test.conf", &error));
  g_assert_no_error(error);
  g_assert_cmpint(gk_config_get_int(c, "server.device-port"), ==, 9000);
}

static void
test_file_and_override(void)
{
  g_autofree char *dir = gk_test_make_tmpdir("genkan-config");
  g_autofree char *path = g_build_filename(dir, "genkan.conf", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_set_contents(path, "[server]\ndevice-port=7000\n", -1, NULL));

  g_autoptr(GkConfig) c = new_config();
  g_assert_true(gk_config_load_file(c, path, &error));
  g_assert_cmpint(gk_config_get_int(c, "server.device-port"), ==, 7000);

  g_assert_true(gk_config_set(c, "server.device-port", "7001", &error));
  g_assert_cmpint(gk_config_get_int(c, "server.device-port"), ==, 7001);
  g_assert_false(gk_config_set(c, "server.device-port", "-1", &error));
  g_assert_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_OUT_OF_RANGE);
  g_clear_error(&error);
  g_assert_false(gk_config_set(c, "nosuch", "1", &error));
  g_assert_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_UNKNOWN_KEY);
  g_clear_error(&error);
  g_assert_cmpint(gk_config_get_int(c, "server.device-port"), ==, 7001);

  g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);
  g_assert_false(gk_config_load_file(c, missing, &error));
  g_assert_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_IO);
  gk_test_rmtree(dir);
}

static void
test_describe(void)
{
  g_autofree char *text = gk_config_describe(table, G_N_ELEMENTS(table));
  g_assert_nonnull(strstr(text, "[server]"));
  g_assert_nonnull(strstr(text, "device-port = 8443"));
  g_assert_nonnull(strstr(text, "(1..65535)"));
  g_assert_nonnull(strstr(text, "(reception|gate)"));
}

static void
test_bad_table(void)
{
  static const GkConfigOption bad[] = {
    { "server", "port", GK_CONFIG_INT, 1, 10, "11", NULL, "default out of range" },
  };
  if (g_test_subprocess()) {
    g_assert_null(gk_config_new(bad, G_N_ELEMENTS(bad)));
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed();
  g_test_trap_assert_stderr("*bad option server.port*");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/config/defaults", test_defaults);
  g_test_add_func("/shared/config/load-good", test_load_good);
  g_test_add_func("/shared/config/bad-files", test_bad_files);
  g_test_add_func("/shared/config/nul-and-size", test_nul_and_size);
  g_test_add_func("/shared/config/length-bounded", test_length_bounded);
  g_test_add_func("/shared/config/file-and-override", test_file_and_override);
  g_test_add_func("/shared/config/describe", test_describe);
  g_test_add_func("/shared/config/bad-table", test_bad_table);
  return g_test_run();
}
