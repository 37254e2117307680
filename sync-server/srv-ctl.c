/* genkanctl: the admin command line. Parses a command, finds the server and the
 * saved session, calls the admin API over HTTPS (docs/protocol.md) and prints
 * tables, JSON for scripts, or the QR texts and images the commands make. */
#include "srv-ctl.h"

#include "gk-enroll-code.h"
#include "gk-json.h"
#include "gk-qr.h"
#include "gk-secure-file.h"
#include "gk-visit.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PROG "genkanctl"
#define MAX_RESPONSE (8u * 1024u * 1024u)  /* answers larger than this are refused */
#define MAX_SESSION_FILE (16u * 1024u)
#define MAX_SECRET 1024                      /* bytes of a typed password, NUL included */
#define QR_MODULE_PX 8
#define SESSION_GROUP "session"

/* ======================================================================== *
 * Saved session                                                           *
 * ======================================================================== */

char *
srv_ctl_session_path(void)
{
  /* Read on every call (g_get_user_config_dir() caches), and ignore a relative
   * value as the XDG base directory spec asks. */
  const char *xdg = g_getenv("XDG_CONFIG_HOME");
  if (xdg != NULL && g_path_is_absolute(xdg))
    return g_build_filename(xdg, "genkan", "session", NULL);
  return g_build_filename(g_get_home_dir(), ".config", "genkan", "session", NULL);
}

void
srv_ctl_session_clear(SrvCtlSession *session)
{
  if (session == NULL)
    return;
  g_clear_pointer(&session->server, g_free);
  g_clear_pointer(&session->ca, g_free);
  g_clear_pointer(&session->user, g_free);
  if (session->token != NULL) {
    sodium_memzero(session->token, strlen(session->token));
    g_clear_pointer(&session->token, g_free);
  }
}

gboolean
srv_ctl_session_save(const SrvCtlSession *session, GError **error)
{
  g_return_val_if_fail(session != NULL && session->server != NULL && session->token != NULL, FALSE);

  g_autofree char *path = srv_ctl_session_path();
  g_autofree char *dir = g_path_get_dirname(path);
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    int saved = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot create %s: %s", dir,
                g_strerror(saved));
    return FALSE;
  }

  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_key_file_set_string(kf, SESSION_GROUP, "server", session->server);
  if (session->ca != NULL)
    g_key_file_set_string(kf, SESSION_GROUP, "ca", session->ca);
  if (session->user != NULL)
    g_key_file_set_string(kf, SESSION_GROUP, "user", session->user);
  g_key_file_set_string(kf, SESSION_GROUP, "token", session->token);
  gsize len = 0;
  char *data = g_key_file_to_data(kf, &len, NULL);
  gboolean ok = gk_secure_file_write(path, data, len, FALSE, error);
  sodium_memzero(data, len);
  g_free(data);
  return ok;
}

gboolean
srv_ctl_session_load(SrvCtlSession *out, GError **error)
{
  g_return_val_if_fail(out != NULL, FALSE);
  memset(out, 0, sizeof *out);

  g_autofree char *path = srv_ctl_session_path();
  guint8 *data = NULL;
  gsize len = 0;
  if (!gk_secure_file_read(path, MAX_SESSION_FILE, &data, &len, error))
    return FALSE;

  g_autoptr(GKeyFile) kf = g_key_file_new();
  gboolean ok = g_key_file_load_from_data(kf, (const char *) data, len, G_KEY_FILE_NONE, error);
  gk_secure_free(data, len);
  if (!ok) {
    g_prefix_error(error, "%s: ", path);
    return FALSE;
  }
  out->server = g_key_file_get_string(kf, SESSION_GROUP, "server", NULL);
  out->token = g_key_file_get_string(kf, SESSION_GROUP, "token", NULL);
  out->ca = g_key_file_get_string(kf, SESSION_GROUP, "ca", NULL);
  out->user = g_key_file_get_string(kf, SESSION_GROUP, "user", NULL);
  if (out->server == NULL || out->token == NULL || *out->token == '\0') {
    srv_ctl_session_clear(out);
    g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                "%s: no server or token in the session file", path);
    return FALSE;
  }
  return TRUE;
}

gboolean
srv_ctl_session_delete(GError **error)
{
  g_autofree char *path = srv_ctl_session_path();
  if (g_unlink(path) != 0 && errno != ENOENT) {
    int saved = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "cannot remove %s: %s", path,
                g_strerror(saved));
    return FALSE;
  }
  return TRUE;
}

/* ======================================================================== *
 * Small parsers and formatters                                             *
 * ======================================================================== */

static gboolean
host_chars_ok(const char *host)
{
  for (const char *p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != ':')
      return FALSE;
  return TRUE;
}

char *
srv_ctl_normalize_server(const char *url, GError **error)
{
  g_return_val_if_fail(url != NULL, NULL);

  if (g_ascii_strncasecmp(url, "http://", 7) == 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "refusing %s: " PROG " talks to the server over HTTPS only (https://HOST:PORT)", url);
    return NULL;
  }
  g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_ascii_strcasecmp(g_uri_get_scheme(uri), "https") != 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "bad server address %s: expected https://HOST[:PORT]", url);
    return NULL;
  }
  const char *host = g_uri_get_host(uri);
  const char *path = g_uri_get_path(uri);
  if (host == NULL || *host == '\0' || !host_chars_ok(host) || g_uri_get_userinfo(uri) != NULL ||
      g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL ||
      (path != NULL && *path != '\0' && strcmp(path, "/") != 0)) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "bad server address %s: expected https://HOST[:PORT] and nothing else", url);
    return NULL;
  }
  gboolean v6 = strchr(host, ':') != NULL;
  g_autofree char *lower = g_ascii_strdown(host, -1);
  int port = g_uri_get_port(uri);
  if (port > 0)
    return g_strdup_printf("https://%s%s%s:%d", v6 ? "[" : "", lower, v6 ? "]" : "", port);
  return g_strdup_printf("https://%s%s%s", v6 ? "[" : "", lower, v6 ? "]" : "");
}

static gboolean
take_digits(const char **p, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!g_ascii_isdigit((*p)[i]))
      return FALSE;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return TRUE;
}

/* "YYYY-MM-DD[T ]HH:MM[:SS][Z|±HH[:]MM|±HH]"; without a zone the time is local. */
static GDateTime *
parse_simple_time(const char *text)
{
  const char *p = text;
  int y, mo, d, h, mi, s = 0;
  if (!take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) || *p++ != '-' ||
      !take_digits(&p, 2, &d))
    return NULL;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return NULL;
  p++;
  if (!take_digits(&p, 2, &h) || *p++ != ':' || !take_digits(&p, 2, &mi))
    return NULL;
  if (*p == ':') {
    p++;
    if (!take_digits(&p, 2, &s))
      return NULL;
  }
  g_autoptr(GTimeZone) tz = NULL;
  if (*p == 'Z' || *p == 'z') {
    p++;
    tz = g_time_zone_new_utc();
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
    if (!take_digits(&p, 2, &oh))
      return NULL;
    if (*p == ':')
      p++;
    if (g_ascii_isdigit(*p) && !take_digits(&p, 2, &om))
      return NULL;
    if (oh > 23 || om > 59)
      return NULL;
    tz = g_time_zone_new_offset(sign * (oh * 3600 + om * 60));
  } else {
    tz = g_time_zone_new_local();
  }
  if (*p != '\0' || tz == NULL || h > 23 || mi > 59 || s > 59)
    return NULL;
  return g_date_time_new(tz, y, mo, d, h, mi, s); /* NULL for 2026-02-30 and the like */
}

gboolean
srv_ctl_parse_time(const char *text, gint64 *out_unix, GError **error)
{
  g_return_val_if_fail(text != NULL && out_unix != NULL, FALSE);

  if (*text != '\0' && strspn(text, "0123456789") == strlen(text)) {
    guint64 v = 0;
    /* Up to the year 9999, like every other form. */
    if (!g_ascii_string_to_unsigned(text, 10, 0, G_GINT64_CONSTANT(253402300799), &v, NULL))
      goto bad;
    *out_unix = (gint64) v;
    return TRUE;
  }
  GDateTime *dt = parse_simple_time(text);
  if (dt == NULL)
    dt = g_date_time_new_from_iso8601(text, NULL); /* other ISO 8601 forms, with a zone */
  if (dt == NULL)
    goto bad;
  *out_unix = g_date_time_to_unix(dt);
  g_date_time_unref(dt);
  return TRUE;

bad:
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
              "cannot read the time \"%s\": use 2026-11-22T09:00:00Z, 2026-11-22T09:00+09:00, "
              "\"2026-11-22 09:00\" (local time) or Unix seconds", text);
  return FALSE;
}

char *
srv_ctl_format_time(gint64 unix_seconds)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(unix_seconds);
  if (dt == NULL)
    return g_strdup_printf("%" G_GINT64_FORMAT, unix_seconds);
  return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

/* Text from the server goes to a terminal: control and format characters (escape
 * sequences, bidi overrides) become '?'. */
static char *
display_text(const char *s)
{
  GString *out = g_string_new(NULL);
  if (!g_utf8_validate(s, -1, NULL)) {
    g_string_append(out, "?");
    return g_string_free(out, FALSE);
  }
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (g_unichar_iscntrl(c) || g_unichar_type(c) == G_UNICODE_FORMAT)
      g_string_append_c(out, '?');
    else
      g_string_append_unichar(out, c);
  }
  return g_string_free(out, FALSE);
}

/* Columns a terminal gives the string (CJK and kana take two). */
static gsize
display_width(const char *s)
{
  gsize w = 0;
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (g_unichar_iszerowidth(c))
      continue;
    w += g_unichar_iswide(c) ? 2 : 1;
  }
  return w;
}

/* A text the server sent that must travel as one line (QR texts, codes). */
static gboolean
single_line_ascii(const char *s)
{
  if (s == NULL || *s == '\0')
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
      return FALSE;
  return TRUE;
}

/* Path segments we put in a URL: ids only. */
static gboolean
id_ok(const char *id)
{
  gsize n = strlen(id);
  if (n == 0 || n > 128)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

/* ======================================================================== *
 * Tables                                                                    *
 * ======================================================================== */

typedef enum { COL_TEXT, COL_TIME, COL_BOOL } ColKind;

typedef struct {
  const char *title;
  const char *member;
  ColKind kind;
} Column;

static char *
cell_text(JsonObject *o, const Column *col)
{
  JsonNode *n = json_object_get_member(o, col->member);
  if (n == NULL || JSON_NODE_HOLDS_NULL(n))
    return g_strdup("-");
  if (JSON_NODE_HOLDS_ARRAY(n)) {
    /* A list of ids or names: "1,2" ("-" when empty). */
    JsonArray *a = json_node_get_array(n);
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      JsonNode *e = json_array_get_element(a, i);
      g_autofree char *text = NULL;
      if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_INT64)
        text = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(e));
      else if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
        text = display_text(json_node_get_string(e));
      g_string_append_printf(out, "%s%s", i > 0 ? "," : "", text != NULL ? text : "?");
    }
    return out->len > 0 ? g_string_free(out, FALSE) : (g_string_free(out, TRUE), g_strdup("-"));
  }
  if (!JSON_NODE_HOLDS_VALUE(n))
    return g_strdup("?");
  GType t = json_node_get_value_type(n);
  if (t == G_TYPE_STRING)
    return display_text(json_node_get_string(n));
  if (t == G_TYPE_INT64) {
    gint64 v = json_node_get_int(n);
    if (col->kind == COL_TIME)
      return v > 0 ? srv_ctl_format_time(v) : g_strdup("-");
    if (col->kind == COL_BOOL)
      return g_strdup(v ? "yes" : "no");
    return g_strdup_printf("%" G_GINT64_FORMAT, v);
  }
  if (t == G_TYPE_BOOLEAN)
    return g_strdup(json_node_get_boolean(n) ? "yes" : "no");
  if (t == G_TYPE_DOUBLE)
    return g_strdup_printf("%g", json_node_get_double(n));
  return g_strdup("?");
}

static void
print_table(JsonArray *rows, const Column *cols, guint ncols)
{
  guint nrows = json_array_get_length(rows);
  g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);
  gsize widths[16] = { 0 };
  g_assert(ncols <= G_N_ELEMENTS(widths));
  for (guint c = 0; c < ncols; c++)
    widths[c] = display_width(cols[c].title);
  for (guint r = 0; r < nrows; r++) {
    JsonNode *node = json_array_get_element(rows, r);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    for (guint c = 0; c < ncols; c++) {
      char *text = o != NULL ? cell_text(o, &cols[c]) : g_strdup("?");
      widths[c] = MAX(widths[c], display_width(text));
      g_ptr_array_add(cells, text);
    }
  }
  GString *line = g_string_new(NULL);
  for (guint r = 0; r <= nrows; r++) {
    g_string_truncate(line, 0);
    for (guint c = 0; c < ncols; c++) {
      const char *text = r == 0 ? cols[c].title : g_ptr_array_index(cells, (r - 1) * ncols + c);
      g_string_append(line, text);
      if (c + 1 < ncols)
        for (gsize pad = display_width(text); pad < widths[c] + 2; pad++)
          g_string_append_c(line, ' ');
    }
    printf("%s\n", line->str);
  }
  g_string_free(line, TRUE);
}

static void
print_json(JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_pretty(gen, TRUE);
  json_generator_set_indent(gen, 2);
  json_generator_set_root(gen, node);
  g_autofree char *text = json_generator_to_data(gen, NULL);
  printf("%s\n", text);
}

/* ======================================================================== *
 * Command-line state, messages                                             *
 * ======================================================================== */

typedef struct Command Command;

typedef struct {
  /* global options */
  char *server_opt;
  char *ca_opt;
  char *site_opt;          /* --site: X-Genkan-Site on every request */
  const char *body_type;   /* Content-Type of request bodies; NULL: application/json */
  gboolean json;
  /* resolved */
  char *server;
  char *ca;
  SrvCtlSession session;
  gboolean session_matches; /* the saved session belongs to ctl->server */
  const Command *cmd;
} Ctl;

struct Command {
  const char *group;   /* "host" for "host add"; NULL for "login" */
  const char *name;
  const char *params;  /* positional arguments shown in the usage line */
  const char *summary;
  const char *description;
  gboolean list;       /* accepts --json after the command */
  int (*run)(Ctl *ctl, int argc, char **argv);
};

static void G_GNUC_PRINTF(1, 2)
err_msg(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
  fprintf(stderr, "%s\n", msg);
}

static char *
command_label(const Command *cmd)
{
  if (cmd->group != NULL)
    return g_strdup_printf("%s %s", cmd->group, cmd->name);
  return g_strdup(cmd->name);
}

static int G_GNUC_PRINTF(2, 3)
usage_error(const Command *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  if (cmd != NULL) {
    g_autofree char *label = command_label(cmd);
    err_msg(PROG " %s: %s\nTry '" PROG " %s --help'.", label, msg, label);
  } else {
    err_msg(PROG ": %s\nTry '" PROG " --help'.", msg);
  }
  return SRV_CTL_EXIT_USAGE;
}

/* ======================================================================== *
 * HTTPS                                                                     *
 * ======================================================================== */

typedef struct {
  GByteArray *body;
  gboolean too_large;
  /* Exports only (api_download_file): a 2xx body goes to @sink instead, up to
   * DOWNLOAD_MAX bytes; error answers still land in @body. */
  FILE *sink;
  gboolean status_ok;      /* the last status line was 2xx */
  guint64 sink_bytes;
  gint64 rows;             /* X-Genkan-Rows, -1: not sent */
} Response;

#define DOWNLOAD_MAX (G_GUINT64_CONSTANT(4) * 1024 * 1024 * 1024)

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *user_data)
{
  Response *resp = user_data;
  size_t n = size * nmemb;
  g_autofree char *line = g_strndup(ptr, MIN(n, 256));
  g_strchomp(line);
  guint64 v = 0;
  if (g_str_has_prefix(line, "HTTP/")) {
    const char *sp = strchr(line, ' ');
    resp->status_ok = sp != NULL && sp[1] == '2';
  } else if (g_ascii_strncasecmp(line, "X-Genkan-Rows:", 14) == 0 &&
             g_ascii_string_to_unsigned(g_strstrip(line + 14), 10, 0, G_MAXINT64, &v, NULL)) {
    resp->rows = (gint64) v;
  }
  return n;
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *user_data)
{
  Response *resp = user_data;
  size_t n = size * nmemb;
  if (resp->sink != NULL && resp->status_ok) {
    if (n > DOWNLOAD_MAX - resp->sink_bytes || fwrite(ptr, 1, n, resp->sink) != n) {
      resp->too_large = resp->sink_bytes + n > DOWNLOAD_MAX;
      return 0;
    }
    resp->sink_bytes += n;
    return n;
  }
  if (n > MAX_RESPONSE - resp->body->len) {
    resp->too_large = TRUE;
    return 0; /* CURLE_WRITE_ERROR */
  }
  g_byte_array_append(resp->body, (const guint8 *) ptr, (guint) n);
  return n;
}

static void
response_free(Response *resp)
{
  if (resp->body != NULL) {
    /* Answers may carry a session token. */
    sodium_memzero(resp->body->data, resp->body->len);
    g_byte_array_unref(resp->body);
    resp->body = NULL;
  }
}

static void
print_server_error(Ctl *ctl, long status, const guint8 *body, gsize len, const char **out_code)
{
  static const GkJsonField error_fields[] = {
    { "status", GK_JSON_INT, FALSE, 0, 999 },
    { "code", GK_JSON_STRING, TRUE, 1, 64 },
    { "message", GK_JSON_STRING, FALSE, 0, 4096 },
  };
  static char code_copy[65];
  *out_code = NULL;

  g_autoptr(JsonNode) root = len > 0 ? gk_json_parse_object((const char *) body, len, MAX_RESPONSE, NULL) : NULL;
  JsonObject *o = root != NULL ? json_node_get_object(root) : NULL;
  JsonNode *e = o != NULL ? json_object_get_member(o, "error") : NULL;
  JsonObject *eo = e != NULL && JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
  if (eo == NULL || !gk_json_check(eo, error_fields, G_N_ELEMENTS(error_fields), TRUE, "error", NULL)) {
    err_msg("error: the server answered HTTP %ld", status);
    return;
  }
  const char *code = gk_json_get_string(eo, "code", "");
  g_autofree char *code_shown = display_text(code);
  g_autofree char *message = display_text(gk_json_get_string(eo, "message", code));
  err_msg("error: %s (%s)", message, code_shown);
  g_strlcpy(code_copy, code, sizeof code_copy);
  *out_code = code_copy;

  if (strcmp(code, "unauthenticated") == 0 && ctl->cmd != NULL && strcmp(ctl->cmd->name, "login") != 0)
    err_msg("hint: the session has ended or is missing: run " PROG " login --user NAME");
  else if (strcmp(code, "password-change-required") == 0 && ctl->cmd != NULL && strcmp(ctl->cmd->name, "login") != 0)
    err_msg("hint: the password must be changed first: run " PROG " login --user NAME --new-password");
}

/* Sends one request. With @with_token the saved session's token goes along.
 * Returns 0 when an answer came, whatever its status (*out_status; its body in
 * @resp); otherwise prints why and returns an exit status. */
static int
api_exchange(Ctl *ctl, const char *method, const char *path, const char *body, gsize body_len,
             gboolean with_token, Response *resp, long *out_status)
{
  int status = SRV_CTL_EXIT_FAILURE;
  CURL *curl = NULL;
  struct curl_slist *headers = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  g_autofree char *url = g_strconcat(ctl->server, path, NULL);
  g_autofree char *site = NULL; /* before the first goto: clang refuses jumps over g_autofree */
  *out_status = 0;

  curl = curl_easy_init();
  if (curl == NULL) {
    err_msg("error: cannot start libcurl");
    goto out;
  }
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
  if (body != NULL) {
    g_autofree char *type = g_strconcat("Content-Type: ", ctl->body_type ? ctl->body_type : "application/json", NULL);
    headers = curl_slist_append(headers, type);
  }
  if (with_token) {
    g_autofree char *auth = g_strconcat("Authorization: Bearer ", ctl->session.token, NULL);
    headers = curl_slist_append(headers, auth);
    sodium_memzero(auth, strlen(auth));
  }
  /* The site the request acts on (run() checked --site and GENKAN_SITE). */
  site = ctl->site_opt != NULL ? g_strconcat("X-Genkan-Site: ", ctl->site_opt, NULL) : NULL;
  if (site != NULL)
    headers = curl_slist_append(headers, site);
  if (headers == NULL) {
    err_msg("error: out of memory");
    goto out;
  }

  gboolean setopt_ok =
    curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_SSLVERSION,
                     (long) (CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2)) == CURLE_OK &&
    (ctl->ca == NULL || curl_easy_setopt(curl, CURLOPT_CAINFO, ctl->ca) == CURLE_OK) &&
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L) == CURLE_OK &&
    /* An export of many rows takes longer than an API call. */
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, resp->sink != NULL ? 600L : 30L) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_USERAGENT, PROG "/" GENKAN_VERSION) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp) == CURLE_OK &&
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
  if (setopt_ok && body != NULL)
    setopt_ok = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len) == CURLE_OK;
  if (!setopt_ok) {
    err_msg("error: this libcurl lacks a required option (HTTPS, TLS 1.2)");
    goto out;
  }

  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    if (resp->too_large)
      err_msg("error: the answer from %s is larger than %" G_GUINT64_FORMAT " bytes", ctl->server,
              resp->sink != NULL ? DOWNLOAD_MAX : (guint64) MAX_RESPONSE);
    else
      err_msg("error: cannot talk to %s: %s", ctl->server, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
      err_msg("hint: give the server's CA certificate (DIR/ca.crt) with --ca FILE or GENKAN_CA");
    goto out;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, out_status);
  status = SRV_CTL_EXIT_OK;

out:
  if (headers != NULL)
    curl_slist_free_all(headers);
  if (curl != NULL)
    curl_easy_cleanup(curl);
  return status;
}

/* One request (api_exchange()). On success (2xx and a JSON object) returns 0
 * and the answer in @out_root; otherwise prints the error and returns an exit
 * status; @out_error_code, when not NULL, gets the server's error code (static
 * storage). */
static int
api_call(Ctl *ctl, const char *method, const char *path, const char *body, gsize body_len,
         gboolean with_token, JsonNode **out_root, const char **out_error_code)
{
  Response resp = { .body = g_byte_array_sized_new(16384) };
  const char *dummy_code = NULL;
  g_autoptr(GError) error = NULL;
  long http_status = 0;
  if (out_error_code == NULL)
    out_error_code = &dummy_code;
  *out_error_code = NULL;
  *out_root = NULL;
  int status = api_exchange(ctl, method, path, body, body_len, with_token, &resp, &http_status);
  if (status == SRV_CTL_EXIT_OK && (http_status < 200 || http_status > 299)) {
    print_server_error(ctl, http_status, resp.body->data, resp.body->len, out_error_code);
    status = SRV_CTL_EXIT_FAILURE;
  } else if (status == SRV_CTL_EXIT_OK) {
    *out_root = gk_json_parse_object((const char *) resp.body->data, resp.body->len, MAX_RESPONSE, &error);
    if (*out_root == NULL) {
      err_msg("error: the server's answer is not valid: %s", error->message);
      status = SRV_CTL_EXIT_FAILURE;
    }
  }
  response_free(&resp);
  return status;
}

/* GET of a non-JSON answer (a CSV export): 0 and its bytes in *out_body
 * (g_byte_array_unref), or the error printed and an exit status. */
static int
api_download(Ctl *ctl, const char *path, GByteArray **out_body)
{
  Response resp = { .body = g_byte_array_sized_new(65536) };
  long http_status = 0;
  const char *code = NULL;
  *out_body = NULL;
  int status = api_exchange(ctl, "GET", path, NULL, 0, TRUE, &resp, &http_status);
  if (status == SRV_CTL_EXIT_OK && (http_status < 200 || http_status > 299)) {
    print_server_error(ctl, http_status, resp.body->data, resp.body->len, &code);
    status = SRV_CTL_EXIT_FAILURE;
  }
  if (status == SRV_CTL_EXIT_OK)
    *out_body = g_steal_pointer(&resp.body);
  else
    response_free(&resp);
  return status;
}

/* GET of an export (api_download() without its size cap): the body streams
 * to a temporary file beside @out, which replaces @out only when the whole
 * answer came (rename), mode 0600; *out_rows from X-Genkan-Rows. 0 or the
 * error printed and an exit status (no file left behind). */
static int
api_download_file(Ctl *ctl, const char *path, const char *out, gint64 *out_rows)
{
  g_autofree char *tmp = g_strconcat(out, ".XXXXXX", NULL);
  int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    err_msg("error: cannot write %s: %s", out, g_strerror(errno));
    return SRV_CTL_EXIT_FAILURE;
  }
  Response resp = { .body = g_byte_array_sized_new(4096), .sink = fdopen(fd, "wb"), .rows = -1 };
  if (resp.sink == NULL) {
    close(fd);
    g_unlink(tmp);
    response_free(&resp);
    err_msg("error: cannot write %s: %s", out, g_strerror(errno));
    return SRV_CTL_EXIT_FAILURE;
  }
  long http_status = 0;
  const char *code = NULL;
  int status = api_exchange(ctl, "GET", path, NULL, 0, TRUE, &resp, &http_status);
  if (status == SRV_CTL_EXIT_OK && (http_status < 200 || http_status > 299)) {
    print_server_error(ctl, http_status, resp.body->data, resp.body->len, &code);
    if (code != NULL && strcmp(code, "export-not-permitted") == 0)
      err_msg("hint: an owner grants it: " PROG " account export-permission NAME --allow");
    status = SRV_CTL_EXIT_FAILURE;
  }
  gboolean written = fflush(resp.sink) == 0 && fsync(fileno(resp.sink)) == 0;
  written = fclose(resp.sink) == 0 && written;
  if (status == SRV_CTL_EXIT_OK && !written) {
    err_msg("error: cannot write %s: %s", out, g_strerror(errno));
    status = SRV_CTL_EXIT_FAILURE;
  }
  if (status == SRV_CTL_EXIT_OK && g_rename(tmp, out) != 0) {
    err_msg("error: cannot write %s: %s", out, g_strerror(errno));
    status = SRV_CTL_EXIT_FAILURE;
  }
  if (status != SRV_CTL_EXIT_OK)
    g_unlink(tmp);
  *out_rows = resp.rows;
  response_free(&resp);
  return status;
}

/* Checks the fields of an answer a command relies on (others are allowed: a
 * newer server may add some). */
static JsonObject *
answer_object(JsonNode *root, const GkJsonField *fields, gsize n_fields)
{
  g_autoptr(GError) error = NULL;
  JsonObject *o = json_node_get_object(root);
  if (!gk_json_check(o, fields, n_fields, TRUE, "answer", &error)) {
    err_msg("error: the server's answer is not valid: %s", error->message);
    return NULL;
  }
  return o;
}

static JsonArray *
answer_array(JsonNode *root, const char *member, JsonNode **out_node)
{
  JsonObject *o = json_node_get_object(root);
  JsonNode *n = json_object_get_member(o, member);
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY(n)) {
    err_msg("error: the server's answer has no \"%s\" list", member);
    return NULL;
  }
  *out_node = n;
  return json_node_get_array(n);
}

/* ======================================================================== *
 * Server, CA and session resolution                                         *
 * ======================================================================== */

static int
resolve_server(Ctl *ctl, gboolean need_token)
{
  g_autoptr(GError) error = NULL;
  const char *server_text = ctl->server_opt != NULL ? ctl->server_opt : g_getenv("GENKAN_SERVER");
  const char *ca_text = ctl->ca_opt != NULL ? ctl->ca_opt : g_getenv("GENKAN_CA");
  if (server_text != NULL && *server_text == '\0')
    server_text = NULL;
  if (ca_text != NULL && *ca_text == '\0')
    ca_text = NULL;

  /* Some commands resolve twice (site retention show: the current site, then
   * the call); start afresh so the first resolution's strings are freed. */
  srv_ctl_session_clear(&ctl->session);
  g_clear_pointer(&ctl->server, g_free);
  g_clear_pointer(&ctl->ca, g_free);
  gboolean have_session = srv_ctl_session_load(&ctl->session, &error);
  if (!have_session) {
    if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      err_msg("warning: ignoring the saved session: %s", error->message);
    g_clear_error(&error);
  }

  if (server_text != NULL) {
    ctl->server = srv_ctl_normalize_server(server_text, &error);
    if (ctl->server == NULL)
      return usage_error(NULL, "%s", error->message);
  } else if (have_session) {
    ctl->server = g_strdup(ctl->session.server);
  } else {
    return usage_error(NULL, "no server configured: give --server https://HOST:PORT, set GENKAN_SERVER, "
                             "or log in first with " PROG " --server URL --ca FILE login --user NAME");
  }

  /* A token is only ever sent to the server it came from. */
  ctl->session_matches = have_session && g_strcmp0(ctl->session.server, ctl->server) == 0;
  if (ca_text != NULL)
    ctl->ca = g_canonicalize_filename(ca_text, NULL);
  else if (ctl->session_matches && ctl->session.ca != NULL)
    ctl->ca = g_strdup(ctl->session.ca);
  if (ctl->ca != NULL && !g_file_test(ctl->ca, G_FILE_TEST_IS_REGULAR))
    return usage_error(NULL, "cannot read the CA certificate %s", ctl->ca);

  if (need_token && !ctl->session_matches) {
    err_msg("error: not logged in to %s: run " PROG " login --user NAME", ctl->server);
    return SRV_CTL_EXIT_FAILURE;
  }
  return SRV_CTL_EXIT_OK;
}

/* ======================================================================== *
 * Passwords                                                                 *
 * ======================================================================== */

static volatile sig_atomic_t prompt_signal;

static void
on_prompt_signal(int signo)
{
  prompt_signal = signo;
}

/* Reads one line from /dev/tty with echo off into @buf (sodium_malloc'ed,
 * MAX_SECRET bytes). Refuses to read when echo cannot be turned off. */
static gboolean
prompt_secret(const char *prompt, char *buf, GError **error)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };
  struct sigaction old_actions[G_N_ELEMENTS(sigs)];
  struct termios old_tio, tio;
  gboolean ok = FALSE, too_long = FALSE;
  gsize len = 0;

  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_NXIO,
                        "no terminal to ask for the password on: set GENKAN_PASSWORD "
                        "(and GENKAN_NEW_PASSWORD)");
    return FALSE;
  }
  if (tcgetattr(fd, &old_tio) != 0) {
    close(fd);
    g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_NXIO, "/dev/tty is not a terminal");
    return FALSE;
  }

  prompt_signal = 0;
  struct sigaction sa = { .sa_handler = on_prompt_signal }; /* no SA_RESTART: read() returns */
  sigemptyset(&sa.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS(sigs); i++)
    sigaction(sigs[i], &sa, &old_actions[i]);

  tio = old_tio;
  tio.c_lflag &= ~(tcflag_t) (ECHO | ECHOE | ECHOK | ECHONL);
  tio.c_lflag |= ICANON;
  struct termios check;
  if (tcsetattr(fd, TCSAFLUSH, &tio) != 0 || tcgetattr(fd, &check) != 0 || (check.c_lflag & ECHO) != 0) {
    g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                        "cannot turn off echo on the terminal: refusing to read a password");
    goto restore;
  }

  if (write(fd, prompt, strlen(prompt)) < 0) {
    /* The prompt is a courtesy; reading still works. */
  }
  for (;;) {
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR && prompt_signal == 0)
      continue;
    if (n < 0 || prompt_signal != 0) {
      g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INTR, "interrupted");
      goto restore;
    }
    if (n == 0 || c == '\n' || c == '\r')
      break;
    if (len + 1 < MAX_SECRET)
      buf[len++] = c;
    else
      too_long = TRUE;
  }
  buf[len] = '\0';
  if (too_long) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG, "the password is longer than %d bytes",
                MAX_SECRET - 1);
    goto restore;
  }
  ok = TRUE;

restore:
  tcsetattr(fd, TCSAFLUSH, &old_tio);
  if (write(fd, "\n", 1) < 0) {
    /* nothing to do */
  }
  close(fd);
  for (gsize i = 0; i < G_N_ELEMENTS(sigs); i++)
    sigaction(sigs[i], &old_actions[i], NULL);
  if (!ok)
    sodium_memzero(buf, MAX_SECRET);
  if (prompt_signal == SIGINT || prompt_signal == SIGTERM || prompt_signal == SIGHUP ||
      prompt_signal == SIGQUIT) {
    /* The terminal is sane again: die of the signal as the user asked. */
    sodium_memzero(buf, MAX_SECRET);
    raise(prompt_signal);
  }
  return ok;
}

/* The password from @env_name, or asked on the terminal (@repeat: twice). */
static gboolean
get_secret(const char *env_name, const char *prompt, const char *repeat_prompt, char *buf, GError **error)
{
  const char *env = g_getenv(env_name);
  if (env != NULL) {
    if (strlen(env) >= MAX_SECRET) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG, "%s is longer than %d bytes",
                  env_name, MAX_SECRET - 1);
      return FALSE;
    }
    g_strlcpy(buf, env, MAX_SECRET);
    return TRUE;
  }
  if (!prompt_secret(prompt, buf, error))
    return FALSE;
  if (repeat_prompt != NULL) {
    char *again = sodium_malloc(MAX_SECRET);
    if (again == NULL) {
      g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "out of memory");
      return FALSE;
    }
    gboolean ok = prompt_secret(repeat_prompt, again, error);
    if (ok && sodium_memcmp(buf, again, MAX_SECRET) != 0) {
      g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "the two passwords differ");
      ok = FALSE;
    }
    sodium_free(again);
    if (!ok)
      return FALSE;
  }
  if (*buf == '\0') {
    g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "empty password");
    return FALSE;
  }
  return TRUE;
}

/* JSON string with escapes, into @out which has room (6 bytes per input byte). */
static void
append_json_string(GString *out, const char *s)
{
  g_string_append_c(out, '"');
  for (const unsigned char *p = (const unsigned char *) s; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\') {
      g_string_append_c(out, '\\');
      g_string_append_c(out, (char) *p);
    } else if (*p < 0x20) {
      g_string_append_printf(out, "\\u%04x", *p);
    } else {
      g_string_append_c(out, (char) *p);
    }
  }
  g_string_append_c(out, '"');
}

/* ======================================================================== *
 * Commands                                                                  *
 * ======================================================================== */

/* docs/protocol.md, "Device settings (set remotely)". */
#define CONFIG_KEYS_HELP                                                                  \
  "Settings (KEY=VALUE, values as text):\n"                                               \
  "  mode             reception | gate (also changes the device's mode)\n"                \
  "  language         ja | en (default ja)\n"                                             \
  "  site-text        at most 200 bytes, shown on the welcome screen\n"                   \
  "  terms-text       at most 20000 bytes (newlines allowed)\n"                           \
  "  walkin-required  comma list of name, company, purpose, host (default name,host)\n"   \
  "  photo            true | false (default false)\n"                                     \
  "  idle-timeout-s   10-600 (default 60)\n"                                              \
  "  retention-hours  1-8760: visitor data kept after a visit ends (default 24)\n"        \
  "  admin-pin        4-12 digits; the server keeps only a hash, never shown\n"           \
  "  printer          CUPS queue name, [A-Za-z0-9._-], at most 100 bytes\n"              \
  "  door-output      none | command | gpio (default none)\n"                             \
  "  door-command     at most 500 bytes, run without a shell on accept\n"                 \
  "  door-gpio        CHIP:LINE, e.g. gpiochip0:17\n"                                     \
  "  door-pulse-ms    50-10000 (default 1000)\n"                                         \
  "  logo             @FILE.png: a PNG of at most 48 KiB and 1024x1024 pixels\n"

static int cmd_login(Ctl *ctl, int argc, char **argv);
static int cmd_logout(Ctl *ctl, int argc, char **argv);
static int cmd_host_add(Ctl *ctl, int argc, char **argv);
static int cmd_host_list(Ctl *ctl, int argc, char **argv);
static int cmd_host_edit(Ctl *ctl, int argc, char **argv);
static void print_secret(gint64 line, gint64 host_id, const char *secret);
static int cmd_host_remove(Ctl *ctl, int argc, char **argv);
static int cmd_host_import(Ctl *ctl, int argc, char **argv);
static int cmd_ticket_issue(Ctl *ctl, int argc, char **argv);
static int cmd_device_enroll_code(Ctl *ctl, int argc, char **argv);
static int cmd_device_list(Ctl *ctl, int argc, char **argv);
static int cmd_device_revoke(Ctl *ctl, int argc, char **argv);
static int cmd_device_config_set(Ctl *ctl, int argc, char **argv);
static int cmd_device_config_show(Ctl *ctl, int argc, char **argv);
static int cmd_checkins_list(Ctl *ctl, int argc, char **argv);
static int cmd_alerts_list(Ctl *ctl, int argc, char **argv);
static int cmd_visit_list(Ctl *ctl, int argc, char **argv);
static int cmd_visit_photo(Ctl *ctl, int argc, char **argv);
static int cmd_host_notify(Ctl *ctl, int argc, char **argv);
static int cmd_notify_set(Ctl *ctl, int argc, char **argv);
static int cmd_notify_show(Ctl *ctl, int argc, char **argv);
static int cmd_notifications_list(Ctl *ctl, int argc, char **argv);
static int cmd_notifications_retry(Ctl *ctl, int argc, char **argv);
static int cmd_audit_list(Ctl *ctl, int argc, char **argv);
static int cmd_audit_verify(Ctl *ctl, int argc, char **argv);
static int cmd_audit_export(Ctl *ctl, int argc, char **argv);
static int cmd_account_list(Ctl *ctl, int argc, char **argv);
static int cmd_account_whoami(Ctl *ctl, int argc, char **argv);
static int cmd_account_add(Ctl *ctl, int argc, char **argv);
static int cmd_account_set_role(Ctl *ctl, int argc, char **argv);
static int cmd_account_disable(Ctl *ctl, int argc, char **argv);
static int cmd_account_enable(Ctl *ctl, int argc, char **argv);
static int cmd_account_reset_password(Ctl *ctl, int argc, char **argv);
static int cmd_account_totp_enroll(Ctl *ctl, int argc, char **argv);
static int cmd_account_totp_confirm(Ctl *ctl, int argc, char **argv);
static int cmd_account_totp_reset(Ctl *ctl, int argc, char **argv);
static int cmd_account_allow_show(Ctl *ctl, int argc, char **argv);
static int cmd_account_allow_set(Ctl *ctl, int argc, char **argv);
static int cmd_export(Ctl *ctl, int argc, char **argv);
static int cmd_account_export_permission(Ctl *ctl, int argc, char **argv);
static int cmd_site_list(Ctl *ctl, int argc, char **argv);
static int cmd_site_add(Ctl *ctl, int argc, char **argv);
static int cmd_site_allow_show(Ctl *ctl, int argc, char **argv);
static int cmd_site_allow_set(Ctl *ctl, int argc, char **argv);
static int cmd_site_retention_show(Ctl *ctl, int argc, char **argv);
static int cmd_site_retention_set(Ctl *ctl, int argc, char **argv);
static int cmd_site_delete(Ctl *ctl, int argc, char **argv);
static int cmd_retention_purge(Ctl *ctl, int argc, char **argv);
static gboolean site_id_ok(const char *text);

/* docs/protocol.md, "Notifications". */
#define NOTIFY_HELP                                                                          \
  "Channels: email (--to ADDRESS; for a host, none given: the host's own address),\n"       \
  "  slack and teams (--url: the incoming-webhook URL), webhook (--url: an https\n"         \
  "  endpoint; every request is signed, see docs/webhooks.md), none (no messages).\n"      \
  "A webhook secret comes from --secret-file (mode 0600; its first line); without one\n"   \
  "the server makes one and prints it once. Messages are in --language ja (default) or en.\n"

/* docs/exports.md. */
#define EXPORT_HELP                                                                        \
  "UTF-8 CSV (RFC 4180, CRLF), one row per line after a header line; --bom adds a\n"       \
  "byte-order mark for Excel. --since/--until (times as for 'ticket issue') bound the\n"  \
  "rows (visits: check-in time; check-ins: device time; hosts: when added), until\n"      \
  "excluded. The file is written whole or not at all, with mode 0600; the row count\n"    \
  "is printed. Needs the export permission (owners always hold it); every export is\n"   \
  "audited. The server refuses more than its [exports] max-rows: narrow the dates.\n"

/* docs/protocol.md, "Accounts and sites". */
#define ACCOUNT_HELP                                                                       \
  "Roles: owner (everything, every site), admin (everything on its sites but adding\n"     \
  "  sites; manages receptionist, security and auditor accounts of its sites),\n"          \
  "  receptionist, security (gate staff), auditor (reads everything, changes nothing).\n"  \
  "--site ID (repeatable) names the sites the account acts on; owners act on all.\n"
#define ALLOW_HELP                                                                         \
  "Ranges are CIDR (IPv4 or IPv6); a bare address is one host. A list that leaves out\n"   \
  "the address you connect from is refused when it applies to you. Refusals are audited.\n"

/* docs/retention.md. */
#define RETENTION_HELP                                                                    \
  "Visitors' personal data (visits, photos, invitations, check-ins, alerts,\n"           \
  "  notifications) is kept --visitor-days (1-3650, default 90) after the visit;\n"       \
  "  devices keep theirs no longer. Audit entries are kept --audit-days (180-3650,\n"    \
  "  default 400); the log is one chain, so the longest setting of all sites applies.\n" \
  "The server purges on a schedule ([retention] in genkan-server.conf).\n"
static const Command commands[] = {
  { NULL, "login", NULL, "Log in and save the session",
    "The password comes from GENKAN_PASSWORD or is asked on the terminal (not echoed).\n"
    "With --new-password the new one comes from GENKAN_NEW_PASSWORD or is asked twice.\n"
    "The session (server, CA file, token) is saved to $XDG_CONFIG_HOME/genkan/session\n"
    "(mode 0600); later commands use it when no --server/--ca or GENKAN_SERVER/GENKAN_CA\n"
    "is given.", FALSE, cmd_login },
  { NULL, "logout", NULL, "End the session and forget it", NULL, FALSE, cmd_logout },
  { "host", "add", NULL, "Add a host (a member of staff who receives visitors)",
    "Prints the new host's id.", FALSE, cmd_host_add },
  { "host", "list", NULL, "List hosts", NULL, TRUE, cmd_host_list },
  { "host", "edit", "HOST", "Change a host (HOST: id or exact name); only the options given change",
    "--reading, --email, --department \"\" clear the field. --channel sets how the host\n"
    "hears of visitors: none, email (the host's address), email:ADDRESS, slack:URL,\n"
    "teams:URL or webhook:URL (a new webhook gets a secret, printed this once).", FALSE, cmd_host_edit },
  { "host", "remove", "HOST", "Remove a host (HOST: id or exact name)",
    "Past visits and tickets keep their host; lists, new tickets and walk-ins no\n"
    "longer find it, and devices delete it at their next sync.", FALSE, cmd_host_remove },
  { "host", "import", "FILE.csv", "Add and update hosts from a CSV file (UTF-8, at most 2 MiB)",
    "The first line names the columns: name (required), reading, email, department,\n"
    "channel (as for host edit). A host with the row's e-mail is updated; other rows\n"
    "add hosts. If any row is bad, each is printed as \"line N, column C: reason\"\n"
    "and nothing is imported. --dry-run checks and counts without changing anything.\n"
    "See docs/hosts.md.", FALSE, cmd_host_import },
  { "ticket", "issue", NULL, "Issue a visitor ticket",
    "Times T: 2026-11-22T09:00:00Z, 2026-11-22T09:00+09:00, \"2026-11-22 09:00\" (local\n"
    "time) or Unix seconds. The window defaults to now ... now + 24 h.\n"
    "Prints a summary with the 8-digit reception code (shown only this once; the\n"
    "visitor types it at the reception kiosk instead of showing the QR), then the\n"
    "ticket's QR text as the last line. --no-code issues a QR-only ticket.\n"
    "--email ADDRESS also e-mails the visitor an invitation with the QR code and the\n"
    "reception code (the server needs an SMTP relay; see genkanctl notifications list).",
    FALSE, cmd_ticket_issue },
  { "visit", "list", NULL, "List visits (walk-ins and invited visitors' check-ins and check-outs)", NULL, TRUE,
    cmd_visit_list },
  { "visit", "photo", "ID", "Save a walk-in's photo (a JPEG) to --out FILE",
    "Only where the reception kiosk takes photos (device setting photo=true); the\n"
    "file is written with mode 0600. Receptionists, admins and owners only.", FALSE, cmd_visit_photo },
  { "device", "enroll-code", NULL, "Make a one-time enrollment code for a new device",
    "Prints the code as the last line (on a terminal, its QR code above it).", FALSE,
    cmd_device_enroll_code },
  { "device", "list", NULL, "List devices", NULL, TRUE, cmd_device_list },
  { "device", "revoke", "ID", "Revoke a device (it is refused and told to wipe its data)", NULL, FALSE,
    cmd_device_revoke },
  { "device config", "set", "ID KEY=VALUE...", "Change a device's settings (it applies them at its next sync)",
    CONFIG_KEYS_HELP "\n"
    "KEY= (an empty value) removes a setting: the device goes back to its default.\n"
    "All settings are checked by the server first; one bad setting changes nothing.\n"
    "Prints the device's settings afterwards (the admin PIN only as \"set\").", TRUE, cmd_device_config_set },
  { "device config", "show", "ID", "Show a device's settings and their version",
    CONFIG_KEYS_HELP "\n"
    "Prints \"key = value\" lines, sorted; keys not listed have the device default.\n"
    "\"running\" is the version the device last reported.", TRUE, cmd_device_config_show },
  { "checkins", "list", NULL, "List recent check-ins", NULL, TRUE, cmd_checkins_list },
  { "alerts", "list", NULL, "List alerts (double entries and the like)", NULL, TRUE, cmd_alerts_list },
  { "host", "notify", "HOST", "Set how a host hears of visitors (HOST: id or exact name)",
    NOTIFY_HELP, FALSE, cmd_host_notify },
  { "notify", "set", "SCOPE", "Set a site-wide channel: default (hosts without their own), security, admins",
    NOTIFY_HELP "security hears of double entries; admins of devices silent longer than\n"
    "--offline-after MINUTES (admins only; 0: never).", FALSE, cmd_notify_set },
  { "notify", "show", NULL, "Show the notification settings (secrets only as set or not)", NULL, TRUE,
    cmd_notify_show },
  { "notifications", "list", NULL, "List notifications, newest first (--failed: only those that gave up)", NULL,
    TRUE, cmd_notifications_list },
  { "notifications", "retry", "ID", "Send a failed notification again, with a new retry window", NULL, FALSE,
    cmd_notifications_retry },
  { "account", "list", NULL, "List the accounts that act on the site", NULL, TRUE, cmd_account_list },
  { "account", "whoami", NULL, "Show the signed-in account, its sites and second factor", NULL, TRUE,
    cmd_account_whoami },
  { "account", "add", "NAME", "Add an account; prints its one-time password",
    ACCOUNT_HELP "The password is shown once and must be changed at first sign-in.", TRUE, cmd_account_add },
  { "account", "set-role", "NAME", "Change an account's role (and, with --site, its sites)", ACCOUNT_HELP, TRUE,
    cmd_account_set_role },
  { "account", "disable", "NAME", "Disable an account (its sessions end at once)", NULL, TRUE, cmd_account_disable },
  { "account", "enable", "NAME", "Enable a disabled account", NULL, TRUE, cmd_account_enable },
  { "account", "reset-password", "NAME", "Give an account a one-time password (changed at next sign-in)",
    "Its sessions end and its failed sign-ins are forgotten. The second factor stays.", TRUE,
    cmd_account_reset_password },
  { "account totp", "enroll", NULL, "Set up the second factor (TOTP) of the signed-in account",
    "Shows an otpauth:// URI, its QR code (on a terminal) and the secret for an\n"
    "authenticator app, then asks for the first code the app shows, and prints ten\n"
    "one-time recovery codes. Owners and admins must do this before anything else.", TRUE,
    cmd_account_totp_enroll },
  { "account totp", "confirm", "CODE", "Finish 'account totp enroll --no-confirm' with the app's code", NULL, TRUE,
    cmd_account_totp_confirm },
  { "account totp", "reset", "NAME", "Remove an account's second factor (lost phone): it enrolls again", NULL, TRUE,
    cmd_account_totp_reset },
  { "account allow-list", "show", "NAME", "Show the addresses an account may use the admin API from", NULL, TRUE,
    cmd_account_allow_show },
  { "account allow-list", "set", "NAME CIDR...", "Allow an account only from these ranges (e.g. 192.0.2.0/24)",
    ALLOW_HELP, TRUE, cmd_account_allow_set },
  { "account allow-list", "clear", "NAME", "Remove an account's allow-list", NULL, TRUE, cmd_account_allow_set },
  { "site", "list", NULL, "List the sites this account may act on", NULL, TRUE, cmd_site_list },
  { "site", "add", NULL, "Add a site (owners only); prints its id", NULL, TRUE, cmd_site_add },
  { "site allow-list", "show", "ID", "Show the addresses a site's admin API may be used from", NULL, TRUE,
    cmd_site_allow_show },
  { "site allow-list", "set", "ID CIDR...", "Allow a site's admin API only from these ranges", ALLOW_HELP, TRUE,
    cmd_site_allow_set },
  { "site allow-list", "clear", "ID", "Remove a site's allow-list", NULL, TRUE, cmd_site_allow_set },
  { "site retention", "show", "[SITE]", "Show how long a site keeps visitors' data and audit entries",
    RETENTION_HELP, TRUE, cmd_site_retention_show },
  { "site retention", "set", "[SITE]", "Change how long a site keeps visitors' data and audit entries",
    RETENTION_HELP, TRUE, cmd_site_retention_set },
  { "site", "delete", "SITE", "Delete a site and all its data (owners only; not the first site)",
    "Everything of the site goes at once: hosts, invitations, visits and photos, check-ins,\n"
    "devices (their certificates are refused from then on), notification settings,\n"
    "allow-lists. Accounts left with no site are disabled. --confirm must repeat the\n"
    "site's exact name.", TRUE, cmd_site_delete },
  { "retention", "purge", NULL, "Purge every site's data past its retention now (owners only)",
    RETENTION_HELP, TRUE, cmd_retention_purge },
  { "audit", "list", NULL, "List audit log entries (auditor, admin, owner)",
    "Without --since, the newest entries (--limit, default 1000); with --since, the\n"
    "first --limit entries from that time on. Times as for 'ticket issue'.", TRUE, cmd_audit_list },
  { "audit", "verify", NULL, "Check the audit log's hash chain",
    "Exit status 0: every entry is as it was appended; 1: an entry was changed,\n"
    "removed or reordered (the first bad one is named), or the check failed.\n"
    "Prints the head hash: write it down elsewhere to notice a rewritten chain later.",
    FALSE, cmd_audit_verify },
  { "audit", "export", NULL, "Write the audit log (or part of it) to a CSV file",
    "UTF-8 CSV, one entry per line; --bom adds a byte-order mark for Excel. The file\n"
    "is written with mode 0600. Each page the server sends is itself audited.",
    FALSE, cmd_audit_export },
  /* docs/exports.md */
  { "export", "visits", NULL, "Export visits (walk-ins and invited visitors) as CSV to --out FILE", EXPORT_HELP,
    FALSE, cmd_export },
  { "export", "checkins", NULL, "Export check-ins and check-outs as CSV to --out FILE", EXPORT_HELP, FALSE,
    cmd_export },
  { "export", "hosts", NULL, "Export hosts (staff) as CSV to --out FILE", EXPORT_HELP, FALSE, cmd_export },
  { "account", "export-permission", "NAME", "Allow (--allow) or forbid (--deny) an account to export personal data",
    "Owners always may export; security accounts never. Admins, receptionists and\n"
    "auditors export what their role reads once allowed. Owners grant it; an admin\n"
    "who holds it grants it to receptionist and auditor accounts of its sites.", TRUE,
    cmd_account_export_permission },
};

static void
print_command_line(FILE *out, const char *with_params, const char *summary)
{
  if (strlen(with_params) > 22)
    fprintf(out, "  %s\n  %-22s %s\n", with_params, "", summary);
  else
    fprintf(out, "  %-22s %s\n", with_params, summary);
}

/* "device" covers "device list" and "device config set"; "device config" only the latter. */
static gboolean
in_group(const Command *cmd, const char *group)
{
  if (cmd->group == NULL)
    return FALSE;
  gsize n = strlen(group);
  return strncmp(cmd->group, group, n) == 0 && (cmd->group[n] == '\0' || cmd->group[n] == ' ');
}

/* How many words of argv, from argv[i], spell @group ("device config": 2); 0: none. */
static int
group_words(const char *group, int argc, char **argv, int i)
{
  g_auto(GStrv) words = g_strsplit(group, " ", -1);
  int n = 0;
  for (; words[n] != NULL; n++)
    if (i + n >= argc || strcmp(words[n], argv[i + n]) != 0)
      return 0;
  return n;
}

static void
print_top_help(FILE *out)
{
  fprintf(out,
          "Usage: " PROG " [--server URL] [--ca FILE] [--json] COMMAND [OPTIONS...]\n"
          "\n"
          "Genkan admin command line.\n"
          "\n"
          "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
    g_autofree char *label = command_label(&commands[i]);
    g_autofree char *with_params =
      commands[i].params != NULL ? g_strdup_printf("%s %s", label, commands[i].params) : g_strdup(label);
    print_command_line(out, with_params, commands[i].summary);
  }
  fprintf(out,
          "\n"
          "Global options:\n"
          "  --server URL     the server's admin address, https://HOST:PORT (env GENKAN_SERVER)\n"
          "  --ca FILE        the server's CA certificate, DIR/ca.crt (env GENKAN_CA)\n"
          "  --site ID        the site to act on (env GENKAN_SITE; default: the account's first)\n"
          "  --json           print JSON for scripts: list commands print the array of rows,\n"
          "                   other commands the server's answer object\n"
          "  --version        print the version\n"
          "  -h, --help       show this help; '" PROG " COMMAND --help' shows a command's options\n"
          "\n"
          "Without --server/--ca or the variables, the server and CA saved by login are used.\n"
          "Exit status: 0 ok, 1 the operation failed, 2 usage error.\n");
}

static void
print_group_help(FILE *out, const char *group)
{
  fprintf(out, "Usage: " PROG " %s COMMAND [OPTIONS...]\n\nCommands:\n", group);
  for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
    if (in_group(&commands[i], group)) {
      g_autofree char *label = command_label(&commands[i]);
      g_autofree char *with_params =
        commands[i].params != NULL ? g_strdup_printf("%s %s", label, commands[i].params) : g_strdup(label);
      print_command_line(out, with_params, commands[i].summary);
    }
}

/* Parses a command's options. Returns -1 to go on (positional arguments left in
 * argv[1..]), or an exit status (after --help or a usage error). */
static int
parse_command_options(Ctl *ctl, const GOptionEntry *entries, int *argc, char ***argv)
{
  const Command *cmd = ctl->cmd;
  gboolean help = FALSE;
  GOptionEntry common[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &ctl->json, "Print JSON for scripts (lists: the array of rows)", NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(cmd->params);
  g_option_context_set_help_enabled(ctx, FALSE);
  g_option_context_set_summary(ctx, cmd->summary);
  if (cmd->description != NULL)
    g_option_context_set_description(ctx, cmd->description);
  if (entries != NULL)
    g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_add_main_entries(ctx, cmd->list ? common : common + 1, NULL);

  /* Text options are declared G_OPTION_ARG_FILENAME: GOption then keeps the bytes
   * as they are instead of converting from the locale's charset, so names in kana
   * work under LANG=C too (run() has checked that every argument is UTF-8). The
   * strv variant frees what it removes. */
  g_autoptr(GError) error = NULL;
  gboolean parsed = g_option_context_parse_strv(ctx, argv, &error);
  *argc = (int) g_strv_length(*argv);
  if (!parsed)
    return usage_error(cmd, "%s", error->message);
  if (help) {
    g_autofree char *text = g_option_context_get_help(ctx, TRUE, NULL);
    fputs(text, stdout);
    return SRV_CTL_EXIT_OK;
  }
  /* A "--" GOption leaves in place ends the options; it is not an argument. */
  if (*argc > 1 && strcmp((*argv)[1], "--") == 0) {
    g_free((*argv)[1]);
    memmove(&(*argv)[1], &(*argv)[2], (gsize) (*argc - 1) * sizeof(char *));
    (*argc)--;
  }
  /* One argument per word of params; "..." at the end takes any number more. */
  int want = 1, optional = 0;
  gboolean more = FALSE;
  if (cmd->params != NULL) {
    g_auto(GStrv) words = g_strsplit(cmd->params, " ", -1);
    want += (int) g_strv_length(words);
    more = g_str_has_suffix(cmd->params, "...");
    /* "[SITE]": a word in brackets may be left out. */
    for (guint k = 0; words[k] != NULL; k++)
      optional += words[k][0] == '[';
  }
  if (*argc > want && !more)
    return usage_error(cmd, "unexpected argument '%s'", (*argv)[want]);
  if (*argc < want - optional)
    return usage_error(cmd, "missing %s", cmd->params);
  return -1;
}

static int
require_option(const Command *cmd, const char *value, const char *option)
{
  if (value == NULL || *value == '\0')
    return usage_error(cmd, "%s is required", option);
  return -1;
}

/* ---- login / logout ------------------------------------------------------------ */

/* Bytes a login body keeps free for ,"recovery_code":"…" (codes are checked first). */
#define LOGIN_CODE_ROOM 80

static gboolean
totp_code_ok(const char *code)
{
  if (strlen(code) != 6)
    return FALSE;
  for (const char *p = code; *p; p++)
    if (!g_ascii_isdigit(*p))
      return FALSE;
  return TRUE;
}

static gboolean
recovery_code_ok(const char *code)
{
  gsize n = strlen(code);
  if (n < 16 || n > 40)
    return FALSE;
  for (const char *p = code; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != ' ')
      return FALSE;
  return TRUE;
}

/* Adds "name":"code" to the login body (which ends with '}' and has
 * LOGIN_CODE_ROOM bytes to spare); returns the new length. */
static gsize
login_body_add_code(char *body, gsize len, const char *name, const char *code)
{
  g_assert(len > 0 && body[len - 1] == '}');
  g_assert(strlen(name) + strlen(code) + 8 < LOGIN_CODE_ROOM);
  len--;
  len += (gsize) g_snprintf(body + len, LOGIN_CODE_ROOM, ",\"%s\":\"%s\"}", name, code);
  return len;
}

static int
cmd_login(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *user = NULL, *totp_opt = NULL, *recovery = NULL;
  gboolean new_password = FALSE;
  GOptionEntry entries[] = {
    { "user", 'u', 0, G_OPTION_ARG_FILENAME, &user, "Account name (required)", "NAME" },
    { "new-password", 0, 0, G_OPTION_ARG_NONE, &new_password, "Set a new password while logging in", NULL },
    { "code", 0, 0, G_OPTION_ARG_STRING, &totp_opt, "The authenticator app's 6-digit code (else asked when needed)",
      "CODE" },
    { "recovery-code", 0, 0, G_OPTION_ARG_STRING, &recovery, "A one-time recovery code instead of the app's code",
      "CODE" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, user, "--user")) >= 0)
    return rc;
  if (strlen(user) > 128 || !g_utf8_validate(user, -1, NULL))
    return usage_error(ctl->cmd, "bad user name");
  const char *totp = totp_opt != NULL ? totp_opt : g_getenv("GENKAN_TOTP_CODE");
  if (totp != NULL && *totp == '\0')
    totp = NULL;
  if (totp != NULL && !totp_code_ok(totp))
    return usage_error(ctl->cmd, "the code must be 6 digits");
  if (recovery != NULL && !recovery_code_ok(recovery))
    return usage_error(ctl->cmd, "a recovery code is 16 letters and digits (dashes allowed)");
  if ((rc = resolve_server(ctl, FALSE)) != SRV_CTL_EXIT_OK)
    return rc;

  rc = SRV_CTL_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  g_autofree char *prompt = g_strdup_printf("Password for %s: ", user);
  g_autofree char *role = NULL, *user_shown = NULL, *path = NULL;
  const char *code = NULL;
  JsonObject *o = NULL;
  char *password = sodium_malloc(MAX_SECRET);
  char *fresh = new_password ? sodium_malloc(MAX_SECRET) : NULL;
  char *body = NULL;
  gsize body_cap = 0, body_len = 0;
  JsonNode *root = NULL;
  if (password == NULL || (new_password && fresh == NULL)) {
    err_msg("error: out of memory");
    goto out;
  }
  memset(password, 0, MAX_SECRET);
  if (fresh != NULL)
    memset(fresh, 0, MAX_SECRET);

  if (!get_secret("GENKAN_PASSWORD", prompt, NULL, password, &error) ||
      (new_password && !get_secret("GENKAN_NEW_PASSWORD", "New password: ", "New password again: ", fresh, &error))) {
    err_msg("error: %s", error->message);
    goto out;
  }

  /* The body holds passwords: built by hand (json-glib would keep copies it
   * frees without zeroing) in buffers sized up front, then zeroed. */
  /* Room for a second-factor code added later (digits, letters, dashes only). */
  body_cap = 64 + LOGIN_CODE_ROOM + 6 * (strlen(user) + strlen(password) + (fresh != NULL ? strlen(fresh) : 0));
  body = sodium_malloc(body_cap);
  if (body == NULL) {
    err_msg("error: out of memory");
    goto out;
  }
  {
    /* Sized for the worst case, so it never reallocates. */
    GString *s = g_string_sized_new(body_cap);
    g_string_append(s, "{\"username\":");
    append_json_string(s, user);
    g_string_append(s, ",\"password\":");
    append_json_string(s, password);
    if (fresh != NULL) {
      g_string_append(s, ",\"new_password\":");
      append_json_string(s, fresh);
    }
    g_string_append_c(s, '}');
    g_assert(s->len + LOGIN_CODE_ROOM < body_cap);
    memcpy(body, s->str, s->len + 1);
    body_len = s->len;
    sodium_memzero(s->str, s->allocated_len);
    g_string_free(s, TRUE);
  }
  sodium_memzero(password, MAX_SECRET);
  if (fresh != NULL)
    sodium_memzero(fresh, MAX_SECRET);

  if (totp != NULL || recovery != NULL)
    body_len = login_body_add_code(body, body_len, totp != NULL ? "totp" : "recovery_code",
                                   totp != NULL ? totp : recovery);
  rc = api_call(ctl, "POST", "/v1/login", body, body_len, FALSE, &root, &code);
  if (rc != SRV_CTL_EXIT_OK && g_strcmp0(code, "totp-required") == 0 && totp == NULL && recovery == NULL) {
    /* The password was right; the account also signs in with its app's code. */
    char asked[MAX_SECRET] = "";
    g_clear_error(&error);
    if (!prompt_secret("Code from the authenticator app: ", asked, &error)) {
      err_msg("error: %s", error->message);
      err_msg("hint: give the code with --code CODE or GENKAN_TOTP_CODE (or --recovery-code)");
      goto out;
    }
    g_strstrip(asked);
    if (!totp_code_ok(asked)) {
      err_msg("error: the code must be 6 digits");
      goto out;
    }
    body_len = login_body_add_code(body, body_len, "totp", asked);
    rc = api_call(ctl, "POST", "/v1/login", body, body_len, FALSE, &root, &code);
  }
  if (rc != SRV_CTL_EXIT_OK) {
    if (g_strcmp0(code, "password-change-required") == 0 && !new_password)
      err_msg("hint: the password must be changed first: run " PROG " login --user %s --new-password", user);
    goto out;
  }

  static const GkJsonField fields[] = {
    { "token", GK_JSON_STRING, TRUE, 16, 512 },
    { "role", GK_JSON_STRING, FALSE, 0, 64 },
    { "must_change_password", GK_JSON_BOOL, FALSE, 0, 0 },
  };
  o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL) {
    rc = SRV_CTL_EXIT_FAILURE;
    goto out;
  }
  SrvCtlSession session = {
    .server = ctl->server,
    .ca = ctl->ca,
    .user = user,
    .token = (char *) gk_json_get_string(o, "token", NULL),
  };
  if (!single_line_ascii(session.token)) {
    err_msg("error: the server's answer is not valid: bad token");
    rc = SRV_CTL_EXIT_FAILURE;
    goto out;
  }
  if (!srv_ctl_session_save(&session, &error)) {
    err_msg("error: cannot save the session: %s", error->message);
    rc = SRV_CTL_EXIT_FAILURE;
    goto out;
  }
  role = display_text(gk_json_get_string(o, "role", "?"));
  user_shown = display_text(user);
  path = srv_ctl_session_path();
  printf("logged in to %s as %s (role %s)%s\n", ctl->server, user_shown, role,
         new_password ? "; password changed" : "");
  printf("session saved to %s\n", path);
  if (gk_json_get_bool(o, "totp_enrollment_required", FALSE))
    err_msg("hint: owners and admins sign in with a second factor: set it up now with " PROG
            " account totp enroll (until then nothing else is allowed)");
  if (gk_json_get_bool(o, "must_change_password", FALSE))
    err_msg("hint: the password must be changed: run " PROG " login --user %s --new-password", user_shown);
  rc = SRV_CTL_EXIT_OK;

out:
  if (root != NULL) {
    /* The answer's token string lives in the node: zero it before freeing. */
    JsonObject *ro = json_node_get_object(root);
    JsonNode *tn = ro != NULL ? json_object_get_member(ro, "token") : NULL;
    if (tn != NULL && JSON_NODE_HOLDS_VALUE(tn) && json_node_get_value_type(tn) == G_TYPE_STRING) {
      char *t = (char *) json_node_get_string(tn);
      sodium_memzero(t, strlen(t));
    }
    json_node_unref(root);
  }
  if (body != NULL)
    sodium_free(body);
  if (fresh != NULL)
    sodium_free(fresh);
  if (password != NULL)
    sodium_free(password);
  return rc;
}

static int
cmd_logout(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  JsonNode *root = NULL;
  const char *code = NULL;
  rc = api_call(ctl, "POST", "/v1/logout", "{}", 2, TRUE, &root, &code);
  if (root != NULL)
    json_node_unref(root);
  if (g_strcmp0(code, "unauthenticated") == 0)
    rc = SRV_CTL_EXIT_OK; /* the session had ended already */

  /* Forget the token whatever the server said: a copy kept on disk helps nobody. */
  g_autoptr(GError) error = NULL;
  if (!srv_ctl_session_delete(&error)) {
    err_msg("error: %s", error->message);
    return SRV_CTL_EXIT_FAILURE;
  }
  if (rc == SRV_CTL_EXIT_OK)
    printf("logged out of %s\n", ctl->server);
  else
    err_msg("the saved session was removed; on the server it ends by itself after 30 minutes idle");
  return rc;
}

/* ---- hosts ------------------------------------------------------------------ */

static int
cmd_host_add(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *name = NULL, *reading = NULL, *email = NULL, *department = NULL, *channel = NULL;
  GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_FILENAME, &name, "Full name (required)", "NAME" },
    { "reading", 0, 0, G_OPTION_ARG_FILENAME, &reading, "Reading of the name, e.g. in kana", "KANA" },
    { "email", 0, 0, G_OPTION_ARG_FILENAME, &email, "E-mail address for notifications", "ADDR" },
    { "department", 0, 0, G_OPTION_ARG_FILENAME, &department, "Department", "DEPT" },
    { "channel", 0, 0, G_OPTION_ARG_FILENAME, &channel, "Notification channel (see host edit --help)", "CHANNEL" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, name, "--name")) >= 0)
    return rc;
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, name);
  if (reading != NULL) {
    json_builder_set_member_name(b, "reading");
    json_builder_add_string_value(b, reading);
  }
  if (email != NULL) {
    json_builder_set_member_name(b, "email");
    json_builder_add_string_value(b, email);
  }
  if (department != NULL) {
    json_builder_set_member_name(b, "department");
    json_builder_add_string_value(b, department);
  }
  if (channel != NULL) {
    json_builder_set_member_name(b, "channel");
    json_builder_add_string_value(b, channel);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);

  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "POST", "/v1/hosts", body, strlen(body), TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  JsonObject *o = json_node_get_object(root);
  JsonNode *id = json_object_get_member(o, "id");
  if (id == NULL || !JSON_NODE_HOLDS_VALUE(id)) {
    err_msg("error: the server's answer has no id");
    return SRV_CTL_EXIT_FAILURE;
  }
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }
  static const Column col = { "ID", "id", COL_TEXT };
  g_autofree char *text = cell_text(o, &col);
  printf("%s\n", text);
  const char *secret = gk_json_get_string(o, "secret", NULL);
  if (secret != NULL)
    print_secret(0, gk_json_get_int(o, "id", 0), secret);
  return SRV_CTL_EXIT_OK;
}

/* Shared by every "list" command: GET, then a table or the JSON array. */
static int
list_command(Ctl *ctl, const char *path, const char *member, const Column *cols, guint ncols)
{
  int rc = resolve_server(ctl, TRUE);
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "GET", path, NULL, 0, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  JsonNode *node = NULL;
  JsonArray *rows = answer_array(root, member, &node);
  if (rows == NULL)
    return SRV_CTL_EXIT_FAILURE;
  if (ctl->json)
    print_json(node);
  else
    print_table(rows, cols, ncols);
  return SRV_CTL_EXIT_OK;
}

static int
cmd_host_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "ID", "id", COL_TEXT },
    { "NAME", "name", COL_TEXT },
    { "READING", "reading", COL_TEXT },
    { "DEPARTMENT", "department", COL_TEXT },
    { "EMAIL", "email", COL_TEXT },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  return list_command(ctl, "/v1/hosts", "hosts", cols, G_N_ELEMENTS(cols));
}

/* HOST as an id: digits are one; a name is looked up in the host list and
 * must match exactly one host. Returns an exit status, or -1 and *out_id. */
static int
host_id_of(Ctl *ctl, const char *host, gint64 *out_id)
{
  guint64 v = 0;
  if (g_ascii_string_to_unsigned(host, 10, 1, G_MAXINT64, &v, NULL)) {
    *out_id = (gint64) v;
    return -1;
  }
  g_autoptr(JsonNode) root = NULL;
  int rc = api_call(ctl, "GET", "/v1/hosts", NULL, 0, TRUE, &root, NULL);
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  JsonNode *node = NULL;
  JsonArray *rows = answer_array(root, "hosts", &node);
  if (rows == NULL)
    return SRV_CTL_EXIT_FAILURE;
  guint matches = 0;
  for (guint i = 0; i < json_array_get_length(rows); i++) {
    JsonNode *row = json_array_get_element(rows, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(row) ? json_node_get_object(row) : NULL;
    if (o != NULL && g_strcmp0(gk_json_get_string(o, "name", NULL), host) == 0) {
      *out_id = gk_json_get_int(o, "id", 0);
      matches++;
    }
  }
  g_autofree char *shown = display_text(host);
  if (matches == 0) {
    err_msg("error: no host is named %s on this site (host list shows them)", shown);
    return SRV_CTL_EXIT_FAILURE;
  }
  if (matches > 1) {
    err_msg("error: %u hosts are named %s: give the id (host list shows them)", matches, shown);
    return SRV_CTL_EXIT_FAILURE;
  }
  return -1;
}

static void
print_secret(gint64 line, gint64 host_id, const char *secret)
{
  g_autofree char *shown = display_text(secret);
  if (line > 0)
    printf("line %" G_GINT64_FORMAT ": ", line);
  printf("host %" G_GINT64_FORMAT " webhook secret (shown only this once): %s\n", host_id, shown);
}

static int
cmd_host_edit(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *name = NULL, *reading = NULL, *email = NULL, *department = NULL, *channel = NULL;
  GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_FILENAME, &name, "New full name", "NAME" },
    { "reading", 0, 0, G_OPTION_ARG_FILENAME, &reading, "Reading of the name, e.g. in kana (\"\": none)", "KANA" },
    { "email", 0, 0, G_OPTION_ARG_FILENAME, &email, "E-mail address (\"\": none)", "ADDR" },
    { "department", 0, 0, G_OPTION_ARG_FILENAME, &department, "Department (\"\": none)", "DEPT" },
    { "channel", 0, 0, G_OPTION_ARG_FILENAME, &channel, "Notification channel", "CHANNEL" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (name == NULL && reading == NULL && email == NULL && department == NULL && channel == NULL)
    return usage_error(ctl->cmd, "nothing to change: give --name, --reading, --email, --department or --channel");
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  gint64 id = 0;
  if ((rc = host_id_of(ctl, argv[1], &id)) >= 0)
    return rc;

  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  const char *names[] = { "name", "reading", "email", "department", "channel" };
  const char *values[] = { name, reading, email, department, channel };
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    if (values[i] == NULL)
      continue;
    json_builder_set_member_name(b, names[i]);
    json_builder_add_string_value(b, values[i]);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autofree char *path = g_strdup_printf("/v1/hosts/%" G_GINT64_FORMAT, id);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "PATCH", path, body, strlen(body), TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }
  JsonObject *o = json_node_get_object(root);
  static const Column cols[] = {
    { "id", "id", COL_TEXT }, { "name", "name", COL_TEXT }, { "reading", "reading", COL_TEXT },
    { "email", "email", COL_TEXT }, { "department", "department", COL_TEXT },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cols); i++) {
    g_autofree char *text = cell_text(o, &cols[i]);
    printf("%-11s %s\n", cols[i].title, text);
  }
  const char *secret = gk_json_get_string(o, "secret", NULL);
  if (secret != NULL)
    print_secret(0, id, secret);
  return SRV_CTL_EXIT_OK;
}

static int
cmd_host_remove(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  gint64 id = 0;
  if ((rc = host_id_of(ctl, argv[1], &id)) >= 0)
    return rc;
  g_autofree char *path = g_strdup_printf("/v1/hosts/%" G_GINT64_FORMAT, id);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "DELETE", path, NULL, 0, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json)
    print_json(root);
  else
    printf("host %" G_GINT64_FORMAT " removed\n", id);
  return SRV_CTL_EXIT_OK;
}

/* The 422 answer of an import: every problem as "line N, column C: reason". */
static void
print_bad_rows(const guint8 *body, gsize len)
{
  g_autoptr(JsonNode) root = gk_json_parse_object((const char *) body, len, MAX_RESPONSE, NULL);
  JsonObject *o = root != NULL ? json_node_get_object(root) : NULL;
  JsonNode *list = o != NULL ? json_object_get_member(o, "problems") : NULL;
  if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list))
    return;
  JsonArray *a = json_node_get_array(list);
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *n = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_OBJECT(n))
      continue;
    JsonObject *p = json_node_get_object(n);
    g_autofree char *column = display_text(gk_json_get_string(p, "column", "-"));
    g_autofree char *reason = display_text(gk_json_get_string(p, "reason", ""));
    err_msg("line %" G_GINT64_FORMAT ", column %s: %s", gk_json_get_int(p, "line", 0), column, reason);
  }
  gint64 total = gk_json_get_int(o, "problems_total", 0);
  if (total > (gint64) json_array_get_length(a))
    err_msg("... and %" G_GINT64_FORMAT " more problems", total - (gint64) json_array_get_length(a));
}

static int
cmd_host_import(Ctl *ctl, int argc, char **argv)
{
  gboolean dry_run = FALSE;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "Check and count only; change nothing", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  g_autoptr(GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents(argv[1], &data, &len, &error)) {
    err_msg("error: cannot read %s: %s", argv[1], error->message);
    return SRV_CTL_EXIT_FAILURE;
  }
  if (len > 2u * 1024u * 1024u) {
    err_msg("error: %s is larger than 2 MiB: split it into several files", argv[1]);
    return SRV_CTL_EXIT_FAILURE;
  }
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  ctl->body_type = "text/csv; charset=utf-8";
  Response resp = { .body = g_byte_array_sized_new(16384) };
  long status = 0;
  rc = api_exchange(ctl, "POST", dry_run ? "/v1/hosts/import?dry_run=1" : "/v1/hosts/import", len > 0 ? data : "",
                    len, TRUE, &resp, &status);
  ctl->body_type = NULL;
  g_autoptr(JsonNode) root = NULL;
  if (rc == SRV_CTL_EXIT_OK && status == 422) {
    print_bad_rows(resp.body->data, resp.body->len);
    const char *code = NULL;
    print_server_error(ctl, status, resp.body->data, resp.body->len, &code);
    rc = SRV_CTL_EXIT_FAILURE;
  } else if (rc == SRV_CTL_EXIT_OK && (status < 200 || status > 299)) {
    const char *code = NULL;
    print_server_error(ctl, status, resp.body->data, resp.body->len, &code);
    rc = SRV_CTL_EXIT_FAILURE;
  } else if (rc == SRV_CTL_EXIT_OK) {
    root = gk_json_parse_object((const char *) resp.body->data, resp.body->len, MAX_RESPONSE, &error);
    if (root == NULL) {
      err_msg("error: the server's answer is not valid: %s", error->message);
      rc = SRV_CTL_EXIT_FAILURE;
    }
  }
  response_free(&resp);
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }
  JsonObject *o = json_node_get_object(root);
  gint64 added = gk_json_get_int(o, "added", 0), updated = gk_json_get_int(o, "updated", 0);
  if (dry_run)
    printf("dry run: %" G_GINT64_FORMAT " hosts would be added, %" G_GINT64_FORMAT
           " updated; nothing was changed\n", added, updated);
  else
    printf("imported: %" G_GINT64_FORMAT " hosts added, %" G_GINT64_FORMAT " updated\n", added, updated);
  JsonNode *rows = json_object_get_member(o, "rows");
  JsonArray *a = rows != NULL && JSON_NODE_HOLDS_ARRAY(rows) ? json_node_get_array(rows) : NULL;
  for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
    JsonNode *n = json_array_get_element(a, i);
    JsonObject *r = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    const char *secret = r != NULL ? gk_json_get_string(r, "secret", NULL) : NULL;
    if (secret != NULL)
      print_secret(gk_json_get_int(r, "line", 0), gk_json_get_int(r, "id", 0), secret);
  }
  return SRV_CTL_EXIT_OK;
}

/* ---- tickets ------------------------------------------------------------------ */

static int
write_qr(const char *text, const char *path)
{
  g_autoptr(GError) error = NULL;
  if (!gk_qr_write_png(text, path, QR_MODULE_PX, &error)) {
    err_msg("error: cannot write the QR image: %s", error->message);
    return SRV_CTL_EXIT_FAILURE;
  }
  return SRV_CTL_EXIT_OK;
}

static int
cmd_ticket_issue(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *visitor = NULL, *host = NULL, *company = NULL, *from = NULL, *until = NULL;
  g_autofree char *qr = NULL, *purpose = NULL, *email = NULL;
  g_auto(GStrv) labels = NULL;
  gboolean multi = FALSE, no_code = FALSE;
  GOptionEntry entries[] = {
    { "visitor", 0, 0, G_OPTION_ARG_FILENAME, &visitor, "Visitor's name (required)", "NAME" },
    { "host", 0, 0, G_OPTION_ARG_FILENAME, &host, "Host id or exact host name (required)", "HOST" },
    { "company", 0, 0, G_OPTION_ARG_FILENAME, &company, "Visitor's company", "C" },
    { "valid-from", 0, 0, G_OPTION_ARG_FILENAME, &from, "Start of the validity window", "T" },
    { "valid-until", 0, 0, G_OPTION_ARG_FILENAME, &until, "End of the validity window", "T" },
    { "multi", 0, 0, G_OPTION_ARG_NONE, &multi, "Allow several entries (default: one)", NULL },
    { "purpose", 0, 0, G_OPTION_ARG_FILENAME, &purpose, "Purpose of the visit", "TEXT" },
    { "label", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &labels, "A label for filters and exports (repeatable)", "LABEL" },
    { "no-code", 0, 0, G_OPTION_ARG_NONE, &no_code, "Issue no reception code (QR only)", NULL },
    { "qr", 0, 0, G_OPTION_ARG_FILENAME, &qr, "Also write the QR code as a PNG image", "FILE.png" },
    { "email", 0, 0, G_OPTION_ARG_FILENAME, &email, "E-mail the visitor an invitation with the QR code", "ADDRESS" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, visitor, "--visitor")) >= 0 ||
      (rc = require_option(ctl->cmd, host, "--host")) >= 0)
    return rc;
  gint64 t_from = 0, t_until = 0;
  g_autoptr(GError) error = NULL;
  if ((from != NULL && !srv_ctl_parse_time(from, &t_from, &error)) ||
      (until != NULL && !srv_ctl_parse_time(until, &t_until, &error)))
    return usage_error(ctl->cmd, "%s", error->message);
  if (from != NULL && until != NULL && t_until <= t_from)
    return usage_error(ctl->cmd, "--valid-until must be later than --valid-from");
  if (qr != NULL && *qr == '\0')
    return usage_error(ctl->cmd, "--qr needs a file name");
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "visitor");
  json_builder_add_string_value(b, visitor);
  json_builder_set_member_name(b, "host");
  json_builder_add_string_value(b, host);
  if (company != NULL) {
    json_builder_set_member_name(b, "company");
    json_builder_add_string_value(b, company);
  }
  if (from != NULL) {
    json_builder_set_member_name(b, "valid_from");
    json_builder_add_int_value(b, t_from);
  }
  if (until != NULL) {
    json_builder_set_member_name(b, "valid_until");
    json_builder_add_int_value(b, t_until);
  }
  if (multi) {
    json_builder_set_member_name(b, "multi");
    json_builder_add_boolean_value(b, TRUE);
  }
  if (purpose != NULL) {
    json_builder_set_member_name(b, "purpose");
    json_builder_add_string_value(b, purpose);
  }
  if (labels != NULL) {
    json_builder_set_member_name(b, "labels");
    json_builder_begin_array(b);
    for (guint i = 0; labels[i] != NULL; i++)
      json_builder_add_string_value(b, labels[i]);
    json_builder_end_array(b);
  }
  if (no_code) {
    json_builder_set_member_name(b, "reception_code");
    json_builder_add_boolean_value(b, FALSE);
  }
  if (email != NULL) {
    json_builder_set_member_name(b, "visitor_email");
    json_builder_add_string_value(b, email);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);

  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "POST", "/v1/tickets", body, strlen(body), TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  static const GkJsonField fields[] = {
    { "ticket_id", GK_JSON_STRING, TRUE, 1, 128 },
    { "text", GK_JSON_STRING, TRUE, 1, 4096 },
    { "valid_from", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "valid_until", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "reception_code", GK_JSON_STRING, FALSE, 1, 16 },
    { "invitation_id", GK_JSON_STRING, FALSE, 36, 36 },
  };
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  const char *text = gk_json_get_string(o, "text", NULL);
  if (!single_line_ascii(text)) {
    err_msg("error: the server's answer is not valid: the ticket text is not printable ASCII");
    return SRV_CTL_EXIT_FAILURE;
  }
  const char *code = gk_json_get_string(o, "reception_code", NULL);
  if (code != NULL && !gk_reception_code_ok(code)) {
    err_msg("error: the server's answer is not valid: the reception code is not %d digits", GK_RECEPTION_CODE_DIGITS);
    return SRV_CTL_EXIT_FAILURE;
  }
  if (qr != NULL && (rc = write_qr(text, qr)) != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }

  g_autofree char *id = display_text(gk_json_get_string(o, "ticket_id", ""));
  g_autofree char *vis = display_text(visitor);
  g_autofree char *hst = display_text(host);
  g_autofree char *vf = srv_ctl_format_time(gk_json_get_int(o, "valid_from", 0));
  g_autofree char *vu = srv_ctl_format_time(gk_json_get_int(o, "valid_until", 0));
  printf("ticket       %s\n", id);
  printf("visitor      %s\n", vis);
  printf("host         %s\n", hst);
  printf("valid from   %s\n", vf);
  printf("valid until  %s\n", vu);
  printf("entry        %s\n", multi ? "multiple" : "one-time");
  if (purpose != NULL) {
    g_autofree char *shown = display_text(purpose);
    printf("purpose      %s\n", shown);
  }
  if (qr != NULL)
    printf("qr image     %s\n", qr);
  const char *invitation = gk_json_get_string(o, "invitation_id", NULL);
  if (invitation != NULL && email != NULL) {
    g_autofree char *to = display_text(email);
    g_autofree char *id_shown = display_text(invitation);
    printf("invitation   %s, queued to %s\n", id_shown, to);
  }
  /* Shown this once: the server keeps only its hash. Split in two for reading
   * aloud; the kiosk keypad takes the 8 digits. */
  if (code != NULL)
    printf("reception code  %.4s %.4s   (shown only now; give it to the visitor)\n", code, code + 4);
  printf("%s\n", text);
  return SRV_CTL_EXIT_OK;
}

/* ---- devices ------------------------------------------------------------------ */

static int
cmd_device_enroll_code(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *name = NULL, *mode = NULL, *qr = NULL;
  gint64 ttl = 0;
  GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_FILENAME, &name, "Device name, e.g. \"Gate 1\" (required)", "NAME" },
    { "mode", 0, 0, G_OPTION_ARG_FILENAME, &mode, "reception or gate (required)", "reception|gate" },
    { "ttl", 0, 0, G_OPTION_ARG_INT64, &ttl, "Seconds the code stays valid (server default if not given)",
      "SECONDS" },
    { "qr", 0, 0, G_OPTION_ARG_FILENAME, &qr, "Also write the code as a PNG image", "FILE.png" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, name, "--name")) >= 0 ||
      (rc = require_option(ctl->cmd, mode, "--mode")) >= 0)
    return rc;
  if (strcmp(mode, "reception") != 0 && strcmp(mode, "gate") != 0)
    return usage_error(ctl->cmd, "--mode must be reception or gate");
  if (ttl < 0)
    return usage_error(ctl->cmd, "--ttl must be a positive number of seconds");
  if (qr != NULL && *qr == '\0')
    return usage_error(ctl->cmd, "--qr needs a file name");
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, name);
  json_builder_set_member_name(b, "mode");
  json_builder_add_string_value(b, mode);
  if (ttl > 0) {
    json_builder_set_member_name(b, "ttl");
    json_builder_add_int_value(b, ttl);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);

  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "POST", "/v1/devices/enroll-codes", body, strlen(body), TRUE, &root, NULL)) !=
      SRV_CTL_EXIT_OK)
    return rc;
  static const GkJsonField fields[] = {
    { "code", GK_JSON_STRING, TRUE, 1, 4096 },
    { "expires_at", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
  };
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  const char *code = gk_json_get_string(o, "code", NULL);
  if (!single_line_ascii(code)) {
    err_msg("error: the server's answer is not valid: the code is not printable ASCII");
    return SRV_CTL_EXIT_FAILURE;
  }
  if (qr != NULL && (rc = write_qr(code, qr)) != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }

  /* Show where the code sends the device, so a wrong public address is caught
   * before someone walks to the door with it. */
  GkEnrollCode parsed;
  g_autoptr(GError) error = NULL;
  g_autofree char *where = NULL;
  if (gk_enroll_code_parse(code, 0, &parsed, &error))
    where = g_strdup_printf("%s:%u", parsed.host, (guint) parsed.port);
  else
    err_msg("warning: the code does not parse here: %s", error->message);
  sodium_memzero(&parsed, sizeof parsed);

  g_autofree char *name_shown = display_text(name);
  g_autofree char *expires = srv_ctl_format_time(gk_json_get_int(o, "expires_at", 0));
  printf("device       %s (%s)\n", name_shown, mode);
  if (where != NULL)
    printf("server       %s\n", where);
  printf("expires      %s (one use)\n", expires);
  if (qr != NULL)
    printf("qr image     %s\n", qr);
  if (isatty(STDOUT_FILENO)) {
    g_autofree char *art = gk_qr_render_terminal(code, &error);
    if (art != NULL)
      printf("\n%s\n", art);
  }
  printf("%s\n", code);
  return SRV_CTL_EXIT_OK;
}

static int
cmd_device_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "ID", "id", COL_TEXT },
    { "NAME", "name", COL_TEXT },
    { "MODE", "mode", COL_TEXT },
    { "ENROLLED", "enrolled_at", COL_TIME },
    { "LAST SEEN", "last_seen_at", COL_TIME },
    { "REVOKED", "revoked_at", COL_TIME },
    { "CLOCK OFFSET MS", "clock_offset_ms", COL_TEXT },
    { "QUEUE", "queue_length", COL_TEXT },
    /* The settings version the device reports it runs, and the latest set. */
    { "SETTINGS", "config_version", COL_TEXT },
    { "LATEST", "config_version_latest", COL_TEXT },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  return list_command(ctl, "/v1/devices", "devices", cols, G_N_ELEMENTS(cols));
}

static int
cmd_device_revoke(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  const char *id = argv[1];
  if (!id_ok(id))
    return usage_error(ctl->cmd, "bad device id '%s'", id);
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  g_autofree char *path = g_strdup_printf("/v1/devices/%s/revoke", id);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "POST", path, "{}", 2, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }
  JsonObject *o = json_node_get_object(root);
  static const Column col = { "REVOKED", "revoked_at", COL_TIME };
  g_autofree char *when = cell_text(o, &col);
  printf("device %s revoked at %s\n", id, when);
  return SRV_CTL_EXIT_OK;
}

/* ---- device settings ---------------------------------------------------------------- */

/* "key = value" lines, sorted, after the device and its versions. */
static int
print_device_config(const char *id, JsonNode *root)
{
  static const GkJsonField fields[] = {
    { "config_version", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "running_config_version", GK_JSON_INT, FALSE, 0, G_MAXINT64 },
    { "config", GK_JSON_OBJECT, TRUE, 0, 0 },
  };
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  JsonObject *config = json_object_get_object_member(o, "config");
  g_autoptr(GList) keys = g_list_sort(json_object_get_members(config), (GCompareFunc) strcmp);
  printf("device %s\n", id);
  printf("config version %" G_GINT64_FORMAT, gk_json_get_int(o, "config_version", 0));
  if (json_object_has_member(o, "running_config_version"))
    printf(" (running on the device: %" G_GINT64_FORMAT ")", gk_json_get_int(o, "running_config_version", 0));
  printf("\n");
  if (keys == NULL)
    printf("no settings: the device uses its defaults\n");
  for (GList *k = keys; k != NULL; k = k->next) {
    const Column col = { "", k->data, COL_TEXT };
    g_autofree char *key = display_text(k->data);
    g_autofree char *value = cell_text(config, &col);
    printf("%s = %s\n", key, value);
  }
  return SRV_CTL_EXIT_OK;
}

/* Keys as the protocol spells them: lowercase letters, digits and '-'. */
static gboolean
setting_key_ok(const char *key, gsize len)
{
  if (len == 0 || len > 64)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_islower(key[i]) && !g_ascii_isdigit(key[i]) && key[i] != '-')
      return FALSE;
  return TRUE;
}

static int
cmd_device_config_set(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  const char *id = argv[1];
  if (!id_ok(id))
    return usage_error(ctl->cmd, "bad device id '%s'", id);

  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "settings");
  json_builder_begin_object(b);
  for (int k = 2; k < argc; k++) {
    /* A value may be the admin PIN: messages name the argument, never its text. */
    const char *eq = strchr(argv[k], '=');
    if (eq == NULL)
      return usage_error(ctl->cmd, "setting %d is not KEY=VALUE (KEY= removes a setting)", k - 1);
    gsize key_len = (gsize) (eq - argv[k]);
    if (!setting_key_ok(argv[k], key_len))
      return usage_error(ctl->cmd, "setting %d: a key is lowercase letters, digits and '-'", k - 1);
    char *key = g_strndup(argv[k], key_len);
    if (!g_hash_table_add(seen, key))
      return usage_error(ctl->cmd, "setting '%s' is given twice", key);
    json_builder_set_member_name(b, key);
    if (strcmp(key, "logo") == 0 && eq[1] == '@') {
      /* logo=@FILE.png: the server and the device take the PNG as base64. */
      g_autofree char *png = NULL;
      gsize png_len = 0;
      g_autoptr(GError) error = NULL;
      if (!g_file_get_contents(eq + 2, &png, &png_len, &error))
        return usage_error(ctl->cmd, "logo: %s", error->message);
      g_autofree char *text = g_base64_encode((const guchar *) png, png_len);
      json_builder_add_string_value(b, text);
      continue;
    }
    json_builder_add_string_value(b, eq + 1);
  }
  json_builder_end_object(b);
  json_builder_end_object(b);
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  g_autofree char *body = gk_json_builder_to_string(b);
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/config", id);
  g_autoptr(JsonNode) root = NULL;
  rc = api_call(ctl, "POST", path, body, strlen(body), TRUE, &root, NULL);
  sodium_memzero(body, strlen(body)); /* it may hold the admin PIN */
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  /* The server shows the PIN only as "set": its answer can be printed as it is. */
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }
  return print_device_config(id, root);
}

static int
cmd_device_config_show(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  const char *id = argv[1];
  if (!id_ok(id))
    return usage_error(ctl->cmd, "bad device id '%s'", id);
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/config", id);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "GET", path, NULL, 0, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }
  return print_device_config(id, root);
}

/* ---- check-ins and alerts ---------------------------------------------------------- */

static int
cmd_checkins_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "AT", "at", COL_TIME },
    { "KIND", "kind", COL_TEXT },
    { "DEVICE", "device_id", COL_TEXT },
    { "VISITOR", "visitor", COL_TEXT },
    { "TICKET", "ticket_id", COL_TEXT },
    { "OFFLINE", "offline", COL_BOOL },
    { "CONFLICT", "conflict", COL_BOOL },
    { "EVENT", "event_id", COL_TEXT },
  };
  int limit = 0;
  GOptionEntry entries[] = {
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "At most N check-ins, newest first (server default if not given)",
      "N" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (limit < 0 || limit > 100000)
    return usage_error(ctl->cmd, "--limit must be 1 to 100000");
  g_autofree char *path = limit > 0 ? g_strdup_printf("/v1/checkins?limit=%d", limit) : g_strdup("/v1/checkins");
  return list_command(ctl, path, "checkins", cols, G_N_ELEMENTS(cols));
}

static int
cmd_alerts_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "ID", "id", COL_TEXT },
    { "KIND", "kind", COL_TEXT },
    { "CREATED", "created_at", COL_TIME },
    { "TICKET", "ticket_id", COL_TEXT },
    { "DEVICE", "device_id", COL_TEXT },
    { "FIRST DEVICE", "first_device_id", COL_TEXT },
    { "EVENT", "event_id", COL_TEXT },
    { "FIRST EVENT", "first_event_id", COL_TEXT },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  return list_command(ctl, "/v1/alerts", "alerts", cols, G_N_ELEMENTS(cols));
}

/* ---- visits ---------------------------------------------------------------------------- */

static int
cmd_visit_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "IN", "checked_in_at", COL_TIME },
    { "OUT", "checked_out_at", COL_TIME },
    { "KIND", "kind", COL_TEXT },
    { "VISITOR", "visitor", COL_TEXT },
    { "COMPANY", "company", COL_TEXT },
    { "HOST", "host", COL_TEXT },
    { "PURPOSE", "purpose", COL_TEXT },
    { "TERMS", "terms_accepted", COL_BOOL },
    { "PHOTO", "photo", COL_BOOL },
    { "DEVICE", "device_id", COL_TEXT },
    { "VISIT", "id", COL_TEXT },
  };
  int limit = 0;
  gboolean present = FALSE;
  GOptionEntry entries[] = {
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "At most N visits, newest first (server default if not given)", "N" },
    { "present", 0, 0, G_OPTION_ARG_NONE, &present, "Only visitors not checked out", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (limit < 0 || limit > 10000)
    return usage_error(ctl->cmd, "--limit must be 1 to 10000");
  g_autoptr(GString) path = g_string_new("/v1/visits");
  if (limit > 0)
    g_string_append_printf(path, "?limit=%d", limit);
  if (present)
    g_string_append(path, limit > 0 ? "&present=1" : "?present=1");
  return list_command(ctl, path->str, "visits", cols, G_N_ELEMENTS(cols));
}

static int
cmd_visit_photo(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *out = NULL;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The JPEG file to write (required)", "FILE" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  const char *id = argv[1];
  if (!gk_visit_id_ok(id))
    return usage_error(ctl->cmd, "bad visit id '%s' (vis- and 32 lowercase hex digits)", id);
  if ((rc = require_option(ctl->cmd, out, "--out")) >= 0)
    return rc;
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  g_autofree char *path = g_strdup_printf("/v1/visits/%s/photo", id);
  g_autoptr(GByteArray) jpeg = NULL;
  if ((rc = api_download(ctl, path, &jpeg)) != SRV_CTL_EXIT_OK)
    return rc;
  if (jpeg->len < 3 || jpeg->data[0] != 0xff || jpeg->data[1] != 0xd8 || jpeg->data[2] != 0xff) {
    err_msg("error: the server's answer is not a JPEG");
    return SRV_CTL_EXIT_FAILURE;
  }
  g_autoptr(GError) error = NULL;
  /* A face: readable by its owner only. */
  gboolean ok = g_file_set_contents_full(out, (const char *) jpeg->data, jpeg->len, G_FILE_SET_CONTENTS_CONSISTENT,
                                         0600, &error);
  sodium_memzero(jpeg->data, jpeg->len);
  if (!ok) {
    err_msg("error: cannot write %s: %s", out, error->message);
    return SRV_CTL_EXIT_FAILURE;
  }
  printf("photo of %s written to %s (%u bytes)\n", id, out, jpeg->len);
  return SRV_CTL_EXIT_OK;
}

/* ---- notifications ------------------------------------------------------------------ */

/* The first line of a file only its owner may read (g_free after zeroing). */
static char *
read_secret_file(const char *path, GError **error)
{
  guint8 *data = NULL;
  gsize len = 0;
  if (!gk_secure_file_read(path, 4096, &data, &len, error))
    return NULL;
  gsize n = 0;
  while (n < len && data[n] != '\n' && data[n] != '\r')
    n++;
  char *secret = g_strndup((const char *) data, n);
  gk_secure_free(data, len);
  return secret;
}

static void
add_member(JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name(b, name);
  json_builder_add_string_value(b, value);
}

/* POST /v1/notify/SCOPE and prints the setting as the server keeps it. */
static int
notify_send(Ctl *ctl, const char *scope, const char *host, const char *channel, const char *target,
            const char *language, const char *secret, gint64 offline_min)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  add_member(b, "host", host);
  add_member(b, "channel", channel);
  add_member(b, "target", target);
  add_member(b, "language", language);
  add_member(b, "secret", secret);
  if (offline_min >= 0) {
    json_builder_set_member_name(b, "offline_after_s");
    json_builder_add_int_value(b, offline_min * 60);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autofree char *path = g_strdup_printf("/v1/notify/%s", scope);
  g_autoptr(JsonNode) root = NULL;
  int rc = api_call(ctl, "POST", path, body, strlen(body), TRUE, &root, NULL);
  sodium_memzero(body, strlen(body));
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json) {
    print_json(root);
    return SRV_CTL_EXIT_OK;
  }
  static const Column fields[] = {
    { "scope", "scope", COL_TEXT },       { "host", "host", COL_TEXT },
    { "channel", "channel", COL_TEXT },   { "target", "target", COL_TEXT },
    { "language", "language", COL_TEXT }, { "secret", "secret_set", COL_BOOL },
  };
  JsonObject *o = json_node_get_object(root);
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
    g_autofree char *value = cell_text(o, &fields[i]);
    printf("%-12s %s\n", fields[i].title, value);
  }
  const char *made = gk_json_get_string(o, "secret", NULL);
  if (made != NULL && single_line_ascii(made))
    printf("new secret   %s\n(shown this once: give it to the receiver now, see docs/webhooks.md)\n", made);
  return SRV_CTL_EXIT_OK;
}

/* "host notify HOST" and "notify set SCOPE". */
static int
notify_command(Ctl *ctl, int argc, char **argv, gboolean for_host)
{
  g_autofree char *channel = NULL, *to = NULL, *url = NULL, *language = NULL, *secret_file = NULL;
  gint64 offline_min = -1;
  GOptionEntry entries[] = {
    { "channel", 0, 0, G_OPTION_ARG_FILENAME, &channel, "email, slack, teams, webhook or none (required)", "C" },
    { "to", 0, 0, G_OPTION_ARG_FILENAME, &to, "E-mail address (email)", "ADDRESS" },
    { "url", 0, 0, G_OPTION_ARG_FILENAME, &url, "Webhook URL (slack, teams, webhook)", "URL" },
    { "language", 0, 0, G_OPTION_ARG_FILENAME, &language, "ja or en (default ja)", "LANG" },
    { "secret-file", 0, 0, G_OPTION_ARG_FILENAME, &secret_file, "Webhook secret, first line of a 0600 file",
      "FILE" },
    { "offline-after", 0, 0, G_OPTION_ARG_INT64, &offline_min,
      "admins: alert when a device is silent this long (0: never)", "MINUTES" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  const char *who = argv[1];
  if ((rc = require_option(ctl->cmd, channel, "--channel")) >= 0)
    return rc;
  if (to != NULL && url != NULL)
    return usage_error(ctl->cmd, "give --to (email) or --url (slack, teams, webhook), not both");
  if (!for_host && strcmp(who, "default") != 0 && strcmp(who, "security") != 0 && strcmp(who, "admins") != 0)
    return usage_error(ctl->cmd, "SCOPE must be default, security or admins");
  if (offline_min != -1 && (for_host || strcmp(who, "admins") != 0))
    return usage_error(ctl->cmd, "--offline-after belongs to the admins channel only");
  if (offline_min < -1 || offline_min > 30 * 24 * 60)
    return usage_error(ctl->cmd, "--offline-after must be 0 to 43200 minutes");
  g_autoptr(GError) error = NULL;
  g_autofree char *secret = NULL;
  if (secret_file != NULL) {
    secret = read_secret_file(secret_file, &error);
    if (secret == NULL)
      return usage_error(ctl->cmd, "--secret-file: %s", error->message);
  }
  rc = resolve_server(ctl, TRUE);
  if (rc == SRV_CTL_EXIT_OK)
    rc = notify_send(ctl, for_host ? "host" : who, for_host ? who : NULL, channel, to != NULL ? to : url, language,
                     secret, offline_min);
  if (secret != NULL)
    sodium_memzero(secret, strlen(secret));
  return rc;
}

static int
cmd_host_notify(Ctl *ctl, int argc, char **argv)
{
  return notify_command(ctl, argc, argv, TRUE);
}

static int
cmd_notify_set(Ctl *ctl, int argc, char **argv)
{
  return notify_command(ctl, argc, argv, FALSE);
}

static int
cmd_notify_show(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "SCOPE", "scope", COL_TEXT },       { "HOST", "host", COL_TEXT },
    { "CHANNEL", "channel", COL_TEXT },   { "TARGET", "target", COL_TEXT },
    { "LANG", "language", COL_TEXT },     { "SECRET", "secret_set", COL_BOOL },
    { "OFFLINE AFTER S", "offline_after_s", COL_TEXT }, { "UPDATED", "updated_at", COL_TIME },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  return list_command(ctl, "/v1/notify", "settings", cols, G_N_ELEMENTS(cols));
}

static int
cmd_notifications_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "ID", "id", COL_TEXT },           { "KIND", "kind", COL_TEXT },
    { "TO", "recipient", COL_TEXT },    { "CHANNEL", "channel", COL_TEXT },
    { "STATUS", "status", COL_TEXT },   { "ATTEMPTS", "attempts", COL_TEXT },
    { "CREATED", "created_at", COL_TIME }, { "DELIVERED", "delivered_at", COL_TIME },
    { "LAST ERROR", "last_error", COL_TEXT },
  };
  gboolean failed = FALSE;
  int limit = 0;
  GOptionEntry entries[] = {
    { "failed", 0, 0, G_OPTION_ARG_NONE, &failed, "Only notifications that gave up (retry them by hand)", NULL },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "At most N (server default 100)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (limit < 0 || limit > 1000)
    return usage_error(ctl->cmd, "--limit must be 1 to 1000");
  g_autoptr(GString) path = g_string_new("/v1/notifications");
  if (failed)
    g_string_append(path, "?failed=1");
  if (limit > 0)
    g_string_append_printf(path, "%slimit=%d", failed ? "&" : "?", limit);
  return list_command(ctl, path->str, "notifications", cols, G_N_ELEMENTS(cols));
}

static int
cmd_notifications_retry(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  const char *id = argv[1];
  if (!id_ok(id))
    return usage_error(ctl->cmd, "bad notification id '%s'", id);
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  g_autofree char *path = g_strdup_printf("/v1/notifications/%s/retry", id);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "POST", path, "{}", 2, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json)
    print_json(root);
  else
    printf("notification %s is due again\n", id);
  return SRV_CTL_EXIT_OK;
}

/* ---- audit log (docs/audit.md) ------------------------------------------------------- */

#define AUDIT_PAGE 5000

/* Appends since/actor/action query parameters to @path; -1 to go on, else an
 * exit status. */
static int
audit_filters(Ctl *ctl, GString *path, const char *since, const char *actor, const char *action)
{
  const char *names[] = { "actor", "action" };
  const char *values[] = { actor, action };
  if (since != NULL) {
    gint64 t = 0;
    g_autoptr(GError) error = NULL;
    if (!srv_ctl_parse_time(since, &t, &error))
      return usage_error(ctl->cmd, "--since: %s", error->message);
    g_string_append_printf(path, "%csince=%" G_GINT64_FORMAT, strchr(path->str, '?') ? '&' : '?', t);
  }
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    if (values[i] == NULL)
      continue;
    if (*values[i] == '\0' || strlen(values[i]) > 128)
      return usage_error(ctl->cmd, "--%s must be 1-128 bytes", names[i]);
    g_autofree char *escaped = g_uri_escape_string(values[i], NULL, FALSE);
    g_string_append_printf(path, "%c%s=%s", strchr(path->str, '?') ? '&' : '?', names[i], escaped);
  }
  return -1;
}

static int
cmd_audit_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "SEQ", "seq", COL_TEXT },        { "TIME", "at", COL_TIME },         { "ACTOR", "actor", COL_TEXT },
    { "FROM", "source_ip", COL_TEXT }, { "ACTION", "action", COL_TEXT },   { "TARGET", "target", COL_TEXT },
    { "RESULT", "result", COL_TEXT },  { "REASON", "reason", COL_TEXT },
  };
  g_autofree char *since = NULL, *actor = NULL, *action = NULL;
  int limit = 0;
  GOptionEntry entries[] = {
    { "since", 0, 0, G_OPTION_ARG_FILENAME, &since, "Entries from this time on", "TIME" },
    { "actor", 0, 0, G_OPTION_ARG_FILENAME, &actor, "Only this account (user name) or device id", "NAME" },
    { "action", 0, 0, G_OPTION_ARG_FILENAME, &action, "Only this action, e.g. login.refused", "ACTION" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "At most N entries (default 1000)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (limit < 0 || limit > 20000)
    return usage_error(ctl->cmd, "--limit must be 1 to 20000");
  g_autoptr(GString) path = g_string_new("/v1/audit");
  if ((rc = audit_filters(ctl, path, since, actor, action)) >= 0)
    return rc;
  if (limit > 0)
    g_string_append_printf(path, "%climit=%d", strchr(path->str, '?') ? '&' : '?', limit);
  return list_command(ctl, path->str, "entries", cols, G_N_ELEMENTS(cols));
}

static int
cmd_audit_verify(Ctl *ctl, int argc, char **argv)
{
  static const GkJsonField fields[] = {
    { "ok", GK_JSON_BOOL, TRUE, 0, 0 },
    { "entries", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "head_seq", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
    { "head_hash", GK_JSON_STRING, TRUE, 64, 64 },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "GET", "/v1/audit/verify", NULL, 0, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  gboolean ok = gk_json_get_bool(o, "ok", FALSE);
  static const Column bad_col = { "", "first_bad_seq", COL_TEXT };
  static const Column problem_col = { "", "problem", COL_TEXT };
  static const Column hash_col = { "", "head_hash", COL_TEXT };
  g_autofree char *bad = cell_text(o, &bad_col);
  g_autofree char *problem = cell_text(o, &problem_col);
  g_autofree char *hash = cell_text(o, &hash_col);
  if (ctl->json)
    print_json(root);
  else if (ok)
    printf("audit log intact: %" G_GINT64_FORMAT " entries; head seq %" G_GINT64_FORMAT ", hash %s\n",
           gk_json_get_int(o, "entries", 0), gk_json_get_int(o, "head_seq", 0), hash);
  else
    printf("audit log BROKEN: entry %s %s (%" G_GINT64_FORMAT " entries checked; last good seq %" G_GINT64_FORMAT
           ")\n", bad, problem, gk_json_get_int(o, "entries", 0), gk_json_get_int(o, "head_seq", 0));
  return ok ? SRV_CTL_EXIT_OK : SRV_CTL_EXIT_FAILURE;
}

/* The seq at the start of the last line of a CSV page; 0 when none. Each entry
 * is one line: the server never puts a line break inside a field. */
static gint64
csv_last_seq(const GByteArray *page)
{
  gsize end = page->len;
  while (end > 0 && (page->data[end - 1] == '\n' || page->data[end - 1] == '\r'))
    end--;
  gsize start = end;
  while (start > 0 && page->data[start - 1] != '\n')
    start--;
  guint64 seq = 0;
  for (gsize i = start; i < end && g_ascii_isdigit(page->data[i]) && seq < G_MAXINT64 / 10; i++)
    seq = seq * 10 + (guint64) (page->data[i] - '0');
  return (gint64) seq;
}

static int
cmd_audit_export(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *out = NULL, *since = NULL, *actor = NULL, *action = NULL;
  gboolean bom = FALSE;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The CSV file to write (required)", "FILE" },
    { "bom", 0, 0, G_OPTION_ARG_NONE, &bom, "Start with a UTF-8 byte-order mark (for Excel)", NULL },
    { "since", 0, 0, G_OPTION_ARG_FILENAME, &since, "Entries from this time on", "TIME" },
    { "actor", 0, 0, G_OPTION_ARG_FILENAME, &actor, "Only this account (user name) or device id", "NAME" },
    { "action", 0, 0, G_OPTION_ARG_FILENAME, &action, "Only this action", "ACTION" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, out, "--out")) >= 0)
    return rc;
  g_autoptr(GString) filters = g_string_new("/v1/audit/export");
  if ((rc = audit_filters(ctl, filters, since, actor, action)) >= 0)
    return rc;
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;

  /* Page by page: after=the last seq received, until a page is not full. */
  g_autoptr(GByteArray) csv = g_byte_array_new();
  if (bom)
    g_byte_array_append(csv, (const guint8 *) "\xEF\xBB\xBF", 3);
  gint64 after = 0, rows = 0;
  for (gboolean first = TRUE;; first = FALSE) {
    g_autofree char *path = g_strdup_printf("%s%climit=%d&after=%" G_GINT64_FORMAT, filters->str,
                                            strchr(filters->str, '?') ? '&' : '?', AUDIT_PAGE, after);
    g_autoptr(GByteArray) page = NULL;
    if ((rc = api_download(ctl, path, &page)) != SRV_CTL_EXIT_OK)
      return rc;
    /* Keep the header line of the first page only. */
    const guint8 *nl = memchr(page->data, '\n', page->len);
    gsize skip = nl != NULL ? (gsize) (nl - page->data) + 1 : page->len;
    gsize lines = 0;
    for (gsize i = skip; i < page->len; i++)
      lines += page->data[i] == '\n';
    g_byte_array_append(csv, page->data + (first ? 0 : skip), (guint) (page->len - (first ? 0 : skip)));
    rows += (gint64) lines;
    if (lines < AUDIT_PAGE)
      break;
    after = csv_last_seq(page);
  }
  g_autoptr(GError) error = NULL;
  if (!g_file_set_contents_full(out, (const char *) csv->data, csv->len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                &error)) {
    err_msg("error: cannot write %s: %s", out, error->message);
    return SRV_CTL_EXIT_FAILURE;
  }
  printf("%" G_GINT64_FORMAT " audit entries written to %s\n", rows, out);
  return SRV_CTL_EXIT_OK;
}

/* ======================================================================== *
 * Entry point                                                                *
 * ======================================================================== */

/* "--opt VALUE" or "--opt=VALUE" at argv[*i]; -1 when @a is not @opt, else an
 * exit status (0: taken). */
/* ---- accounts, sites and the second factor --------------------------------------------- */

/* User names as the server accepts them: 1-64 of [A-Za-z0-9._@-]. */
static gboolean
account_name_ok(const char *name)
{
  gsize n = strlen(name);
  if (n == 0 || n > 64)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum(*p) && strchr("._@-", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
site_id_ok(const char *text)
{
  gsize n = strlen(text);
  if (n == 0 || n > 15 || text[0] == '0')
    return FALSE;
  for (const char *p = text; *p; p++)
    if (!g_ascii_isdigit(*p))
      return FALSE;
  return TRUE;
}

/* Sends @method @path with @body (NULL: none; "{}" for an empty POST) and, with
 * --json, prints the answer; *out_root gets it. */
static int
account_call(Ctl *ctl, const char *method, const char *path, const char *body, JsonNode **out_root)
{
  int rc = resolve_server(ctl, TRUE);
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  if ((rc = api_call(ctl, method, path, body, body != NULL ? strlen(body) : 0, TRUE, out_root, NULL)) !=
      SRV_CTL_EXIT_OK)
    return rc;
  if (ctl->json)
    print_json(*out_root);
  return SRV_CTL_EXIT_OK;
}

static void
print_account(JsonObject *o)
{
  static const Column cols[] = {
    { "username", "username", COL_TEXT },
    { "role", "role", COL_TEXT },
    { "sites", "sites", COL_TEXT },
    { "second factor", "totp_enrolled", COL_BOOL },
    { "disabled", "disabled", COL_BOOL },
    { "must change", "must_change_password", COL_BOOL },
    { "last login", "last_login_at", COL_TIME },
    { "may export", "may_export", COL_BOOL },
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cols); i++) {
    g_autofree char *text = cell_text(o, &cols[i]);
    printf("%-14s %s\n", cols[i].title, text);
  }
}

/* --site ID (repeatable) as a JSON array, or NULL when none was given. */
static gboolean
sites_array(char **sites, JsonBuilder *b)
{
  if (sites == NULL)
    return TRUE;
  json_builder_set_member_name(b, "sites");
  json_builder_begin_array(b);
  for (guint i = 0; sites[i] != NULL; i++) {
    if (!site_id_ok(sites[i]))
      return FALSE;
    json_builder_add_int_value(b, g_ascii_strtoll(sites[i], NULL, 10));
  }
  json_builder_end_array(b);
  return TRUE;
}

/* Prints a one-time password the server made (new account, reset). */
static int
print_one_time(Ctl *ctl, JsonNode *root)
{
  static const GkJsonField fields[] = {
    { "username", GK_JSON_STRING, TRUE, 1, 64 },
    { "one_time_password", GK_JSON_STRING, TRUE, 8, 128 },
  };
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  const char *password = gk_json_get_string(o, "one_time_password", "");
  if (!single_line_ascii(password)) {
    err_msg("error: the server's answer is not valid: bad password text");
    return SRV_CTL_EXIT_FAILURE;
  }
  if (ctl->json)
    return SRV_CTL_EXIT_OK;
  g_autofree char *user = display_text(gk_json_get_string(o, "username", ""));
  printf("account            %s\n", user);
  printf("one-time password  %s\n", password);
  err_msg("hint: shown only this once; %s must change it at first sign-in (" PROG " login --user %s --new-password)",
          user, user);
  return SRV_CTL_EXIT_OK;
}

static int
cmd_account_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "USERNAME", "username", COL_TEXT },   { "ROLE", "role", COL_TEXT },
    { "SITES", "sites", COL_TEXT },         { "2FA", "totp_enrolled", COL_BOOL },
    { "DISABLED", "disabled", COL_BOOL },   { "LAST LOGIN", "last_login_at", COL_TIME },
    { "EXPORT", "may_export", COL_BOOL },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  return list_command(ctl, "/v1/accounts", "accounts", cols, G_N_ELEMENTS(cols));
}

static int
cmd_account_whoami(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "GET", "/v1/account", NULL, &root)) != SRV_CTL_EXIT_OK || ctl->json)
    return rc;
  JsonObject *o = json_node_get_object(root);
  print_account(o);
  static const Column site = { "", "site_id", COL_TEXT };
  g_autofree char *current = cell_text(o, &site);
  printf("%-14s %s\n", "acting on site", current);
  if (gk_json_get_bool(o, "totp_required", FALSE) && !gk_json_get_bool(o, "totp_enrolled", FALSE))
    err_msg("hint: this account must set up a second factor: " PROG " account totp enroll");
  return SRV_CTL_EXIT_OK;
}

static int
cmd_account_add(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *role = NULL;
  g_auto(GStrv) sites = NULL;
  GOptionEntry entries[] = {
    { "role", 0, 0, G_OPTION_ARG_STRING, &role, "owner, admin, receptionist, security or auditor (required)",
      "ROLE" },
    { "site", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sites, "A site the account acts on (repeatable; default: the "
      "current site)", "ID" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, role, "--role")) >= 0)
    return rc;
  if (!account_name_ok(argv[1]))
    return usage_error(ctl->cmd, "a user name is 1-64 of A-Z a-z 0-9 . _ @ -");
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "username");
  json_builder_add_string_value(b, argv[1]);
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, role);
  if (!sites_array(sites, b))
    return usage_error(ctl->cmd, "--site takes a site id");
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "POST", "/v1/accounts", body, &root)) != SRV_CTL_EXIT_OK)
    return rc;
  return print_one_time(ctl, root);
}

static int
cmd_account_set_role(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *role = NULL;
  g_auto(GStrv) sites = NULL;
  GOptionEntry entries[] = {
    { "role", 0, 0, G_OPTION_ARG_STRING, &role, "The new role (required)", "ROLE" },
    { "site", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sites, "Replace the account's sites (repeatable; default: keep)",
      "ID" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, role, "--role")) >= 0)
    return rc;
  if (!account_name_ok(argv[1]))
    return usage_error(ctl->cmd, "bad user name '%s'", argv[1]);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, role);
  if (!sites_array(sites, b))
    return usage_error(ctl->cmd, "--site takes a site id");
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autofree char *path = g_strdup_printf("/v1/accounts/%s/role", argv[1]);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "POST", path, body, &root)) == SRV_CTL_EXIT_OK && !ctl->json)
    print_account(json_node_get_object(root));
  return rc;
}

/* account disable|enable|reset-password NAME and account totp reset NAME. */
static int
account_action(Ctl *ctl, int argc, char **argv, const char *action)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (!account_name_ok(argv[1]))
    return usage_error(ctl->cmd, "bad user name '%s'", argv[1]);
  g_autofree char *path = g_strdup_printf("/v1/accounts/%s/%s", argv[1], action);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "POST", path, "{}", &root)) != SRV_CTL_EXIT_OK)
    return rc;
  if (strcmp(action, "reset-password") == 0)
    return print_one_time(ctl, root);
  if (!ctl->json)
    print_account(json_node_get_object(root));
  return SRV_CTL_EXIT_OK;
}

static int
cmd_account_disable(Ctl *ctl, int argc, char **argv)
{
  return account_action(ctl, argc, argv, "disable");
}

static int
cmd_account_enable(Ctl *ctl, int argc, char **argv)
{
  return account_action(ctl, argc, argv, "enable");
}

static int
cmd_account_reset_password(Ctl *ctl, int argc, char **argv)
{
  return account_action(ctl, argc, argv, "reset-password");
}

static int
cmd_account_totp_reset(Ctl *ctl, int argc, char **argv)
{
  return account_action(ctl, argc, argv, "totp/reset");
}

/* Confirms a pending enrollment with @code: prints the recovery codes and keeps
 * the new session the server answers with. */
static int
totp_confirm(Ctl *ctl, const char *code)
{
  g_autofree char *body = g_strdup_printf("{\"code\":\"%s\"}", code);
  g_autoptr(JsonNode) root = NULL;
  int rc = api_call(ctl, "POST", "/v1/account/totp/confirm", body, strlen(body), TRUE, &root, NULL);
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  static const GkJsonField fields[] = {
    { "token", GK_JSON_STRING, TRUE, 16, 512 },
    { "recovery_codes", GK_JSON_ARRAY, TRUE, 1, 64 },
  };
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  char *token = (char *) gk_json_get_string(o, "token", "");
  JsonArray *codes = json_object_get_array_member(o, "recovery_codes");
  g_autoptr(GError) error = NULL;
  SrvCtlSession session = ctl->session;
  session.token = token;
  rc = SRV_CTL_EXIT_OK;
  if (!single_line_ascii(token)) {
    err_msg("error: the server's answer is not valid: bad token");
    rc = SRV_CTL_EXIT_FAILURE;
  } else if (!srv_ctl_session_save(&session, &error)) {
    err_msg("error: cannot save the session: %s", error->message);
    rc = SRV_CTL_EXIT_FAILURE;
  } else if (ctl->json) {
    /* Scripts get the codes, never the token. */
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "recovery_codes");
    json_builder_add_value(b, json_node_copy(json_object_get_member(o, "recovery_codes")));
    json_builder_end_object(b);
    g_autoptr(JsonNode) shown = json_builder_get_root(b);
    print_json(shown);
  } else {
    printf("second factor set up. Recovery codes (each works once, instead of the app's code;\n"
           "keep them somewhere safe, they are not shown again):\n");
    for (guint i = 0; i < json_array_get_length(codes); i++) {
      const char *c = json_array_get_string_element(codes, i);
      printf("  %s\n", c != NULL && single_line_ascii(c) ? c : "?");
    }
  }
  sodium_memzero(token, strlen(token));
  return rc;
}

static int
cmd_account_totp_enroll(Ctl *ctl, int argc, char **argv)
{
  gboolean no_confirm = FALSE;
  GOptionEntry entries[] = {
    { "no-confirm", 0, 0, G_OPTION_ARG_NONE, &no_confirm,
      "Only show the secret; confirm later with '" PROG " account totp confirm CODE'", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "POST", "/v1/account/totp/enroll", "{}", 2, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  static const GkJsonField fields[] = {
    { "secret", GK_JSON_STRING, TRUE, 16, 128 },
    { "uri", GK_JSON_STRING, TRUE, 16, 1024 },
  };
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  const char *secret = gk_json_get_string(o, "secret", "");
  const char *uri = gk_json_get_string(o, "uri", "");
  if (!single_line_ascii(secret) || !single_line_ascii(uri) || !g_str_has_prefix(uri, "otpauth://totp/")) {
    err_msg("error: the server's answer is not valid: bad secret or URI");
    return SRV_CTL_EXIT_FAILURE;
  }
  if (ctl->json) {
    print_json(root);
  } else {
    g_autoptr(GError) error = NULL;
    g_autofree char *art = isatty(STDOUT_FILENO) ? gk_qr_render_terminal(uri, &error) : NULL;
    printf("Scan this code with an authenticator app (or type in the secret):\n");
    if (art != NULL)
      printf("%s", art);
    printf("%s\nsecret  %s\n", uri, secret);
  }
  if (no_confirm) {
    err_msg("hint: confirm with: " PROG " account totp confirm CODE");
    return SRV_CTL_EXIT_OK;
  }
  fflush(stdout);
  char code[MAX_SECRET] = "";
  g_autoptr(GError) error = NULL;
  if (!prompt_secret("Code shown by the app: ", code, &error)) {
    err_msg("error: %s", error->message);
    err_msg("hint: confirm with: " PROG " account totp confirm CODE");
    return SRV_CTL_EXIT_FAILURE;
  }
  g_strstrip(code);
  if (!totp_code_ok(code)) {
    err_msg("error: the code must be 6 digits; confirm with: " PROG " account totp confirm CODE");
    return SRV_CTL_EXIT_FAILURE;
  }
  return totp_confirm(ctl, code);
}

static int
cmd_account_totp_confirm(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (!totp_code_ok(argv[1]))
    return usage_error(ctl->cmd, "the code must be 6 digits");
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  return totp_confirm(ctl, argv[1]);
}

/* Shows (@cidrs NULL) or replaces an allow-list at @base (an empty @cidrs
 * clears it). */
static int
allow_list_command(Ctl *ctl, const char *base, char **cidrs)
{
  gboolean set = cidrs != NULL;
  g_autofree char *path = g_strconcat(base, "/allow-list", NULL);
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *body = NULL;
  if (set) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "cidrs");
    json_builder_begin_array(b);
    for (guint i = 0; cidrs[i] != NULL; i++)
      json_builder_add_string_value(b, cidrs[i]);
    json_builder_end_array(b);
    json_builder_end_object(b);
    body = gk_json_builder_to_string(b);
  }
  int rc = account_call(ctl, set ? "POST" : "GET", path, body, &root);
  if (rc != SRV_CTL_EXIT_OK || ctl->json)
    return rc;
  JsonNode *node = NULL;
  JsonArray *list = answer_array(root, "cidrs", &node);
  if (list == NULL)
    return SRV_CTL_EXIT_FAILURE;
  if (json_array_get_length(list) == 0)
    printf("(no allow-list: every address may connect)\n");
  for (guint i = 0; i < json_array_get_length(list); i++) {
    const char *c = json_array_get_string_element(list, i);
    printf("%s\n", c != NULL && single_line_ascii(c) ? c : "?");
  }
  return SRV_CTL_EXIT_OK;
}

/* account allow-list show|set|clear NAME [CIDR...]: @cidrs as allow_list_command(). */
static int
account_allow(Ctl *ctl, int argc, char **argv, gboolean set)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (!account_name_ok(argv[1]))
    return usage_error(ctl->cmd, "bad user name '%s'", argv[1]);
  g_autofree char *base = g_strconcat("/v1/accounts/", argv[1], NULL);
  return allow_list_command(ctl, base, set ? argv + 2 : NULL);
}

static int
cmd_account_allow_show(Ctl *ctl, int argc, char **argv)
{
  return account_allow(ctl, argc, argv, FALSE);
}

static int
cmd_account_allow_set(Ctl *ctl, int argc, char **argv)
{
  return account_allow(ctl, argc, argv, TRUE);
}

static int
cmd_site_list(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "ID", "id", COL_TEXT },
    { "NAME", "name", COL_TEXT },
    { "CURRENT", "current", COL_BOOL },
    { "CREATED", "created_at", COL_TIME },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  return list_command(ctl, "/v1/sites", "sites", cols, G_N_ELEMENTS(cols));
}

static int
cmd_site_add(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *name = NULL;
  GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_FILENAME, &name, "The site's name (required)", "NAME" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, name, "--name")) >= 0)
    return rc;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, name);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "POST", "/v1/sites", body, &root)) != SRV_CTL_EXIT_OK || ctl->json)
    return rc;
  static const Column col = { "ID", "id", COL_TEXT };
  g_autofree char *id = cell_text(json_node_get_object(root), &col);
  printf("%s\n", id);
  return SRV_CTL_EXIT_OK;
}

/* site allow-list show|set|clear ID [CIDR...] */
static int
site_allow(Ctl *ctl, int argc, char **argv, gboolean set)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (!site_id_ok(argv[1]))
    return usage_error(ctl->cmd, "bad site id '%s'", argv[1]);
  g_autofree char *base = g_strconcat("/v1/sites/", argv[1], NULL);
  return allow_list_command(ctl, base, set ? argv + 2 : NULL);
}

static int
cmd_site_allow_show(Ctl *ctl, int argc, char **argv)
{
  return site_allow(ctl, argc, argv, FALSE);
}

static int
cmd_site_allow_set(Ctl *ctl, int argc, char **argv)
{
  return site_allow(ctl, argc, argv, TRUE);
}

/* ---- retention and site deletion (srv-site-api.c) -------------------------------- */

/* The site a retention command acts on: SITE when given, else --site, else the
 * account's current site as the server reports it. */
static int
retention_site(Ctl *ctl, int argc, char **argv, char **out_site)
{
  if (argc > 1) {
    if (!site_id_ok(argv[1]))
      return usage_error(ctl->cmd, "bad site id '%s'", argv[1]);
    *out_site = g_strdup(argv[1]);
    return SRV_CTL_EXIT_OK;
  }
  if (ctl->site_opt != NULL) {
    *out_site = g_strdup(ctl->site_opt);
    return SRV_CTL_EXIT_OK;
  }
  int rc = resolve_server(ctl, TRUE);
  if (rc != SRV_CTL_EXIT_OK)
    return rc;
  g_autoptr(JsonNode) root = NULL;
  if ((rc = api_call(ctl, "GET", "/v1/sites", NULL, 0, TRUE, &root, NULL)) != SRV_CTL_EXIT_OK)
    return rc;
  JsonNode *node = NULL;
  JsonArray *sites = answer_array(root, "sites", &node);
  for (guint i = 0; sites != NULL && i < json_array_get_length(sites); i++) {
    JsonNode *n = json_array_get_element(sites, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    JsonNode *id = o != NULL ? json_object_get_member(o, "id") : NULL;
    if (o != NULL && json_object_get_boolean_member_with_default(o, "current", FALSE) && id != NULL &&
        JSON_NODE_HOLDS_VALUE(id) && json_node_get_value_type(id) == G_TYPE_INT64) {
      *out_site = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(id));
      return SRV_CTL_EXIT_OK;
    }
  }
  err_msg("error: the server named no current site");
  return SRV_CTL_EXIT_FAILURE;
}

static int
print_retention(Ctl *ctl, JsonNode *root)
{
  static const GkJsonField fields[] = {
    { "site_id", GK_JSON_INT, TRUE, 1, G_MAXINT64 },
    { "visitor_days", GK_JSON_INT, TRUE, 1, 3650 },
    { "audit_days", GK_JSON_INT, TRUE, 1, 3650 },
  };
  JsonObject *o = answer_object(root, fields, G_N_ELEMENTS(fields));
  if (o == NULL)
    return SRV_CTL_EXIT_FAILURE;
  if (!ctl->json)
    printf("site:          %" G_GINT64_FORMAT "\nvisitor days:  %" G_GINT64_FORMAT "\naudit days:    %" G_GINT64_FORMAT
           "\n", json_object_get_int_member(o, "site_id"), json_object_get_int_member(o, "visitor_days"),
           json_object_get_int_member(o, "audit_days"));
  return SRV_CTL_EXIT_OK;
}

static int
cmd_site_retention_show(Ctl *ctl, int argc, char **argv)
{
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  g_autofree char *site = NULL;
  if ((rc = retention_site(ctl, argc, argv, &site)) != SRV_CTL_EXIT_OK)
    return rc;
  g_autofree char *path = g_strdup_printf("/v1/sites/%s/retention", site);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "GET", path, NULL, &root)) != SRV_CTL_EXIT_OK)
    return rc;
  return print_retention(ctl, root);
}

static int
cmd_site_retention_set(Ctl *ctl, int argc, char **argv)
{
  gint visitor_days = 0, audit_days = 0;
  GOptionEntry entries[] = {
    { "visitor-days", 0, 0, G_OPTION_ARG_INT, &visitor_days, "Days visitors' data is kept after the visit (1-3650)",
      "N" },
    { "audit-days", 0, 0, G_OPTION_ARG_INT, &audit_days, "Days audit entries are kept (180-3650)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (visitor_days == 0 && audit_days == 0)
    return usage_error(ctl->cmd, "give --visitor-days, --audit-days or both");
  if (visitor_days != 0 && (visitor_days < 1 || visitor_days > 3650))
    return usage_error(ctl->cmd, "--visitor-days must be 1 to 3650");
  if (audit_days != 0 && (audit_days < 180 || audit_days > 3650))
    return usage_error(ctl->cmd, "--audit-days must be 180 to 3650");
  g_autofree char *site = NULL;
  if ((rc = retention_site(ctl, argc, argv, &site)) != SRV_CTL_EXIT_OK)
    return rc;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  if (visitor_days != 0) {
    json_builder_set_member_name(b, "visitor_days");
    json_builder_add_int_value(b, visitor_days);
  }
  if (audit_days != 0) {
    json_builder_set_member_name(b, "audit_days");
    json_builder_add_int_value(b, audit_days);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autofree char *path = g_strdup_printf("/v1/sites/%s/retention", site);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "POST", path, body, &root)) != SRV_CTL_EXIT_OK)
    return rc;
  return print_retention(ctl, root);
}

static int
cmd_site_delete(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *confirm = NULL;
  GOptionEntry entries[] = {
    { "confirm", 0, 0, G_OPTION_ARG_FILENAME, &confirm, "The site's exact name (required)", "NAME" },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (!site_id_ok(argv[1]))
    return usage_error(ctl->cmd, "bad site id '%s'", argv[1]);
  if ((rc = require_option(ctl->cmd, confirm, "--confirm")) >= 0)
    return rc;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "confirm");
  json_builder_add_string_value(b, confirm);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autofree char *path = g_strconcat("/v1/sites/", argv[1], NULL);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "DELETE", path, body, &root)) != SRV_CTL_EXIT_OK || ctl->json)
    return rc;
  JsonObject *o = json_node_get_object(root);
  printf("site %s deleted: %" G_GINT64_FORMAT " hosts, %" G_GINT64_FORMAT " invitations, %" G_GINT64_FORMAT
         " visits, %" G_GINT64_FORMAT " devices; %" G_GINT64_FORMAT " accounts disabled\n", argv[1],
         json_object_get_int_member_with_default(o, "hosts", 0), json_object_get_int_member_with_default(o, "tickets", 0),
         json_object_get_int_member_with_default(o, "visits", 0), json_object_get_int_member_with_default(o, "devices", 0),
         json_object_get_int_member_with_default(o, "accounts_disabled", 0));
  return SRV_CTL_EXIT_OK;
}

static int
cmd_retention_purge(Ctl *ctl, int argc, char **argv)
{
  static const Column cols[] = {
    { "SITE", "site_id", COL_TEXT },       { "VISITS", "visits", COL_TEXT },
    { "PHOTOS", "photos", COL_TEXT },      { "TICKETS", "tickets", COL_TEXT },
    { "REDEMPTIONS", "redemptions", COL_TEXT }, { "EVENTS", "events", COL_TEXT },
    { "ALERTS", "alerts", COL_TEXT },      { "NOTIFICATIONS", "notifications", COL_TEXT },
    { "HOSTS", "hosts", COL_TEXT },
  };
  int rc = parse_command_options(ctl, NULL, &argc, &argv);
  if (rc >= 0)
    return rc;
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "POST", "/v1/retention/purge", "{}", &root)) != SRV_CTL_EXIT_OK || ctl->json)
    return rc;
  JsonNode *node = NULL;
  JsonArray *rows = answer_array(root, "sites", &node);
  if (rows == NULL)
    return SRV_CTL_EXIT_FAILURE;
  print_table(rows, cols, G_N_ELEMENTS(cols));
  printf("audit entries purged: %" G_GINT64_FORMAT "\n",
         json_object_get_int_member_with_default(json_node_get_object(root), "audit_entries", 0));
  return SRV_CTL_EXIT_OK;
}

static int
take_value(const char *opt, int argc, char **argv, int *i, char **out)
{
  const char *a = argv[*i];
  gsize n = strlen(opt);
  if (strncmp(a, opt, n) != 0 || (a[n] != '\0' && a[n] != '='))
    return -1;
  const char *value;
  if (a[n] == '=') {
    value = a + n + 1;
  } else {
    if (*i + 1 >= argc)
      return usage_error(NULL, "%s needs a value", opt);
    value = argv[++*i];
  }
  g_free(*out);
  *out = g_strdup(value);
  return SRV_CTL_EXIT_OK;
}

static int
run(Ctl *ctl, int argc, char **argv)
{
  gboolean help = FALSE;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-')
      break;
    int rc;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else if (strcmp(a, "--json") == 0) {
      ctl->json = TRUE;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      help = TRUE;
    } else if (strcmp(a, "--version") == 0) {
      printf(PROG " " GENKAN_VERSION "\n");
      return SRV_CTL_EXIT_OK;
    } else if ((rc = take_value("--server", argc, argv, &i, &ctl->server_opt)) >= 0 ||
               (rc = take_value("--ca", argc, argv, &i, &ctl->ca_opt)) >= 0 ||
               (rc = take_value("--site", argc, argv, &i, &ctl->site_opt)) >= 0) {
      if (rc != SRV_CTL_EXIT_OK)
        return rc;
    } else {
      return usage_error(NULL, "unknown option '%s'", a);
    }
  }
  if (i >= argc) {
    print_top_help(help ? stdout : stderr);
    return help ? SRV_CTL_EXIT_OK : SRV_CTL_EXIT_USAGE;
  }
  if (help) {
    print_top_help(stdout);
    return SRV_CTL_EXIT_OK;
  }
  if (ctl->site_opt == NULL && g_getenv("GENKAN_SITE") != NULL && *g_getenv("GENKAN_SITE") != '\0')
    ctl->site_opt = g_strdup(g_getenv("GENKAN_SITE"));
  if (ctl->site_opt != NULL && !site_id_ok(ctl->site_opt))
    return usage_error(NULL, "--site (or GENKAN_SITE) takes a site id, not '%s'", ctl->site_opt);

  /* Names travel in JSON, which is UTF-8. */
  for (int k = i; k < argc; k++)
    if (!g_utf8_validate(argv[k], -1, NULL))
      return usage_error(NULL, "argument %d is not valid UTF-8", k);

  const char *word = argv[i];
  /* The longest group the words spell ("device config" before "device"). */
  const char *group = NULL;
  int group_len = 0;
  for (gsize c = 0; c < G_N_ELEMENTS(commands); c++) {
    const Command *cmd = &commands[c];
    if (cmd->group == NULL && strcmp(cmd->name, word) == 0) {
      ctl->cmd = cmd;
      i += 1;
      break;
    }
    int n = cmd->group != NULL ? group_words(cmd->group, argc, argv, i) : 0;
    if (n == 0)
      continue;
    if (n > group_len) {
      group = cmd->group;
      group_len = n;
    }
    if (i + n < argc && strcmp(cmd->name, argv[i + n]) == 0) {
      ctl->cmd = cmd;
      i += n + 1;
      break;
    }
  }
  if (ctl->cmd == NULL) {
    if (group == NULL)
      return usage_error(NULL, "unknown command '%s'", word);
    int next = i + group_len;
    if (next < argc && (strcmp(argv[next], "--help") == 0 || strcmp(argv[next], "-h") == 0)) {
      print_group_help(stdout, group);
      return SRV_CTL_EXIT_OK;
    }
    if (next >= argc) {
      err_msg(PROG " %s: a command is missing", group);
    } else {
      err_msg(PROG " %s: unknown command '%s'", group, argv[next]);
    }
    print_group_help(stderr, group);
    return SRV_CTL_EXIT_USAGE;
  }

  /* The command's own argv: its name, then what follows it. */
  g_autofree char *label = command_label(ctl->cmd);
  g_autofree char *argv0 = g_strdup_printf(PROG " %s", label);
  int sub_argc = argc - i + 1;
  char **sub_argv = g_new0(char *, (gsize) sub_argc + 1);
  sub_argv[0] = g_strdup(argv0);
  for (int k = 1; k < sub_argc; k++)
    sub_argv[k] = g_strdup(argv[i + k - 1]);
  int rc = ctl->cmd->run(ctl, sub_argc, sub_argv);
  g_strfreev(sub_argv); /* still a strv: the parser frees what it takes out */
  return rc;
}

int
srv_ctl_main(int argc, char **argv)
{
  if (sodium_init() < 0) {
    err_msg(PROG ": cannot initialise libsodium");
    return SRV_CTL_EXIT_FAILURE;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    err_msg(PROG ": cannot initialise libcurl");
    return SRV_CTL_EXIT_FAILURE;
  }
  Ctl ctl = { 0 };
  int rc = run(&ctl, argc, argv);
  fflush(stdout);
  if (ferror(stdout) && rc == SRV_CTL_EXIT_OK) {
    fprintf(stderr, PROG ": cannot write the output\n");
    rc = SRV_CTL_EXIT_FAILURE;
  }
  srv_ctl_session_clear(&ctl.session);
  g_free(ctl.server_opt);
  g_free(ctl.ca_opt);
  g_free(ctl.site_opt);
  g_free(ctl.server);
  g_free(ctl.ca);
  curl_global_cleanup();
  return rc;
}

/* ---- exports (docs/exports.md) ---------------------------------------------- */

static int
cmd_export(Ctl *ctl, int argc, char **argv)
{
  g_autofree char *out = NULL, *since = NULL, *until = NULL, *label = NULL;
  gboolean bom = FALSE;
  const char *kind = ctl->cmd->name;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The CSV file to write (required)", "FILE" },
    { "since", 0, 0, G_OPTION_ARG_FILENAME, &since, "Rows from this time on", "TIME" },
    { "until", 0, 0, G_OPTION_ARG_FILENAME, &until, "Rows before this time", "TIME" },
    { "label", 0, 0, G_OPTION_ARG_FILENAME, &label, "Only visits whose invitation has this label", "LABEL" },
    { "bom", 0, 0, G_OPTION_ARG_NONE, &bom, "Start with a UTF-8 byte-order mark (for Excel)", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if ((rc = require_option(ctl->cmd, out, "--out")) >= 0)
    return rc;
  if (label != NULL && strcmp(kind, "visits") != 0)
    return usage_error(ctl->cmd, "--label filters visits only");
  if (label != NULL && (*label == '\0' || strlen(label) > 64 || strchr(label, ',') != NULL))
    return usage_error(ctl->cmd, "--label must be 1-64 bytes without a comma");
  g_autoptr(GString) path = g_string_new(NULL);
  g_string_printf(path, "/v1/exports/%s?bom=%d", kind, bom ? 1 : 0);
  const char *names[] = { "since", "until" };
  const char *values[] = { since, until };
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    gint64 t = 0;
    g_autoptr(GError) error = NULL;
    if (values[i] == NULL)
      continue;
    if (!srv_ctl_parse_time(values[i], &t, &error))
      return usage_error(ctl->cmd, "--%s: %s", names[i], error->message);
    g_string_append_printf(path, "&%s=%" G_GINT64_FORMAT, names[i], t);
  }
  if (label != NULL) {
    g_autofree char *escaped = g_uri_escape_string(label, NULL, FALSE);
    g_string_append_printf(path, "&label=%s", escaped);
  }
  if ((rc = resolve_server(ctl, TRUE)) != SRV_CTL_EXIT_OK)
    return rc;
  gint64 rows = -1;
  if ((rc = api_download_file(ctl, path->str, out, &rows)) != SRV_CTL_EXIT_OK)
    return rc;
  if (rows >= 0)
    printf("%" G_GINT64_FORMAT " %s rows written to %s\n", rows, kind, out);
  else
    printf("%s written to %s\n", kind, out);
  return SRV_CTL_EXIT_OK;
}

static int
cmd_account_export_permission(Ctl *ctl, int argc, char **argv)
{
  gboolean allow = FALSE, deny = FALSE;
  GOptionEntry entries[] = {
    { "allow", 0, 0, G_OPTION_ARG_NONE, &allow, "Grant the export permission", NULL },
    { "deny", 0, 0, G_OPTION_ARG_NONE, &deny, "Withdraw it", NULL },
    G_OPTION_ENTRY_NULL,
  };
  int rc = parse_command_options(ctl, entries, &argc, &argv);
  if (rc >= 0)
    return rc;
  if (allow == deny)
    return usage_error(ctl->cmd, "give either --allow or --deny");
  if (!account_name_ok(argv[1]))
    return usage_error(ctl->cmd, "bad user name '%s'", argv[1]);
  g_autofree char *path = g_strdup_printf("/v1/accounts/%s/export-permission", argv[1]);
  g_autoptr(JsonNode) root = NULL;
  if ((rc = account_call(ctl, "POST", path, allow ? "{\"allow\":true}" : "{\"allow\":false}", &root)) !=
      SRV_CTL_EXIT_OK)
    return rc;
  if (!ctl->json)
    print_account(json_node_get_object(root));
  return SRV_CTL_EXIT_OK;
}
