/* The notification outbox on a real encrypted master store: settings (host,
 * default, the host's own address), queueing in the check-in transaction
 * (online, pushed, one-time vs multi-entry, replays), claims with a lease (a
 * crashed sender's claim runs out), outcomes, manual retry, double-entry and
 * device-offline alerts, purge. */
#include <string.h>

#include "gk-test-util.h"
#include "gk-ticket.h"
#include "srv-outbox.h"
#include "srv-store.h"

#define NOW ((gint64) 1700000000)

typedef struct {
  char *dir;
  SrvStore *store;
  gint64 site;
  gint64 host;       /* has a webhook */
  gint64 mail_host;  /* uses the site default (email, own address) */
  gint64 silent;     /* has channel none */
} Fixture;

static void
add_device(Fixture *f, const char *id, const char *name, guint8 n)
{
  g_autoptr(GError) error = NULL;
  guint8 token[32];
  memset(token, n, sizeof token);
  g_assert_true(srv_store_enroll_code_add(f->store, token, f->site, name, "gate", NOW, NOW + 600, &error));
  guint8 serial_bytes[4] = { 9, 9, 9, n };
  g_autoptr(GBytes) serial = g_bytes_new(serial_bytes, sizeof serial_bytes);
  SrvDevice d = { 0 };
  g_assert_true(srv_store_enroll_code_redeem(f->store, token, NOW + 1, id, serial, NOW + 86400, &d, &error));
  g_assert_no_error(error);
  srv_device_clear(&d);
}

static gint64
add_host(Fixture *f, const char *name, const char *email)
{
  g_autoptr(GError) error = NULL;
  SrvHost h = { .site_id = f->site, .name = (char *) name, .email = (char *) email };
  gint64 id = 0;
  g_assert_true(srv_store_host_add(f->store, &h, NOW, &id, &error));
  return id;
}

static void
set(Fixture *f, const char *scope, gint64 host_id, const char *channel, const char *target, const char *secret,
    gint64 offline_after_s)
{
  g_autoptr(GError) error = NULL;
  SrvNotifySetting s = {
    .site_id = f->site, .scope = (char *) scope, .host_id = host_id, .channel = (char *) channel,
    .target = (char *) target, .language = (char *) "en", .offline_after_s = offline_after_s,
  };
  g_assert_true(srv_outbox_setting_set(f->store, &s, secret, NOW, &error));
  g_assert_no_error(error);
}

static void
add_ticket(Fixture *f, guint8 n, gint64 host, guint flags, guint8 out[16])
{
  g_autoptr(GError) error = NULL;
  SrvTicket t = { 0 };
  memset(t.id, n, 16);
  t.site_id = f->site;
  t.host_id = host;
  t.visitor_name = (char *) "Suzuki Hanako";
  t.company = (char *) "ACME";
  t.valid_from = NOW - 3600;
  t.valid_until = NOW + 3600;
  t.flags = flags;
  t.key_id = 1;
  t.text = (char *) "GK1:TEST";
  t.created_at = NOW;
  g_assert_true(srv_store_ticket_add(f->store, &t, &error));
  g_assert_no_error(error);
  memcpy(out, t.id, 16);
}

static void
setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = gk_test_make_tmpdir("genkan-outbox");
  g_autofree char *db = g_build_filename(f->dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(f->dir, "master.kek", NULL);
  g_assert_true(srv_store_create(db, kek, &error));
  f->store = srv_store_open(db, kek, 2, &error);
  g_assert_no_error(error);
  g_assert_true(srv_store_site_add(f->store, "HQ", NOW, &f->site, &error));
  add_device(f, "dev-1", "Lobby", 1);
  add_device(f, "dev-2", "Gate 2", 2);
  f->host = add_host(f, "Yamada", NULL);
  f->mail_host = add_host(f, "Ito", "ito@example.com");
  f->silent = add_host(f, "Quiet", "quiet@example.com");
  set(f, "host", f->host, "webhook", "https://hooks.example.com/y", "secret-0123456789ab", 0);
  set(f, "default", 0, "email", NULL, NULL, 0);
  set(f, "host", f->silent, "none", NULL, NULL, 0);
}

static void
teardown(Fixture *f, gconstpointer data)
{
  srv_store_close(f->store);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
}

static GArray *
claim(Fixture *f, gint64 now, guint max)
{
  g_autoptr(GError) error = NULL;
  GArray *due = srv_outbox_claim(f->store, now, 30, max, &error);
  g_assert_no_error(error);
  return due;
}

static guint
count(Fixture *f, gboolean failed_only)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) list = srv_outbox_list(f->store, f->site, failed_only, 1000, &error);
  g_assert_no_error(error);
  return list->len;
}

static void
test_queue_on_checkin(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint8 t1[16], t2[16], t3[16], multi[16];
  add_ticket(f, 0x11, f->host, 0, t1);
  add_ticket(f, 0x22, f->mail_host, 0, t2);
  add_ticket(f, 0x33, f->silent, 0, t3);
  add_ticket(f, 0x44, f->host, GK_TICKET_FLAG_MULTI_ENTRY, multi);

  SrvRedeemOutcome o = { 0 };
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, t1, "ev-online-1", NOW, NOW, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ACCEPTED);
  g_assert_true(o.host_notified);
  srv_redeem_outcome_clear(&o);
  /* The same request again: the same answer, nothing new queued. */
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, t1, "ev-online-1", NOW, NOW + 1, &o, &error));
  g_assert_true(o.host_notified);
  srv_redeem_outcome_clear(&o);
  /* A host with channel none hears nothing; the kiosk is told so. */
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, t3, "ev-online-3", NOW, NOW, &o, &error));
  g_assert_cmpint(o.result, ==, SRV_REDEEM_ACCEPTED);
  g_assert_false(o.host_notified);
  srv_redeem_outcome_clear(&o);
  g_assert_cmpuint(count(f, FALSE), ==, 1);

  /* Pushed: the default (email to the host's own address) and a multi-entry
   * ticket twice (each check-in notifies). */
  SrvEvent evs[3] = { 0 };
  const char *ids[] = { "ev-push-1", "ev-push-2", "ev-push-3" };
  const guint8 *tickets[] = { t2, multi, multi };
  for (guint i = 0; i < 3; i++) {
    evs[i].id = (char *) ids[i];
    evs[i].kind = SRV_EVENT_CHECKIN;
    evs[i].has_ticket = TRUE;
    memcpy(evs[i].ticket_id, tickets[i], 16);
    evs[i].device_time = NOW + i;
    evs[i].offline = TRUE;
  }
  SrvEventStatus st[3];
  gboolean notified[3];
  g_assert_true(srv_store_events_apply_full(f->store, "dev-1", f->site, evs, 3, NOW + 10, st, notified, &error));
  g_assert_no_error(error);
  g_assert_true(notified[0] && notified[1] && notified[2]);
  /* Replayed batch: duplicates, nothing queued. */
  g_assert_true(srv_store_events_apply_full(f->store, "dev-1", f->site, evs, 3, NOW + 11, st, notified, &error));
  g_assert_cmpint(st[0], ==, SRV_EVENT_DUPLICATE);
  g_assert_false(notified[0] || notified[1] || notified[2]);
  g_assert_cmpuint(count(f, FALSE), ==, 4);

  /* A second gate admitted t2 offline: a conflict notifies no host again;
   * with no security channel, no alert is queued either. */
  SrvEvent late = evs[0];
  late.id = (char *) "ev-gate-2";
  late.device_time = NOW + 50;
  g_assert_true(srv_store_events_apply_full(f->store, "dev-2", f->site, &late, 1, NOW + 60, st, notified, &error));
  g_assert_cmpint(st[0], ==, SRV_EVENT_CONFLICT);
  g_assert_false(notified[0]);
  g_assert_cmpuint(count(f, FALSE), ==, 4);
  /* With a security channel, the next conflict raises one alert there. */
  set(f, "security", 0, "slack", "https://hooks.example.com/sec", NULL, 0);
  SrvEvent third = evs[0];
  third.id = (char *) "ev-gate-3";
  third.device_time = NOW + 70;
  g_assert_true(srv_store_events_apply_full(f->store, "dev-2", f->site, &third, 1, NOW + 80, st, notified, &error));
  g_assert_true(srv_store_events_apply_full(f->store, "dev-2", f->site, &third, 1, NOW + 81, st, notified, &error));
  g_autoptr(GArray) list = srv_outbox_list(f->store, f->site, FALSE, 100, &error);
  g_assert_cmpuint(list->len, ==, 5);
  guint alerts = 0, emails = 0;
  for (guint i = 0; i < list->len; i++) {
    SrvNotification *n = &g_array_index(list, SrvNotification, i);
    g_assert_null(n->secret);  /* lists never carry secrets */
    g_assert_null(n->facts);
    if (g_strcmp0(n->kind, "double-entry") == 0) {
      alerts++;
      g_assert_cmpstr(n->recipient, ==, "security");
      g_assert_cmpstr(n->channel, ==, "slack");
    }
    if (g_strcmp0(n->channel, "email") == 0) {
      emails++;
      g_assert_cmpstr(n->target, ==, "ito@example.com");
    }
  }
  g_assert_cmpuint(alerts, ==, 1);
  g_assert_cmpuint(emails, ==, 1);
}

static void
test_claim_lease_outcomes(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint8 t[16];
  add_ticket(f, 0x55, f->host, 0, t);
  SrvRedeemOutcome o = { 0 };
  g_assert_true(srv_store_redeem(f->store, "dev-1", f->site, t, "ev-lease-1", NOW, NOW, &o, &error));
  srv_redeem_outcome_clear(&o);

  g_autoptr(GArray) first = claim(f, NOW, 8);
  g_assert_cmpuint(first->len, ==, 1);
  SrvNotification *n = &g_array_index(first, SrvNotification, 0);
  g_assert_true(g_str_has_prefix(n->id, "ntf-"));
  g_assert_cmpuint(strlen(n->id), ==, 36);
  g_assert_cmpstr(n->secret, ==, "secret-0123456789ab");
  g_assert_cmpint(n->attempts, ==, 1);
  g_assert_nonnull(strstr(n->facts, "\"visitor\":\"Suzuki Hanako\""));
  g_assert_nonnull(strstr(n->facts, "\"location\":\"Lobby\""));
  g_autofree char *id = g_strdup(n->id);
  /* Claimed: no other sender takes it while the lease runs... */
  g_autoptr(GArray) second = claim(f, NOW + 29, 8);
  g_assert_cmpuint(second->len, ==, 0);
  /* ...and when a sender died holding it, the lease runs out. */
  g_autoptr(GArray) third = claim(f, NOW + 30, 8);
  g_assert_cmpuint(third->len, ==, 1);
  g_assert_cmpint(g_array_index(third, SrvNotification, 0).attempts, ==, 2);

  g_assert_true(srv_outbox_reschedule(f->store, id, NOW + 100, "the receiver answered HTTP 503", &error));
  g_autoptr(GArray) early = claim(f, NOW + 99, 8);
  g_assert_cmpuint(early->len, ==, 0);
  g_autoptr(GArray) due = claim(f, NOW + 100, 8);
  g_assert_cmpuint(due->len, ==, 1);
  g_assert_cmpstr(g_array_index(due, SrvNotification, 0).last_error, ==, "the receiver answered HTTP 503");

  g_assert_true(srv_outbox_fail(f->store, id, NOW + 101, "gave up", &error));
  g_assert_cmpuint(count(f, TRUE), ==, 1);
  g_autoptr(GArray) none = claim(f, NOW + 10000, 8);
  g_assert_cmpuint(none->len, ==, 0);

  /* By hand: due at once, with a new window and a fresh count. */
  g_assert_false(srv_outbox_retry(f->store, f->site + 1, id, NOW + 200, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_true(srv_outbox_retry(f->store, f->site, id, NOW + 200, &error));
  g_autoptr(GArray) retried = claim(f, NOW + 200, 8);
  g_assert_cmpuint(retried->len, ==, 1);
  g_assert_cmpint(g_array_index(retried, SrvNotification, 0).attempts, ==, 1);
  g_assert_cmpint(g_array_index(retried, SrvNotification, 0).window_start, ==, NOW + 200);
  g_assert_true(srv_outbox_delivered(f->store, id, NOW + 201, &error));
  g_assert_cmpuint(count(f, TRUE), ==, 0);
  g_assert_false(srv_outbox_retry(f->store, f->site, id, NOW + 300, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED);
  g_clear_error(&error);
  /* A delivered notification is claimed no more and keeps no secret. */
  g_autoptr(GArray) after = claim(f, NOW + 100000, 8);
  g_assert_cmpuint(after->len, ==, 0);

  /* Purge: rows older than the cut-off go; pending ones never. */
  guint deleted = 0;
  g_assert_true(srv_outbox_purge(f->store, NOW, &deleted, &error));
  g_assert_cmpuint(deleted, ==, 0);
  g_assert_true(srv_outbox_purge(f->store, NOW + 1, &deleted, &error));
  g_assert_cmpuint(deleted, ==, 1);
  g_assert_cmpuint(count(f, FALSE), ==, 0);
}

static void
test_device_offline(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  guint queued = 0;
  /* No admins channel: nothing. */
  g_assert_true(srv_outbox_queue_offline(f->store, NOW + 100000, &queued, &error));
  g_assert_cmpuint(queued, ==, 0);
  set(f, "admins", 0, "teams", "https://hooks.example.com/admins", NULL, 600);
  g_assert_true(srv_store_device_seen(f->store, "dev-1", NOW + 1000, 0, 0, &error));
  /* dev-2 was never seen: its enrollment counts. */
  g_assert_true(srv_outbox_queue_offline(f->store, NOW + 601, &queued, &error));
  g_assert_cmpuint(queued, ==, 1);
  g_assert_true(srv_outbox_queue_offline(f->store, NOW + 1599, &queued, &error));
  g_assert_cmpuint(queued, ==, 0);
  g_assert_true(srv_outbox_queue_offline(f->store, NOW + 1600, &queued, &error));
  g_assert_cmpuint(queued, ==, 1);
  /* Once per silence... */
  g_assert_true(srv_outbox_queue_offline(f->store, NOW + 5000, &queued, &error));
  g_assert_cmpuint(queued, ==, 0);
  /* ...a device that comes back and goes silent again alerts again. */
  g_assert_true(srv_store_device_seen(f->store, "dev-1", NOW + 6000, 0, 0, &error));
  g_assert_true(srv_outbox_queue_offline(f->store, NOW + 6600, &queued, &error));
  g_assert_cmpuint(queued, ==, 1);
  /* A revoked device is not "offline". */
  g_assert_true(srv_store_device_revoke(f->store, "dev-1", NOW + 6700, NULL, &error));
  g_assert_true(srv_store_device_seen(f->store, "dev-1", NOW + 6701, 0, 0, &error));
  g_assert_true(srv_outbox_queue_offline(f->store, NOW + 90000, &queued, &error));
  g_assert_cmpuint(queued, ==, 0);
  g_autoptr(GArray) due = claim(f, NOW + 90000, 8);
  g_assert_cmpuint(due->len, ==, 3);
  for (guint i = 0; i < due->len; i++) {
    SrvNotification *n = &g_array_index(due, SrvNotification, i);
    g_assert_cmpstr(n->kind, ==, "device-offline");
    g_assert_cmpstr(n->recipient, ==, "admins");
  }
}

static void
test_settings(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  SrvNotifySetting bad = { .site_id = f->site, .scope = (char *) "host", .host_id = 9999,
                           .channel = (char *) "none", .language = (char *) "en" };
  g_assert_false(srv_outbox_setting_set(f->store, &bad, NULL, NOW, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  SrvNotifySetting fax = { .site_id = f->site, .scope = (char *) "default", .channel = (char *) "fax",
                           .language = (char *) "en" };
  g_assert_false(srv_outbox_setting_set(f->store, &fax, NULL, NOW, &error));
  g_assert_error(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID);
  g_clear_error(&error);

  /* Same endpoint without a secret keeps it; another endpoint drops it. */
  set(f, "host", f->host, "webhook", "https://hooks.example.com/y", NULL, 0);
  g_autoptr(GArray) a = srv_outbox_setting_list(f->store, f->site, &error);
  g_assert_cmpuint(a->len, ==, 3);
  g_assert_cmpstr(g_array_index(a, SrvNotifySetting, 0).scope, ==, "default");
  gboolean kept = FALSE;
  for (guint i = 0; i < a->len; i++)
    if (g_array_index(a, SrvNotifySetting, i).host_id == f->host) {
      kept = g_array_index(a, SrvNotifySetting, i).has_secret;
      g_assert_cmpstr(g_array_index(a, SrvNotifySetting, i).host_name, ==, "Yamada");
    }
  g_assert_true(kept);
  set(f, "host", f->host, "webhook", "https://hooks.example.com/other", NULL, 0);
  g_autoptr(GArray) b = srv_outbox_setting_list(f->store, f->site, &error);
  for (guint i = 0; i < b->len; i++)
    if (g_array_index(b, SrvNotifySetting, i).host_id == f->host)
      g_assert_false(g_array_index(b, SrvNotifySetting, i).has_secret);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)
  ADD("/notify/outbox/queue-on-checkin", test_queue_on_checkin);
  ADD("/notify/outbox/claim-lease-outcomes", test_claim_lease_outcomes);
  ADD("/notify/outbox/device-offline", test_device_offline);
  ADD("/notify/outbox/settings", test_settings);
  return g_test_run();
}
