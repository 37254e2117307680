/* Benchmark: CSV export of visits from a real server (GET /v1/exports/visits)
 * against the JSON visit list (GET /v1/visits, 10000 rows a page) as
 * baseline: rows per second of each, and how much the server's peak memory
 * (VmHWM) grows for the export, against the CSV's size. */
#include <stdio.h>
#include <string.h>

#include "gk-test-server.h"
#include "gk-test-util.h"
#include "srv-app.h"
#include "srv-store.h"

#define OWNER_PW "Bench-Export-Owner-1!"
#define JSON_PAGE 10000

static double
now_s(void)
{
  return (double) g_get_monotonic_time() / G_USEC_PER_SEC;
}

/* A line of /proc/PID/status in KiB, -1 when absent. */
static long
proc_kib(GkTestServer *s, const char *field)
{
  g_autofree char *path = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(s->process));
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return -1;
  g_autofree char *key = g_strdup_printf("\n%s:", field);
  const char *p = strstr(text, key);
  return p != NULL ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* @n walk-ins straight into the stopped server's store, in batches. */
static void
fill(GkTestServer *s, const char *device_id, gint64 host_id, guint n)
{
  g_autofree char *db = g_build_filename(s->data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(s->data_dir, SRV_DATA_KEK, NULL);
  g_autoptr(GError) error = NULL;
  SrvStore *store = srv_store_open(db, kek, 1, &error);
  if (store == NULL)
    g_error("open: %s", error->message);
  enum { BATCH = 500 };
  SrvEvent ev[BATCH];
  SrvEventStatus st[BATCH];
  for (guint done = 0; done < n;) {
    guint k = MIN(BATCH, n - done);
    for (guint i = 0; i < k; i++) {
      guint v = done + i;
      ev[i] = (SrvEvent) {
        .id = g_strdup_printf("evt-bench-%08u", v),
        .kind = SRV_EVENT_WALKIN,
        .device_time = 1790000000 + v * 60,
        .visit_id = g_strdup_printf("vis-%032x", v),
        .visitor_name = g_strdup_printf("来客 %u, Visitor", v),
        .company = g_strdup(v % 7 == 0 ? "=HYPERLINK(\"x\")" : "株式会社サンプル"),
        .purpose = g_strdup("打ち合わせ / meeting"),
        .host_id = host_id,
        .terms_accepted = TRUE,
      };
    }
    if (!srv_store_events_apply(store, device_id, 1, ev, k, 1790000000, st, &error))
      g_error("events: %s", error->message);
    for (guint i = 0; i < k; i++)
      srv_event_clear(&ev[i]);
    done += k;
  }
  srv_store_close(store);
}

static double
get(GkTestServer *s, const char *token, const char *path, gsize *out_bytes)
{
  GString *raw = g_string_new(NULL);
  GkTestClient c = { .ca_path = s->ca_path, .token = token, .out_raw = raw, .timeout_ms = 300000 };
  g_autofree char *url = g_strconcat(s->admin_url, path, NULL);
  double t0 = now_s();
  long status = gk_test_request(&c, "GET", url, NULL, NULL, NULL);
  double t = now_s() - t0;
  if (status != 200)
    g_error("%s: HTTP %ld: %.200s", path, status, raw->str);
  *out_bytes = raw->len;
  g_string_free(raw, TRUE);
  return t;
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && g_strcmp0(argv[1], "--quick") == 0;
  guint visits = quick ? 5000 : 50000;
  guint rounds = quick ? 2 : 5;
  GkTestServer *s = gk_test_server_init();
  gk_test_server_configure(s, "[exports]\nmax-rows = 1000000\n");
  gk_test_server_start(s);
  g_autofree char *token = gk_test_server_login_owner(s, OWNER_PW);
  GkTestClient c = { .ca_path = s->ca_path, .token = token };
  g_autofree char *url = g_strconcat(s->admin_url, "/v1/hosts", NULL);
  g_autoptr(JsonNode) reply = NULL;
  if (gk_test_request(&c, "POST", url, "{\"name\":\"佐藤 花子\"}", &reply, NULL) != 201)
    g_error("host add failed");
  gint64 host_id = gk_test_json_int(reply, "id");
  GkTestDevice *dev = gk_test_enroll_device(s, token, "Lobby", "reception");
  gk_test_server_stop(s);
  double t0 = now_s();
  fill(s, dev->device_id, host_id, visits);
  printf("bench-export%s: %u visits stored in %.1f s; data dir %s\n", quick ? " (quick)" : "", visits, now_s() - t0,
         s->data_dir);
  gk_test_server_start(s);

  long rss0 = proc_kib(s, "VmRSS"), hwm0 = proc_kib(s, "VmHWM");
  gsize csv_bytes = 0, json_bytes = 0;
  double csv_t = 0;
  for (guint r = 0; r < rounds; r++)
    csv_t += get(s, token, "/v1/exports/visits", &csv_bytes);
  long hwm1 = proc_kib(s, "VmHWM");
  double json_t = 0;
  for (guint r = 0; r < rounds; r++) {
    g_autofree char *path = g_strdup_printf("/v1/visits?limit=%u", MIN(visits, JSON_PAGE));
    json_t += get(s, token, path, &json_bytes);
  }
  long hwm2 = proc_kib(s, "VmHWM");

  double csv_rate = (double) visits * rounds / csv_t;
  double json_rate = (double) MIN(visits, JSON_PAGE) * rounds / json_t;
  printf("  CSV export  %u rows, %.1f MiB: %8.0f rows/s (%.3f s each)\n", visits, csv_bytes / 1048576.0, csv_rate,
         csv_t / rounds);
  printf("  JSON list   %u rows, %.1f MiB: %8.0f rows/s (%.3f s each)  [baseline]\n", MIN(visits, JSON_PAGE),
         json_bytes / 1048576.0, json_rate, json_t / rounds);
  printf("  ratio CSV/JSON rows per second: %.2f\n", csv_rate / json_rate);
  double grow = (double) (hwm1 - hwm0) * 1024.0;
  printf("  server memory: RSS %ld KiB idle, peak %ld KiB -> %ld KiB after the exports (+%.1f MiB), "
         "%ld KiB after the JSON lists\n", rss0, hwm0, hwm1, grow / 1048576.0, hwm2);
  printf("  peak growth / CSV size: %.2f (copies of the CSV held at once, at most)\n", grow / (double) csv_bytes);
  gk_test_device_free(dev);
  gk_test_server_free(s);
  return 0;
}
