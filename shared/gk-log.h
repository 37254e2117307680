/* Structured logging: one key=value line per event, UTC timestamps, the level
 * checked before anything is formatted, and values that can never smuggle in a
 * secret or a visitor's personal data under a sensitive key name. */
#pragma once
#include <glib.h>
#include <stdio.h>

typedef enum {
  GK_LOG_ERROR,
  GK_LOG_WARNING,
  GK_LOG_INFO,
  GK_LOG_DEBUG,
} GkLogLevel;

typedef enum {
  GK_LOG_FIELD_NONE, /* lets a call carry no field at all */
  GK_LOG_FIELD_STR,
  GK_LOG_FIELD_INT,
  GK_LOG_FIELD_UINT,
  GK_LOG_FIELD_BOOL,
  GK_LOG_FIELD_DOUBLE,
} GkLogFieldType;

typedef struct {
  const char *key; /* [a-z0-9_.]+ */
  GkLogFieldType type;
  const char *s;
  gint64 i;
  guint64 u;
  double d;
} GkLogField;

#define GK_STR(k, v)    ((GkLogField){ .key = (k), .type = GK_LOG_FIELD_STR, .s = (v) })
#define GK_INT(k, v)    ((GkLogField){ .key = (k), .type = GK_LOG_FIELD_INT, .i = (gint64) (v) })
#define GK_UINT(k, v)   ((GkLogField){ .key = (k), .type = GK_LOG_FIELD_UINT, .u = (guint64) (v) })
#define GK_BOOL(k, v)   ((GkLogField){ .key = (k), .type = GK_LOG_FIELD_BOOL, .i = (v) ? 1 : 0 })
#define GK_DOUBLE(k, v) ((GkLogField){ .key = (k), .type = GK_LOG_FIELD_DOUBLE, .d = (double) (v) })

/* GK_LOG(GK_LOG_INFO, "sync.push", GK_STR("device", id), GK_UINT("events", n));
 * Nothing after the level is evaluated unless the level is enabled. */
#define GK_LOG(level, event, ...)                                                  \
  do {                                                                             \
    if (gk_log_enabled(level)) {                                                   \
      const GkLogField gk_log_fields_[] = { { .type = GK_LOG_FIELD_NONE }, ##__VA_ARGS__ }; \
      gk_log_emit((level), (event), gk_log_fields_, G_N_ELEMENTS(gk_log_fields_)); \
    }                                                                              \
  } while (0)

#define GK_LOG_ERR(event, ...)   GK_LOG(GK_LOG_ERROR, event, ##__VA_ARGS__)
#define GK_LOG_WARN(event, ...)  GK_LOG(GK_LOG_WARNING, event, ##__VA_ARGS__)
#define GK_LOG_INFO(event, ...)  GK_LOG(GK_LOG_INFO, event, ##__VA_ARGS__)
#define GK_LOG_DEBUG(event, ...) GK_LOG(GK_LOG_DEBUG, event, ##__VA_ARGS__)

/* Where finished lines go (default: stderr). @line has no trailing newline. */
typedef void (*GkLogSink)(GkLogLevel level, const char *line, gpointer user_data);

gboolean gk_log_enabled(GkLogLevel level);
void gk_log_set_level(GkLogLevel level);
GkLogLevel gk_log_get_level(void);
/* "error", "warning", "info", "debug" */
gboolean gk_log_level_parse(const char *text, GkLogLevel *out_level);
const char *gk_log_level_name(GkLogLevel level);
void gk_log_set_sink(GkLogSink sink, gpointer user_data); /* NULL restores stderr */
void gk_log_emit(GkLogLevel level, const char *event, const GkLogField *fields, gsize n_fields);
/* Routes GLib's own g_warning()/g_message() through the same format. */
void gk_log_install_glib_writer(void);

/* TRUE when values under @key must never be written (passwords, tokens, keys,
 * PINs, visitor names, e-mail addresses…). Such values are logged as
 * "[redacted]"; the test suite keeps the list honest. */
gboolean gk_log_key_is_sensitive(const char *key);

/* Formats one line exactly as gk_log_emit() would, for tests and the sink. */
char *gk_log_format_line(gint64 unix_usec, GkLogLevel level, const char *event,
                         const GkLogField *fields, gsize n_fields);
