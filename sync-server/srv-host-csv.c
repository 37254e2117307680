/* The hosts CSV parser: RFC 4180 records first (so quoting errors are found
 * before any row is judged), then the header, then every row's cells. */
#include "srv-host-csv.h"

#include <stdarg.h>
#include <string.h>

#include "gk-visit.h"
#include "srv-notify.h"

G_DEFINE_QUARK(srv-host-csv-error-quark, srv_host_csv_error)

enum { COL_NAME, COL_READING, COL_EMAIL, COL_DEPARTMENT, COL_CHANNEL, N_COLS };
static const char *const column_names[N_COLS] = { "name", "reading", "email", "department", "channel" };

/* A record is parsed into at most this many cells; more is a row problem, and
 * the cap keeps a line of commas from costing memory per comma. */
#define MAX_CELLS (N_COLS + 1)

void
srv_host_csv_clear(SrvHostCsv *csv)
{
  if (csv == NULL)
    return;
  g_clear_pointer(&csv->rows, g_array_unref);
  g_clear_pointer(&csv->problems, g_array_unref);
}

static void
row_clear(SrvHostCsvRow *row)
{
  g_free(row->name);
  g_free(row->reading);
  g_free(row->email);
  g_free(row->department);
  g_free(row->channel);
}

static void
problem_clear(SrvHostCsvProblem *p)
{
  g_free(p->column);
  g_free(p->reason);
}

/* ---- field checks ------------------------------------------------------------------ */

gboolean
srv_host_text_ok(const char *text, const char **why)
{
  return gk_visit_text_ok(text, SRV_HOST_TEXT_MAX, why);
}

gboolean
srv_host_email_ok(const char *email, const char **why)
{
  gsize len = strlen(email);
  if (len < 3 || len > SRV_HOST_EMAIL_MAX) {
    *why = "must be 3 to 254 bytes";
    return FALSE;
  }
  if (!srv_notify_target_check("email", email, NULL)) {
    *why = "is not an e-mail address (local@domain)";
    return FALSE;
  }
  return TRUE;
}

gboolean
srv_host_channel_parse(const char *text, char **out_channel, char **out_target, GError **error)
{
  *out_channel = NULL;
  *out_target = NULL;
  const char *colon = strchr(text, ':');
  g_autofree char *channel = colon != NULL ? g_strndup(text, (gsize) (colon - text)) : g_strdup(text);
  const char *target = colon != NULL ? colon + 1 : NULL;
  if (strcmp(channel, "none") != 0 && strcmp(channel, "email") != 0 && strcmp(channel, "slack") != 0 &&
      strcmp(channel, "teams") != 0 && strcmp(channel, "webhook") != 0) {
    g_set_error(error, SRV_HOST_CSV_ERROR, SRV_HOST_CSV_ERROR_MALFORMED,
                "must be none, email, email:ADDRESS, slack:URL, teams:URL or webhook:URL");
    return FALSE;
  }
  gboolean needs_target = strcmp(channel, "slack") == 0 || strcmp(channel, "teams") == 0 ||
                          strcmp(channel, "webhook") == 0;
  if (strcmp(channel, "none") == 0 && target != NULL) {
    g_set_error(error, SRV_HOST_CSV_ERROR, SRV_HOST_CSV_ERROR_MALFORMED, "none takes no address");
    return FALSE;
  }
  if (needs_target && (target == NULL || *target == '\0')) {
    g_set_error(error, SRV_HOST_CSV_ERROR, SRV_HOST_CSV_ERROR_MALFORMED, "%s needs a URL (%s:https://...)",
                channel, channel);
    return FALSE;
  }
  if (target != NULL) {
    g_autoptr(GError) local = NULL;
    if (!srv_notify_target_check(channel, target, &local)) {
      g_set_error(error, SRV_HOST_CSV_ERROR, SRV_HOST_CSV_ERROR_MALFORMED, "%s", local->message);
      return FALSE;
    }
  }
  *out_channel = g_steal_pointer(&channel);
  *out_target = g_strdup(target);
  return TRUE;
}

/* ---- records --------------------------------------------------------------------------- */

typedef struct {
  const char *p, *end;
  guint line;  /* of the byte at p */
} Reader;

typedef struct {
  guint line;                /* where the record starts */
  guint n_cells;             /* cells seen, even past MAX_CELLS */
  GString *cells[MAX_CELLS];
} Record;

static void
record_reset(Record *r, guint line)
{
  r->line = line;
  r->n_cells = 0;
  for (guint i = 0; i < MAX_CELLS; i++)
    g_string_truncate(r->cells[i], 0);
}

static gboolean
malformed(GError **error, guint line, const char *what)
{
  g_set_error(error, SRV_HOST_CSV_ERROR, SRV_HOST_CSV_ERROR_MALFORMED, "line %u: %s", line, what);
  return FALSE;
}

/* A line end at p: CRLF or LF (a lone CR is a line end too, as old Mac files
 * have it). Returns its length, 0 when none. */
static gsize
line_end(const Reader *rd)
{
  if (rd->p >= rd->end)
    return 0;
  if (*rd->p == '\n')
    return 1;
  if (*rd->p == '\r')
    return rd->p + 1 < rd->end && rd->p[1] == '\n' ? 2 : 1;
  return 0;
}

/* Reads one record into @r. *out_done: no record was left (end of input). */
static gboolean
read_record(Reader *rd, Record *r, gboolean *out_done, GError **error)
{
  record_reset(r, rd->line);
  *out_done = rd->p >= rd->end;
  if (*out_done)
    return TRUE;
  for (;;) {
    /* One cell. */
    GString *cell = r->n_cells < MAX_CELLS ? r->cells[r->n_cells] : NULL;
    r->n_cells++;
    if (rd->p < rd->end && *rd->p == '"') {
      rd->p++;
      for (;;) {
        if (rd->p >= rd->end)
          return malformed(error, r->line, "a quoted cell is not closed");
        if (*rd->p == '"') {
          if (rd->p + 1 < rd->end && rd->p[1] == '"') {
            if (cell != NULL)
              g_string_append_c(cell, '"');
            rd->p += 2;
            continue;
          }
          rd->p++;
          break;
        }
        if (*rd->p == '\n' || (*rd->p == '\r' && (rd->p + 1 >= rd->end || rd->p[1] != '\n')))
          rd->line++;
        if (cell != NULL)
          g_string_append_c(cell, *rd->p);
        rd->p++;
      }
      if (rd->p < rd->end && *rd->p != ',' && line_end(rd) == 0) {
        g_autofree char *what = g_strdup_printf("text after the closing quote of cell %u", r->n_cells);
        return malformed(error, rd->line, what);
      }
    } else {
      while (rd->p < rd->end && *rd->p != ',' && line_end(rd) == 0) {
        if (*rd->p == '"') {
          g_autofree char *what = g_strdup_printf("a quote inside unquoted cell %u (quote the whole cell)",
                                                  r->n_cells);
          return malformed(error, rd->line, what);
        }
        if (cell != NULL)
          g_string_append_c(cell, *rd->p);
        rd->p++;
      }
    }
    if (rd->p < rd->end && *rd->p == ',') {
      rd->p++;
      continue;
    }
    gsize eol = line_end(rd);
    rd->p += eol;
    if (eol > 0)
      rd->line++;
    return TRUE;
  }
}

static gboolean
record_blank(const Record *r)
{
  return r->n_cells == 1 && r->cells[0]->len == 0;
}

/* ---- header and rows ------------------------------------------------------------------- */

static gboolean
parse_header(const Record *r, int map[MAX_CELLS], GError **error)
{
  gboolean seen[N_COLS] = { FALSE };
  if (r->n_cells > N_COLS)
    return malformed(error, r->line, "the header has more columns than name, reading, email, department, channel");
  for (guint i = 0; i < r->n_cells; i++) {
    g_autofree char *name = g_ascii_strdown(r->cells[i]->str, -1);
    g_strstrip(name);
    map[i] = -1;
    for (int c = 0; c < N_COLS; c++)
      if (strcmp(name, column_names[c]) == 0)
        map[i] = c;
    if (map[i] < 0) {
      /* At most 64 bytes of it (a cut character becomes U+FFFD). */
      g_autofree char *shown = g_utf8_make_valid(r->cells[i]->str, (gssize) MIN(r->cells[i]->len, 64));
      g_autofree char *what = g_strdup_printf("unknown column “%s” in the header (columns: name, reading, email, "
                                              "department, channel)", shown);
      return malformed(error, r->line, what);
    }
    if (seen[map[i]]) {
      g_autofree char *what = g_strdup_printf("the column %s appears twice in the header", column_names[map[i]]);
      return malformed(error, r->line, what);
    }
    seen[map[i]] = TRUE;
  }
  if (!seen[COL_NAME])
    return malformed(error, r->line, "the header has no name column");
  return TRUE;
}

static void G_GNUC_PRINTF(4, 5)
add_problem(GArray *problems, guint line, const char *column, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  SrvHostCsvProblem p = { line, g_strdup(column), g_strdup_vprintf(format, ap) };
  va_end(ap);
  g_array_append_val(problems, p);
}

/* Checks one cell; its problem (if any) goes to @problems. */
static void
check_cell(int col, const char *value, SrvHostCsvFlags flags, guint line, GArray *problems)
{
  const char *name = column_names[col];
  const char *why = NULL;
  if (!g_utf8_validate(value, -1, NULL)) {
    add_problem(problems, line, name, "is not valid UTF-8");
    return;
  }
  if (*value == '\0') {
    if (col == COL_NAME)
      add_problem(problems, line, name, "is empty (every host needs a name)");
    return;
  }
  switch (col) {
  case COL_EMAIL:
    if (!srv_host_email_ok(value, &why))
      add_problem(problems, line, name, "%s", why);
    break;
  case COL_CHANNEL: {
    g_autofree char *channel = NULL, *target = NULL;
    g_autoptr(GError) error = NULL;
    if (!srv_host_channel_parse(value, &channel, &target, &error))
      add_problem(problems, line, name, "%s", error->message);
    else if ((flags & SRV_HOST_CSV_NO_EMAIL) && strcmp(channel, "email") == 0)
      add_problem(problems, line, name, "is email, but e-mail is not set up on this server");
    break;
  }
  default:
    if (!srv_host_text_ok(value, &why))
      add_problem(problems, line, name, "%s", why);
    break;
  }
}

gboolean
srv_host_csv_parse(const char *data, gsize len, SrvHostCsvFlags flags, SrvHostCsv *out, GError **error)
{
  g_return_val_if_fail(data != NULL || len == 0, FALSE);
  g_return_val_if_fail(out != NULL, FALSE);
  memset(out, 0, sizeof *out);
  Reader rd = { data, data + len, 1 };
  if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
    rd.p += 3;
  if (memchr(rd.p, '\0', (gsize) (rd.end - rd.p)) != NULL)
    return malformed(error, 1, "the file holds a NUL byte (is it UTF-16? save it as UTF-8)");

  Record r;
  for (guint i = 0; i < MAX_CELLS; i++)
    r.cells[i] = g_string_new(NULL);
  g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, sizeof(SrvHostCsvRow));
  g_array_set_clear_func(rows, (GDestroyNotify) row_clear);
  g_autoptr(GArray) problems = g_array_new(FALSE, TRUE, sizeof(SrvHostCsvProblem));
  g_array_set_clear_func(problems, (GDestroyNotify) problem_clear);
  /* E-mail (lower case) -> line: the import matches hosts by e-mail, so one
   * address twice in a file is ambiguous. */
  g_autoptr(GHashTable) emails = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  int map[MAX_CELLS];
  guint n_header = 0;
  gboolean ok = FALSE, done = FALSE;

  /* The header: the first record that is not an empty line. */
  do {
    if (!read_record(&rd, &r, &done, error))
      goto out;
  } while (!done && record_blank(&r));
  if (done) {
    malformed(error, 1, "the file is empty: the first line must name the columns (name,reading,email,...)");
    goto out;
  }
  if (!parse_header(&r, map, error))
    goto out;
  n_header = r.n_cells;

  for (;;) {
    if (!read_record(&rd, &r, &done, error))
      goto out;
    if (done)
      break;
    if (record_blank(&r))
      continue;
    guint before = problems->len;
    if (r.n_cells > n_header) {
      g_autofree char *column = g_strdup_printf("%u", n_header + 1);
      add_problem(problems, r.line, column, "one cell too many or more: the row has %u cells, the header "
                  "names %u columns (quote cells that hold commas)", r.n_cells, n_header);
    } else if (r.n_cells < n_header) {
      add_problem(problems, r.line, column_names[map[r.n_cells]], "is missing: the row has %u cells, the header "
                  "names %u columns", r.n_cells, n_header);
    }
    SrvHostCsvRow row = { .line = r.line };
    char **slots[N_COLS] = { &row.name, &row.reading, &row.email, &row.department, &row.channel };
    for (guint i = 0; i < MIN(r.n_cells, n_header); i++) {
      const char *value = r.cells[i]->str;
      /* A cell with a NUL was refused above; length and strlen agree. */
      check_cell(map[i], value, flags, r.line, problems);
      if (*value != '\0')
        *slots[map[i]] = g_strdup(value);
    }
    if (row.email != NULL && problems->len == before) {
      char *key = g_utf8_strdown(row.email, -1);
      gpointer first = g_hash_table_lookup(emails, key);
      if (first != NULL) {
        add_problem(problems, r.line, "email", "is the same as on line %u", GPOINTER_TO_UINT(first));
        g_free(key);
      } else {
        g_hash_table_insert(emails, key, GUINT_TO_POINTER(r.line));
      }
    }
    if (row.channel != NULL && g_str_equal(row.channel, "email") && row.email == NULL && problems->len == before)
      add_problem(problems, r.line, "channel", "is email but the row has no e-mail address");
    if (problems->len == before)
      g_array_append_val(rows, row);
    else
      row_clear(&row);
  }
  if (problems->len > 0)
    g_array_set_size(rows, 0);
  out->rows = g_steal_pointer(&rows);
  out->problems = g_steal_pointer(&problems);
  ok = TRUE;
out:
  for (guint i = 0; i < MAX_CELLS; i++)
    g_string_free(r.cells[i], TRUE);
  return ok;
}
