/* Benchmark: the hosts CSV import. Parsing a file against a plain UTF-8
 * validation of the same bytes as baseline, and importing its rows in the
 * encrypted master store (one transaction, new hosts and then the same file
 * again as updates) against adding hosts one request at a time. */
#include <stdio.h>
#include <string.h>

#include "gk-test-util.h"
#include "srv-host-csv.h"
#include "srv-host-store.h"
#include "srv-store.h"

static double
now_s(void)
{
  return (double) g_get_monotonic_time() / G_USEC_PER_SEC;
}

static GString *
make_csv(guint rows)
{
  GString *csv = g_string_new("\xEF\xBB\xBF" "name,reading,email,department,channel\r\n");
  for (guint i = 0; i < rows; i++)
    g_string_append_printf(csv, "山田 太郎 %u,やまだ たろう,person%u@example.jp,\"営業部, 第%u課\",none\r\n", i, i,
                           i % 20);
  return csv;
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && g_strcmp0(argv[1], "--quick") == 0;
  guint rows = quick ? 2000 : 20000;
  guint one_by_one = quick ? 200 : 1000;
  guint rounds = quick ? 3 : 20;
  g_autoptr(GString) csv = make_csv(rows);
  printf("bench-host-import%s: %u rows, %" G_GSIZE_FORMAT " bytes\n", quick ? " (quick)" : "", rows, csv->len);

  double base_t = 0, parse_t = 0;
  for (guint r = 0; r < rounds; r++) {
    double t0 = now_s();
    if (!g_utf8_validate(csv->str + 3, (gssize) csv->len - 3, NULL))
      g_error("not UTF-8");
    base_t += now_s() - t0;
    t0 = now_s();
    g_auto(SrvHostCsv) parsed = { 0 };
    g_autoptr(GError) error = NULL;
    if (!srv_host_csv_parse(csv->str, csv->len, SRV_HOST_CSV_NONE, &parsed, &error) || parsed.rows->len != rows)
      g_error("parse: %s", error != NULL ? error->message : "rows missing");
    parse_t += now_s() - t0;
  }
  double mib = (double) csv->len * rounds / (1024.0 * 1024.0);
  printf("%-40s %8.1f MiB/s baseline (UTF-8 check)  %8.1f MiB/s cost x%.1f\n", "CSV parse and check", mib / parse_t,
         mib / base_t, parse_t / base_t);

  g_autofree char *dir = gk_test_make_tmpdir("genkan-bench-hosts");
  g_autofree char *db = g_build_filename(dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(dir, "master.kek", NULL);
  g_autoptr(GError) error = NULL;
  gint64 site = 0, other = 0;
  if (!srv_store_create(db, kek, &error))
    g_error("create: %s", error->message);
  SrvStore *store = srv_store_open(db, kek, 2, &error);
  if (store == NULL || !srv_store_site_add(store, "Main", 1, &site, &error) ||
      !srv_store_site_add(store, "Other", 1, &other, &error))
    g_error("open: %s", error->message);

  /* Baseline: hosts added one request (one transaction) at a time, on another site. */
  double t0 = now_s();
  for (guint i = 0; i < one_by_one; i++) {
    g_autofree char *name = g_strdup_printf("Host %u", i);
    g_autofree char *email = g_strdup_printf("host%u@example.jp", i);
    SrvHostFields f = { .name = name, .email = email, .department = "営業部" };
    SrvHostWritten w = { 0 };
    if (!srv_host_store_add(store, other, &f, 1, &w, &error))
      g_error("add: %s", error->message);
  }
  double add_rate = one_by_one / (now_s() - t0);

  g_auto(SrvHostCsv) parsed = { 0 };
  if (!srv_host_csv_parse(csv->str, csv->len, SRV_HOST_CSV_NONE, &parsed, &error))
    g_error("parse: %s", error->message);
  const char *labels[] = { "import, dry run (rows)", "import, new hosts (rows)", "import again, updates (rows)" };
  const gboolean dry[] = { TRUE, FALSE, FALSE };
  for (guint k = 0; k < G_N_ELEMENTS(labels); k++) {
    g_autoptr(GArray) written = NULL;
    t0 = now_s();
    if (!srv_host_store_import(store, site, parsed.rows, dry[k], 1, &written, &error) || written->len != rows)
      g_error("import: %s", error != NULL ? error->message : "rows missing");
    double rate = rows / (now_s() - t0);
    printf("%-40s %8.0f/s    baseline (one add each) %8.0f/s   x%.1f faster\n", labels[k], rate, add_rate,
           rate / add_rate);
  }
  srv_store_close(store);
  gk_test_rmtree(dir);
  return 0;
}
