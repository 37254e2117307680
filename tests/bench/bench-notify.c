/* Notification outbox benchmark on loopback: a real genkan-server and the test
 * webhook receiver (tests/integration/notify-receiver.py, plain HTTP, signature
 * checked). Prints notifications per second from pushed check-ins through the
 * outbox to the receiver, and check-in-to-delivery latency (online redeem sent
 * → webhook arrived) p50/p99; each next to a baseline measured in the same run
 * against the same receiver: raw keep-alive curl POSTs of the same body, from as
 * many threads as the server has senders. --quick for CI. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "gk-json.h"
#include "gk-test-server.h"
#include "gk-test-util.h"

#define OWNER_PW "B3nch-Owner-Passw0rd!"
#define SECRET "bench-secret-0123456789abcdef"
#define SENDERS 2
#define PUSH_BATCH 500

static char *rlog;

static double
now_s(void)
{
  return (double) g_get_real_time() / G_USEC_PER_SEC;
}

static void
die_with_parent(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
start_receiver(const char *dir, guint16 *out_port)
{
  g_autofree char *port_file = g_build_filename(dir, "receiver.port", NULL);
  g_autofree char *script = g_build_filename(GK_SOURCE_DIR, "tests", "integration", "notify-receiver.py", NULL);
  const char *py = g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/bin/python3" : "python3";
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
  g_autoptr(GError) error = NULL;
  GSubprocess *p = g_subprocess_launcher_spawn(l, &error, py, script, "--port-file", port_file, "--log", rlog,
                                               "--secret", SECRET, "--max-seconds", "900", NULL);
  g_assert_no_error(error);
  for (int i = 0; i < 200; i++) {
    g_autofree char *text = NULL;
    if (g_file_get_contents(port_file, &text, NULL, NULL)) {
      *out_port = (guint16) g_ascii_strtoull(text, NULL, 10);
      return p;
    }
    g_usleep(50000);
  }
  g_error("the receiver did not start");
}

/* Receiver rows: path, arrival time, and the body's data.ticket_id (or key). */
typedef struct {
  char *path;
  char *ticket;  /* data.ticket_id of the body */
  char *key;     /* Genkan-Idempotency-Key */
  double t;
} Row;

static GArray *
read_rows(void)
{
  GArray *rows = g_array_new(FALSE, TRUE, sizeof(Row));
  g_autofree char *text = NULL;
  if (!g_file_get_contents(rlog, &text, NULL, NULL))
    return rows;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr(JsonNode) n = lines[i][0] ? gk_json_parse_object(lines[i], strlen(lines[i]), 1 << 20, NULL) : NULL;
    if (n == NULL)
      continue;
    JsonObject *o = json_node_get_object(n);
    Row r = { g_strdup(json_object_get_string_member(o, "path")), NULL,
              g_strdup(json_object_get_string_member(o, "key")), json_object_get_double_member(o, "t") };
    const char *body = json_object_get_string_member(o, "body");
    g_autoptr(JsonNode) b = gk_json_parse_object(body, strlen(body), 1 << 20, NULL);
    JsonObject *data = b != NULL && json_object_has_member(json_node_get_object(b), "data")
                         ? json_object_get_object_member(json_node_get_object(b), "data") : NULL;
    if (data != NULL && json_object_has_member(data, "ticket_id"))
      r.ticket = g_strdup(json_object_get_string_member(data, "ticket_id"));
    g_array_append_val(rows, r);
  }
  return rows;
}

static void
rows_free(GArray *rows)
{
  for (guint i = 0; i < rows->len; i++) {
    g_free(g_array_index(rows, Row, i).path);
    g_free(g_array_index(rows, Row, i).ticket);
    g_free(g_array_index(rows, Row, i).key);
  }
  g_array_unref(rows);
}

static guint
count_at(GArray *rows, const char *path)
{
  guint n = 0;
  for (guint i = 0; i < rows->len; i++)
    n += g_strcmp0(g_array_index(rows, Row, i).path, path) == 0;
  return n;
}

/* Waits until @n rows at @path arrived (FALSE after @seconds). */
static gboolean
wait_for(const char *path, guint n, double seconds)
{
  double until = now_s() + seconds;
  while (now_s() < until) {
    GArray *rows = read_rows();
    guint have = count_at(rows, path);
    rows_free(rows);
    if (have >= n)
      return TRUE;
    g_usleep(20000);
  }
  return FALSE;
}

static int
cmp_double(gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile(GArray *v, double p)
{
  g_array_sort(v, cmp_double);
  guint i = (guint) (p * (v->len - 1) + 0.5);
  return g_array_index(v, double, MIN(i, v->len - 1));
}

/* ---- baseline: raw POSTs of a webhook-sized body ------------------------------------- */

typedef struct {
  guint16 port;
  guint first, count;
  const char *body;
  GArray *sent;  /* double: send time per request (latency baseline), or NULL */
  guint failed;
} RawWork;

static size_t
discard(char *p, size_t s, size_t n, void *u)
{
  return s * n;
}

static gpointer
raw_posts(gpointer data)
{
  RawWork *w = data;
  CURL *curl = curl_easy_init();
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/raw", w->port);
  for (guint i = 0; i < w->count; i++) {
    g_autofree char *key = g_strdup_printf("Genkan-Idempotency-Key: raw-%u", w->first + i);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, key);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, w->body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    if (w->sent != NULL) {
      double t = now_s();
      g_array_append_val(w->sent, t);
    }
    long status = 0;
    if (curl_easy_perform(curl) != CURLE_OK || (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status), status != 200))
      w->failed++;
    curl_slist_free_all(h);
  }
  curl_easy_cleanup(curl);
  return NULL;
}

/* ---- the run ------------------------------------------------------------------------------- */

static long
admin(GkTestServer *s, const char *token, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = s->ca_path, .token = token };
  g_autofree char *url = g_strconcat(s->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (argc > 1 && !quick) {
    fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
    return 2;
  }
  guint n_push = quick ? 200 : 2000;
  guint n_latency = quick ? 20 : 200;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  g_autofree char *dir = gk_test_make_tmpdir("genkan-bench-notify");
  rlog = g_build_filename(dir, "receiver.jsonl", NULL);
  guint16 port = 0;
  GSubprocess *receiver = start_receiver(dir, &port);

  GkTestServer *s = gk_test_server_init();
  g_autofree char *config = g_strdup_printf("[notify]\nsenders = %d\nretry-base-s = 1\nretry-max-s = 2\n", SENDERS);
  gk_test_server_configure(s, config);
  gk_test_server_start(s);
  g_autofree char *token = gk_test_server_login_owner(s, OWNER_PW);
  GkTestDevice *dev = gk_test_enroll_device(s, token, "Bench lobby", "reception");
  g_autoptr(JsonNode) host = NULL;
  g_assert_cmpint(admin(s, token, "POST", "/v1/hosts", "{\"name\":\"Bench Host\"}", &host), ==, 201);
  g_autofree char *setting = g_strdup_printf("{\"channel\":\"webhook\",\"target\":\"http://127.0.0.1:%u/hook\","
                                             "\"secret\":\"%s\",\"language\":\"en\"}", port, SECRET);
  g_assert_cmpint(admin(s, token, "POST", "/v1/notify/default", setting, NULL), ==, 200);

  printf("bench-notify (%s): %u pushed check-ins, %u online check-ins, %d senders, receiver %s\n",
         quick ? "quick" : "full", n_push, n_latency, SENDERS, "notify-receiver.py (HTTP/1.1 keep-alive, HMAC check)");

  /* Tickets first, so issuing them is not timed. */
  guint total = n_push + n_latency;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func(g_free);
  gint64 host_id = gk_test_json_int(host, "id");
  for (guint i = 0; i < total; i++) {
    g_autofree char *req = g_strdup_printf("{\"visitor\":\"Bench Visitor %u\",\"company\":\"Bench Co\",\"host\":\"%"
                                           G_GINT64_FORMAT "\"}", i, host_id);
    g_autoptr(JsonNode) t = NULL;
    g_assert_cmpint(admin(s, token, "POST", "/v1/tickets", req, &t), ==, 201);
    g_ptr_array_add(ids, g_strdup(gk_test_json_str(t, "ticket_id")));
    g_ptr_array_add(texts, g_strdup(gk_test_json_str(t, "text")));
  }
  GkTestClient dc = { .ca_path = s->ca_path, .cert_pem = dev->cert_pem, .key_pem = dev->key_pem,
                      .timeout_ms = 60000 };
  g_autofree char *push_url = g_strconcat(s->device_url, "/v1/sync/push", NULL);
  g_autofree char *redeem_url = g_strconcat(s->device_url, "/v1/redeem", NULL);
  int failures = 0;

  /* 1. Throughput: every check-in pushed at once, then drained by the senders. */
  double t0 = now_s();
  gint64 at = g_get_real_time() / G_USEC_PER_SEC;
  for (guint from = 0; from < n_push; from += PUSH_BATCH) {
    GString *b = g_string_new("{\"events\":[");
    for (guint i = from; i < MIN(from + PUSH_BATCH, n_push); i++)
      g_string_append_printf(b, "%s{\"id\":\"bench-ev-%06u\",\"kind\":\"checkin\",\"ticket_id\":\"%s\",\"at\":%"
                             G_GINT64_FORMAT ",\"offline\":true}", i > from ? "," : "", i,
                             (char *) ids->pdata[i], at);
    g_string_append(b, "]}");
    g_assert_cmpint(gk_test_request(&dc, "POST", push_url, b->str, NULL, NULL), ==, 200);
    g_string_free(b, TRUE);
  }
  double pushed = now_s();
  if (!wait_for("/hook", n_push, 300)) {
    printf("FAILED: not every pushed check-in was delivered within 300 s\n");
    failures++;
  }
  GArray *rows = read_rows();
  double last = t0;
  for (guint i = 0; i < rows->len; i++)
    last = MAX(last, g_array_index(rows, Row, i).t);
  guint delivered = count_at(rows, "/hook");
  rows_free(rows);
  double outbox_rate = delivered / (last - t0);
  printf("  outbox: %u check-ins pushed in %.2f s, all %u delivered after %.2f s: %.0f notifications/s\n", n_push,
         pushed - t0, delivered, last - t0, outbox_rate);

  /* Baseline: the same number of raw POSTs of a webhook-sized body. */
  g_autofree char *sample = g_strdup_printf(
    "{\"id\":\"ntf-0123456789abcdef0123456789abcdef\",\"type\":\"visitor.checked_in\",\"created_at\":%" G_GINT64_FORMAT
    ",\"site_id\":1,\"language\":\"en\",\"subject\":\"Visitor arrived: Bench Visitor 1\",\"text\":\"Bench Visitor 1 "
    "(Bench Co) has arrived at Bench lobby to see Bench Host (2026-11-22 09:00 JST).\",\"data\":{\"visitor\":\"Bench "
    "Visitor 1\",\"company\":\"Bench Co\",\"host\":\"Bench Host\",\"location\":\"Bench lobby\",\"device_id\":\"dev-x\","
    "\"at\":%" G_GINT64_FORMAT ",\"ticket_id\":\"0123456789abcdef0123456789abcdef\"}}", at, at);
  RawWork work[SENDERS];
  GThread *threads[SENDERS];
  double r0 = now_s();
  for (guint i = 0; i < SENDERS; i++) {
    work[i] = (RawWork){ port, i * (n_push / SENDERS), n_push / SENDERS, sample, NULL, 0 };
    threads[i] = g_thread_new("raw", raw_posts, &work[i]);
  }
  guint raw_failed = 0;
  for (guint i = 0; i < SENDERS; i++) {
    g_thread_join(threads[i]);
    raw_failed += work[i].failed;
  }
  double raw_rate = (SENDERS * (n_push / SENDERS)) / (now_s() - r0);
  printf("  baseline: %u raw POSTs from %d threads: %.0f requests/s%s\n", SENDERS * (n_push / SENDERS), SENDERS,
         raw_rate, raw_failed ? " (SOME FAILED)" : "");
  printf("  ratio outbox / raw POSTs: %.2f\n", outbox_rate / raw_rate);

  /* 2. Latency: online check-ins one at a time, each until its webhook arrives. */
  g_autoptr(GArray) sent = g_array_new(FALSE, FALSE, sizeof(double));
  g_autoptr(GArray) answered = g_array_new(FALSE, FALSE, sizeof(double));
  for (guint i = 0; i < n_latency; i++) {
    guint k = n_push + i;
    g_autofree char *body = g_strdup_printf("{\"ticket\":\"%s\",\"event_id\":\"bench-rd-%06u\",\"at\":%" G_GINT64_FORMAT
                                            "}", (char *) texts->pdata[k], k, g_get_real_time() / G_USEC_PER_SEC);
    double t = now_s();
    g_array_append_val(sent, t);
    g_autoptr(JsonNode) reply = NULL;
    if (gk_test_request(&dc, "POST", redeem_url, body, &reply, NULL) != 200 ||
        !json_object_get_boolean_member(json_node_get_object(reply), "host_notified"))
      failures++;
    double answer_ms = (now_s() - t) * 1000;
    g_array_append_val(answered, answer_ms);
    if (!wait_for("/hook", n_push + i + 1, 30)) {
      printf("FAILED: online check-in %u was not delivered within 30 s\n", i);
      failures++;
      break;
    }
  }
  rows = read_rows();
  g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(double));
  for (guint i = 0; i < rows->len; i++) {
    Row *r = &g_array_index(rows, Row, i);
    for (guint k = 0; k < n_latency && k < sent->len; k++)
      if (g_strcmp0(r->path, "/hook") == 0 && g_strcmp0(r->ticket, ids->pdata[n_push + k]) == 0) {
        double ms = (r->t - g_array_index(sent, double, k)) * 1000;
        g_array_append_val(lat, ms);
      }
  }
  rows_free(rows);
  if (lat->len > 0) {
    printf("  check-in → delivery (online redeem sent → webhook arrived): p50 %.1f ms  p99 %.1f ms  (%u)\n",
           percentile(lat, 0.5), percentile(lat, 0.99), lat->len);
    printf("    of which the redeem request itself (new TLS connection each): p50 %.1f ms  p99 %.1f ms\n",
           percentile(answered, 0.5), percentile(answered, 0.99));
  }

  /* Baseline latency: one raw POST, send → arrival at the receiver. */
  g_autoptr(GArray) raw_sent = g_array_new(FALSE, FALSE, sizeof(double));
  RawWork one = { port, 1000000, n_latency, sample, raw_sent, 0 };
  raw_posts(&one);
  rows = read_rows();
  g_autoptr(GArray) raw_lat = g_array_new(FALSE, FALSE, sizeof(double));
  for (guint i = 0; i < rows->len; i++) {
    Row *r = &g_array_index(rows, Row, i);
    if (g_strcmp0(r->path, "/raw") == 0 && g_str_has_prefix(r->key, "raw-")) {
      guint64 k = g_ascii_strtoull(r->key + 4, NULL, 10);
      if (k >= 1000000 && k - 1000000 < raw_sent->len) {
        double ms = (r->t - g_array_index(raw_sent, double, k - 1000000)) * 1000;
        g_array_append_val(raw_lat, ms);
      }
    }
  }
  rows_free(rows);
  if (raw_lat->len > 0)
    printf("  baseline raw POST → arrival: p50 %.1f ms  p99 %.1f ms  (%u)\n", percentile(raw_lat, 0.5),
           percentile(raw_lat, 0.99), raw_lat->len);

  gk_test_device_free(dev);
  gk_test_server_free(s);
  g_subprocess_force_exit(receiver);
  g_subprocess_wait(receiver, NULL, NULL);
  g_object_unref(receiver);
  gk_test_rmtree(dir);
  g_free(rlog);
  curl_global_cleanup();
  if (failures > 0)
    printf("FAILED: %d problems\n", failures);
  return failures > 0 ? 1 : 0;
}
