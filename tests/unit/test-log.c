/* Logging: format, level gating before formatting, escaping, and the rule that
 * secrets and visitor personal data never reach a line. */
#include <string.h>

#include "gk-log.h"

static GPtrArray *captured;

static void
capture_sink(GkLogLevel level, const char *line, gpointer user_data)
{
  g_ptr_array_add(captured, g_strdup(line));
}

static void
setup(void)
{
  g_clear_pointer(&captured, g_ptr_array_unref);
  captured = g_ptr_array_new_with_free_func(g_free);
  gk_log_set_sink(capture_sink, NULL);
  gk_log_set_level(GK_LOG_INFO);
}

static int evaluated;
static const char *
count_evaluation(void)
{
  evaluated++;
  return "x";
}

static void
test_format(void)
{
  GkLogField f[] = { GK_STR("device", "gate-1"), GK_UINT("events", 42), GK_INT("offset_ms", -15),
                     GK_BOOL("offline", TRUE), GK_DOUBLE("secs", 1.5) };
  /* 2026-11-22T03:04:05.678Z */
  g_autofree char *line = gk_log_format_line(1795316645678000, GK_LOG_INFO, "sync.push", f, G_N_ELEMENTS(f));
  g_assert_cmpstr(line, ==, "ts=2026-11-22T03:04:05.678Z level=info event=sync.push device=gate-1 "
                            "events=42 offset_ms=-15 offline=true secs=1.500");
}

static void
test_level_gate(void)
{
  setup();
  evaluated = 0;
  GK_LOG_DEBUG("debug.event", GK_STR("v", count_evaluation()));
  g_assert_cmpint(evaluated, ==, 0);
  g_assert_cmpuint(captured->len, ==, 0);
  GK_LOG_WARN("warn.event", GK_STR("v", count_evaluation()));
  g_assert_cmpint(evaluated, ==, 1);
  g_assert_cmpuint(captured->len, ==, 1);
  gk_log_set_level(GK_LOG_DEBUG);
  GK_LOG_DEBUG("debug.event");
  g_assert_cmpuint(captured->len, ==, 2);
  g_assert_nonnull(strstr(g_ptr_array_index(captured, 1), "level=debug event=debug.event"));

  GkLogLevel level;
  g_assert_true(gk_log_level_parse("WARNING", &level));
  g_assert_cmpint(level, ==, GK_LOG_WARNING);
  g_assert_false(gk_log_level_parse("loud", &level));
  gk_log_set_sink(NULL, NULL);
}

static void
test_escaping(void)
{
  GkLogField f[] = { GK_STR("reason", "bad\nline event=forged"), GK_STR("path", "a \"b\" \\c"),
                     GK_STR("raw", "\x01\xff"), GK_STR("jp", "受付") , GK_STR("empty", "") };
  g_autofree char *line = gk_log_format_line(0, GK_LOG_ERROR, "x", f, G_N_ELEMENTS(f));
  g_assert_null(strchr(line, '\n'));
  g_assert_nonnull(strstr(line, "reason=\"bad\\nline event=forged\""));
  g_assert_nonnull(strstr(line, "path=\"a \\\"b\\\" \\\\c\""));
  g_assert_nonnull(strstr(line, "raw=\"\\x01\\xff\""));
  g_assert_nonnull(strstr(line, "jp=\"受付\""));
  g_assert_nonnull(strstr(line, "empty=\"\""));
}

/* The rule: under these keys no value ever appears, whatever the caller passes. */
static void
test_redaction(void)
{
  static const char *const sensitive[] = {
    "password", "new_password", "token", "session_token", "secret", "kek", "signing_key",
    "admin_pin", "totp_code", "otp", "cookie", "authorization", "recovery_codes",
    "visitor_name", "name", "email", "host_email", "phone", "company", "photo", "purpose",
  };
  for (guint i = 0; i < G_N_ELEMENTS(sensitive); i++) {
    GkLogField f[] = { GK_STR(sensitive[i], "S3cr3t-Value") };
    g_autofree char *line = gk_log_format_line(0, GK_LOG_INFO, "e", f, 1);
    if (strstr(line, "S3cr3t-Value") != NULL)
      g_error("key %s leaked its value: %s", sensitive[i], line);
    g_assert_nonnull(strstr(line, "[redacted]"));
  }
  static const char *const harmless[] = { "key_id", "device", "site", "events", "hostname", "reason" };
  for (guint i = 0; i < G_N_ELEMENTS(harmless); i++)
    g_assert_false(gk_log_key_is_sensitive(harmless[i]));

  /* A malformed key cannot be used to dodge the rule. */
  GkLogField odd[] = { GK_STR("Pass Word", "S3cr3t-Value") };
  g_autofree char *line = gk_log_format_line(0, GK_LOG_INFO, "e", odd, 1);
  g_assert_null(strstr(line, "S3cr3t-Value"));
}

static void
test_glib_writer(void)
{
  setup();
  gk_log_install_glib_writer();
  g_message("hello %s", "world");
  g_assert_cmpuint(captured->len, ==, 1);
  g_assert_nonnull(strstr(g_ptr_array_index(captured, 0), "event=glib.log"));
  g_assert_nonnull(strstr(g_ptr_array_index(captured, 0), "msg=\"hello world\""));
  gk_log_set_sink(NULL, NULL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/log/format", test_format);
  g_test_add_func("/shared/log/level-gate", test_level_gate);
  g_test_add_func("/shared/log/escaping", test_escaping);
  g_test_add_func("/shared/log/redaction", test_redaction);
  g_test_add_func("/shared/log/glib-writer", test_glib_writer);
  int rc = g_test_run();
  g_clear_pointer(&captured, g_ptr_array_unref);
  return rc;
}
