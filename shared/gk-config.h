/* Program settings from one declarative table (name, type, bounds, default,
 * help) loaded from an INI file. Loading is all-or-nothing: any bad key or
 * value is an error naming it, and the settings stay as they were. */
#pragma once
#include <glib.h>

#define GK_CONFIG_ERROR gk_config_error_quark()
GQuark gk_config_error_quark(void);

typedef enum {
  GK_CONFIG_ERROR_PARSE,         /* not a valid INI file */
  GK_CONFIG_ERROR_UNKNOWN_KEY,   /* a group or key the table does not name */
  GK_CONFIG_ERROR_INVALID_VALUE, /* wrong type, bad choice, bad characters */
  GK_CONFIG_ERROR_OUT_OF_RANGE,  /* number or length outside the option's bounds */
  GK_CONFIG_ERROR_TOO_LARGE,     /* the file itself is over the size cap */
  GK_CONFIG_ERROR_IO,
} GkConfigError;

typedef enum {
  GK_CONFIG_STRING, /* bounds are lengths in bytes */
  GK_CONFIG_INT,    /* bounds are inclusive values */
  GK_CONFIG_BOOL,   /* true/false only */
  GK_CONFIG_ENUM,   /* one of choices[] */
} GkConfigType;

typedef struct {
  const char *group;     /* INI group, e.g. "server" */
  const char *key;       /* e.g. "device-port"; addressed as "server.device-port" */
  GkConfigType type;
  gint64 min;            /* INT: smallest value; STRING: shortest length */
  gint64 max;            /* INT: largest value;  STRING: longest length */
  const char *default_value;   /* in file syntax; must itself be valid */
  const char *const *choices;  /* ENUM only; NULL-terminated */
  const char *help;
} GkConfigOption;

/* Largest config file accepted: settings files are small, a huge one is a mistake. */
#define GK_CONFIG_MAX_FILE_BYTES (64 * 1024)

typedef struct _GkConfig GkConfig;

/* The table must outlive the GkConfig. Every default is checked: a bad table is
 * a programming error reported through g_critical and a NULL return. */
GkConfig *gk_config_new(const GkConfigOption *table, gsize n_options);
void gk_config_free(GkConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GkConfig, gk_config_free)

gboolean gk_config_load_file(GkConfig *config, const char *path, GError **error);
gboolean gk_config_load_data(GkConfig *config, const char *data, gsize len,
                             const char *source_name, GError **error);
/* One override in "group.key=value" form (command line flags). */
gboolean gk_config_set(GkConfig *config, const char *name, const char *value, GError **error);

/* Getters take "group.key"; asking for a name the table lacks, or with the
 * wrong type, is a programming error (g_critical) and returns the zero value. */
const char *gk_config_get_string(const GkConfig *config, const char *name);
gint64 gk_config_get_int(const GkConfig *config, const char *name);
gboolean gk_config_get_bool(const GkConfig *config, const char *name);

/* Human-readable list of every option with type, bounds, default and help,
 * for --help output and generated docs. */
char *gk_config_describe(const GkConfigOption *table, gsize n_options);
