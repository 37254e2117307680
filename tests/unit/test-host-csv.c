/* srv-host-csv: RFC 4180 quoting, BOM, CRLF, empty lines, the header, and
 * every reason a row is refused, each with its line and column. */
#include <string.h>

#include "srv-host-csv.h"

static SrvHostCsv
parse_ok(const char *text)
{
  SrvHostCsv csv;
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_host_csv_parse(text, strlen(text), SRV_HOST_CSV_NONE, &csv, &error));
  g_assert_no_error(error);
  return csv;
}

static SrvHostCsvRow *
row(SrvHostCsv *csv, guint i)
{
  g_assert_cmpuint(i, <, csv->rows->len);
  return &g_array_index(csv->rows, SrvHostCsvRow, i);
}

/* Parses @text, expects no rows and exactly one problem, at @line in @column
 * with @reason_part in its reason. */
static void
expect_problem(const char *text, guint line, const char *column, const char *reason_part)
{
  g_auto(SrvHostCsv) csv = parse_ok(text);
  g_assert_cmpuint(csv.rows->len, ==, 0);
  g_assert_cmpuint(csv.problems->len, ==, 1);
  SrvHostCsvProblem *p = &g_array_index(csv.problems, SrvHostCsvProblem, 0);
  g_assert_cmpuint(p->line, ==, line);
  g_assert_cmpstr(p->column, ==, column);
  if (strstr(p->reason, reason_part) == NULL)
    g_error("reason “%s” does not mention “%s”", p->reason, reason_part);
}

static void
expect_malformed(const char *text, gsize len, const char *message_part)
{
  SrvHostCsv csv;
  g_autoptr(GError) error = NULL;
  g_assert_false(srv_host_csv_parse(text, len, SRV_HOST_CSV_NONE, &csv, &error));
  g_assert_error(error, SRV_HOST_CSV_ERROR, SRV_HOST_CSV_ERROR_MALFORMED);
  g_assert_null(csv.rows);
  g_assert_null(csv.problems);
  if (strstr(error->message, message_part) == NULL)
    g_error("message “%s” does not mention “%s”", error->message, message_part);
}

static void
test_good(void)
{
  g_auto(SrvHostCsv) csv = parse_ok("\xEF\xBB\xBF" "Name,Reading,EMAIL,department,channel\r\n"
                                    "山田 太郎,やまだ たろう,yamada@example.jp,総務部,email\r\n"
                                    "\r\n"
                                    "\"Suzuki, Hanako\",,suzuki@example.jp,\"R&D \"\"Lab\"\"\",none\r\n"
                                    "Tanaka,,,,webhook:https://hooks.example.jp/x");
  g_assert_cmpuint(csv.problems->len, ==, 0);
  g_assert_cmpuint(csv.rows->len, ==, 3);
  g_assert_cmpuint(row(&csv, 0)->line, ==, 2);
  g_assert_cmpstr(row(&csv, 0)->name, ==, "山田 太郎");
  g_assert_cmpstr(row(&csv, 0)->reading, ==, "やまだ たろう");
  g_assert_cmpstr(row(&csv, 0)->email, ==, "yamada@example.jp");
  g_assert_cmpstr(row(&csv, 0)->department, ==, "総務部");
  g_assert_cmpstr(row(&csv, 0)->channel, ==, "email");
  /* The empty line 3 is skipped but counted. */
  g_assert_cmpuint(row(&csv, 1)->line, ==, 4);
  g_assert_cmpstr(row(&csv, 1)->name, ==, "Suzuki, Hanako");
  g_assert_null(row(&csv, 1)->reading);
  g_assert_cmpstr(row(&csv, 1)->department, ==, "R&D \"Lab\"");
  g_assert_cmpuint(row(&csv, 2)->line, ==, 5);
  g_assert_null(row(&csv, 2)->email);
  g_assert_cmpstr(row(&csv, 2)->channel, ==, "webhook:https://hooks.example.jp/x");
}

static void
test_lf_order_and_multiline(void)
{
  /* Columns in any order, some absent; a quoted line break counts as a line. */
  g_auto(SrvHostCsv) csv = parse_ok("email,name\n"
                                    "a@example.jp,A\n"
                                    "\"b@example.jp\",\"B\"\n"
                                    "\n\n"
                                    "c@example.jp,C\n");
  g_assert_cmpuint(csv.rows->len, ==, 3);
  g_assert_cmpuint(row(&csv, 2)->line, ==, 6);
  g_assert_cmpstr(row(&csv, 2)->name, ==, "C");
  g_assert_null(row(&csv, 2)->channel);

  /* A line break inside a name is refused, and the next row's line is right. */
  g_auto(SrvHostCsv) multi = parse_ok("name\n\"two\nlines\"\nok\n\"bad\r\nagain\"\n");
  g_assert_cmpuint(multi.rows->len, ==, 0);
  g_assert_cmpuint(multi.problems->len, ==, 2);
  g_assert_cmpuint(g_array_index(multi.problems, SrvHostCsvProblem, 0).line, ==, 2);
  g_assert_cmpuint(g_array_index(multi.problems, SrvHostCsvProblem, 1).line, ==, 5);
}

static void
test_malformed(void)
{
  expect_malformed("", 0, "empty");
  expect_malformed("\n\n", 2, "empty");
  expect_malformed("name,nickname\nA,B\n", 18, "unknown column “nickname” in the header");
  expect_malformed("name,name\nA,B\n", 14, "twice");
  expect_malformed("email\na@example.jp\n", 19, "no name column");
  expect_malformed("name,reading,email,department,channel,extra\n", 44, "more columns");
  const char *unclosed = "name,email\nA,a@example.jp\n\"B,b@example.jp\n";
  expect_malformed(unclosed, strlen(unclosed), "line 3: a quoted cell is not closed");
  const char *inner = "name\nA\"B\n";
  expect_malformed(inner, strlen(inner), "line 2: a quote inside unquoted cell 1");
  const char *after = "name,email\n\"A\"x,a@example.jp\n";
  expect_malformed(after, strlen(after), "line 2: text after the closing quote");
  const char nul[] = "name\nA\0B\n";
  expect_malformed(nul, sizeof nul - 1, "NUL");
}

static void
test_each_reason(void)
{
  expect_problem("name,email\n,a@example.jp\n", 2, "name", "empty");
  expect_problem("name\n\xff\xfe\n", 2, "name", "not valid UTF-8");
  expect_problem("name,department\nA,\xe3\x81\n", 2, "department", "not valid UTF-8");
  expect_problem("name,email\nA,a@example.jp,x\n", 2, "3", "the header names 2 columns");
  expect_problem("name,email,reading\nA,a@example.jp\n", 2, "reading", "is missing");
  expect_problem("name,email\nA,not-an-address\n", 2, "email", "not an e-mail address");
  expect_problem("name,email\nA,a@example.jp\nB,A@EXAMPLE.JP\n", 3, "email", "same as on line 2");
  expect_problem("name,reading\nA,\t\n", 2, "reading", "");
  g_autofree char *long_name = g_strnfill(SRV_HOST_TEXT_MAX + 1, 'x');
  g_autofree char *text = g_strdup_printf("name\n%s\n", long_name);
  expect_problem(text, 2, "name", "");
  expect_problem("name,channel\nA,pigeon\n", 2, "channel", "must be none, email");
  expect_problem("name,channel\nA,slack\n", 2, "channel", "needs a URL");
  expect_problem("name,channel\nA,slack:http://example.com/x\n", 2, "channel", "");
  expect_problem("name,channel\nA,none:x\n", 2, "channel", "takes no address");
  expect_problem("name,channel\nA,email\n", 2, "channel", "no e-mail address");
  expect_problem("name,channel\nA,email:nope\n", 2, "channel", "e-mail");

  /* Without an SMTP relay on the server, an email channel is a bad cell too. */
  const char *mail = "name,email,channel\nA,a@example.jp,email\nB,b@example.jp,email:x@example.jp\nC,,none\n";
  g_auto(SrvHostCsv) csv = { 0 };
  g_assert_true(srv_host_csv_parse(mail, strlen(mail), SRV_HOST_CSV_NO_EMAIL, &csv, NULL));
  g_assert_cmpuint(csv.rows->len, ==, 0);
  g_assert_cmpuint(csv.problems->len, ==, 2);
  g_assert_cmpuint(g_array_index(csv.problems, SrvHostCsvProblem, 1).line, ==, 3);
  g_assert_cmpstr(g_array_index(csv.problems, SrvHostCsvProblem, 1).column, ==, "channel");
}

static void
test_every_bad_row(void)
{
  /* Every bad row is reported (one row may have several problems), in line
   * order, and no row is returned when any is bad. */
  g_auto(SrvHostCsv) csv = parse_ok("name,email,channel\n"
                                    "Good,g@example.jp,\n"
                                    ",bad,\n"
                                    "Fine,f@example.jp,none\n"
                                    "Extra,e@example.jp,none,x\n"
                                    "Chan,c@example.jp,fax\n");
  g_assert_cmpuint(csv.rows->len, ==, 0);
  g_assert_cmpuint(csv.problems->len, ==, 4);
  const guint lines[] = { 3, 3, 5, 6 };
  const char *columns[] = { "name", "email", "4", "channel" };
  for (guint i = 0; i < G_N_ELEMENTS(lines); i++) {
    SrvHostCsvProblem *p = &g_array_index(csv.problems, SrvHostCsvProblem, i);
    g_assert_cmpuint(p->line, ==, lines[i]);
    g_assert_cmpstr(p->column, ==, columns[i]);
  }
}

static void
test_channel_parse(void)
{
  g_autofree char *channel = NULL, *target = NULL;
  g_assert_true(srv_host_channel_parse("teams:https://example.webhook.office.com/a", &channel, &target, NULL));
  g_assert_cmpstr(channel, ==, "teams");
  g_assert_cmpstr(target, ==, "https://example.webhook.office.com/a");
  g_clear_pointer(&channel, g_free);
  g_clear_pointer(&target, g_free);
  g_assert_true(srv_host_channel_parse("email", &channel, &target, NULL));
  g_assert_cmpstr(channel, ==, "email");
  g_assert_null(target);
  g_clear_pointer(&channel, g_free);
  g_autoptr(GError) error = NULL;
  g_assert_false(srv_host_channel_parse("", &channel, &target, &error));
  g_assert_error(error, SRV_HOST_CSV_ERROR, SRV_HOST_CSV_ERROR_MALFORMED);
  g_assert_null(channel);
  g_assert_null(target);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/server/host-csv/good", test_good);
  g_test_add_func("/server/host-csv/lf-order-multiline", test_lf_order_and_multiline);
  g_test_add_func("/server/host-csv/malformed", test_malformed);
  g_test_add_func("/server/host-csv/each-reason", test_each_reason);
  g_test_add_func("/server/host-csv/every-bad-row", test_every_bad_row);
  g_test_add_func("/server/host-csv/channel", test_channel_parse);
  return g_test_run();
}
