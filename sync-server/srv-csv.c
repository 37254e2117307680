/* CSV cells and lines (RFC 4180, CRLF) with formula defusing; see srv-csv.h. */
#include "srv-csv.h"

#include <string.h>

void
srv_csv_cell(GString *out, const char *s, gboolean last)
{
  g_return_if_fail(out != NULL);
  if (s == NULL)
    s = "";
  gboolean formula = s[0] != '\0' && s[1] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
  gboolean quote = formula || strpbrk(s, ",\"\r\n") != NULL;
  if (quote)
    g_string_append_c(out, '"');
  if (formula)
    g_string_append_c(out, '\'');
  if (!quote) {
    g_string_append(out, s);
  } else {
    for (const char *p = s; *p != '\0'; p++) {
      if (*p == '"')
        g_string_append_c(out, '"');
      g_string_append_c(out, *p);
    }
    g_string_append_c(out, '"');
  }
  g_string_append(out, last ? "\r\n" : ",");
}

void
srv_csv_row(GString *out, const char *const *cells, guint n)
{
  g_return_if_fail(out != NULL && (cells != NULL || n == 0));
  for (guint i = 0; i < n; i++)
    srv_csv_cell(out, cells[i], i + 1 == n);
}
