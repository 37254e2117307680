/* genkanctl: help and usage errors, server and session resolution, the saved
 * session's permissions, and whole commands against a fake HTTPS admin port. */
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gk-enroll-code.h"
#include "gk-test-util.h"
#include "srv-ca.h"
#include "srv-ctl.h"
#include "srv-tls.h"

#define TOKEN "tok-SECRET-0123456789abcdef0123456789abcdef"
#define TICKET_TEXT "GK1:6BFOXN*TS0BI$ZDFRH%4X3A4.F0LB8/JZ6D0$ZE -SN$HUBSP2R9R3.GN3O"

static char *tmp_root;

/* ---- running the CLI in a subprocess ---------------------------------------------- */

/* What the next child gets: environment changes, then arguments. They travel in
 * a file (GK_CTL_ARGS_FILE, set once before any thread exists) rather than in the
 * environment, because the fake server's thread makes setenv() unsafe. */
static GPtrArray *child_env; /* "NAME=VALUE" to set, "NAME" to unset */

static void
child_setenv(const char *name, const char *value)
{
  g_ptr_array_add(child_env, value != NULL ? g_strdup_printf("%s=%s", name, value) : g_strdup(name));
}

/* The child side: applies the environment changes and runs the CLI. The exit
 * status goes to stderr too, since GTest only tells 0 from not 0. */
static void
child_run_if_subprocess(void)
{
  if (!g_test_subprocess())
    return;
  setsid(); /* no controlling terminal: a password prompt can never hang a test */
  char *packed = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(g_getenv("GK_CTL_ARGS_FILE"), &packed, &len, NULL));
  char **records = g_strsplit(packed, "\x1e", -1);
  g_free(packed);
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (char *) "genkanctl");
  for (guint i = 0; records[i] != NULL; i++) {
    const char *r = records[i];
    if (r[0] == 'A') {
      g_ptr_array_add(argv, (char *) r + 1);
    } else if (r[0] == 'E') {
      const char *eq = strchr(r, '=');
      if (eq == NULL) {
        g_unsetenv(r + 1);
      } else {
        g_autofree char *name = g_strndup(r + 1, (gsize) (eq - r - 1));
        g_setenv(name, eq + 1, TRUE);
      }
    }
  }
  int argc = (int) argv->len;
  g_ptr_array_add(argv, NULL);
  int rc = srv_ctl_main(argc, (char **) argv->pdata);
  g_ptr_array_free(argv, TRUE);
  g_strfreev(records);
  fflush(stdout);
  fprintf(stderr, "[exit=%d]\n", rc);
  fflush(stderr);
  exit(rc);
}

static void
ctl_run_argv(const char *const *args)
{
  GString *packed = g_string_new(NULL);
  for (guint i = 0; i < child_env->len; i++)
    g_string_append_printf(packed, "E%s\x1e", (const char *) g_ptr_array_index(child_env, i));
  for (guint i = 0; args[i] != NULL; i++)
    g_string_append_printf(packed, "A%s\x1e", args[i]);
  g_assert_true(g_file_set_contents(g_getenv("GK_CTL_ARGS_FILE"), packed->str, (gssize) packed->len, NULL));
  g_string_free(packed, TRUE);
  g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
}

#define CTL_RUN(...) ctl_run_argv((const char *const[]){ __VA_ARGS__, NULL })
#define ASSERT_EXIT(n) g_test_trap_assert_stderr("*[exit=" #n "]*")

/* A new empty config home for the next children; with @in_process also for this
 * process (the session functions called directly). setenv() is not thread-safe,
 * so only tests that need it do that. */
static char *
fresh_config_home(gboolean in_process)
{
  char *dir = g_build_filename(tmp_root, "cfg-XXXXXX", NULL);
  g_assert_nonnull(g_mkdtemp(dir));
  child_setenv("XDG_CONFIG_HOME", dir);
  if (in_process)
    g_setenv("XDG_CONFIG_HOME", dir, TRUE);
  return dir;
}

/* ---- help and usage ------------------------------------------------------------------ */

typedef struct {
  const char *path;
  const char *const args[5];
  const char *const mentions[8];
} HelpCase;

static const HelpCase help_cases[] = {
  { "top", { "--help" }, { "login", "host add", "ticket issue", "device enroll-code", "--server", "--ca", "--json", "GENKAN_SERVER" } },
  { "login", { "login", "--help" }, { "--user", "--new-password", "GENKAN_PASSWORD", "GENKAN_NEW_PASSWORD" } },
  { "logout", { "logout", "--help" }, { "--help" } },
  { "host-add", { "host", "add", "--help" }, { "--name", "--reading", "--email", "--department" } },
  { "host-list", { "host", "list", "--help" }, { "--json" } },
  { "ticket-issue", { "ticket", "issue", "--help" }, { "--visitor", "--host", "--company", "--valid-from", "--valid-until", "--multi", "--qr" } },
  { "device-enroll-code", { "device", "enroll-code", "--help" }, { "--name", "--mode", "--ttl", "--qr", "reception|gate" } },
  { "device-list", { "device", "list", "--help" }, { "--json" } },
  { "device-revoke", { "device", "revoke", "--help" }, { "ID" } },
  { "checkins-list", { "checkins", "list", "--help" }, { "--json", "--limit" } },
  { "alerts-list", { "alerts", "list", "--help" }, { "--json" } },
  { "group-host", { "host", "--help" }, { "host add", "host list" } },
  { "group-device", { "device", "-h" }, { "device enroll-code", "device list", "device revoke", "device config set", "device config show" } },
  { "device-config-set", { "device", "config", "set", "--help" }, { "ID KEY=VALUE...", "--json", "language", "idle-timeout-s", "retention-hours", "admin-pin", "door-pulse-ms", "KEY= " } },
  { "device-config-show", { "device", "config", "show", "--help" }, { "ID", "--json", "walkin-required", "door-gpio" } },
  { "group-device-config", { "device", "config", "--help" }, { "device config set ID KEY=VALUE...", "device config show ID" } },
};

static void
test_help(gconstpointer data)
{
  child_run_if_subprocess();
  const HelpCase *c = data;
  ctl_run_argv(c->args);
  g_test_trap_assert_passed();
  ASSERT_EXIT(0);
  for (guint i = 0; i < G_N_ELEMENTS(c->mentions) && c->mentions[i] != NULL; i++) {
    g_autofree char *pattern = g_strdup_printf("*%s*", c->mentions[i]);
    g_test_trap_assert_stdout(pattern);
  }
}

typedef struct {
  const char *path;
  const char *const args[12];
  const char *stderr_pattern;
} UsageCase;

static const UsageCase usage_cases[] = {
  { "no-command", { NULL }, "*Usage: genkanctl*" },
  { "unknown-command", { "frobnicate" }, "*unknown command 'frobnicate'*" },
  { "unknown-subcommand", { "host", "delete" }, "*unknown command 'delete'*" },
  { "missing-subcommand", { "device" }, "*a command is missing*" },
  { "unknown-global-option", { "--frob", "host", "list" }, "*unknown option '--frob'*" },
  { "server-needs-value", { "--server" }, "*--server needs a value*" },
  { "unknown-option", { "host", "list", "--bogus" }, "*--bogus*host list --help*" },
  { "login-needs-user", { "login" }, "*--user is required*" },
  { "host-add-needs-name", { "host", "add", "--email", "a@b.c" }, "*--name is required*" },
  { "ticket-needs-host", { "ticket", "issue", "--visitor", "V" }, "*--host is required*" },
  { "ticket-bad-time", { "ticket", "issue", "--visitor", "V", "--host", "1", "--valid-from", "tomorrow" }, "*cannot read the time*" },
  { "ticket-window-backwards", { "ticket", "issue", "--visitor", "V", "--host", "1", "--valid-from", "2026-11-22 10:00", "--valid-until", "2026-11-22 09:00" }, "*later than*" },
  { "enroll-needs-mode", { "device", "enroll-code", "--name", "Gate 1" }, "*--mode is required*" },
  { "enroll-bad-mode", { "device", "enroll-code", "--name", "Gate 1", "--mode", "door" }, "*reception or gate*" },
  { "enroll-bad-ttl", { "device", "enroll-code", "--name", "G", "--mode", "gate", "--ttl", "soon" }, "*soon*" },
  { "revoke-needs-id", { "device", "revoke" }, "*missing ID*" },
  { "revoke-bad-id", { "device", "revoke", "../../v1/hosts" }, "*bad device id*" },
  { "revoke-extra", { "device", "revoke", "a", "b" }, "*unexpected argument 'b'*" },
  { "config-missing-subcommand", { "device", "config" }, "*device config: a command is missing*" },
  { "config-unknown-subcommand", { "device", "config", "frob", "dev-1" }, "*device config: unknown command 'frob'*" },
  { "config-set-no-equals", { "device", "config", "set", "dev-1", "language=en", "oops" }, "*setting 2 is not KEY=VALUE*" },
  { "config-set-needs-setting", { "device", "config", "set", "dev-1" }, "*missing ID KEY=VALUE...*" },
  { "config-set-empty-key", { "device", "config", "set", "dev-1", "=en" }, "*setting 1: a key is*" },
  { "config-set-twice", { "device", "config", "set", "dev-1", "language=en", "language=ja" }, "*'language' is given twice*" },
  { "config-set-bad-id", { "device", "config", "set", "../x", "language=en" }, "*bad device id*" },
  { "config-show-needs-id", { "device", "config", "show" }, "*missing ID*" },
  { "config-show-extra", { "device", "config", "show", "dev-1", "language" }, "*unexpected argument 'language'*" },
  { "json-not-for-add", { "host", "add", "--name", "N", "--json" }, "*--json*" },
  { "no-server", { "host", "list" }, "*no server configured*" },
  { "no-server-json", { "--json", "checkins", "list" }, "*no server configured*" },
  { "http-refused", { "--server", "http://127.0.0.1:8444", "host", "list" }, "*HTTPS only*" },
  { "bad-url", { "--server", "https://user@host:8444/path?q", "host", "list" }, "*bad server address*" },
  { "missing-ca", { "--server", "https://127.0.0.1:1", "--ca", "/nonexistent/ca.crt", "host", "list" }, "*/nonexistent/ca.crt*" },
};

static void
test_usage(gconstpointer data)
{
  child_run_if_subprocess();
  const UsageCase *c = data;
  g_autofree char *cfg = fresh_config_home(FALSE);
  (void) cfg; /* kept only for its side effect: a private $XDG_CONFIG_HOME */
  ctl_run_argv(c->args);
  g_test_trap_assert_failed();
  ASSERT_EXIT(2);
  g_test_trap_assert_stderr(c->stderr_pattern);
  g_test_trap_assert_stdout("");
}

static void
test_env_server(void)
{
  child_run_if_subprocess();
  g_autofree char *cfg = fresh_config_home(FALSE);
  (void) cfg; /* kept only for its side effect: a private $XDG_CONFIG_HOME */

  /* The variable is used … */
  child_setenv("GENKAN_SERVER", "http://127.0.0.1:8444");
  CTL_RUN("host", "list");
  ASSERT_EXIT(2);
  g_test_trap_assert_stderr("*HTTPS only*");

  /* … and the flag wins over it. Nobody is logged in to that server. */
  CTL_RUN("--server", "https://127.0.0.1:1", "host", "list");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*not logged in to https://127.0.0.1:1*");
  child_setenv("GENKAN_SERVER", NULL);

  child_setenv("GENKAN_CA", "/nonexistent/genkan-ca.crt");
  CTL_RUN("--server", "https://127.0.0.1:1", "host", "list");
  ASSERT_EXIT(2);
  g_test_trap_assert_stderr("*/nonexistent/genkan-ca.crt*");
  child_setenv("GENKAN_CA", NULL);
}

static void
test_login_no_password(void)
{
  child_run_if_subprocess();
  g_autofree char *cfg = fresh_config_home(FALSE);
  (void) cfg; /* kept only for its side effect: a private $XDG_CONFIG_HOME */
  /* No GENKAN_PASSWORD and no terminal: a clear error, nothing sent, nothing saved. */
  CTL_RUN("--server", "https://127.0.0.1:1", "login", "--user", "admin");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*GENKAN_PASSWORD*");
  g_autofree char *session = g_build_filename(cfg, "genkan", "session", NULL);
  g_assert_false(g_file_test(session, G_FILE_TEST_EXISTS));
}

static void
test_unreachable(void)
{
  child_run_if_subprocess();
  g_autofree char *cfg = fresh_config_home(TRUE);
  child_setenv("GENKAN_PASSWORD", "not-sent-anywhere");
  CTL_RUN("--server", "https://127.0.0.1:1", "login", "--user", "admin");
  child_setenv("GENKAN_PASSWORD", NULL);
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*cannot talk to https://127.0.0.1:1*");
  g_test_trap_assert_stderr_unmatched("*not-sent-anywhere*");
  g_autofree char *session = g_build_filename(cfg, "genkan", "session", NULL);
  g_assert_false(g_file_test(session, G_FILE_TEST_EXISTS));

  /* A saved session supplies the server; the token never shows in the output. */
  SrvCtlSession s = { .server = (char *) "https://127.0.0.1:1", .user = (char *) "admin", .token = (char *) TOKEN };
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_ctl_session_save(&s, &error));
  CTL_RUN("device", "list");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*cannot talk to https://127.0.0.1:1*");
  g_test_trap_assert_stderr_unmatched("*" TOKEN "*");
  g_test_trap_assert_stdout_unmatched("*" TOKEN "*");

  /* logout forgets the session even when the server cannot be told. */
  CTL_RUN("logout");
  ASSERT_EXIT(1);
  g_assert_false(g_file_test(session, G_FILE_TEST_EXISTS));
}

/* ---- session store ------------------------------------------------------------------ */

static void
test_session_store(void)
{
  g_autofree char *cfg = fresh_config_home(TRUE);
  g_autofree char *path = srv_ctl_session_path();
  g_autofree char *expected = g_build_filename(cfg, "genkan", "session", NULL);
  g_assert_cmpstr(path, ==, expected);

  g_autoptr(GError) error = NULL;
  SrvCtlSession loaded = { 0 };
  g_assert_false(srv_ctl_session_load(&loaded, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error(&error);
  g_assert_true(srv_ctl_session_delete(&error)); /* nothing to delete is fine */

  SrvCtlSession s = {
    .server = (char *) "https://genkan.example:8444",
    .ca = (char *) "/etc/genkan/ca with space.crt",
    .user = (char *) "受付 admin",
    .token = (char *) TOKEN,
  };
  g_assert_true(srv_ctl_session_save(&s, &error));
  g_assert_no_error(error);

  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  g_autofree char *dir = g_path_get_dirname(path);
  g_assert_cmpint(g_stat(dir, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0077, ==, 0);

  g_assert_true(srv_ctl_session_load(&loaded, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(loaded.server, ==, s.server);
  g_assert_cmpstr(loaded.ca, ==, s.ca);
  g_assert_cmpstr(loaded.user, ==, s.user);
  g_assert_cmpstr(loaded.token, ==, TOKEN);
  srv_ctl_session_clear(&loaded);
  g_assert_null(loaded.token);

  /* Saving again replaces the file and keeps it private. */
  s.token = (char *) "tok-second-0123456789abcdef";
  s.ca = NULL;
  g_assert_true(srv_ctl_session_save(&s, &error));
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  g_assert_true(srv_ctl_session_load(&loaded, &error));
  g_assert_cmpstr(loaded.token, ==, "tok-second-0123456789abcdef");
  g_assert_null(loaded.ca);
  srv_ctl_session_clear(&loaded);

  /* A file others may read is refused. */
  g_assert_cmpint(g_chmod(path, 0644), ==, 0);
  g_assert_false(srv_ctl_session_load(&loaded, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_clear_error(&error);
  g_assert_null(loaded.token);

  /* A damaged file is an error, not a half-loaded session. */
  g_assert_true(g_file_set_contents(path, "[session]\nserver=https://x\n", -1, NULL));
  g_assert_cmpint(g_chmod(path, 0600), ==, 0);
  g_assert_false(srv_ctl_session_load(&loaded, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_null(loaded.server);

  g_assert_true(srv_ctl_session_delete(&error));
  g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

  /* A relative XDG_CONFIG_HOME is ignored (XDG spec): the home directory is used. */
  g_setenv("XDG_CONFIG_HOME", "relative/dir", TRUE);
  g_autofree char *home_path = srv_ctl_session_path();
  g_assert_true(g_str_has_suffix(home_path, "/.config/genkan/session"));
  g_assert_true(g_path_is_absolute(home_path));
  g_setenv("XDG_CONFIG_HOME", cfg, TRUE);
}

/* ---- parsers ---------------------------------------------------------------------- */

static void
test_normalize_server(void)
{
  static const struct {
    const char *in, *out;
  } good[] = {
    { "https://genkan.example:8444", "https://genkan.example:8444" },
    { "https://Genkan.Example:8444/", "https://genkan.example:8444" },
    { "HTTPS://127.0.0.1:8444", "https://127.0.0.1:8444" },
    { "https://[::1]:8444", "https://[::1]:8444" },
    { "https://genkan.example", "https://genkan.example" },
  };
  static const char *const bad[] = {
    "http://genkan.example:8444", "HTTP://genkan.example", "ftp://x", "genkan.example:8444",
    "https://", "https://user:pw@genkan.example", "https://genkan.example/admin",
    "https://genkan.example/?a=b", "https://genkan.example/#x", "https://gen_kan.example", "",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *out = srv_ctl_normalize_server(good[i].in, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(out, ==, good[i].out);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *out = srv_ctl_normalize_server(bad[i], &error);
    if (out != NULL)
      g_error("accepted %s", bad[i]);
    g_assert_nonnull(error);
  }
}

static void
test_parse_time(void)
{
  static const struct {
    const char *in;
    gint64 out;
  } good[] = {
    { "1795338000", 1795338000 },
    { "0", 0 },
    { "2026-11-22T09:00:00Z", 1795338000 },
    { "2026-11-22T09:00Z", 1795338000 },
    { "2026-11-22 09:00:00z", 1795338000 },
    { "2026-11-22T18:00:00+09:00", 1795338000 },
    { "2026-11-22T18:00+0900", 1795338000 },
    { "2026-11-22T04:00-05", 1795338000 },
    { "2026-11-22T09:00:00.000Z", 1795338000 }, /* GLib's ISO 8601 parser */
  };
  static const char *const bad[] = {
    "", "tomorrow", "-5", "1e9", "99999999999999", "2026-11-22", "2026-13-01 09:00",
    "2026-02-30 09:00", "2026-11-22 25:00", "2026-11-22 09:00 extra", "2026-11-22T09:00+24:00",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GError) error = NULL;
    gint64 t = -1;
    g_assert_true(srv_ctl_parse_time(good[i].in, &t, &error));
    g_assert_no_error(error);
    g_assert_cmpint(t, ==, good[i].out);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    gint64 t = -1;
    if (srv_ctl_parse_time(bad[i], &t, &error))
      g_error("accepted %s", bad[i]);
    g_assert_nonnull(error);
  }

  /* A time without a zone is local time. */
  g_autofree char *old_tz = g_strdup(g_getenv("TZ"));
  g_setenv("TZ", "Asia/Tokyo", TRUE);
  tzset();
  gint64 t = 0;
  g_assert_true(srv_ctl_parse_time("2026-11-22 18:00", &t, NULL));
  g_assert_cmpint(t, ==, 1795338000);
  if (old_tz != NULL)
    g_setenv("TZ", old_tz, TRUE);
  else
    g_unsetenv("TZ");
  tzset();

  g_autofree char *s = srv_ctl_format_time(1795338000);
  g_assert_cmpstr(s, ==, "2026-11-22T09:00:00Z");
}

/* ---- a fake admin port -------------------------------------------------------------- */

typedef struct {
  char *dir;
  char *ca_path;
  char *url;
  int listen_fd;
  int port;
  SrvTlsContext *tls;
  GThread *thread;
  gint stop;
  GMutex lock;
  GPtrArray *requests; /* "METHOD PATH\nAUTHORIZATION\nBODY" */
  char *enroll_code;
} FakeServer;

static gboolean
wait_io(int fd, short events, int timeout_ms)
{
  struct pollfd p = { .fd = fd, .events = events };
  return poll(&p, 1, timeout_ms) == 1;
}

static gboolean
wait_status(int fd, SrvTlsStatus st)
{
  return wait_io(fd, st == SRV_TLS_WANT_WRITE ? POLLOUT : POLLIN, 5000);
}

static const char *
find_header(const char *head, const char *name)
{
  gsize n = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
    if (g_ascii_strncasecmp(line + 2, name, n) == 0 && line[2 + n] == ':')
      return line + 2 + n + 1;
  }
  return NULL;
}

static char *
header_value(const char *head, const char *name)
{
  const char *v = find_header(head, name);
  if (v == NULL)
    return g_strdup("");
  const char *end = strstr(v, "\r\n");
  return g_strstrip(g_strndup(v, (gsize) (end - v)));
}

static char *
answer(FakeServer *fs, const char *method, const char *path, const char *auth, const char *body, int *status)
{
  *status = 200;
  if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/login") == 0) {
    if (strstr(body, "\"new_password\"") == NULL) {
      *status = 403;
      return g_strdup("{\"error\":{\"status\":403,\"code\":\"password-change-required\","
                      "\"message\":\"the password must be changed\"}}");
    }
    if (strstr(body, "\"password\":\"initial \\\"pw\\\"\"") == NULL) {
      *status = 401;
      return g_strdup("{\"error\":{\"status\":401,\"code\":\"bad-credentials\",\"message\":\"wrong user or password\"}}");
    }
    return g_strdup("{\"token\":\"" TOKEN "\",\"must_change_password\":false,\"role\":\"owner\"}");
  }
  if (strcmp(auth, "Bearer " TOKEN) != 0) {
    *status = 401;
    return g_strdup("{\"error\":{\"status\":401,\"code\":\"unauthenticated\",\"message\":\"log in first\"}}");
  }
  if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/hosts") == 0)
    return g_strdup("{\"hosts\":[{\"id\":1,\"name\":\"山田 太郎\",\"reading\":\"やまだ たろう\","
                    "\"email\":\"yamada@example.com\",\"department\":\"総務\"},"
                    "{\"id\":2,\"name\":\"Evil\\u001b[31mRed\",\"reading\":null,\"email\":null,"
                    "\"department\":\"R&D\"}]}");
  if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/hosts") == 0)
    return g_strdup("{\"id\":3}");
  if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/tickets") == 0)
    return g_strdup("{\"ticket_id\":\"0123456789abcdef0123456789abcdef\",\"text\":\"" TICKET_TEXT "\","
                    "\"valid_from\":1795338000,\"valid_until\":1795424400}");
  if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/devices/enroll-codes") == 0)
    return g_strdup_printf("{\"code\":\"%s\",\"expires_at\":1795338000}", fs->enroll_code);
  if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/devices") == 0)
    return g_strdup("{\"devices\":[{\"id\":\"dev-1\",\"name\":\"Gate 1\",\"mode\":\"gate\","
                    "\"enrolled_at\":1795338000,\"revoked_at\":null,\"last_seen_at\":1795338060,"
                    "\"clock_offset_ms\":-120,\"queue_length\":0,\"config_version\":3,"
                    "\"config_version_latest\":4}]}");
  if (strcmp(path, "/v1/devices/dev-1/config") == 0 && strstr(body, "\"idle-timeout-s\":\"5\"") != NULL) {
    *status = 400;
    return g_strdup("{\"error\":{\"status\":400,\"code\":\"bad-request\","
                    "\"message\":\"settings.idle-timeout-s must be 10-600\"}}");
  }
  if ((strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0) && strcmp(path, "/v1/devices/dev-1/config") == 0)
    return g_strdup("{\"id\":\"dev-1\",\"config_version\":4,\"running_config_version\":3,"
                    "\"config\":{\"language\":\"en\",\"admin-pin-hash\":\"set\",\"site-text\":\"Lobby\\u001b[2J\"}}");
  if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/devices/dev-2/config") == 0)
    return g_strdup("{\"id\":\"dev-2\",\"config_version\":0,\"config\":{}}");
  if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/devices/dev-1/revoke") == 0)
    return g_strdup("{\"id\":\"dev-1\",\"revoked_at\":1795338000}");
  if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/checkins?limit=5") == 0)
    return g_strdup("{\"checkins\":[{\"event_id\":\"ev-000001\",\"kind\":\"checkin\",\"device_id\":\"dev-1\","
                    "\"ticket_id\":\"0123456789abcdef0123456789abcdef\",\"visitor\":\"Alice\",\"at\":1795338000,"
                    "\"server_time\":1795338001,\"offline\":true,\"conflict\":false}]}");
  if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/alerts") == 0)
    return g_strdup("{\"alerts\":[]}");
  if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/logout") == 0)
    return g_strdup("{}");
  *status = 404;
  return g_strdup("{\"error\":{\"status\":404,\"code\":\"not-found\",\"message\":\"no such thing\"}}");
}

static void
serve_connection(FakeServer *fs, int fd)
{
  SrvTlsConnection *conn = srv_tls_connection_new(fs->tls, fd);
  SrvTlsStatus st;
  for (;;) {
    st = srv_tls_handshake_step(conn);
    if ((st != SRV_TLS_WANT_READ && st != SRV_TLS_WANT_WRITE) || !wait_status(fd, st))
      break;
  }
  if (st != SRV_TLS_OK)
    goto out;

  GString *in = g_string_new(NULL);
  gssize head_end = -1;
  gsize need = 0;
  for (;;) {
    if (head_end >= 0 && in->len >= need)
      break;
    char buf[4096];
    ssize_t n = srv_tls_read(conn, buf, sizeof buf);
    if (n == SRV_TLS_WANT_READ || n == SRV_TLS_WANT_WRITE) {
      if (!wait_status(fd, (SrvTlsStatus) n))
        break;
      continue;
    }
    if (n <= 0)
      break;
    g_string_append_len(in, buf, n);
    if (head_end < 0) {
      const char *e = strstr(in->str, "\r\n\r\n");
      if (e != NULL) {
        head_end = e - in->str + 4;
        g_autofree char *head = g_strndup(in->str, (gsize) head_end);
        g_autofree char *cl = header_value(head, "Content-Length");
        need = (gsize) head_end + (gsize) g_ascii_strtoull(cl, NULL, 10);
      }
    }
  }
  if (head_end >= 0 && in->len >= need) {
    g_autofree char *head = g_strndup(in->str, (gsize) head_end);
    g_autofree char *body = g_strndup(in->str + head_end, need - (gsize) head_end);
    g_auto(GStrv) request_line = g_strsplit(head, " ", 3);
    g_autofree char *auth = header_value(head, "Authorization");
    g_autofree char *expect = header_value(head, "Expect");
    int status = 0;
    g_autofree char *reply = answer(fs, request_line[0], request_line[1], auth, body, &status);
    g_mutex_lock(&fs->lock);
    g_ptr_array_add(fs->requests, g_strdup_printf("%s %s\n%s\n%s%s", request_line[0], request_line[1], auth, body,
                                                  *expect != '\0' ? "\nEXPECT" : ""));
    g_mutex_unlock(&fs->lock);
    g_autofree char *response = g_strdup_printf(
      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
      status, strlen(reply), reply);
    gsize off = 0, len = strlen(response);
    while (off < len) {
      ssize_t n = srv_tls_write(conn, response + off, len - off);
      if (n == SRV_TLS_WANT_READ || n == SRV_TLS_WANT_WRITE) {
        if (!wait_status(fd, (SrvTlsStatus) n))
          break;
        continue;
      }
      if (n <= 0)
        break;
      off += (gsize) n;
    }
    for (int i = 0; i < 10; i++) {
      st = srv_tls_close_notify(conn);
      if (st != SRV_TLS_WANT_WRITE || !wait_status(fd, st))
        break;
    }
  }
  g_string_free(in, TRUE);
out:
  srv_tls_connection_free(conn);
}

static gpointer
fake_server_thread(gpointer data)
{
  FakeServer *fs = data;
  while (!g_atomic_int_get(&fs->stop)) {
    if (!wait_io(fs->listen_fd, POLLIN, 50))
      continue;
    int fd = accept4(fs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    serve_connection(fs, fd);
    close(fd);
  }
  return NULL;
}

static FakeServer *
fake_server_start(void)
{
  FakeServer *fs = g_new0(FakeServer, 1);
  g_autoptr(GError) error = NULL;
  fs->dir = g_build_filename(tmp_root, "server-XXXXXX", NULL);
  g_assert_nonnull(g_mkdtemp(fs->dir));
  g_autofree char *ca_dir = g_build_filename(fs->dir, "ca", NULL);
  g_autoptr(SrvCa) ca = srv_ca_create(ca_dir, "Genkan Test CA", &error);
  g_assert_no_error(error);
  fs->ca_path = g_strdup(srv_ca_get_cert_path(ca));
  g_autofree char *crt = g_build_filename(fs->dir, "server.crt", NULL);
  g_autofree char *key = g_build_filename(fs->dir, "server.key", NULL);
  const char *const ips[] = { "127.0.0.1", NULL };
  g_assert_true(srv_ca_issue_server_cert(ca, "localhost", ips, crt, key, &error));
  g_assert_no_error(error);
  fs->tls = srv_tls_context_new(SRV_TLS_ADMIN_PORT, crt, key, NULL, &error);
  g_assert_no_error(error);

  fs->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  g_assert_cmpint(fs->listen_fd, >=, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  g_assert_cmpint(bind(fs->listen_fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_assert_cmpint(listen(fs->listen_fd, 16), ==, 0);
  socklen_t sl = sizeof sa;
  g_assert_cmpint(getsockname(fs->listen_fd, (struct sockaddr *) &sa, &sl), ==, 0);
  fs->port = ntohs(sa.sin_port);
  fs->url = g_strdup_printf("https://127.0.0.1:%d", fs->port);

  GkEnrollCode code = { .expires_at = 1795338000, .port = (guint16) fs->port };
  memset(code.token, 0x5a, sizeof code.token);
  memset(code.ca_fingerprint, 0xa5, sizeof code.ca_fingerprint);
  g_strlcpy(code.host, "127.0.0.1", sizeof code.host);
  fs->enroll_code = gk_enroll_code_format(&code, &error);
  g_assert_no_error(error);

  g_mutex_init(&fs->lock);
  fs->requests = g_ptr_array_new_with_free_func(g_free);
  fs->thread = g_thread_new("fake-admin-port", fake_server_thread, fs);
  return fs;
}

static void
fake_server_stop(FakeServer *fs)
{
  g_atomic_int_set(&fs->stop, 1);
  g_thread_join(fs->thread);
  close(fs->listen_fd);
  srv_tls_context_free(fs->tls);
  g_ptr_array_unref(fs->requests);
  g_mutex_clear(&fs->lock);
  gk_test_rmtree(fs->dir);
  g_free(fs->dir);
  g_free(fs->ca_path);
  g_free(fs->url);
  g_free(fs->enroll_code);
  g_free(fs);
}

/* The last request the server saw, or NULL; resets the list. */
static char *
fake_server_take_last(FakeServer *fs)
{
  g_mutex_lock(&fs->lock);
  char *last = fs->requests->len > 0 ? g_strdup(g_ptr_array_index(fs->requests, fs->requests->len - 1)) : NULL;
  g_ptr_array_set_size(fs->requests, 0);
  g_mutex_unlock(&fs->lock);
  return last;
}

static void
assert_last_request(FakeServer *fs, const char *pattern)
{
  g_autofree char *last = fake_server_take_last(fs);
  if (last == NULL || !g_pattern_match_simple(pattern, last))
    g_error("last request \"%s\" does not match \"%s\"", last ? last : "(none)", pattern);
  g_assert_null(strstr(last, "\nEXPECT"));
}

static void
test_end_to_end(void)
{
  child_run_if_subprocess();
  g_autofree char *cfg = fresh_config_home(TRUE); /* before the server's thread exists */
  FakeServer *fs = fake_server_start();
  g_autofree char *session = g_build_filename(cfg, "genkan", "session", NULL);
  g_autofree char *qr_path = g_build_filename(fs->dir, "ticket.png", NULL);
  g_autofree char *enroll_qr = g_build_filename(fs->dir, "enroll.png", NULL);
  g_autofree char *last_line = g_strdup_printf("*\n%s\n", fs->enroll_code);

  /* Without the CA, the server is not trusted. */
  child_setenv("GENKAN_PASSWORD", "initial \"pw\"");
  CTL_RUN("--server", fs->url, "login", "--user", "admin");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*--ca FILE*");
  g_assert_null(fake_server_take_last(fs));

  /* The first login must change the password: a hint says how. */
  CTL_RUN("--server", fs->url, "--ca", fs->ca_path, "login", "--user", "admin");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*error: the password must be changed (password-change-required)*");
  g_test_trap_assert_stderr("*genkanctl login --user admin --new-password*");
  g_test_trap_assert_stderr_unmatched("*initial*");
  assert_last_request(fs, "POST /v1/login\n\n{\"username\":\"admin\",\"password\":\"initial \\\"pw\\\"\"}");
  g_assert_false(g_file_test(session, G_FILE_TEST_EXISTS));

  child_setenv("GENKAN_NEW_PASSWORD", "New-Passw0rd!");
  CTL_RUN("--server", fs->url, "--ca", fs->ca_path, "login", "--user", "admin", "--new-password");
  child_setenv("GENKAN_PASSWORD", NULL);
  child_setenv("GENKAN_NEW_PASSWORD", NULL);
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("*logged in to https://127.0.0.1:*as admin (role owner)*");
  g_test_trap_assert_stdout_unmatched("*" TOKEN "*");
  g_test_trap_assert_stderr_unmatched("*" TOKEN "*");
  g_test_trap_assert_stdout_unmatched("*New-Passw0rd*");
  assert_last_request(fs, "POST /v1/login\n\n*\"new_password\":\"New-Passw0rd!\"}");
  GStatBuf st;
  g_assert_cmpint(g_stat(session, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  SrvCtlSession saved = { 0 };
  g_assert_true(srv_ctl_session_load(&saved, NULL));
  g_assert_cmpstr(saved.server, ==, fs->url);
  g_assert_cmpstr(saved.ca, ==, fs->ca_path);
  g_assert_cmpstr(saved.token, ==, TOKEN);
  srv_ctl_session_clear(&saved);

  /* From now on server and CA come from the session. */
  CTL_RUN("host", "list");
  ASSERT_EXIT(0);
  assert_last_request(fs, "GET /v1/hosts\nBearer " TOKEN "\n");
  g_test_trap_assert_stdout("ID  NAME *READING *DEPARTMENT  EMAIL\n"
                            "1   山田 太郎 *やまだ たろう  総務 *yamada@example.com\n"
                            "2   Evil?[31mRed  - *R&D *-\n");
  g_test_trap_assert_stdout_unmatched("*\x1b*");

  CTL_RUN("host", "list", "--json");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("[\n  {\n    \"id\" : 1,*\"name\" : \"山田 太郎\"*]\n");
  CTL_RUN("--json", "host", "list");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("[\n  {\n*]\n");

  CTL_RUN("host", "add", "--name", "佐藤 花子", "--reading", "さとう はなこ", "--department", "Sales");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("3\n");
  assert_last_request(fs, "POST /v1/hosts\nBearer " TOKEN "\n{\"name\":\"佐藤 花子\",\"reading\":\"さとう はなこ\",\"department\":\"Sales\"}");

  CTL_RUN("ticket", "issue", "--visitor", "Alice Example", "--host", "1", "--company", "ACME", "--valid-from",
          "2026-11-22T09:00:00Z", "--valid-until", "1795424400", "--multi", "--qr", qr_path);
  ASSERT_EXIT(0);
  assert_last_request(fs, "POST /v1/tickets\nBearer " TOKEN "\n{\"visitor\":\"Alice Example\",\"host\":\"1\","
                          "\"company\":\"ACME\",\"valid_from\":1795338000,\"valid_until\":1795424400,\"multi\":true}");
  g_test_trap_assert_stdout("ticket       0123456789abcdef0123456789abcdef\n*"
                            "valid from   2026-11-22T09:00:00Z\n"
                            "valid until  2026-11-23T09:00:00Z\n*"
                            "qr image     *ticket.png\n" TICKET_TEXT "\n");
  g_assert_cmpint(g_stat(qr_path, &st), ==, 0);
  g_assert_cmpint(st.st_size, >, 100);

  CTL_RUN("device", "enroll-code", "--name", "Gate 1", "--mode", "gate", "--ttl", "600", "--qr", enroll_qr);
  ASSERT_EXIT(0);
  assert_last_request(fs, "POST /v1/devices/enroll-codes\nBearer " TOKEN "\n{\"name\":\"Gate 1\",\"mode\":\"gate\",\"ttl\":600}");
  g_test_trap_assert_stdout("*server       127.0.0.1:*");
  g_test_trap_assert_stdout(last_line);
  g_test_trap_assert_stdout_unmatched("*\u2580*"); /* not a terminal: no drawing */
  g_assert_true(g_file_test(enroll_qr, G_FILE_TEST_IS_REGULAR));

  CTL_RUN("device", "list");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("ID     NAME    MODE  ENROLLED              LAST SEEN             REVOKED  CLOCK OFFSET MS  QUEUE  "
                            "SETTINGS  LATEST\n"
                            "dev-1  Gate 1  gate  2026-11-22T09:00:00Z  2026-11-22T09:01:00Z  -        -120             0      "
                            "3         4\n");

  /* Remote settings: values travel as strings, KEY= as "", the PIN as typed
   * (the server hashes it) and it is never printed. */
  CTL_RUN("device", "config", "set", "dev-1", "language=en", "idle-timeout-s=30", "admin-pin=2468", "door-gpio=",
          "terms-text=a=b\nc");
  ASSERT_EXIT(0);
  assert_last_request(fs, "POST /v1/devices/dev-1/config\nBearer " TOKEN "\n{\"settings\":{\"language\":\"en\","
                          "\"idle-timeout-s\":\"30\",\"admin-pin\":\"2468\",\"door-gpio\":\"\","
                          "\"terms-text\":\"a=b\\nc\"}}");
  g_test_trap_assert_stdout("device dev-1\n"
                            "config version 4 (running on the device: 3)\n"
                            "admin-pin-hash = set\n"
                            "language = en\n"
                            "site-text = Lobby?[2J\n");
  g_test_trap_assert_stdout_unmatched("*2468*");
  g_test_trap_assert_stderr_unmatched("*2468*");

  CTL_RUN("device", "config", "set", "dev-1", "admin-pin=2468", "--json");
  ASSERT_EXIT(0);
  assert_last_request(fs, "POST /v1/devices/dev-1/config\n*{\"settings\":{\"admin-pin\":\"2468\"}}");
  g_test_trap_assert_stdout("{\n  \"id\" : \"dev-1\",*\"admin-pin-hash\" : \"set\"*}\n");
  g_test_trap_assert_stdout_unmatched("*2468*");

  /* A PIN given as a separate word is refused without echoing it, and nothing is sent. */
  CTL_RUN("device", "config", "set", "dev-1", "admin-pin", "2468");
  ASSERT_EXIT(2);
  g_test_trap_assert_stderr("*setting 1 is not KEY=VALUE*");
  g_test_trap_assert_stderr_unmatched("*2468*");
  g_assert_null(fake_server_take_last(fs));

  /* The server refuses a bad value: its message, exit 1. */
  CTL_RUN("device", "config", "set", "dev-1", "idle-timeout-s=5");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*settings.idle-timeout-s must be 10-600 (bad-request)*");
  g_test_trap_assert_stdout("");

  CTL_RUN("device", "config", "show", "dev-1");
  ASSERT_EXIT(0);
  assert_last_request(fs, "GET /v1/devices/dev-1/config\nBearer " TOKEN "\n");
  g_test_trap_assert_stdout("device dev-1\nconfig version 4 (running on the device: 3)\nadmin-pin-hash = set\n"
                            "language = en\nsite-text = Lobby?[2J\n");
  CTL_RUN("device", "config", "show", "dev-2");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("device dev-2\nconfig version 0\nno settings: the device uses its defaults\n");
  CTL_RUN("--json", "device", "config", "show", "dev-2");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("{\n  \"id\" : \"dev-2\",\n  \"config_version\" : 0,\n  \"config\" : {*}\n}\n");
  CTL_RUN("device", "config", "show", "dev-404");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*no such thing (not-found)*");

  CTL_RUN("checkins", "list", "--limit", "5");
  ASSERT_EXIT(0);
  assert_last_request(fs, "GET /v1/checkins?limit=5\n*");
  g_test_trap_assert_stdout("AT *KIND *DEVICE*\n2026-11-22T09:00:00Z  checkin  dev-1   Alice  *  yes      no        ev-000001\n");

  CTL_RUN("alerts", "list", "--json");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("[]\n");
  CTL_RUN("alerts", "list");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("ID  KIND  CREATED*FIRST EVENT\n");

  CTL_RUN("device", "revoke", "dev-1");
  ASSERT_EXIT(0);
  g_test_trap_assert_stdout("device dev-1 revoked at 2026-11-22T09:00:00Z\n");

  /* Server errors: the message and code on stderr, exit 1. */
  CTL_RUN("device", "revoke", "dev-404");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*error: no such thing (not-found)*");
  g_test_trap_assert_stdout("");
  assert_last_request(fs, "POST /v1/devices/dev-404/revoke\nBearer " TOKEN "\n{}");

  /* The token is only ever sent to the server that gave it. */
  g_autofree char *other = g_strdup_printf("https://localhost:%d", fs->port);
  CTL_RUN("--server", other, "--ca", fs->ca_path, "host", "list");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*not logged in to https://localhost:*");
  g_assert_null(fake_server_take_last(fs));

  CTL_RUN("logout");
  ASSERT_EXIT(0);
  assert_last_request(fs, "POST /v1/logout\nBearer " TOKEN "\n{}");
  g_assert_false(g_file_test(session, G_FILE_TEST_EXISTS));

  CTL_RUN("host", "list");
  ASSERT_EXIT(2);
  g_test_trap_assert_stderr("*no server configured*");

  /* An expired session: the server's 401 comes with a hint to log in again. */
  SrvCtlSession stale = { .server = fs->url, .ca = fs->ca_path, .token = (char *) "tok-expired-0123456789" };
  g_assert_true(srv_ctl_session_save(&stale, NULL));
  CTL_RUN("device", "list");
  ASSERT_EXIT(1);
  g_test_trap_assert_stderr("*error: log in first (unauthenticated)*genkanctl login*");

  fake_server_stop(fs);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (!g_test_subprocess()) {
    tmp_root = gk_test_make_tmpdir("test-ctl");
    g_unsetenv("GENKAN_SERVER");
    g_unsetenv("GENKAN_CA");
    g_unsetenv("GENKAN_PASSWORD");
    g_unsetenv("GENKAN_NEW_PASSWORD");
    /* Proxies would turn the loopback tests into something else. */
    g_unsetenv("https_proxy");
    g_unsetenv("HTTPS_PROXY");
    g_unsetenv("all_proxy");
    g_unsetenv("ALL_PROXY");
    g_setenv("XDG_CONFIG_HOME", tmp_root, TRUE);
    g_autofree char *args_file = g_build_filename(tmp_root, "ctl-args", NULL);
    g_setenv("GK_CTL_ARGS_FILE", args_file, TRUE);
    child_env = g_ptr_array_new_with_free_func(g_free);
  }

  for (gsize i = 0; i < G_N_ELEMENTS(help_cases); i++) {
    g_autofree char *path = g_strdup_printf("/server/ctl/help/%s", help_cases[i].path);
    g_test_add_data_func(path, &help_cases[i], test_help);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(usage_cases); i++) {
    g_autofree char *path = g_strdup_printf("/server/ctl/usage/%s", usage_cases[i].path);
    g_test_add_data_func(path, &usage_cases[i], test_usage);
  }
  g_test_add_func("/server/ctl/env-server", test_env_server);
  g_test_add_func("/server/ctl/login-no-password", test_login_no_password);
  g_test_add_func("/server/ctl/unreachable", test_unreachable);
  g_test_add_func("/server/ctl/session-store", test_session_store);
  g_test_add_func("/server/ctl/normalize-server", test_normalize_server);
  g_test_add_func("/server/ctl/parse-time", test_parse_time);
  g_test_add_func("/server/ctl/end-to-end", test_end_to_end);

  int rc = g_test_run();
  if (!g_test_subprocess()) {
    gk_test_rmtree(tmp_root);
    g_free(tmp_root);
    g_ptr_array_unref(child_env);
  }
  return rc;
}
