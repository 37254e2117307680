/* The verdict path of a gate: verify, check locally, ask the server briefly,
 * fall back to an offline decision, and make every admission durable before it
 * is reported. */
#include "kiosk-verdict.h"

#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-ticket.h"
#include "kiosk-sync.h"

struct _KioskGate {
  KioskStore *store;
  KioskClient *client;
  KioskIdentity id;
  GkKeyring *keyring;
  gint64 keys_generation;
  gint64 identity_generation; /* bumped in the store when the certificate is renewed */
  gboolean checkout;
  long redeem_timeout_ms;
  gboolean refused;
};

static const char *const reason_names[] = {
  [KIOSK_REASON_OK] = "ok",
  [KIOSK_REASON_ALREADY_USED] = "already-used",
  [KIOSK_REASON_BAD_SIGNATURE] = "bad-signature",
  [KIOSK_REASON_EXPIRED] = "expired",
  [KIOSK_REASON_NOT_YET_VALID] = "not-yet-valid",
  [KIOSK_REASON_REVOKED] = "revoked",
  [KIOSK_REASON_WRONG_SITE] = "wrong-site",
  [KIOSK_REASON_MALFORMED] = "malformed",
  [KIOSK_REASON_UNKNOWN_KEY] = "unknown-key",
  [KIOSK_REASON_UNKNOWN_TICKET] = "unknown-ticket",
  [KIOSK_REASON_INTERNAL_ERROR] = "internal-error",
};

const char *
kiosk_reason_name(KioskReason reason)
{
  if ((guint) reason >= G_N_ELEMENTS(reason_names))
    return "internal-error";
  return reason_names[reason];
}

/* Server reasons (docs/protocol.md, redeem) to ours; FALSE for one we do not know. */
static gboolean
reason_from_name(const char *name, KioskReason *out)
{
  for (guint i = KIOSK_REASON_BAD_SIGNATURE; i <= KIOSK_REASON_UNKNOWN_TICKET; i++)
    if (strcmp(reason_names[i], name) == 0) {
      *out = (KioskReason) i;
      return TRUE;
    }
  return FALSE;
}

void
kiosk_verdict_clear(KioskVerdict *v)
{
  g_free(v->used_by);
  g_free(v->event_id);
  memset(v, 0, sizeof *v);
}

char *
kiosk_verdict_to_json(const KioskVerdict *v)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "verdict");
  json_builder_add_string_value(b, v->accepted ? "accepted" : "rejected");
  json_builder_set_member_name(b, "reason");
  json_builder_add_string_value(b, kiosk_reason_name(v->reason));
  json_builder_set_member_name(b, "ticket_id");
  json_builder_add_string_value(b, v->ticket_id);
  json_builder_set_member_name(b, "offline");
  json_builder_add_boolean_value(b, v->offline);
  if (v->checkout) {
    json_builder_set_member_name(b, "checkout");
    json_builder_add_boolean_value(b, TRUE);
  }
  if (v->reason == KIOSK_REASON_ALREADY_USED) {
    json_builder_set_member_name(b, "used_at");
    json_builder_add_int_value(b, v->used_at);
    json_builder_set_member_name(b, "used_by");
    json_builder_add_string_value(b, v->used_by ? v->used_by : "");
  }
  json_builder_end_object(b);
  return gk_json_builder_to_string(b);
}

gsize
kiosk_scan_line_strip(const char *line, gsize len)
{
  if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n')
    return len - 2;
  if (len >= 1 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
    return len - 1;
  return len;
}

KioskGate *
kiosk_gate_new(KioskStore *store, KioskClient *client, GError **error)
{
  KioskGate *g = g_new0(KioskGate, 1);
  g->store = store;
  g->client = client;
  g->redeem_timeout_ms = KIOSK_REDEEM_TIMEOUT_MS;
  g->keys_generation = -1;
  g->identity_generation = kiosk_store_get_meta_int(store, "identity_generation", 0);
  if (!kiosk_store_load_identity(store, &g->id, error)) {
    kiosk_gate_free(g);
    return NULL;
  }
  return g;
}

void
kiosk_gate_free(KioskGate *g)
{
  if (g == NULL)
    return;
  kiosk_identity_clear(&g->id);
  if (g->keyring)
    gk_keyring_free(g->keyring);
  g_free(g);
}

void
kiosk_gate_set_checkout(KioskGate *g, gboolean checkout)
{
  g->checkout = checkout;
}

void
kiosk_gate_set_redeem_timeout(KioskGate *g, long timeout_ms)
{
  g->redeem_timeout_ms = timeout_ms;
}

gboolean
kiosk_gate_server_refused(KioskGate *g)
{
  return g->refused;
}

gint64
kiosk_gate_now(KioskGate *g)
{
  gint64 off = kiosk_store_get_meta_int(g->store, "clock_offset_ms", 0);
  /* server_time has whole seconds, so offsets under a couple of seconds are
   * noise; correcting by them would make a ticket issued this second look
   * not yet valid. Only a clock that is really off gets corrected. */
  if (ABS(off) < 2000)
    off = 0;
  return (g_get_real_time() / 1000 + off) / 1000;
}

/* The keyring, reloaded only when a pull brought key changes. */
static const GkKeyring *
keyring(KioskGate *g, GError **error)
{
  gint64 gen = kiosk_store_keys_generation(g->store);
  if (g->keyring == NULL || gen != g->keys_generation) {
    GkKeyring *ring = kiosk_store_load_keyring(g->store, error);
    if (ring == NULL)
      return NULL;
    if (g->keyring)
      gk_keyring_free(g->keyring);
    g->keyring = ring;
    g->keys_generation = gen;
  }
  return g->keyring;
}

static KioskReason
reason_from_ticket_error(const GError *e)
{
  if (e->domain != GK_TICKET_ERROR)
    return KIOSK_REASON_MALFORMED;
  switch ((GkTicketError) e->code) {
  case GK_TICKET_ERROR_UNKNOWN_KEY:
    return KIOSK_REASON_UNKNOWN_KEY;
  case GK_TICKET_ERROR_BAD_SIGNATURE:
    return KIOSK_REASON_BAD_SIGNATURE;
  case GK_TICKET_ERROR_NOT_YET_VALID:
    return KIOSK_REASON_NOT_YET_VALID;
  case GK_TICKET_ERROR_EXPIRED:
    return KIOSK_REASON_EXPIRED;
  case GK_TICKET_ERROR_MALFORMED:
  default:
    return KIOSK_REASON_MALFORMED;
  }
}

typedef enum {
  REDEEM_NO_ANSWER,
  REDEEM_ACCEPTED,
  REDEEM_ALREADY_USED,
  REDEEM_REJECTED,
} RedeemResult;

/* POST /v1/redeem; REDEEM_NO_ANSWER on timeout, refusal or a bad answer. */
static RedeemResult
redeem(KioskGate *g, const char *text, gsize len, const char *event_id, gint64 at, KioskVerdict *out)
{
  g_autofree char *ticket = g_strndup(text, len);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "ticket");
  json_builder_add_string_value(b, ticket);
  json_builder_set_member_name(b, "event_id");
  json_builder_add_string_value(b, event_id);
  json_builder_set_member_name(b, "at");
  json_builder_add_int_value(b, at);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  /* The sync thread may have renewed the certificate: the old one is refused. */
  gint64 generation = kiosk_store_get_meta_int(g->store, "identity_generation", 0);
  if (generation != g->identity_generation) {
    KioskIdentity fresh = { 0 };
    if (kiosk_store_load_identity(g->store, &fresh, NULL)) {
      kiosk_client_set_credentials(g->client, fresh.cert_pem, fresh.key_pem);
      kiosk_identity_clear(&g->id);
      g->id = fresh;
      g->identity_generation = generation;
    }
  }
  gint64 t0 = g_get_monotonic_time();
  if (!kiosk_client_request(g->client, KIOSK_PORT_DEVICE, "POST", "/v1/redeem", body, g->redeem_timeout_ms, NULL,
                            &root, NULL, &code, &error)) {
    g->refused = kiosk_sync_error_suggests_revocation(error, code);
    GK_LOG_INFO("kiosk.redeem.offline", GK_STR("error", error->message),
                GK_INT("ms", (g_get_monotonic_time() - t0) / 1000));
    return REDEEM_NO_ANSWER;
  }
  g->refused = FALSE;
  JsonObject *o = json_node_get_object(root);
  static const GkJsonField f[] = {
    { "result", GK_JSON_STRING, TRUE, 1, 32 },
    { "ticket_id", GK_JSON_STRING, FALSE, 32, 32 },
    { "reason", GK_JSON_STRING, FALSE, 1, 32 },
    { "used_at", GK_JSON_INT, FALSE, 0, G_MAXINT64 },
    { "used_by", GK_JSON_STRING, FALSE, 0, 256 },
    { "used_by_name", GK_JSON_STRING, FALSE, 0, 256 },
    { "host_notified", GK_JSON_BOOL, FALSE, 0, 0 },
    { "server_time", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
  };
  if (!gk_json_check(o, f, G_N_ELEMENTS(f), TRUE, "redeem", &error)) {
    GK_LOG_WARN("kiosk.redeem.bad_answer", GK_STR("error", error->message));
    return REDEEM_NO_ANSWER;
  }
  const char *result = gk_json_get_string(o, "result", "");
  if (strcmp(result, "accepted") == 0) {
    out->host_notified = gk_json_get_bool(o, "host_notified", FALSE);
    return REDEEM_ACCEPTED;
  }
  if (strcmp(result, "already-used") == 0) {
    out->used_at = gk_json_get_int(o, "used_at", 0);
    const char *name = gk_json_get_string(o, "used_by_name", "");
    out->used_by = g_strdup(*name ? name : gk_json_get_string(o, "used_by", ""));
    return REDEEM_ALREADY_USED;
  }
  KioskReason r;
  if (strcmp(result, "rejected") == 0 && reason_from_name(gk_json_get_string(o, "reason", ""), &r)) {
    out->reason = r;
    return REDEEM_REJECTED;
  }
  GK_LOG_WARN("kiosk.redeem.bad_answer", GK_STR("error", "unknown result or reason"));
  return REDEEM_NO_ANSWER;
}

static gboolean
internal_error(KioskVerdict *out)
{
  out->accepted = FALSE;
  out->reason = KIOSK_REASON_INTERNAL_ERROR;
  g_clear_pointer(&out->event_id, g_free);
  return FALSE;
}

gboolean
kiosk_gate_scan(KioskGate *g, const char *text, gsize len, gint64 now, KioskVerdict *out, GError **error)
{
  memset(out, 0, sizeof *out);
  out->offline = TRUE;
  out->checkout = g->checkout;
  out->reason = KIOSK_REASON_MALFORMED;
  if (now == 0)
    now = kiosk_gate_now(g);
  gint64 device_time = g_get_real_time() / G_USEC_PER_SEC;

  /* 1. Verify before anything else looks at the text. */
  const GkKeyring *ring = keyring(g, error);
  if (ring == NULL)
    return internal_error(out);
  if (len > GK_TICKET_TEXT_MAX)
    return TRUE;
  GkTicket t;
  g_autoptr(GError) decode_error = NULL;
  if (!gk_ticket_decode(text, len, ring, now, &t, &decode_error)) {
    out->reason = reason_from_ticket_error(decode_error);
    /* The id of a genuine but out-of-window ticket is trustworthy. */
    if (out->reason == KIOSK_REASON_EXPIRED || out->reason == KIOSK_REASON_NOT_YET_VALID) {
      g_autofree char *hex = gk_ticket_id_to_hex(t.id);
      g_strlcpy(out->ticket_id, hex, sizeof out->ticket_id);
    }
    return TRUE;
  }
  g_autofree char *hex = gk_ticket_id_to_hex(t.id);
  g_strlcpy(out->ticket_id, hex, sizeof out->ticket_id);

  /* 2. Our site only. */
  if ((gint64) t.site_id != g->id.site_id) {
    out->reason = KIOSK_REASON_WRONG_SITE;
    return TRUE;
  }

  /* 3. Local state: revocation is final; a redemption may be overruled online. */
  KioskTicketState state;
  if (!kiosk_store_ticket_state(g->store, hex, &state, error))
    return internal_error(out);
  if (state.revoked) {
    out->reason = KIOSK_REASON_REVOKED;
    return TRUE;
  }
  gboolean one_time = (t.flags & GK_TICKET_FLAG_MULTI_ENTRY) == 0;
  KioskEvent ev = { .kind = (char *) (g->checkout ? "checkout" : "checkin"), .ticket_id = hex, .at = device_time };
  g_autofree char *event_id = kiosk_event_new_id();
  ev.id = event_id;

  if (g->checkout) {
    /* Leaving needs no redemption: a valid ticket of this site may go out. */
    if (!kiosk_store_record_event(g->store, &ev, FALSE, FALSE, NULL, NULL, 0, error))
      return internal_error(out);
    out->accepted = TRUE;
    out->reason = KIOSK_REASON_OK;
    out->event_id = g_steal_pointer(&event_id);
    return TRUE;
  }

  KioskRedemption red = { 0 };
  if (one_time && !kiosk_store_get_redemption(g->store, hex, &red, error))
    return internal_error(out);
  /* Our own admission the server has not heard of yet: asking it would only
   * produce a second admission, so this gate's record decides. */
  gboolean locally_used = red.found;
  if (red.found && red.pending) {
    out->reason = KIOSK_REASON_ALREADY_USED;
    out->used_at = red.at;
    out->used_by = g_strdup(red.device_name ? red.device_name : red.device_id);
    kiosk_redemption_clear(&red);
    return TRUE;
  }

  /* 4. Online: the server is the authority. */
  if (g->client != NULL) {
    RedeemResult r = redeem(g, text, len, event_id, device_time, out);
    if (r == REDEEM_ACCEPTED) {
      ev.offline = FALSE;
      /* The server stored this event when it redeemed: queue it as sent. */
      if (!kiosk_store_record_event(g->store, &ev, TRUE, one_time, g->id.device_id, g->id.name, (gint64) t.valid_until,
                                    error)) {
        kiosk_redemption_clear(&red);
        return internal_error(out);
      }
      kiosk_redemption_clear(&red);
      out->offline = FALSE;
      out->accepted = TRUE;
      out->reason = KIOSK_REASON_OK;
      out->event_id = g_steal_pointer(&event_id);
      return TRUE;
    }
    if (r == REDEEM_ALREADY_USED) {
      kiosk_redemption_clear(&red);
      out->offline = FALSE;
      out->reason = KIOSK_REASON_ALREADY_USED;
      /* Remember it, so this gate says the same when the server is away. */
      g_autoptr(GError) put_error = NULL;
      if (one_time && !kiosk_store_put_redemption(g->store, hex, out->used_at, NULL, out->used_by,
                                                  (gint64) t.valid_until, &put_error))
        GK_LOG_WARN("kiosk.redemption_not_stored", GK_STR("error", put_error->message));
      return TRUE;
    }
    if (r == REDEEM_REJECTED) {
      kiosk_redemption_clear(&red);
      out->offline = FALSE;
      return TRUE;
    }
  }

  /* 5. Offline: the signature, window and site are verified above. */
  if (locally_used) {
    out->reason = KIOSK_REASON_ALREADY_USED;
    out->used_at = red.at;
    out->used_by = g_strdup(red.device_name ? red.device_name : red.device_id);
    kiosk_redemption_clear(&red);
    return TRUE;
  }
  kiosk_redemption_clear(&red);
  ev.offline = TRUE;
  if (!kiosk_store_record_event(g->store, &ev, FALSE, one_time, g->id.device_id, g->id.name, (gint64) t.valid_until,
                                error))
    return internal_error(out);
  out->accepted = TRUE;
  out->reason = KIOSK_REASON_OK;
  out->event_id = g_steal_pointer(&event_id);
  return TRUE;
}
