/* Fuzz target for ticket decoding (scanned QR text, the kiosk's main untrusted
 * input). Keys come from fixed seeds so the valid tickets in the corpus stay
 * valid; anything accepted must re-encode to exactly the input. An input of
 * exactly 32 bytes is taken as the signed bytes of a payload instead: it is signed
 * here, so the checks after the signature see arbitrary fields too. */
#include "gk-base45.h"
#include "gk-ticket.h"

#include <sodium.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2026-03-02T12:00:00Z, inside the corpus's valid windows. */
#define FUZZ_NOW G_GINT64_CONSTANT(1772452800)

/* Key id 1: seed 00 01 .. 1f (the docs' example key); key id 2: seed 20 .. 3f.
 * Corpus tickets signed by key id 3 (seed 40 .. 5f) reach unknown-key. */
static GkSigningKey *keys[3];
static GkKeyring *ring;

static void
setup(void)
{
  if (ring != NULL)
    return;
  ring = gk_keyring_new();
  for (guint n = 1; n <= 2; n++) {
    guint8 seed[32];
    for (guint i = 0; i < 32; i++)
      seed[i] = (guint8) ((n - 1) * 32 + i);
    keys[n] = gk_signing_key_new_from_seed((guint16) n, seed);
    guint8 pk[32];
    gk_signing_key_public(keys[n], pk);
    gk_keyring_add(ring, (guint16) n, pk);
  }
}

static guint32
be32(const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Signs @fields (32 bytes) with the fixed key their key id names and checks the
 * decoder's verdict against the rules of docs/ticket-format.md, section 5.1. */
static void
check_signed_fields(const guint8 *fields)
{
  guint8 payload[GK_TICKET_PAYLOAD_LEN];
  memcpy(payload, fields, GK_TICKET_SIGNED_LEN);
  guint16 key_id = (guint16) ((fields[2] << 8) | fields[3]);
  /* Unknown ids get key 1's signature: the verdict must still be unknown-key. */
  guint8 seed[32];
  for (guint i = 0; i < 32; i++)
    seed[i] = (guint8) ((key_id == 2 ? 32 : 0) + i);
  guint8 pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, seed);
  crypto_sign_detached(payload + GK_TICKET_SIGNED_LEN, NULL, payload, GK_TICKET_SIGNED_LEN, sk);
  char *b45 = gk_base45_encode(payload, sizeof payload);
  char *text = g_strconcat(GK_TICKET_PREFIX, b45, NULL);

  static const guint8 zero_id[16];
  gint64 from = be32(fields + 8), until = be32(fields + 12);
  int expected = -1;
  if (fields[0] != GK_TICKET_VERSION)
    expected = GK_TICKET_ERROR_MALFORMED;
  else if (key_id != 1 && key_id != 2)
    expected = GK_TICKET_ERROR_UNKNOWN_KEY;
  else if ((fields[1] & ~GK_TICKET_FLAGS_KNOWN) != 0 || until < from ||
           memcmp(fields + 16, zero_id, 16) == 0)
    expected = GK_TICKET_ERROR_MALFORMED;
  else if (FUZZ_NOW < from)
    expected = GK_TICKET_ERROR_NOT_YET_VALID;
  else if (FUZZ_NOW > until)
    expected = GK_TICKET_ERROR_EXPIRED;

  GkTicket t;
  GError *error = NULL;
  gboolean ok = gk_ticket_decode(text, strlen(text), ring, FUZZ_NOW, &t, &error);
  if (ok != (expected < 0))
    abort();
  if (!ok && (error == NULL || error->domain != GK_TICKET_ERROR || error->code != expected))
    abort();
  if (ok || expected == GK_TICKET_ERROR_NOT_YET_VALID || expected == GK_TICKET_ERROR_EXPIRED) {
    if (t.version != fields[0] || t.flags != fields[1] || t.key_id != key_id ||
        t.site_id != be32(fields + 4) || t.valid_from != from || t.valid_until != until ||
        memcmp(t.id, fields + 16, 16) != 0)
      abort();
  }
  g_clear_error(&error);
  g_free(text);
  g_free(b45);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  setup();
  if (size == GK_TICKET_SIGNED_LEN)
    check_signed_fields(data);
  GkTicket t;
  GError *error = NULL;
  gboolean ok = gk_ticket_decode((const char *) data, size, ring, FUZZ_NOW, &t, &error);
  gboolean verified = ok;
  if (!ok) {
    if (error == NULL || error->domain != GK_TICKET_ERROR || error->message == NULL)
      abort();
    if (strcmp(gk_ticket_error_reason((GkTicketError) error->code), "unknown") == 0)
      abort();
    verified = error->code == GK_TICKET_ERROR_NOT_YET_VALID ||
               error->code == GK_TICKET_ERROR_EXPIRED;
    if (!verified) {
      /* Nothing unverified may leak out. */
      static const GkTicket zero;
      if (memcmp(&t, &zero, sizeof t) != 0)
        abort();
    } else if (error->code == GK_TICKET_ERROR_NOT_YET_VALID ? FUZZ_NOW >= t.valid_from
                                                             : FUZZ_NOW <= t.valid_until) {
      abort();
    }
    g_error_free(error);
  }
  if (verified) {
    /* Ed25519 is deterministic: re-signing the decoded ticket must give back the
     * input byte for byte, or some other text was accepted for the same ticket. */
    if (t.key_id < 1 || t.key_id > 2 || size != GK_TICKET_TEXT_LEN)
      abort();
    char *again = gk_ticket_encode(&t, keys[t.key_id], NULL);
    if (again == NULL || memcmp(again, data, size) != 0)
      abort();
    g_free(again);
  }
  return 0;
}
