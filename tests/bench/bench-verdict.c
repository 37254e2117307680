/* Scan-to-verdict time of the kiosk engine, p50/p99: offline (no server) with
 * and without QR decoding of a PNG, and online against a real genkan-server on
 * loopback (redeem over a kept-alive TLS connection). "--quick" for CTest. */
#include <stdio.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-qr.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "kiosk-net.h"
#include "kiosk-scanner.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"
#include "kiosk-verdict.h"

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
report(const char *what, GArray *ms)
{
  g_array_sort(ms, cmp_double);
  double p50 = g_array_index(ms, double, ms->len / 2);
  double p99 = g_array_index(ms, double, MIN(ms->len - 1, ms->len * 99 / 100));
  printf("%-44s n=%-5u p50 %8.3f ms   p99 %8.3f ms\n", what, ms->len, p50, p99);
}

static void
apply_key(KioskStore *s, const GkSigningKey *key)
{
  guint8 pk[32];
  gk_signing_key_public(key, pk);
  g_autofree char *hex = gk_hex_encode(pk, 32);
  g_autofree char *page = g_strdup_printf("{\"changes\":[{\"seq\":1,\"type\":\"key\",\"data\":{\"key_id\":%u,"
                                          "\"public_key\":\"%s\",\"retired\":false}}]}",
                                          gk_signing_key_id(key), hex);
  g_autoptr(JsonNode) root = gk_json_parse_object(page, strlen(page), 4096, NULL);
  g_assert_true(kiosk_store_apply_page(s, json_object_get_array_member(json_node_get_object(root), "changes"), 1,
                                       NULL, NULL));
}

static void
bench_offline(guint n, const char *tmp)
{
  g_autofree char *dir = g_build_filename(tmp, "offline", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskStore) store = kiosk_store_create(dir, &error);
  g_assert_no_error(error);
  KioskIdentity id = { .device_id = (char *) "dev-bench", .name = (char *) "Bench", .mode = (char *) "gate",
                       .site_id = 3, .host = (char *) "localhost", .admin_port = 1, .device_port = 2,
                       .ca_pem = (char *) "-", .cert_pem = (char *) "-", .key_pem = (char *) "-" };
  g_assert_true(kiosk_store_save_identity(store, &id, &error));
  g_autoptr(GkSigningKey) key = gk_signing_key_generate(1);
  apply_key(store, key);
  g_autoptr(KioskGate) gate = kiosk_gate_new(store, NULL, &error);
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;

  g_autoptr(GArray) plain = g_array_new(FALSE, FALSE, sizeof(double));
  g_autoptr(GArray) rejected = g_array_new(FALSE, FALSE, sizeof(double));
  g_autoptr(GArray) qr = g_array_new(FALSE, FALSE, sizeof(double));
  g_autofree char *png = g_build_filename(tmp, "t.png", NULL);
  for (guint i = 0; i < n; i++) {
    GkTicket t;
    gk_ticket_init_random(&t);
    t.site_id = 3;
    t.valid_from = now - 60;
    t.valid_until = now + 3600;
    g_autofree char *text = gk_ticket_encode(&t, key, NULL);
    KioskVerdict v;
    /* Accepted: verify + local lookups + a durable (fsync'd) event. */
    gint64 t0 = g_get_monotonic_time();
    g_assert_true(kiosk_gate_scan(gate, text, strlen(text), 0, &v, NULL));
    double ms = (double) (g_get_monotonic_time() - t0) / 1000.0;
    g_assert_true(v.accepted);
    kiosk_verdict_clear(&v);
    g_array_append_val(plain, ms);
    /* Rejected (already used): no write. */
    t0 = g_get_monotonic_time();
    g_assert_true(kiosk_gate_scan(gate, text, strlen(text), 0, &v, NULL));
    ms = (double) (g_get_monotonic_time() - t0) / 1000.0;
    g_assert_false(v.accepted);
    kiosk_verdict_clear(&v);
    g_array_append_val(rejected, ms);
    if (i < n / 4 + 1) {
      /* A fresh ticket through the PNG decoder and the verdict path. */
      GkTicket t2 = t;
      gk_ticket_init_random(&t2);
      t2.site_id = 3;
      t2.valid_from = now - 60;
      t2.valid_until = now + 3600;
      g_autofree char *text2 = gk_ticket_encode(&t2, key, NULL);
      g_assert_true(gk_qr_write_png(text2, png, 4, NULL));
      g_autofree char *decoded = NULL;
      t0 = g_get_monotonic_time();
      g_assert_true(kiosk_scan_image_file(png, &decoded, NULL));
      g_assert_true(kiosk_gate_scan(gate, decoded, strlen(decoded), 0, &v, NULL));
      ms = (double) (g_get_monotonic_time() - t0) / 1000.0;
      g_assert_true(v.accepted);
      kiosk_verdict_clear(&v);
      g_array_append_val(qr, ms);
    }
  }
  report("offline, accepted (decode excluded)", plain);
  report("offline, already-used (decode excluded)", rejected);
  report("offline, accepted, PNG + QR decode included", qr);
}

static void
bench_online(guint n, const char *tmp)
{
  GkTestServer *server = gk_test_server_init();
  gk_test_server_start(server);
  g_autofree char *token = gk_test_server_login_owner(server, "B3nch-Owner-Passw0rd!");
  GkTestDevice *dev = gk_test_enroll_device(server, token, "bench", "gate");
  g_autofree char *ca = NULL;
  g_assert_true(g_file_get_contents(server->ca_path, &ca, NULL, NULL));

  g_autofree char *dir = g_build_filename(tmp, "online", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskStore) store = kiosk_store_create(dir, &error);
  g_assert_no_error(error);
  KioskIdentity id = { .device_id = dev->device_id, .name = (char *) "bench", .mode = (char *) "gate",
                       .site_id = dev->site_id, .host = (char *) "localhost", .admin_port = server->admin_port,
                       .device_port = server->device_port, .ca_pem = ca, .cert_pem = dev->cert_pem,
                       .key_pem = dev->key_pem };
  g_assert_true(kiosk_store_save_identity(store, &id, &error));
  g_autoptr(KioskClient) client =
    kiosk_client_new("localhost", server->admin_port, server->device_port, ca, dev->cert_pem, dev->key_pem);
  KioskSyncSummary sum = { 0 };
  g_assert_true(kiosk_sync_pull(store, client, NULL, NULL, &sum, &error));
  g_assert_no_error(error);

  /* Tickets through the admin API (the server signs them). */
  GkTestClient admin = { .ca_path = server->ca_path, .token = token };
  g_autofree char *hosts_url = g_strconcat(server->admin_url, "/v1/hosts", NULL);
  g_autoptr(JsonNode) h = NULL;
  g_assert_cmpint(gk_test_request(&admin, "POST", hosts_url, "{\"name\":\"Bench Host\"}", &h, NULL), ==, 201);
  g_autofree char *req = g_strdup_printf("{\"visitor\":\"B\",\"host\":\"%" G_GINT64_FORMAT "\"}",
                                         gk_test_json_int(h, "id"));
  g_autofree char *tickets_url = g_strconcat(server->admin_url, "/v1/tickets", NULL);
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < n; i++) {
    g_autoptr(JsonNode) t = NULL;
    g_assert_cmpint(gk_test_request(&admin, "POST", tickets_url, req, &t, NULL), ==, 201);
    g_ptr_array_add(texts, g_strdup(gk_test_json_str(t, "text")));
  }
  g_autoptr(KioskGate) gate = kiosk_gate_new(store, client, &error);
  /* A generous timeout: the figure is the time an answer takes, not a cut-off. */
  kiosk_gate_set_redeem_timeout(gate, 5000);
  g_autoptr(GArray) acc = g_array_new(FALSE, FALSE, sizeof(double));
  g_autoptr(GArray) used = g_array_new(FALSE, FALSE, sizeof(double));
  guint offline = 0;
  for (guint i = 0; i < n; i++) {
    const char *text = texts->pdata[i];
    KioskVerdict v;
    gint64 t0 = g_get_monotonic_time();
    g_assert_true(kiosk_gate_scan(gate, text, strlen(text), 0, &v, NULL));
    double ms = (double) (g_get_monotonic_time() - t0) / 1000.0;
    g_assert_true(v.accepted);
    offline += v.offline;
    kiosk_verdict_clear(&v);
    if (i > 0) /* the first one pays the TLS handshake */
      g_array_append_val(acc, ms);
    t0 = g_get_monotonic_time();
    g_assert_true(kiosk_gate_scan(gate, text, strlen(text), 0, &v, NULL));
    ms = (double) (g_get_monotonic_time() - t0) / 1000.0;
    g_assert_cmpint(v.reason, ==, KIOSK_REASON_ALREADY_USED);
    kiosk_verdict_clear(&v);
    g_array_append_val(used, ms);
  }
  g_assert_cmpuint(offline, ==, 0);
  report("online, accepted (redeem, keep-alive)", acc);
  report("online, already-used (redeem)", used);
  gk_test_device_free(dev);
  gk_test_server_stop(server);
  gk_test_server_free(server);
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (argc > 2 || (argc == 2 && !quick)) {
    fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
    return 2;
  }
  gk_log_set_level(GK_LOG_WARNING);
  g_autofree char *tmp = gk_test_make_tmpdir("bench-verdict");
  bench_offline(quick ? 100 : 1000, tmp);
  bench_online(quick ? 50 : 300, tmp);
  gk_test_rmtree(tmp);
  return 0;
}
