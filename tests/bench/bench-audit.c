/* Benchmark: the audit log in the encrypted master store — appending one entry
 * per transaction (as every admin request does) against the store's own
 * one-insert write (adding a site) as baseline, and verifying the chain against
 * just reading the same entries. */
#include <stdio.h>

#include "gk-test-util.h"
#include "srv-audit.h"

static double
now_s(void)
{
  return (double) g_get_monotonic_time() / G_USEC_PER_SEC;
}

static void
append_one(SrvStore *store, guint i)
{
  g_auto(SrvAuditRow) row = {
    .at = 1700000000 + i,
    .site_id = 1,
    .actor_kind = g_strdup("account"),
    .actor = g_strdup("owner"),
    .source_ip = g_strdup("192.0.2.10"),
    .action = g_strdup("host.add"),
    .target = g_strdup_printf("%u", i),
    .result = g_strdup("ok"),
    .reason = g_strdup(""),
  };
  g_autoptr(GError) error = NULL;
  if (!srv_audit_store_append(store, &row, &error))
    g_error("append: %s", error->message);
}

/* Reads every entry in pages, as verification does, without hashing. */
static guint
read_all(SrvStore *store)
{
  guint n = 0;
  gint64 after = 0;
  for (gboolean more = TRUE; more;) {
    SrvAuditFilter filter = { .after_seq = after, .limit = 2000 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) rows = srv_audit_store_list(store, &filter, &more, &error);
    if (rows == NULL)
      g_error("list: %s", error->message);
    n += rows->len;
    if (rows->len > 0)
      after = g_array_index(rows, SrvAuditRow, rows->len - 1).seq;
  }
  return n;
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && g_strcmp0(argv[1], "--quick") == 0;
  guint appends = quick ? 300 : 5000;
  guint rounds = quick ? 3 : 10;
  g_autofree char *dir = gk_test_make_tmpdir("genkan-bench-audit");
  g_autofree char *db = g_build_filename(dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(dir, "master.kek", NULL);
  g_autoptr(GError) error = NULL;
  if (!srv_store_create(db, kek, &error))
    g_error("create: %s", error->message);
  SrvStore *store = srv_store_open(db, kek, 2, &error);
  if (store == NULL)
    g_error("open: %s", error->message);
  printf("bench-audit%s: %u appends, verify x%u, dir %s\n", quick ? " (quick)" : "", appends, rounds, dir);

  double t0 = now_s();
  for (guint i = 0; i < appends; i++) {
    g_autofree char *name = g_strdup_printf("site %u", i);
    if (!srv_store_site_add(store, name, 1700000000, NULL, &error))
      g_error("site: %s", error->message);
  }
  double base = (now_s() - t0) / appends;
  t0 = now_s();
  for (guint i = 0; i < appends; i++)
    append_one(store, i);
  double append = (now_s() - t0) / appends;
  printf("%-40s %8.0f/s   baseline (one-row write) %8.0f/s   cost x%.2f\n", "audit appends, 1 per commit",
         1 / append, 1 / base, append / base);

  double read_t = 0, verify_t = 0;
  for (guint r = 0; r < rounds; r++) {
    t0 = now_s();
    guint n = read_all(store);
    read_t += now_s() - t0;
    t0 = now_s();
    SrvAuditVerify v;
    if (!srv_audit_verify(store, &v, &error) || !v.ok || v.entries != n)
      g_error("verify failed");
    verify_t += now_s() - t0;
  }
  printf("%-40s %8.0f/s   baseline (read only)     %8.0f/s   cost x%.2f\n", "audit verify, entries", appends * rounds / verify_t,
         appends * rounds / read_t, verify_t / read_t);
  srv_store_close(store);
  gk_test_rmtree(dir);
  return 0;
}
