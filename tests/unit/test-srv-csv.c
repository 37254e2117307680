/* The CSV writer every export uses (srv-csv.c): RFC 4180 quoting, CRLF line
 * ends, the UTF-8 byte-order mark, and formula defusing (CSV injection). */
#include <string.h>

#include "srv-csv.h"

static char *
one_line(const char *const *cells, guint n)
{
  GString *out = g_string_new(NULL);
  srv_csv_row(out, cells, n);
  return g_string_free(out, FALSE);
}

static void
test_plain(void)
{
  const char *cells[] = { "a", "佐藤 花子", "", NULL, "42" };
  g_autofree char *line = one_line(cells, G_N_ELEMENTS(cells));
  /* NULL is an empty cell; UTF-8 passes through untouched. */
  g_assert_cmpstr(line, ==, "a,佐藤 花子,,,42\r\n");
  GString *out = g_string_new(NULL);
  srv_csv_row(out, NULL, 0);
  g_assert_cmpstr(out->str, ==, "");
  g_string_free(out, TRUE);
}

static void
test_quoting(void)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
    { "Lovelace, Ada", "\"Lovelace, Ada\"" },
    { "say \"hi\"", "\"say \"\"hi\"\"\"" },
    { "\"", "\"\"\"\"" },
    { "two\nlines", "\"two\nlines\"" },
    { "cr\rhere", "\"cr\rhere\"" },
    { "crlf\r\n", "\"crlf\r\n\"" },
    { "no;quote needed", "no;quote needed" },
    { "tab\tinside", "tab\tinside" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    GString *out = g_string_new(NULL);
    srv_csv_cell(out, cases[i].in, TRUE);
    g_autofree char *want = g_strconcat(cases[i].out, "\r\n", NULL);
    g_assert_cmpstr(out->str, ==, want);
    g_string_truncate(out, 0);
    srv_csv_cell(out, cases[i].in, FALSE);
    g_autofree char *want_mid = g_strconcat(cases[i].out, ",", NULL);
    g_assert_cmpstr(out->str, ==, want_mid);
    g_string_free(out, TRUE);
  }
}

static void
test_injection(void)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
    { "=1+2", "\"'=1+2\"" },
    { "=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" },
    { "+81 3 1234 5678", "\"'+81 3 1234 5678\"" },
    { "-2+3", "\"'-2+3\"" },
    { "@SUM(A1)", "\"'@SUM(A1)\"" },
    { "\t=1", "\"'\t=1\"" },
    { "\r=1", "\"'\r=1\"" },
    { "=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\"" },
    /* One character alone is no formula ("-" is the audit log's "nobody"). */
    { "-", "-" },
    { "=", "=" },
    { "@", "@" },
    /* Only the first character counts. */
    { "a=1", "a=1" },
    { " =1", " =1" },
    { "＝1", "＝1" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    GString *out = g_string_new(NULL);
    srv_csv_cell(out, cases[i].in, TRUE);
    g_autofree char *want = g_strconcat(cases[i].out, "\r\n", NULL);
    if (strcmp(out->str, want) != 0)
      g_error("cell %u: got [%s], want [%s]", i, out->str, want);
    g_string_free(out, TRUE);
  }
}

static void
test_bom(void)
{
  g_assert_cmpuint(strlen(SRV_CSV_BOM), ==, 3);
  g_assert_cmpmem(SRV_CSV_BOM, 3, "\xEF\xBB\xBF", 3);
  /* The BOM is U+FEFF in UTF-8: what Excel looks for. */
  g_assert_cmpuint(g_utf8_get_char(SRV_CSV_BOM), ==, 0xFEFF);
  GString *out = g_string_new(SRV_CSV_BOM);
  const char *cells[] = { "名前", "会社" };
  srv_csv_row(out, cells, 2);
  g_assert_cmpstr(out->str, ==, "\xEF\xBB\xBF名前,会社\r\n");
  g_string_free(out, TRUE);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/server/csv/plain", test_plain);
  g_test_add_func("/server/csv/quoting", test_quoting);
  g_test_add_func("/server/csv/injection", test_injection);
  g_test_add_func("/server/csv/bom", test_bom);
  return g_test_run();
}
