/* CSV for every export (audit log, visits, check-ins, hosts): RFC 4180 cells
 * and CRLF line ends, an optional UTF-8 byte-order mark for Excel, and cells
 * that a spreadsheet would run as a formula defused. */
#pragma once
#include <glib.h>

/* The UTF-8 byte-order mark Excel needs to read UTF-8 (Japanese names). */
#define SRV_CSV_BOM "\xEF\xBB\xBF"

/* Appends one cell of @s (NULL: an empty cell) and then "," or, when @last,
 * "\r\n". A cell holding a comma, quote or line break is quoted (quotes
 * doubled). A cell of two or more bytes starting with = + - @ TAB or CR gets a
 * leading apostrophe inside quotes, so a spreadsheet shows it as text instead
 * of running it (CSV injection); one character alone cannot be a formula and
 * is kept as it is ("-" is how the audit log writes "nobody"). */
void srv_csv_cell(GString *out, const char *s, gboolean last);

/* Appends @n cells as one line. */
void srv_csv_row(GString *out, const char *const *cells, guint n);
