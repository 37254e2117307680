/* The offline verdict path: every reason, multi-entry and checkout, the queue
 * an admission leaves, the scanner-line strip, and 100,000 forged tickets. */
#include <string.h>

#include "gk-json.h"
#include "gk-test-util.h"
#include "kiosk-store.h"
#include "kiosk-verdict.h"

#define SITE 7
#define NOW G_GINT64_CONSTANT(1800000000)

typedef struct {
  char *dir;
  KioskStore *store;
  KioskGate *gate;
  GkSigningKey *key;    /* key id 1, in the store's keyring */
  GkSigningKey *other;  /* key id 1 too, but not the store's: forgeries */
  GkSigningKey *stray;  /* key id 9, unknown to the store */
} Fx;

static void
apply_json(KioskStore *s, const char *json, gint64 cursor)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = gk_json_parse_object(json, strlen(json), 1 << 20, &error);
  g_assert_no_error(error);
  g_assert_true(kiosk_store_apply_page(s, json_object_get_array_member(json_node_get_object(root), "changes"), cursor,
                                       NULL, &error));
  g_assert_no_error(error);
}

static void
fx_setup(Fx *f, gconstpointer data)
{
  f->dir = gk_test_make_tmpdir("kiosk-verdict");
  g_autoptr(GError) error = NULL;
  f->store = kiosk_store_create(f->dir, &error);
  g_assert_no_error(error);
  KioskIdentity id = { .device_id = (char *) "dev-test", .name = (char *) "Test Gate", .mode = (char *) "gate",
                       .site_id = SITE, .host = (char *) "localhost", .admin_port = 1, .device_port = 2,
                       .ca_pem = (char *) "ca", .cert_pem = (char *) "cert", .key_pem = (char *) "key" };
  g_assert_true(kiosk_store_save_identity(f->store, &id, &error));
  g_assert_no_error(error);
  guint8 seed[32];
  for (guint i = 0; i < 32; i++)
    seed[i] = (guint8) i;
  f->key = gk_signing_key_new_from_seed(1, seed);
  seed[0] ^= 0xff;
  f->other = gk_signing_key_new_from_seed(1, seed);
  seed[1] ^= 0xff;
  f->stray = gk_signing_key_new_from_seed(9, seed);
  guint8 pk[32];
  gk_signing_key_public(f->key, pk);
  g_autofree char *hex = gk_hex_encode(pk, 32);
  g_autofree char *page = g_strdup_printf("{\"changes\":[{\"seq\":1,\"type\":\"key\",\"data\":{\"key_id\":1,"
                                          "\"public_key\":\"%s\",\"retired\":false}}]}",
                                          hex);
  apply_json(f->store, page, 1);
  f->gate = kiosk_gate_new(f->store, NULL, &error);
  g_assert_no_error(error);
}

static void
fx_teardown(Fx *f, gconstpointer data)
{
  kiosk_gate_free(f->gate);
  kiosk_store_close(f->store);
  gk_signing_key_free(f->key);
  gk_signing_key_free(f->other);
  gk_signing_key_free(f->stray);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
}

static char *
make_ticket(const GkSigningKey *key, guint32 site, guint8 flags, gint64 from, gint64 until, char **out_hex)
{
  GkTicket t;
  gk_ticket_init_random(&t);
  t.site_id = site;
  t.flags = flags;
  t.valid_from = from;
  t.valid_until = until;
  if (out_hex)
    *out_hex = gk_ticket_id_to_hex(t.id);
  g_autoptr(GError) error = NULL;
  char *text = gk_ticket_encode(&t, key, &error);
  g_assert_no_error(error);
  return text;
}

static void
scan(Fx *f, const char *text, KioskVerdict *v)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_gate_scan(f->gate, text, strlen(text), NOW, v, &error));
  g_assert_no_error(error);
}

static void
expect(Fx *f, const char *text, gboolean accepted, const char *reason)
{
  KioskVerdict v;
  scan(f, text, &v);
  g_assert_cmpstr(kiosk_reason_name(v.reason), ==, reason);
  g_assert_cmpint(v.accepted, ==, accepted);
  g_assert_true(v.offline);
  kiosk_verdict_clear(&v);
}

static void
test_reasons(Fx *f, gconstpointer data)
{
  g_autofree char *hex = NULL;
  g_autofree char *ok = make_ticket(f->key, SITE, 0, NOW - 60, NOW + 3600, &hex);

  KioskVerdict v;
  scan(f, ok, &v);
  g_assert_true(v.accepted);
  g_assert_cmpstr(v.ticket_id, ==, hex);
  g_autofree char *json = kiosk_verdict_to_json(&v);
  g_autofree char *want = g_strdup_printf("{\"verdict\":\"accepted\",\"reason\":\"ok\",\"ticket_id\":\"%s\","
                                          "\"offline\":true}", hex);
  g_assert_cmpstr(json, ==, want);
  kiosk_verdict_clear(&v);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 1);

  /* Second scan at this gate: already used, by us, at about now. */
  scan(f, ok, &v);
  g_assert_false(v.accepted);
  g_assert_cmpint(v.reason, ==, KIOSK_REASON_ALREADY_USED);
  g_assert_cmpstr(v.used_by, ==, "Test Gate");
  g_assert_cmpint(v.used_at, >, 0);
  g_autofree char *json2 = kiosk_verdict_to_json(&v);
  g_assert_nonnull(strstr(json2, "\"used_by\":\"Test Gate\""));
  kiosk_verdict_clear(&v);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 1);

  g_autofree char *forged = make_ticket(f->other, SITE, 0, NOW - 60, NOW + 3600, NULL);
  expect(f, forged, FALSE, "bad-signature");
  g_autofree char *expired = make_ticket(f->key, SITE, 0, NOW - 7200, NOW - 3600, NULL);
  expect(f, expired, FALSE, "expired");
  g_autofree char *early = make_ticket(f->key, SITE, 0, NOW + 3600, NOW + 7200, NULL);
  expect(f, early, FALSE, "not-yet-valid");
  g_autofree char *elsewhere = make_ticket(f->key, SITE + 1, 0, NOW - 60, NOW + 3600, NULL);
  expect(f, elsewhere, FALSE, "wrong-site");
  g_autofree char *stray = make_ticket(f->stray, SITE, 0, NOW - 60, NOW + 3600, NULL);
  expect(f, stray, FALSE, "unknown-key");
  expect(f, "GK1:hello", FALSE, "malformed");
  expect(f, "", FALSE, "malformed");
  g_autofree char *with_lf = g_strconcat(ok, "\n", NULL);
  expect(f, with_lf, FALSE, "malformed");
  g_autofree char *huge = g_strnfill(5000, 'A');
  expect(f, huge, FALSE, "malformed");

  /* Revoked through the feed. */
  g_autofree char *rhex = NULL;
  g_autofree char *revoked = make_ticket(f->key, SITE, 0, NOW - 60, NOW + 3600, &rhex);
  g_autofree char *page = g_strdup_printf(
    "{\"changes\":[{\"seq\":2,\"type\":\"ticket\",\"data\":{\"id\":\"%s\",\"valid_from\":0,\"valid_until\":%"
    G_GINT64_FORMAT ",\"flags\":0,\"key_id\":1,\"revoked\":true,\"visitor\":\"X\",\"host_id\":null}}]}",
    rhex, NOW + 3600);
  apply_json(f->store, page, 2);
  expect(f, revoked, FALSE, "revoked");

  /* A retired key: its tickets become unknown-key (the keyring is reloaded). */
  guint8 pk[32];
  gk_signing_key_public(f->key, pk);
  g_autofree char *pkhex = gk_hex_encode(pk, 32);
  g_autofree char *retire = g_strdup_printf("{\"changes\":[{\"seq\":3,\"type\":\"key\",\"data\":{\"key_id\":1,"
                                            "\"public_key\":\"%s\",\"retired\":true}}]}",
                                            pkhex);
  apply_json(f->store, retire, 3);
  g_autofree char *after = make_ticket(f->key, SITE, 0, NOW - 60, NOW + 3600, NULL);
  expect(f, after, FALSE, "unknown-key");
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 1);
}

static void
test_multi_and_checkout(Fx *f, gconstpointer data)
{
  g_autofree char *multi = make_ticket(f->key, SITE, GK_TICKET_FLAG_MULTI_ENTRY, NOW - 60, NOW + 3600, NULL);
  for (int i = 0; i < 3; i++)
    expect(f, multi, TRUE, "ok");
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 3);

  g_autofree char *once = make_ticket(f->key, SITE, 0, NOW - 60, NOW + 3600, NULL);
  expect(f, once, TRUE, "ok");
  kiosk_gate_set_checkout(f->gate, TRUE);
  KioskVerdict v;
  scan(f, once, &v);
  g_assert_true(v.accepted);
  g_assert_true(v.checkout);
  kiosk_verdict_clear(&v);
  kiosk_gate_set_checkout(f->gate, FALSE);
  expect(f, once, FALSE, "already-used");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) events = kiosk_store_pending_events(f->store, 100, &error);
  g_assert_cmpuint(events->len, ==, 5);
  g_assert_cmpstr(((KioskEvent *) events->pdata[4])->kind, ==, "checkout");
  g_assert_cmpstr(((KioskEvent *) events->pdata[3])->kind, ==, "checkin");
}

static void
test_line_strip(void)
{
  g_assert_cmpuint(kiosk_scan_line_strip("ab\r\n", 4), ==, 2);
  g_assert_cmpuint(kiosk_scan_line_strip("ab\n", 3), ==, 2);
  g_assert_cmpuint(kiosk_scan_line_strip("ab\r", 3), ==, 2);
  g_assert_cmpuint(kiosk_scan_line_strip("ab\n\n", 4), ==, 3);
  g_assert_cmpuint(kiosk_scan_line_strip("ab  ", 4), ==, 4);
  g_assert_cmpuint(kiosk_scan_line_strip("", 0), ==, 0);
}

/* ---- 100,000 forgeries derived from one genuine ticket ---- */

static const char b45[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

static char *
mutate(GRand *r, const char *orig, gsize *out_len)
{
  gsize len = strlen(orig);
  GString *s = g_string_new(orig);
  switch (g_rand_int_range(r, 0, 6)) {
  case 0: { /* bit flips */
    guint n = (guint) g_rand_int_range(r, 1, 4);
    for (guint i = 0; i < n; i++) {
      gsize pos = (gsize) g_rand_int_range(r, 0, (gint32) len);
      s->str[pos] ^= (char) (1 << g_rand_int_range(r, 0, 8));
    }
    break;
  }
  case 1: { /* base45 character substitutions */
    guint n = (guint) g_rand_int_range(r, 1, 4);
    for (guint i = 0; i < n; i++) {
      gsize pos = (gsize) g_rand_int_range(r, 4, (gint32) len);
      s->str[pos] = b45[g_rand_int_range(r, 0, 45)];
    }
    break;
  }
  case 2: /* truncation */
    g_string_truncate(s, (gsize) g_rand_int_range(r, 0, (gint32) len));
    break;
  case 3: { /* extension */
    guint n = (guint) g_rand_int_range(r, 1, 6);
    for (guint i = 0; i < n; i++)
      g_string_append_c(s, b45[g_rand_int_range(r, 0, 45)]);
    break;
  }
  case 4: { /* random base45 with the right prefix and length */
    g_string_truncate(s, 4);
    for (gsize i = 4; i < len; i++)
      g_string_append_c(s, b45[g_rand_int_range(r, 0, 45)]);
    break;
  }
  default: { /* swap two characters */
    gsize a = (gsize) g_rand_int_range(r, 4, (gint32) len), b = (gsize) g_rand_int_range(r, 4, (gint32) len);
    char t = s->str[a];
    s->str[a] = s->str[b];
    s->str[b] = t;
    break;
  }
  }
  *out_len = s->len;
  return g_string_free(s, FALSE);
}

static void
test_forgeries(Fx *f, gconstpointer data)
{
  g_autofree char *genuine = make_ticket(f->key, SITE, 0, NOW - 60, NOW + 3600, NULL);
  GRand *r = g_rand_new_with_seed(0x6b696f73);
  guint n = g_test_thorough() ? 1000000 : 100000, same = 0, decoded_reasons[16] = { 0 };
  for (guint i = 0; i < n; i++) {
    gsize len = 0;
    g_autofree char *m = mutate(r, genuine, &len);
    if (len == strlen(genuine) && memcmp(m, genuine, len) == 0) {
      same++; /* e.g. a character swapped with an equal one: not a forgery */
      continue;
    }
    KioskVerdict v;
    g_autoptr(GError) error = NULL;
    g_assert_true(kiosk_gate_scan(f->gate, m, len, NOW, &v, &error));
    if (v.accepted)
      g_error("forgery accepted: %s", m);
    decoded_reasons[MIN((guint) v.reason, 15u)]++;
    kiosk_verdict_clear(&v);
  }
  g_rand_free(r);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 0);
  g_assert_cmpuint(decoded_reasons[KIOSK_REASON_OK], ==, 0);
  g_assert_cmpuint(decoded_reasons[KIOSK_REASON_MALFORMED], >, 0);
  g_assert_cmpuint(decoded_reasons[KIOSK_REASON_BAD_SIGNATURE], >, 0);
  if (g_test_verbose())
    g_printerr("forgeries: %u tried, %u identical skipped, malformed %u, bad-signature %u, unknown-key %u\n", n,
               same, decoded_reasons[KIOSK_REASON_MALFORMED], decoded_reasons[KIOSK_REASON_BAD_SIGNATURE],
               decoded_reasons[KIOSK_REASON_UNKNOWN_KEY]);
  /* The genuine ticket still passes: the harness did not just break the gate. */
  expect(f, genuine, TRUE, "ok");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/kiosk/verdict/reasons", Fx, NULL, fx_setup, test_reasons, fx_teardown);
  g_test_add("/kiosk/verdict/multi-and-checkout", Fx, NULL, fx_setup, test_multi_and_checkout, fx_teardown);
  g_test_add_func("/kiosk/verdict/line-strip", test_line_strip);
  g_test_add("/kiosk/verdict/forgeries", Fx, NULL, fx_setup, test_forgeries, fx_teardown);
  return g_test_run();
}
