/* Structured key=value logging in UTC with a level check before formatting and
 * redaction of sensitive keys: the one place log lines are made. */
#include "gk-log.h"

#include <string.h>
#include <unistd.h>

static gint current_level = GK_LOG_INFO;
static GMutex sink_lock;
static GkLogSink sink_func;
static gpointer sink_data;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

/* Key fragments that mark a value as a secret or as a visitor's personal data.
 * Matching is by substring so "admin_password" and "visitor_name" are caught. */
static const char *const sensitive_fragments[] = {
  "password", "passwd", "pwd", "secret", "token", "key", "kek", "dek", "pin",
  "otp", "totp", "hmac", "signature",
  "cookie", "authorization", "credential", "recovery", "seed",
  "name", "email", "mail", "phone", "company", "address", "photo", "visitor",
  "purpose", "note",
};

/* Keys that contain a fragment above but name no secret. */
static const char *const safe_keys[] = {
  "key_id", "hostname", "event", "keep_alive",
};

gboolean
gk_log_enabled(GkLogLevel level)
{
  return (gint) level <= g_atomic_int_get(&current_level);
}

void
gk_log_set_level(GkLogLevel level)
{
  g_return_if_fail(level <= GK_LOG_DEBUG);
  g_atomic_int_set(&current_level, (gint) level);
}

GkLogLevel
gk_log_get_level(void)
{
  return (GkLogLevel) g_atomic_int_get(&current_level);
}

gboolean
gk_log_level_parse(const char *text, GkLogLevel *out_level)
{
  g_return_val_if_fail(out_level != NULL, FALSE);
  for (guint i = 0; text != NULL && i < G_N_ELEMENTS(level_names); i++) {
    if (g_ascii_strcasecmp(text, level_names[i]) == 0) {
      *out_level = (GkLogLevel) i;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
gk_log_level_name(GkLogLevel level)
{
  return level <= GK_LOG_DEBUG ? level_names[level] : "unknown";
}

void
gk_log_set_sink(GkLogSink sink, gpointer user_data)
{
  g_mutex_lock(&sink_lock);
  sink_func = sink;
  sink_data = user_data;
  g_mutex_unlock(&sink_lock);
}

gboolean
gk_log_key_is_sensitive(const char *key)
{
  if (key == NULL)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS(safe_keys); i++)
    if (strcmp(key, safe_keys[i]) == 0)
      return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS(sensitive_fragments); i++)
    if (strstr(key, sensitive_fragments[i]) != NULL)
      return TRUE;
  return FALSE;
}

static gboolean
key_is_well_formed(const char *key)
{
  if (key == NULL || *key == '\0' || strlen(key) > 64)
    return FALSE;
  for (const char *p = key; *p; p++)
    if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

/* Values are quoted when they hold anything but a plain token, and every
 * control character, quote, backslash or invalid UTF-8 byte is escaped, so one
 * event is always one line and no value can forge another key. */
static void
append_value(GString *out, const char *value)
{
  if (value == NULL) {
    g_string_append(out, "(null)");
    return;
  }
  gboolean plain = *value != '\0';
  for (const char *p = value; *p && plain; p++) {
    guchar c = (guchar) *p;
    plain = c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
  }
  if (plain) {
    g_string_append(out, value);
    return;
  }
  g_string_append_c(out, '"');
  const char *end = value + strlen(value);
  const char *p = value;
  while (p < end) {
    guchar c = (guchar) *p;
    if (c == '"' || c == '\\') {
      g_string_append_c(out, '\\');
      g_string_append_c(out, (char) c);
      p++;
    } else if (c == '\n') {
      g_string_append(out, "\\n");
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      g_string_append_printf(out, "\\x%02x", c);
      p++;
    } else if (c < 0x80) {
      g_string_append_c(out, (char) c);
      p++;
    } else {
      gunichar ch = g_utf8_get_char_validated(p, end - p);
      if (ch == (gunichar) -1 || ch == (gunichar) -2) {
        g_string_append_printf(out, "\\x%02x", c);
        p++;
      } else {
        const char *next = g_utf8_next_char(p);
        g_string_append_len(out, p, next - p);
        p = next;
      }
    }
  }
  g_string_append_c(out, '"');
}

char *
gk_log_format_line(gint64 unix_usec, GkLogLevel level, const char *event,
                   const GkLogField *fields, gsize n_fields)
{
  GString *line = g_string_sized_new(160);
  g_autoptr(GDateTime) now = g_date_time_new_from_unix_utc(unix_usec / G_USEC_PER_SEC);
  g_autofree char *stamp = now ? g_date_time_format(now, "%Y-%m-%dT%H:%M:%S") : g_strdup("?");

  g_string_append_printf(line, "ts=%s.%03dZ level=%s event=", stamp,
                         (int) ((unix_usec % G_USEC_PER_SEC) / 1000), gk_log_level_name(level));
  append_value(line, event ? event : "unknown");

  for (gsize i = 0; i < n_fields; i++) {
    const GkLogField *f = &fields[i];
    if (f->type == GK_LOG_FIELD_NONE)
      continue;
    if (!key_is_well_formed(f->key)) {
      g_string_append(line, " bad_key=1");
      continue;
    }
    g_string_append_printf(line, " %s=", f->key);
    if (gk_log_key_is_sensitive(f->key)) {
      g_string_append(line, "[redacted]");
      continue;
    }
    switch (f->type) {
    case GK_LOG_FIELD_STR:
      append_value(line, f->s);
      break;
    case GK_LOG_FIELD_INT:
      g_string_append_printf(line, "%" G_GINT64_FORMAT, f->i);
      break;
    case GK_LOG_FIELD_UINT:
      g_string_append_printf(line, "%" G_GUINT64_FORMAT, f->u);
      break;
    case GK_LOG_FIELD_BOOL:
      g_string_append(line, f->i ? "true" : "false");
      break;
    case GK_LOG_FIELD_DOUBLE: {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      g_string_append(line, g_ascii_formatd(buf, sizeof buf, "%.3f", f->d));
      break;
    }
    case GK_LOG_FIELD_NONE:
    default:
      break;
    }
  }
  return g_string_free(line, FALSE);
}

void
gk_log_emit(GkLogLevel level, const char *event, const GkLogField *fields, gsize n_fields)
{
  if (!gk_log_enabled(level))
    return;
  g_autofree char *line = gk_log_format_line(g_get_real_time(), level, event, fields, n_fields);

  g_mutex_lock(&sink_lock);
  if (sink_func != NULL) {
    sink_func(level, line, sink_data);
  } else {
    /* One write() per line keeps lines whole when several processes share stderr. */
    g_autofree char *with_nl = g_strconcat(line, "\n", NULL);
    gsize len = strlen(with_nl);
    const char *p = with_nl;
    while (len > 0) {
      ssize_t n = write(STDERR_FILENO, p, len);
      if (n <= 0)
        break;
      p += n;
      len -= (gsize) n;
    }
  }
  g_mutex_unlock(&sink_lock);
}

static GLogWriterOutput
glib_writer(GLogLevelFlags flags, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  GkLogLevel level = GK_LOG_DEBUG;
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    level = GK_LOG_ERROR;
  else if (flags & G_LOG_LEVEL_WARNING)
    level = GK_LOG_WARNING;
  else if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    level = GK_LOG_INFO;
  if (!gk_log_enabled(level))
    return G_LOG_WRITER_HANDLED;

  const char *domain = "glib", *message = "";
  for (gsize i = 0; i < n_fields; i++) {
    if (fields[i].length != -1)
      continue;
    if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
      domain = fields[i].value;
    else if (strcmp(fields[i].key, "MESSAGE") == 0)
      message = fields[i].value;
  }
  GkLogField out[] = { GK_STR("domain", domain), GK_STR("msg", message) };
  gk_log_emit(level, "glib.log", out, G_N_ELEMENTS(out));
  return G_LOG_WRITER_HANDLED;
}

void
gk_log_install_glib_writer(void)
{
  g_log_set_writer_func(glib_writer, NULL, NULL);
}
