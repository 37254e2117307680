/* Unit tests for signed tickets: round trip, the published example, every refusal
 * reason and its order, tampering with every bit and character, key rotation and
 * signing-key files. */
#include "gk-base45.h"
#include "gk-secure-file.h"
#include "gk-test-util.h"
#include "gk-ticket.h"

#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

/* The worked example of docs/ticket-format.md. */
#define EXAMPLE_FROM  G_GINT64_CONSTANT(1772442000) /* 2026-03-02T09:00:00Z */
#define EXAMPLE_UNTIL G_GINT64_CONSTANT(1772474400) /* 2026-03-02T18:00:00Z */
#define EXAMPLE_NOW   G_GINT64_CONSTANT(1772452800) /* 2026-03-02T12:00:00Z */
#define EXAMPLE_TEXT                                                                  \
  "GK1:V50100000.000GD0EA0GD0EQH00PE4XS8-.C4CHCQLK+PS9UP7PM$G 71LTK%469WR7Q6YV72M3 " \
  "Q1:8E+7NWPN/WJ669R65E0VVH3C07T:D7SCQX8-VUPG93WT-B19IFQ13DMM0/HNPD9LU"
static const guint8 example_id[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

static void
test_seed(guint8 seed[32], guint8 first)
{
  for (int i = 0; i < 32; i++)
    seed[i] = (guint8) (first + i);
}

/* Test key n: seed bytes n*32 .. n*32+31; key 0 is the documented example key. */
static GkSigningKey *
test_key(guint n, guint16 key_id)
{
  guint8 seed[32];
  test_seed(seed, (guint8) (n * 32));
  return gk_signing_key_new_from_seed(key_id, seed);
}

static GkKeyring *
keyring_with(const GkSigningKey *key)
{
  GkKeyring *ring = gk_keyring_new();
  guint8 pk[32];
  gk_signing_key_public(key, pk);
  gk_keyring_add(ring, gk_signing_key_id(key), pk);
  return ring;
}

static GkTicket
example_ticket(void)
{
  GkTicket t = { .version = GK_TICKET_VERSION, .flags = 0, .site_id = 42,
                 .valid_from = EXAMPLE_FROM, .valid_until = EXAMPLE_UNTIL };
  memcpy(t.id, example_id, 16);
  return t;
}

static char *
payload_to_text(const guint8 *payload, gsize len)
{
  g_autofree char *b45 = gk_base45_encode(payload, len);
  return g_strconcat(GK_TICKET_PREFIX, b45, NULL);
}

static void
text_to_payload(const char *text, guint8 payload[GK_TICKET_PAYLOAD_LEN])
{
  gsize len = 0;
  g_assert_true(gk_base45_decode(text + GK_TICKET_PREFIX_LEN,
                                 strlen(text) - GK_TICKET_PREFIX_LEN, payload,
                                 GK_TICKET_PAYLOAD_LEN, &len, NULL));
  g_assert_cmpuint(len, ==, GK_TICKET_PAYLOAD_LEN);
}

/* A ticket built straight from the documented layout, signed with raw libsodium:
 * an independent second implementation, and a way to sign what the encoder
 * refuses to produce. */
static char *
spec_ticket(guint8 version, guint8 flags, guint16 key_id, guint32 site, guint32 from,
            guint32 until, const guint8 id[16], guint seed_n)
{
  guint8 seed[32], pk[32], sk[64], p[GK_TICKET_PAYLOAD_LEN];
  test_seed(seed, (guint8) (seed_n * 32));
  crypto_sign_seed_keypair(pk, sk, seed);
  p[0] = version;
  p[1] = flags;
  p[2] = (guint8) (key_id >> 8);
  p[3] = (guint8) key_id;
  for (int i = 0; i < 4; i++) {
    p[4 + i] = (guint8) (site >> (24 - 8 * i));
    p[8 + i] = (guint8) (from >> (24 - 8 * i));
    p[12 + i] = (guint8) (until >> (24 - 8 * i));
  }
  memcpy(p + 16, id, 16);
  crypto_sign_detached(p + 32, NULL, p, 32, sk);
  sodium_memzero(sk, sizeof sk);
  return payload_to_text(p, sizeof p);
}

/* Decodes and expects @code (or success when @code is -1); returns the ticket. */
static GkTicket
expect_decode(const char *text, gsize len, const GkKeyring *ring, gint64 now, int code)
{
  GkTicket out;
  memset(&out, 0xa5, sizeof out);
  g_autoptr(GError) error = NULL;
  gboolean ok = gk_ticket_decode(text, len, ring, now, &out, &error);
  if (code < 0) {
    g_assert_no_error(error);
    g_assert_true(ok);
  } else {
    g_assert_false(ok);
    g_assert_error(error, GK_TICKET_ERROR, code);
    if (code != GK_TICKET_ERROR_NOT_YET_VALID && code != GK_TICKET_ERROR_EXPIRED) {
      GkTicket zero;
      memset(&zero, 0, sizeof zero);
      g_assert_cmpmem(&out, sizeof out, &zero, sizeof zero);
    }
  }
  return out;
}

static GkTicket
expect_decode_str(const char *text, const GkKeyring *ring, gint64 now, int code)
{
  return expect_decode(text, strlen(text), ring, now, code);
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_error_reason(void)
{
  g_assert_cmpstr(gk_ticket_error_reason(GK_TICKET_ERROR_MALFORMED), ==, "malformed");
  g_assert_cmpstr(gk_ticket_error_reason(GK_TICKET_ERROR_UNKNOWN_KEY), ==, "unknown-key");
  g_assert_cmpstr(gk_ticket_error_reason(GK_TICKET_ERROR_BAD_SIGNATURE), ==, "bad-signature");
  g_assert_cmpstr(gk_ticket_error_reason(GK_TICKET_ERROR_NOT_YET_VALID), ==, "not-yet-valid");
  g_assert_cmpstr(gk_ticket_error_reason(GK_TICKET_ERROR_EXPIRED), ==, "expired");
  g_assert_cmpstr(gk_ticket_error_reason((GkTicketError) 99), ==, "unknown");
}

static void
test_id_hex_and_random(void)
{
  g_autofree char *hex = gk_ticket_id_to_hex(example_id);
  g_assert_cmpstr(hex, ==, "00112233445566778899aabbccddeeff");

  GkTicket a, b;
  memset(&a, 0xff, sizeof a);
  gk_ticket_init_random(&a);
  gk_ticket_init_random(&b);
  g_assert_cmpuint(a.version, ==, GK_TICKET_VERSION);
  g_assert_cmpuint(a.flags, ==, 0);
  g_assert_cmpuint(a.site_id, ==, 0);
  g_assert_cmpint(a.valid_from, ==, 0);
  g_assert_cmpint(a.valid_until, ==, 0);
  g_assert_true(memcmp(a.id, b.id, 16) != 0);
}

static void
test_round_trip(void)
{
  g_autoptr(GkSigningKey) key = gk_signing_key_generate(513);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  const guint8 flag_values[] = { 0, GK_TICKET_FLAG_MULTI_ENTRY };
  const struct { gint64 from, until; guint32 site; } cases[] = {
    { EXAMPLE_FROM, EXAMPLE_UNTIL, 42 },
    { 0, GK_TICKET_TIME_MAX, G_MAXUINT32 },
    { EXAMPLE_NOW, EXAMPLE_NOW, 0 },
  };
  for (gsize f = 0; f < G_N_ELEMENTS(flag_values); f++) {
    for (gsize c = 0; c < G_N_ELEMENTS(cases); c++) {
      GkTicket t;
      gk_ticket_init_random(&t);
      t.flags = flag_values[f];
      t.site_id = cases[c].site;
      t.valid_from = cases[c].from;
      t.valid_until = cases[c].until;
      t.key_id = 7; /* ignored: the key's id is written */
      g_autoptr(GError) error = NULL;
      g_autofree char *text = gk_ticket_encode(&t, key, &error);
      g_assert_no_error(error);
      g_assert_cmpuint(strlen(text), ==, GK_TICKET_TEXT_LEN);
      g_assert_true(g_str_has_prefix(text, GK_TICKET_PREFIX));
      for (const char *p = text + GK_TICKET_PREFIX_LEN; *p; p++)
        g_assert_nonnull(strchr(GK_BASE45_ALPHABET, *p));

      GkTicket out = expect_decode_str(text, ring, EXAMPLE_NOW, -1);
      g_assert_cmpuint(out.version, ==, GK_TICKET_VERSION);
      g_assert_cmpuint(out.flags, ==, t.flags);
      g_assert_cmpuint(out.key_id, ==, 513);
      g_assert_cmpuint(out.site_id, ==, t.site_id);
      g_assert_cmpint(out.valid_from, ==, t.valid_from);
      g_assert_cmpint(out.valid_until, ==, t.valid_until);
      g_assert_cmpmem(out.id, 16, t.id, 16);
    }
  }
}

/* The exact text in docs/ticket-format.md, from both the encoder and the spec. */
static void
test_known_answer(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  GkTicket t = example_ticket();
  g_autofree char *text = gk_ticket_encode(&t, key, NULL);
  g_assert_cmpstr(text, ==, EXAMPLE_TEXT);
  g_autofree char *spec = spec_ticket(1, 0, 1, 42, (guint32) EXAMPLE_FROM,
                                      (guint32) EXAMPLE_UNTIL, example_id, 0);
  g_assert_cmpstr(spec, ==, EXAMPLE_TEXT);

  guint8 pk[32];
  gk_signing_key_public(key, pk);
  g_autofree char *pk_hex = gk_ticket_id_to_hex(pk); /* first 16 bytes */
  g_assert_cmpstr(pk_hex, ==, "03a107bff3ce10be1d70dd18e74bc099");

  GkTicket out = expect_decode_str(EXAMPLE_TEXT, ring, EXAMPLE_NOW, -1);
  g_assert_cmpuint(out.key_id, ==, 1);
  g_assert_cmpuint(out.site_id, ==, 42);
  g_assert_cmpuint(out.flags, ==, 0);
  g_assert_cmpmem(out.id, 16, example_id, 16);
}

static void
test_encode_refuses(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  struct { const char *what; GkTicket t; } cases[8];
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    cases[i].t = example_ticket();
  cases[0].what = "version 0";        cases[0].t.version = 0;
  cases[1].what = "version 2";        cases[1].t.version = 2;
  cases[2].what = "reserved flag";    cases[2].t.flags = 0x02;
  cases[3].what = "negative from";    cases[3].t.valid_from = -1;
  cases[4].what = "until past 2106";  cases[4].t.valid_until = GK_TICKET_TIME_MAX + 1;
  cases[5].what = "until < from";     cases[5].t.valid_until = EXAMPLE_FROM - 1;
  cases[6].what = "zero id";          memset(cases[6].t.id, 0, 16);
  cases[7].what = "from past 2106";   cases[7].t.valid_from = G_MAXINT64;
                                      cases[7].t.valid_until = G_MAXINT64;
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *text = gk_ticket_encode(&cases[i].t, key, &error);
    if (text != NULL)
      g_error("encode accepted a ticket with %s", cases[i].what);
    g_assert_error(error, GK_TICKET_ERROR, GK_TICKET_ERROR_MALFORMED);
  }
}

static void
test_malformed_prefix(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  const char *body = &EXAMPLE_TEXT[GK_TICKET_PREFIX_LEN];
  const char *prefixes[] = { "", "GK2:", "gk1:", "GK1;", " GK1:", "GK1: ", "GK0:", "GK" };
  for (gsize i = 0; i < G_N_ELEMENTS(prefixes); i++) {
    g_autofree char *text = g_strconcat(prefixes[i], body, NULL);
    expect_decode_str(text, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  }
  expect_decode("", 0, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  expect_decode(NULL, 0, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  expect_decode_str("GK1:", ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  expect_decode_str("https://example.com/" EXAMPLE_TEXT, ring, EXAMPLE_NOW,
                    GK_TICKET_ERROR_MALFORMED);
}

static void
test_malformed_bad_char(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  const char bad[] = { 'a', 'z', '#', '\0', '\n', '\t', '_', '\x7f', '\x80', '\xff' };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    for (gsize pos = GK_TICKET_PREFIX_LEN; pos < GK_TICKET_TEXT_LEN; pos += 17) {
      char text[GK_TICKET_TEXT_LEN];
      memcpy(text, EXAMPLE_TEXT, sizeof text);
      text[pos] = bad[i];
      expect_decode(text, sizeof text, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
    }
  }
}

static void
test_malformed_truncated(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  for (gsize len = 0; len < GK_TICKET_TEXT_LEN; len++) {
    /* An exact-size copy, so ASan sees any read past the given length. */
    g_autofree char *text = g_memdup2(EXAMPLE_TEXT, len ? len : 1);
    expect_decode(text, len, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  }
  expect_decode(EXAMPLE_TEXT, GK_TICKET_TEXT_LEN, ring, EXAMPLE_NOW, -1);
}

static void
test_malformed_too_long(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  /* Longer well-formed base45 (a 97th, 98th... byte) and far longer text. */
  GString *s = g_string_new(EXAMPLE_TEXT);
  while (s->len < 1000) {
    g_string_append_c(s, '0');
    expect_decode(s->str, s->len, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  }
  g_string_free(s, TRUE);
  /* Over GK_TICKET_TEXT_MAX the length alone decides, before prefix or base45
   * are looked at (the message is the only outward sign of that). */
  {
    g_autofree char *huge = g_strnfill(GK_TICKET_TEXT_MAX + 1, '0');
    memcpy(huge, GK_TICKET_PREFIX, GK_TICKET_PREFIX_LEN);
    g_autoptr(GError) error = NULL;
    GkTicket out;
    g_assert_false(gk_ticket_decode(huge, GK_TICKET_TEXT_MAX + 1, ring, EXAMPLE_NOW, &out, &error));
    g_assert_error(error, GK_TICKET_ERROR, GK_TICKET_ERROR_MALFORMED);
    g_assert_nonnull(strstr(error->message, "too long"));
    g_clear_error(&error);
    g_assert_false(gk_ticket_decode(huge, GK_TICKET_TEXT_MAX, ring, EXAMPLE_NOW, &out, &error));
    g_assert_null(strstr(error->message, "too long"));
  }
  /* A 97-byte payload that is signed over its first 32 bytes is still refused. */
  guint8 p[GK_TICKET_PAYLOAD_LEN + 1];
  text_to_payload(EXAMPLE_TEXT, p);
  p[GK_TICKET_PAYLOAD_LEN] = 0;
  g_autofree char *longer = payload_to_text(p, sizeof p);
  expect_decode_str(longer, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
}

/* Decode is strict; the caller strips a scanner's line ending. */
static void
test_malformed_trailing_newline(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  const char *endings[] = { "\n", "\r", "\r\n", " ", "\t" };
  for (gsize i = 0; i < G_N_ELEMENTS(endings); i++) {
    g_autofree char *text = g_strconcat(EXAMPLE_TEXT, endings[i], NULL);
    expect_decode_str(text, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  }
}

static void
test_malformed_version(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  const guint8 versions[] = { 0, 2, 0x7f, 0xff };
  for (gsize i = 0; i < G_N_ELEMENTS(versions); i++) {
    g_autofree char *text = spec_ticket(versions[i], 0, 1, 42, (guint32) EXAMPLE_FROM,
                                        (guint32) EXAMPLE_UNTIL, example_id, 0);
    expect_decode_str(text, ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
  }
}

/* Fields the signer vouched for but that make no sense are still refused, and
 * only after the signature: a forger learns nothing from them. */
static void
test_malformed_signed_fields(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  static const guint8 zero_id[16] = { 0 };
  char *texts[] = {
    spec_ticket(1, 0x80, 1, 42, (guint32) EXAMPLE_FROM, (guint32) EXAMPLE_UNTIL, example_id, 0),
    spec_ticket(1, 0x03, 1, 42, (guint32) EXAMPLE_FROM, (guint32) EXAMPLE_UNTIL, example_id, 0),
    spec_ticket(1, 0, 1, 42, (guint32) EXAMPLE_UNTIL, (guint32) EXAMPLE_FROM, example_id, 0),
    spec_ticket(1, 0, 1, 42, (guint32) EXAMPLE_FROM, (guint32) EXAMPLE_UNTIL, zero_id, 0),
  };
  for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
    expect_decode_str(texts[i], ring, EXAMPLE_NOW, GK_TICKET_ERROR_MALFORMED);
    /* The same bytes under a broken signature report the signature. */
    guint8 p[GK_TICKET_PAYLOAD_LEN];
    text_to_payload(texts[i], p);
    p[GK_TICKET_PAYLOAD_LEN - 1] ^= 0x01;
    g_autofree char *forged = payload_to_text(p, sizeof p);
    expect_decode_str(forged, ring, EXAMPLE_NOW, GK_TICKET_ERROR_BAD_SIGNATURE);
    g_free(texts[i]);
  }
}

static void
test_unknown_key(void)
{
  g_autoptr(GkSigningKey) other = test_key(1, 2);
  g_autoptr(GkKeyring) empty = gk_keyring_new();
  g_autoptr(GkKeyring) ring = keyring_with(other);
  expect_decode_str(EXAMPLE_TEXT, empty, EXAMPLE_NOW, GK_TICKET_ERROR_UNKNOWN_KEY);
  expect_decode_str(EXAMPLE_TEXT, ring, EXAMPLE_NOW, GK_TICKET_ERROR_UNKNOWN_KEY);
  /* Unknown key wins over a broken signature and over an expired window. */
  guint8 p[GK_TICKET_PAYLOAD_LEN];
  text_to_payload(EXAMPLE_TEXT, p);
  p[40] ^= 0xff;
  g_autofree char *forged = payload_to_text(p, sizeof p);
  expect_decode_str(forged, ring, EXAMPLE_UNTIL + 1, GK_TICKET_ERROR_UNKNOWN_KEY);
}

static void
test_bad_signature(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkSigningKey) impostor = test_key(1, 1); /* same id, other secret */
  g_autoptr(GkKeyring) ring = keyring_with(key);
  GkTicket t = example_ticket();
  g_autofree char *text = gk_ticket_encode(&t, impostor, NULL);
  expect_decode_str(text, ring, EXAMPLE_NOW, GK_TICKET_ERROR_BAD_SIGNATURE);
  /* Signature before window: a forged expired ticket is reported as forged. */
  expect_decode_str(text, ring, EXAMPLE_UNTIL + 1, GK_TICKET_ERROR_BAD_SIGNATURE);
  expect_decode_str(text, ring, EXAMPLE_FROM - 1, GK_TICKET_ERROR_BAD_SIGNATURE);
  /* An all-zero signature (a small-order R) is refused too. */
  guint8 p[GK_TICKET_PAYLOAD_LEN];
  text_to_payload(EXAMPLE_TEXT, p);
  memset(p + GK_TICKET_SIGNED_LEN, 0, 64);
  g_autofree char *zero_sig = payload_to_text(p, sizeof p);
  expect_decode_str(zero_sig, ring, EXAMPLE_NOW, GK_TICKET_ERROR_BAD_SIGNATURE);
}

static void
test_window(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  /* Both ends inclusive. */
  expect_decode_str(EXAMPLE_TEXT, ring, EXAMPLE_FROM, -1);
  expect_decode_str(EXAMPLE_TEXT, ring, EXAMPLE_UNTIL, -1);
  /* Outside the window the verified ticket still comes back, for the verdict. */
  GkTicket early = expect_decode(EXAMPLE_TEXT, GK_TICKET_TEXT_LEN, ring, EXAMPLE_FROM - 1,
                                 GK_TICKET_ERROR_NOT_YET_VALID);
  g_assert_cmpint(early.valid_from, ==, EXAMPLE_FROM);
  g_assert_cmpmem(early.id, 16, example_id, 16);
  GkTicket late = expect_decode(EXAMPLE_TEXT, GK_TICKET_TEXT_LEN, ring, EXAMPLE_UNTIL + 1,
                                GK_TICKET_ERROR_EXPIRED);
  g_assert_cmpint(late.valid_until, ==, EXAMPLE_UNTIL);
  expect_decode_str(EXAMPLE_TEXT, ring, G_MININT64, GK_TICKET_ERROR_NOT_YET_VALID);
  expect_decode_str(EXAMPLE_TEXT, ring, -1, GK_TICKET_ERROR_NOT_YET_VALID);
  expect_decode_str(EXAMPLE_TEXT, ring, G_MAXINT64, GK_TICKET_ERROR_EXPIRED);

  /* A window ending at the last representable second does not wrap. */
  GkTicket t = example_ticket();
  t.valid_until = GK_TICKET_TIME_MAX;
  g_autofree char *text = gk_ticket_encode(&t, key, NULL);
  expect_decode_str(text, ring, GK_TICKET_TIME_MAX, -1);
  expect_decode_str(text, ring, GK_TICKET_TIME_MAX + 1, GK_TICKET_ERROR_EXPIRED);
}

/* Every single-bit change of the payload is refused, for the reason its field
 * predicts. */
static void
test_bit_flips(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  guint8 good[GK_TICKET_PAYLOAD_LEN];
  text_to_payload(EXAMPLE_TEXT, good);
  for (guint byte = 0; byte < GK_TICKET_PAYLOAD_LEN; byte++) {
    for (guint bit = 0; bit < 8; bit++) {
      guint8 p[GK_TICKET_PAYLOAD_LEN];
      memcpy(p, good, sizeof p);
      p[byte] ^= (guint8) (1u << bit);
      g_autofree char *text = payload_to_text(p, sizeof p);
      int expected = GK_TICKET_ERROR_BAD_SIGNATURE;
      if (byte == 0)
        expected = GK_TICKET_ERROR_MALFORMED;
      else if (byte == 2 || byte == 3)
        expected = GK_TICKET_ERROR_UNKNOWN_KEY;
      expect_decode_str(text, ring, EXAMPLE_NOW, expected);
    }
  }
}

/* Every character of the text replaced by every other alphabet character: no
 * second text decodes to an accepted ticket. */
static void
test_char_substitution(void)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_autoptr(GkKeyring) ring = keyring_with(key);
  const char *abc = GK_BASE45_ALPHABET;
  guint tried = 0;
  for (gsize pos = 0; pos < GK_TICKET_TEXT_LEN; pos++) {
    for (const char *c = abc; *c; c++) {
      if (*c == EXAMPLE_TEXT[pos])
        continue;
      char text[GK_TICKET_TEXT_LEN];
      memcpy(text, EXAMPLE_TEXT, sizeof text);
      text[pos] = *c;
      GkTicket out;
      g_autoptr(GError) error = NULL;
      if (gk_ticket_decode(text, sizeof text, ring, EXAMPLE_NOW, &out, &error))
        g_error("changing offset %" G_GSIZE_FORMAT " to '%c' was accepted", pos, *c);
      g_assert_error(error, GK_TICKET_ERROR, error->code);
      g_assert_cmpint(error->code, <=, GK_TICKET_ERROR_BAD_SIGNATURE);
      tried++;
    }
  }
  g_assert_cmpuint(tried, >=, GK_TICKET_TEXT_LEN * 43);
}

static void
test_rotation(void)
{
  g_autoptr(GkSigningKey) old_key = test_key(0, 1);
  g_autoptr(GkSigningKey) new_key = gk_signing_key_generate(2);
  g_autoptr(GkKeyring) ring = keyring_with(old_key);
  GkTicket t;
  gk_ticket_init_random(&t);
  t.valid_from = EXAMPLE_FROM;
  t.valid_until = EXAMPLE_UNTIL;
  g_autofree char *old_text = gk_ticket_encode(&t, old_key, NULL);
  g_autofree char *new_text = gk_ticket_encode(&t, new_key, NULL);

  expect_decode_str(old_text, ring, EXAMPLE_NOW, -1);
  expect_decode_str(new_text, ring, EXAMPLE_NOW, GK_TICKET_ERROR_UNKNOWN_KEY);

  /* Rotation: the new key joins, both kinds of ticket verify. */
  guint8 pk[32];
  gk_signing_key_public(new_key, pk);
  gk_keyring_add(ring, 2, pk);
  g_assert_cmpuint(gk_keyring_size(ring), ==, 2);
  expect_decode_str(old_text, ring, EXAMPLE_NOW, -1);
  GkTicket out = expect_decode(new_text, strlen(new_text), ring, EXAMPLE_NOW, -1);
  g_assert_cmpuint(out.key_id, ==, 2);

  /* Retiring the old key: its tickets stop verifying, the new ones do not. */
  g_assert_true(gk_keyring_remove(ring, 1));
  g_assert_false(gk_keyring_remove(ring, 1));
  g_assert_cmpuint(gk_keyring_size(ring), ==, 1);
  expect_decode_str(old_text, ring, EXAMPLE_NOW, GK_TICKET_ERROR_UNKNOWN_KEY);
  expect_decode_str(new_text, ring, EXAMPLE_NOW, -1);
}

static void
test_keyring(void)
{
  g_autoptr(GkSigningKey) a = test_key(0, 1);
  g_autoptr(GkSigningKey) b = test_key(1, 1);
  guint8 pk_a[32], pk_b[32], got[32];
  gk_signing_key_public(a, pk_a);
  gk_signing_key_public(b, pk_b);
  g_autoptr(GkKeyring) ring = gk_keyring_new();
  g_assert_cmpuint(gk_keyring_size(ring), ==, 0);
  g_assert_false(gk_keyring_lookup(ring, 1, got));
  gk_keyring_add(ring, 1, pk_a);
  expect_decode_str(EXAMPLE_TEXT, ring, EXAMPLE_NOW, -1);
  /* Same id replaces: the ticket signed by a no longer verifies. */
  gk_keyring_add(ring, 1, pk_b);
  g_assert_cmpuint(gk_keyring_size(ring), ==, 1);
  g_assert_true(gk_keyring_lookup(ring, 1, got));
  g_assert_cmpmem(got, 32, pk_b, 32);
  expect_decode_str(EXAMPLE_TEXT, ring, EXAMPLE_NOW, GK_TICKET_ERROR_BAD_SIGNATURE);
  for (guint id = 100; id < 110; id++)
    gk_keyring_add(ring, (guint16) id, pk_a);
  g_assert_cmpuint(gk_keyring_size(ring), ==, 11);
  g_assert_true(gk_keyring_remove(ring, 105));
  g_assert_false(gk_keyring_lookup(ring, 105, NULL));
  g_assert_true(gk_keyring_lookup(ring, 109, NULL));
  g_assert_true(gk_keyring_lookup(ring, 1, got));
  g_assert_cmpmem(got, 32, pk_b, 32);
}

/* ---- key files ---- */

typedef struct {
  char *dir;
  char *path;
} KeyFileFixture;

static void
key_file_setup(KeyFileFixture *fx, gconstpointer data)
{
  fx->dir = gk_test_make_tmpdir("genkan-test-ticket");
  fx->path = g_build_filename(fx->dir, "signing.key", NULL);
}

static void
key_file_teardown(KeyFileFixture *fx, gconstpointer data)
{
  gk_test_rmtree(fx->dir);
  g_free(fx->path);
  g_free(fx->dir);
}

static void
write_file(const char *path, const char *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_unlink(path);
  g_assert_true(gk_secure_file_write(path, data, len, FALSE, &error));
  g_assert_no_error(error);
}

/* @body (the first four lines) plus the checksum line the format prescribes, so
 * the parser itself, not the checksum, has to refuse what is wrong in @body. */
static char *
with_checksum(const char *body)
{
  guint8 sum[16];
  char hex[33];
  crypto_generichash(sum, sizeof sum, (const guint8 *) body, strlen(body), NULL, 0);
  sodium_bin2hex(hex, sizeof hex, sum, sizeof sum);
  return g_strconcat(body, "checksum ", hex, "\n", NULL);
}

static void
expect_load_fails(const char *path, GQuark domain, int code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GkSigningKey) key = gk_signing_key_load(path, &error);
  g_assert_null(key);
  g_assert_error(error, domain, code);
}

static void
test_key_file_round_trip(KeyFileFixture *fx, gconstpointer data)
{
  g_autoptr(GkSigningKey) key = gk_signing_key_generate(65535);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_signing_key_save(key, fx->path, &error));
  g_assert_no_error(error);

  struct stat st;
  g_assert_cmpint(g_stat(fx->path, &st), ==, 0);
  g_assert_cmpuint(st.st_mode & 0777, ==, 0600);

  g_autoptr(GkSigningKey) loaded = gk_signing_key_load(fx->path, &error);
  g_assert_no_error(error);
  g_assert_nonnull(loaded);
  g_assert_cmpuint(gk_signing_key_id(loaded), ==, 65535);
  guint8 pk[32], pk_loaded[32];
  gk_signing_key_public(key, pk);
  gk_signing_key_public(loaded, pk_loaded);
  g_assert_cmpmem(pk, 32, pk_loaded, 32);

  /* The loaded key signs tickets the original's public key accepts. */
  g_autoptr(GkKeyring) ring = keyring_with(key);
  GkTicket t = example_ticket();
  g_autofree char *text = gk_ticket_encode(&t, loaded, NULL);
  expect_decode_str(text, ring, EXAMPLE_NOW, -1);

  /* Saving never replaces an existing key. */
  g_autoptr(GkSigningKey) other = gk_signing_key_generate(1);
  g_assert_false(gk_signing_key_save(other, fx->path, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
  g_clear_error(&error);
  g_autoptr(GkSigningKey) again = gk_signing_key_load(fx->path, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(gk_signing_key_id(again), ==, 65535);
}

static void
test_key_file_format(KeyFileFixture *fx, gconstpointer data)
{
  /* The documented format, byte for byte, for the example key. */
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_assert_true(gk_signing_key_save(key, fx->path, NULL));
  g_autofree char *contents = NULL;
  g_assert_true(g_file_get_contents(fx->path, &contents, NULL, NULL));
  g_assert_cmpstr(contents, ==,
                  "genkan-ticket-signing-key 1\n"
                  "key-id 1\n"
                  "public-key 03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\n"
                  "secret-seed 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                  "checksum 6b31cc7f27fc34ad322cd2dc7ebfb67f\n");
}

static void
test_key_file_refuses_0644(KeyFileFixture *fx, gconstpointer data)
{
  g_autoptr(GkSigningKey) key = gk_signing_key_generate(3);
  g_assert_true(gk_signing_key_save(key, fx->path, NULL));
  g_assert_cmpint(g_chmod(fx->path, 0644), ==, 0);
  expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_assert_cmpint(g_chmod(fx->path, 0640), ==, 0);
  expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_assert_cmpint(g_chmod(fx->path, 0600), ==, 0);
  g_autoptr(GkSigningKey) loaded = gk_signing_key_load(fx->path, NULL);
  g_assert_nonnull(loaded);

  g_autofree char *missing = g_build_filename(fx->dir, "missing.key", NULL);
  expect_load_fails(missing, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

static void
test_key_file_corrupt(KeyFileFixture *fx, gconstpointer data)
{
  g_autoptr(GkSigningKey) key = test_key(0, 1);
  g_assert_true(gk_signing_key_save(key, fx->path, NULL));
  g_autofree char *good = NULL;
  gsize good_len = 0;
  g_assert_true(g_file_get_contents(fx->path, &good, &good_len, NULL));

  /* Every truncation. */
  for (gsize len = 0; len < good_len; len++) {
    write_file(fx->path, good, len);
    expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  }
  /* Every single-character change is caught: by the syntax, or by the public
   * key no longer matching the seed. */
  for (gsize pos = 0; pos < good_len; pos++) {
    g_autofree char *bad = g_memdup2(good, good_len);
    bad[pos] = bad[pos] == '0' ? '1' : (bad[pos] == '\n' ? ' ' : '0');
    write_file(fx->path, bad, good_len);
    expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  }
  /* Errors behind a correct checksum: each parser branch on its own. */
  g_autofree char *body = g_strndup(good, (gsize) (strstr(good, "checksum ") - good));
  const char *rest = strstr(body, "public-key");
  g_autofree char *same = with_checksum(body);
  g_assert_cmpstr(same, ==, good);
  const char *variants[] = {
    "genkan-ticket-signing-key 2\n", /* future format */
    "GENKAN-TICKET-SIGNING-KEY 1\n",
    "genkan-ticket-signing-key 1\r\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(variants); i++) {
    g_autofree char *bad_body = g_strconcat(variants[i], strchr(body, '\n') + 1, NULL);
    g_autofree char *bad = with_checksum(bad_body);
    write_file(fx->path, bad, strlen(bad));
    expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  }
  const char *ids[] = { "65536", "01", "-1", "+1", "", " 1", "1 ", "99999999999", "0x1" };
  for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
    g_autofree char *bad_body =
        g_strdup_printf("genkan-ticket-signing-key 1\nkey-id %s\n%s", ids[i], rest);
    g_autofree char *bad = with_checksum(bad_body);
    write_file(fx->path, bad, strlen(bad));
    expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  }
  /* A different key id with a fresh checksum is a valid file for that id. */
  {
    g_autofree char *other_body =
        g_strdup_printf("genkan-ticket-signing-key 1\nkey-id 65535\n%s", rest);
    g_autofree char *other = with_checksum(other_body);
    write_file(fx->path, other, strlen(other));
    g_autoptr(GkSigningKey) k = gk_signing_key_load(fx->path, NULL);
    g_assert_nonnull(k);
    g_assert_cmpuint(gk_signing_key_id(k), ==, 65535);
  }
  /* Seed and public key that do not belong together, behind a good checksum. */
  {
    g_autofree char *swapped_body = g_strdup(body);
    char *seed_hex = strstr(swapped_body, "secret-seed ") + strlen("secret-seed ");
    seed_hex[63] = seed_hex[63] == 'f' ? 'e' : 'f';
    g_autofree char *swapped = with_checksum(swapped_body);
    write_file(fx->path, swapped, strlen(swapped));
    expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  }
  g_autofree char *upper_body = g_ascii_strup(body, -1);
  g_autofree char *upper = with_checksum(upper_body);
  write_file(fx->path, upper, strlen(upper));
  expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_autofree char *trailing = g_strconcat(good, "\n", NULL);
  write_file(fx->path, trailing, good_len + 1);
  expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_autofree char *huge = g_malloc0(100000);
  write_file(fx->path, huge, 100000);
  expect_load_fails(fx->path, G_FILE_ERROR, G_FILE_ERROR_INVAL);

  /* And the untouched file still loads, so the failures above are the changes. */
  write_file(fx->path, good, good_len);
  g_autoptr(GkSigningKey) loaded = gk_signing_key_load(fx->path, NULL);
  g_assert_nonnull(loaded);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/ticket/error-reason", test_error_reason);
  g_test_add_func("/shared/ticket/id-hex-and-random", test_id_hex_and_random);
  g_test_add_func("/shared/ticket/round-trip", test_round_trip);
  g_test_add_func("/shared/ticket/known-answer", test_known_answer);
  g_test_add_func("/shared/ticket/encode-refuses", test_encode_refuses);
  g_test_add_func("/shared/ticket/malformed/prefix", test_malformed_prefix);
  g_test_add_func("/shared/ticket/malformed/bad-char", test_malformed_bad_char);
  g_test_add_func("/shared/ticket/malformed/truncated", test_malformed_truncated);
  g_test_add_func("/shared/ticket/malformed/too-long", test_malformed_too_long);
  g_test_add_func("/shared/ticket/malformed/trailing-newline", test_malformed_trailing_newline);
  g_test_add_func("/shared/ticket/malformed/version", test_malformed_version);
  g_test_add_func("/shared/ticket/malformed/signed-fields", test_malformed_signed_fields);
  g_test_add_func("/shared/ticket/unknown-key", test_unknown_key);
  g_test_add_func("/shared/ticket/bad-sig", test_bad_signature);
  g_test_add_func("/shared/ticket/window", test_window);
  g_test_add_func("/shared/ticket/tamper/bit-flips", test_bit_flips);
  g_test_add_func("/shared/ticket/tamper/char-substitution", test_char_substitution);
  g_test_add_func("/shared/ticket/rotation", test_rotation);
  g_test_add_func("/shared/ticket/keyring", test_keyring);
  g_test_add("/shared/ticket/key-file/round-trip", KeyFileFixture, NULL, key_file_setup,
             test_key_file_round_trip, key_file_teardown);
  g_test_add("/shared/ticket/key-file/format", KeyFileFixture, NULL, key_file_setup,
             test_key_file_format, key_file_teardown);
  g_test_add("/shared/ticket/key-file/refuses-0644", KeyFileFixture, NULL, key_file_setup,
             test_key_file_refuses_0644, key_file_teardown);
  g_test_add("/shared/ticket/key-file/corrupt", KeyFileFixture, NULL, key_file_setup,
             test_key_file_corrupt, key_file_teardown);
  return g_test_run();
}
