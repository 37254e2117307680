/* Declarative, strictly validated program settings loaded from INI files. */
#include "gk-config.h"

#include <string.h>

G_DEFINE_QUARK(gk-config-error-quark, gk_config_error)

struct _GkConfig {
  const GkConfigOption *table;
  gsize n_options;
  char **values; /* current value of each option, in file syntax */
};

static const GkConfigOption *
find_option(const GkConfigOption *table, gsize n, const char *group, const char *key, gsize *index)
{
  for (gsize i = 0; i < n; i++) {
    if (strcmp(table[i].group, group) == 0 && strcmp(table[i].key, key) == 0) {
      if (index)
        *index = i;
      return &table[i];
    }
  }
  return NULL;
}

static gboolean
group_known(const GkConfigOption *table, gsize n, const char *group)
{
  for (gsize i = 0; i < n; i++)
    if (strcmp(table[i].group, group) == 0)
      return TRUE;
  return FALSE;
}

/* Strict integer syntax: optional '-', decimal digits, nothing else. */
static gboolean
parse_int(const char *text, gint64 *out)
{
  return g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, out, NULL);
}

static gboolean
validate_value(const GkConfigOption *opt, const char *value, const char *where, GError **error)
{
  switch (opt->type) {
  case GK_CONFIG_STRING: {
    gsize len = strlen(value);
    if (!g_utf8_validate(value, -1, NULL)) {
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_INVALID_VALUE,
                  "%s: %s.%s is not valid UTF-8", where, opt->group, opt->key);
      return FALSE;
    }
    for (const char *p = value; *p; p++) {
      if ((guchar) *p < 0x20 || *p == 0x7f) {
        g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_INVALID_VALUE,
                    "%s: %s.%s contains a control character", where, opt->group, opt->key);
        return FALSE;
      }
    }
    if ((gint64) len < opt->min || (gint64) len > opt->max) {
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_OUT_OF_RANGE,
                  "%s: %s.%s must be %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
                  " bytes long, not %" G_GSIZE_FORMAT,
                  where, opt->group, opt->key, opt->min, opt->max, len);
      return FALSE;
    }
    return TRUE;
  }
  case GK_CONFIG_INT: {
    gint64 v;
    if (!parse_int(value, &v)) {
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_INVALID_VALUE,
                  "%s: %s.%s must be a whole number", where, opt->group, opt->key);
      return FALSE;
    }
    if (v < opt->min || v > opt->max) {
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_OUT_OF_RANGE,
                  "%s: %s.%s must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT,
                  where, opt->group, opt->key, opt->min, opt->max);
      return FALSE;
    }
    return TRUE;
  }
  case GK_CONFIG_BOOL:
    if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_INVALID_VALUE,
                  "%s: %s.%s must be true or false", where, opt->group, opt->key);
      return FALSE;
    }
    return TRUE;
  case GK_CONFIG_ENUM:
    for (const char *const *c = opt->choices; c && *c; c++)
      if (strcmp(value, *c) == 0)
        return TRUE;
    {
      g_autofree char *list = opt->choices ? g_strjoinv(", ", (char **) opt->choices) : g_strdup("");
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_INVALID_VALUE,
                  "%s: %s.%s must be one of: %s", where, opt->group, opt->key, list);
    }
    return FALSE;
  default:
    g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_INVALID_VALUE,
                "%s: %s.%s has an unknown type", where, opt->group, opt->key);
    return FALSE;
  }
}

GkConfig *
gk_config_new(const GkConfigOption *table, gsize n_options)
{
  g_return_val_if_fail(table != NULL || n_options == 0, NULL);

  g_autoptr(GkConfig) config = g_new0(GkConfig, 1);
  config->table = table;
  config->n_options = n_options;
  config->values = g_new0(char *, n_options + 1);
  for (gsize i = 0; i < n_options; i++) {
    g_autoptr(GError) error = NULL;
    gsize other;
    if (find_option(table, i, table[i].group, table[i].key, &other) != NULL ||
        !validate_value(&table[i], table[i].default_value, "built-in default", &error)) {
      g_critical("config table: bad option %s.%s: %s", table[i].group, table[i].key,
                 error ? error->message : "listed twice");
      return NULL;
    }
    config->values[i] = g_strdup(table[i].default_value);
  }
  return g_steal_pointer(&config);
}

void
gk_config_free(GkConfig *config)
{
  if (config == NULL)
    return;
  g_strfreev(config->values);
  g_free(config);
}

/* Validates every entry of @kf into a fresh value array; only a file that is
 * valid as a whole replaces the current values. */
static gboolean
apply_keyfile(GkConfig *config, GKeyFile *kf, const char *source, GError **error)
{
  g_auto(GStrv) staged = g_strdupv(config->values);
  g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

  for (gsize g = 0; groups[g]; g++) {
    if (!group_known(config->table, config->n_options, groups[g])) {
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_UNKNOWN_KEY,
                  "%s: unknown section [%s]", source, groups[g]);
      return FALSE;
    }
    g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
    for (gsize k = 0; keys && keys[k]; k++) {
      gsize index;
      const GkConfigOption *opt =
          find_option(config->table, config->n_options, groups[g], keys[k], &index);
      if (opt == NULL) {
        g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_UNKNOWN_KEY,
                    "%s: unknown setting %s.%s", source, groups[g], keys[k]);
        return FALSE;
      }
      /* get_value, not get_string: no escape processing surprises. */
      g_autofree char *raw = g_key_file_get_value(kf, groups[g], keys[k], NULL);
      g_autofree char *value = g_strstrip(g_strdup(raw ? raw : ""));
      if (!validate_value(opt, value, source, error))
        return FALSE;
      g_free(staged[index]);
      staged[index] = g_steal_pointer(&value);
    }
  }
  g_strfreev(config->values);
  config->values = g_steal_pointer(&staged);
  return TRUE;
}

gboolean
gk_config_load_data(GkConfig *config, const char *data, gsize len, const char *source_name,
                    GError **error)
{
  g_return_val_if_fail(config != NULL && (data != NULL || len == 0), FALSE);
  const char *source = source_name ? source_name : "config";

  if (len > GK_CONFIG_MAX_FILE_BYTES) {
    g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_TOO_LARGE,
                "%s: larger than %d bytes", source, GK_CONFIG_MAX_FILE_BYTES);
    return FALSE;
  }
  if (memchr(data, '\0', len) != NULL || !g_utf8_validate(data, (gssize) len, NULL)) {
    g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_PARSE,
                "%s: not a UTF-8 text file", source);
    return FALSE;
  }

  /* The caller's bytes need not end in NUL: everything below reads this copy. */
  g_autofree char *text = g_strndup(data, len);

  /* GKeyFile silently keeps the last of two identical keys; a repeated key is
   * almost always an editing mistake, so refuse it. */
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) local = NULL;
  if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &local)) {
    g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_PARSE, "%s: %s", source, local->message);
    return FALSE;
  }
  g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  g_autofree char *group = g_strdup("");
  for (gsize i = 0; lines[i]; i++) {
    char *line = g_strstrip(lines[i]);
    if (*line == '#' || *line == '\0')
      continue;
    if (*line == '[') {
      g_free(group);
      group = g_strdup(line);
      continue;
    }
    char *eq = strchr(line, '=');
    if (eq == NULL)
      continue;
    *eq = '\0';
    char *id = g_strconcat(group, g_strstrip(line), NULL);
    if (!g_hash_table_add(seen, id)) {
      g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_PARSE,
                  "%s: line %" G_GSIZE_FORMAT ": setting %s given twice", source, i + 1, line);
      return FALSE;
    }
  }
  return apply_keyfile(config, kf, source, error);
}

gboolean
gk_config_load_file(GkConfig *config, const char *path, GError **error)
{
  g_return_val_if_fail(config != NULL && path != NULL, FALSE);
  g_autoptr(GMappedFile) map = NULL;
  g_autoptr(GError) local = NULL;

  map = g_mapped_file_new(path, FALSE, &local);
  if (map == NULL) {
    g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_IO, "%s", local->message);
    return FALSE;
  }
  return gk_config_load_data(config, g_mapped_file_get_contents(map),
                             g_mapped_file_get_length(map), path, error);
}

gboolean
gk_config_set(GkConfig *config, const char *name, const char *value, GError **error)
{
  g_return_val_if_fail(config != NULL && name != NULL && value != NULL, FALSE);
  const char *dot = strchr(name, '.');
  g_autofree char *group = dot ? g_strndup(name, (gsize) (dot - name)) : NULL;
  gsize index;
  const GkConfigOption *opt =
      dot ? find_option(config->table, config->n_options, group, dot + 1, &index) : NULL;
  if (opt == NULL) {
    g_set_error(error, GK_CONFIG_ERROR, GK_CONFIG_ERROR_UNKNOWN_KEY, "unknown setting %s", name);
    return FALSE;
  }
  if (!validate_value(opt, value, "command line", error))
    return FALSE;
  g_free(config->values[index]);
  config->values[index] = g_strdup(value);
  return TRUE;
}

static const char *
lookup(const GkConfig *config, const char *name, GkConfigType type)
{
  g_return_val_if_fail(config != NULL && name != NULL, NULL);
  const char *dot = strchr(name, '.');
  if (dot != NULL) {
    for (gsize i = 0; i < config->n_options; i++) {
      const GkConfigOption *o = &config->table[i];
      gsize glen = strlen(o->group);
      if (glen == (gsize) (dot - name) && strncmp(o->group, name, glen) == 0 &&
          strcmp(o->key, dot + 1) == 0) {
        if (o->type != type && !(type == GK_CONFIG_STRING && o->type == GK_CONFIG_ENUM))
          break;
        return config->values[i];
      }
    }
  }
  g_critical("config: no %s setting named %s", type == GK_CONFIG_INT ? "integer" : type == GK_CONFIG_BOOL ? "boolean" : "string", name);
  return NULL;
}

const char *
gk_config_get_string(const GkConfig *config, const char *name)
{
  return lookup(config, name, GK_CONFIG_STRING);
}

gint64
gk_config_get_int(const GkConfig *config, const char *name)
{
  const char *v = lookup(config, name, GK_CONFIG_INT);
  gint64 out = 0;
  if (v != NULL && !parse_int(v, &out))
    out = 0;
  return out;
}

gboolean
gk_config_get_bool(const GkConfig *config, const char *name)
{
  const char *v = lookup(config, name, GK_CONFIG_BOOL);
  return v != NULL && strcmp(v, "true") == 0;
}

char *
gk_config_describe(const GkConfigOption *table, gsize n_options)
{
  GString *out = g_string_new(NULL);
  const char *group = NULL;
  for (gsize i = 0; i < n_options; i++) {
    const GkConfigOption *o = &table[i];
    if (group == NULL || strcmp(group, o->group) != 0) {
      g_string_append_printf(out, "%s[%s]\n", group ? "\n" : "", o->group);
      group = o->group;
    }
    g_string_append_printf(out, "  %s = %s\n      %s", o->key, o->default_value, o->help);
    switch (o->type) {
    case GK_CONFIG_INT:
      g_string_append_printf(out, " (%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT ")", o->min, o->max);
      break;
    case GK_CONFIG_BOOL:
      g_string_append(out, " (true|false)");
      break;
    case GK_CONFIG_ENUM: {
      g_autofree char *list = g_strjoinv("|", (char **) o->choices);
      g_string_append_printf(out, " (%s)", list);
      break;
    }
    case GK_CONFIG_STRING:
    default:
      break;
    }
    g_string_append_c(out, '\n');
  }
  return g_string_free(out, FALSE);
}
