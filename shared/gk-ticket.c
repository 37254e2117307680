/* Signed tickets: payload layout, Ed25519 signing and verification, signing-key
 * files and the keyring of accepted public keys. Format: docs/ticket-format.md. */
#include "gk-ticket.h"

#include "gk-base45.h"
#include "gk-secure-file.h"

#include <sodium.h>
#include <string.h>

G_DEFINE_QUARK(gk-ticket-error-quark, gk_ticket_error)

/* Payload byte offsets (all integers big-endian). */
enum {
  OFF_VERSION = 0,
  OFF_FLAGS = 1,
  OFF_KEY_ID = 2,
  OFF_SITE_ID = 4,
  OFF_VALID_FROM = 8,
  OFF_VALID_UNTIL = 12,
  OFF_ID = 16,
  OFF_SIGNATURE = 32,
};

G_STATIC_ASSERT(OFF_SIGNATURE == GK_TICKET_SIGNED_LEN);
G_STATIC_ASSERT(GK_TICKET_SIGNED_LEN + crypto_sign_BYTES == GK_TICKET_PAYLOAD_LEN);
G_STATIC_ASSERT(GK_TICKET_PREFIX_LEN == sizeof GK_TICKET_PREFIX - 1);
G_STATIC_ASSERT(GK_TICKET_TEXT_LEN == GK_TICKET_PREFIX_LEN + GK_TICKET_PAYLOAD_LEN / 2 * 3);
G_STATIC_ASSERT(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SEEDBYTES == 32);

#define KEY_FILE_MAGIC   "genkan-ticket-signing-key "
#define KEY_FILE_VERSION "1"
#define KEY_FILE_MAX     512
#define KEY_FILE_SUM_LEN 16 /* BLAKE2b output bytes of the checksum line */

struct _GkSigningKey {
  guint16 key_id;
  guint8 pk[crypto_sign_PUBLICKEYBYTES];
  /* sodium_malloc'd, crypto_sign_SECRETKEYBYTES long (seed || public key). Not
   * mprotect'd between uses: that would make concurrent signing crash. */
  guint8 *sk;
};

typedef struct {
  guint16 key_id;
  guint8 pk[crypto_sign_PUBLICKEYBYTES];
} KeyEntry;

struct _GkKeyring {
  GArray *entries; /* KeyEntry; a handful of keys, so a linear scan is enough */
};

static void
ensure_sodium(void)
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    /* Without libsodium there is no randomness for ids nor any signature check:
     * carrying on would be worse than stopping. */
    if (sodium_init() < 0)
      g_error("libsodium failed to initialise");
    g_once_init_leave(&done, 1);
  }
}

static void
put_u16(guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static void
put_u32(guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static guint16
get_u16(const guint8 *p)
{
  return (guint16) (((guint) p[0] << 8) | p[1]);
}

static guint32
get_u32(const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static gboolean
id_is_zero(const guint8 id[16])
{
  guint8 acc = 0;
  for (int i = 0; i < 16; i++)
    acc |= id[i];
  return acc == 0;
}

const char *
gk_ticket_error_reason(GkTicketError code)
{
  switch (code) {
  case GK_TICKET_ERROR_MALFORMED:
    return "malformed";
  case GK_TICKET_ERROR_UNKNOWN_KEY:
    return "unknown-key";
  case GK_TICKET_ERROR_BAD_SIGNATURE:
    return "bad-signature";
  case GK_TICKET_ERROR_NOT_YET_VALID:
    return "not-yet-valid";
  case GK_TICKET_ERROR_EXPIRED:
    return "expired";
  default:
    return "unknown";
  }
}

void
gk_ticket_init_random(GkTicket *ticket)
{
  g_return_if_fail(ticket != NULL);
  ensure_sodium();
  memset(ticket, 0, sizeof *ticket);
  ticket->version = GK_TICKET_VERSION;
  /* 2^-128 odds of zero; retrying keeps the "never all zero" rule absolute. */
  do
    randombytes_buf(ticket->id, sizeof ticket->id);
  while (id_is_zero(ticket->id));
}

char *
gk_ticket_id_to_hex(const guint8 id[16])
{
  g_return_val_if_fail(id != NULL, NULL);
  char *hex = g_malloc(33);
  sodium_bin2hex(hex, 33, id, 16);
  return hex;
}

/* ---- signing keys ---------------------------------------------------------- */

static GkSigningKey *
signing_key_alloc(guint16 key_id)
{
  ensure_sodium();
  guint8 *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  if (sk == NULL)
    g_error("sodium_malloc failed: out of memory or locked memory");
  GkSigningKey *key = g_new0(GkSigningKey, 1);
  key->key_id = key_id;
  key->sk = sk;
  return key;
}

GkSigningKey *
gk_signing_key_generate(guint16 key_id)
{
  GkSigningKey *key = signing_key_alloc(key_id);
  crypto_sign_keypair(key->pk, key->sk);
  return key;
}

GkSigningKey *
gk_signing_key_new_from_seed(guint16 key_id, const guint8 seed[32])
{
  g_return_val_if_fail(seed != NULL, NULL);
  GkSigningKey *key = signing_key_alloc(key_id);
  crypto_sign_seed_keypair(key->pk, key->sk, seed);
  return key;
}

guint16
gk_signing_key_id(const GkSigningKey *key)
{
  g_return_val_if_fail(key != NULL, 0);
  return key->key_id;
}

void
gk_signing_key_public(const GkSigningKey *key, guint8 out_pk[32])
{
  g_return_if_fail(key != NULL && out_pk != NULL);
  memcpy(out_pk, key->pk, sizeof key->pk);
}

void
gk_signing_key_free(GkSigningKey *key)
{
  if (key == NULL)
    return;
  sodium_free(key->sk); /* zeroes before unmapping */
  g_free(key);
}

gboolean
gk_signing_key_save(const GkSigningKey *key, const char *path, GError **error)
{
  g_return_val_if_fail(key != NULL, FALSE);
  g_return_val_if_fail(path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  char pk_hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
  sodium_bin2hex(pk_hex, sizeof pk_hex, key->pk, sizeof key->pk);

  /* The text holds the secret seed in hex, so it too lives in guarded memory. */
  guint8 *buf = sodium_malloc(KEY_FILE_MAX);
  if (buf == NULL)
    g_error("sodium_malloc failed: out of memory or locked memory");
  char *text = (char *) buf;
  int head = g_snprintf(text, KEY_FILE_MAX,
                        KEY_FILE_MAGIC KEY_FILE_VERSION "\nkey-id %u\npublic-key %s\nsecret-seed ",
                        (guint) key->key_id, pk_hex);
  g_assert(head > 0 && (gsize) head + 2 * crypto_sign_SEEDBYTES + 2 <= KEY_FILE_MAX);
  /* libsodium's secret key is seed || public key: the seed is its first half. */
  sodium_bin2hex(text + head, 2 * crypto_sign_SEEDBYTES + 1, key->sk, crypto_sign_SEEDBYTES);
  gsize len = (gsize) head + 2 * crypto_sign_SEEDBYTES;
  text[len++] = '\n';
  /* A checksum over all of the above catches damage the public key cannot, such
   * as a changed key id. */
  guint8 sum[KEY_FILE_SUM_LEN];
  crypto_generichash(sum, sizeof sum, buf, len, NULL, 0);
  static const char sum_label[] = "checksum ";
  g_assert(len + strlen(sum_label) + 2 * sizeof sum + 2 <= KEY_FILE_MAX);
  memcpy(text + len, sum_label, strlen(sum_label));
  len += strlen(sum_label);
  sodium_bin2hex(text + len, 2 * sizeof sum + 1, sum, sizeof sum);
  len += 2 * sizeof sum;
  text[len++] = '\n';

  gboolean ok = gk_secure_file_write(path, text, len, TRUE, error);
  sodium_free(buf);
  return ok;
}

/* Parses exactly @n lowercase hex digits into @n / 2 bytes. */
static gboolean
parse_hex_exact(const char *p, const char *end, gsize n, guint8 *out)
{
  if ((gsize) (end - p) < n)
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    if (!g_ascii_isdigit(p[i]) && !(p[i] >= 'a' && p[i] <= 'f'))
      return FALSE;
  }
  gsize bin_len = 0;
  const char *hex_end = NULL;
  if (sodium_hex2bin(out, n / 2, p, n, NULL, &bin_len, &hex_end) != 0)
    return FALSE;
  return bin_len == n / 2 && hex_end == p + n;
}

/* Matches @lit at *@p and moves past it. */
static gboolean
eat(const char **p, const char *end, const char *lit)
{
  gsize n = strlen(lit);
  if ((gsize) (end - *p) < n || memcmp(*p, lit, n) != 0)
    return FALSE;
  *p += n;
  return TRUE;
}

/* A decimal key id as written by save: 0..65535, no sign, no leading zeros. */
static gboolean
eat_key_id(const char **p, const char *end, guint16 *out)
{
  const char *s = *p;
  guint32 v = 0;
  gsize digits = 0;
  while (s + digits < end && g_ascii_isdigit(s[digits]) && digits < 6) {
    v = v * 10 + (guint32) (s[digits] - '0');
    digits++;
  }
  if (digits == 0 || digits > 5 || v > G_MAXUINT16 || (digits > 1 && s[0] == '0'))
    return FALSE;
  *out = (guint16) v;
  *p = s + digits;
  return TRUE;
}

static gboolean
key_file_invalid(GError **error, const char *path, const char *why)
{
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "%s is not a valid ticket signing key file: %s", path, why);
  return FALSE;
}

static gboolean
parse_key_file(const char *path, const char *data, gsize len, guint16 *out_id,
               guint8 out_pk[32], guint8 *out_seed, GError **error)
{
  const char *p = data;
  const char *end = data + len;

  /* The checksum line comes last; check it before believing any other line. */
  static const char sum_label[] = "\nchecksum ";
  gsize sum_line = strlen(sum_label) + 2 * KEY_FILE_SUM_LEN + 1;
  if (len < sum_line)
    return key_file_invalid(error, path, "too short");
  const char *s = end - sum_line;
  guint8 file_sum[KEY_FILE_SUM_LEN], sum[KEY_FILE_SUM_LEN];
  if (!eat(&s, end, sum_label) || !parse_hex_exact(s, end, 2 * KEY_FILE_SUM_LEN, file_sum) ||
      end[-1] != '\n')
    return key_file_invalid(error, path, "bad checksum line");
  end -= sum_line - 1; /* keep the newline that ends the secret-seed line */
  crypto_generichash(sum, sizeof sum, (const guint8 *) data, (gsize) (end - data), NULL, 0);
  if (sodium_memcmp(sum, file_sum, sizeof sum) != 0)
    return key_file_invalid(error, path, "checksum mismatch (damaged file)");

  if (!eat(&p, end, KEY_FILE_MAGIC))
    return key_file_invalid(error, path, "unknown header");
  if (!eat(&p, end, KEY_FILE_VERSION "\n"))
    return key_file_invalid(error, path, "unsupported format version");
  if (!eat(&p, end, "key-id ") || !eat_key_id(&p, end, out_id) || !eat(&p, end, "\n"))
    return key_file_invalid(error, path, "bad key-id line");
  if (!eat(&p, end, "public-key ") || !parse_hex_exact(p, end, 64, out_pk))
    return key_file_invalid(error, path, "bad public-key line");
  p += 64;
  if (!eat(&p, end, "\n"))
    return key_file_invalid(error, path, "bad public-key line");
  if (!eat(&p, end, "secret-seed ") || !parse_hex_exact(p, end, 64, out_seed))
    return key_file_invalid(error, path, "bad secret-seed line");
  p += 64;
  if (!eat(&p, end, "\n"))
    return key_file_invalid(error, path, "bad secret-seed line");
  if (p != end)
    return key_file_invalid(error, path, "trailing data");
  return TRUE;
}

GkSigningKey *
gk_signing_key_load(const char *path, GError **error)
{
  g_return_val_if_fail(path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  ensure_sodium();

  guint8 *data = NULL;
  gsize len = 0;
  if (!gk_secure_file_read(path, KEY_FILE_MAX, &data, &len, error))
    return NULL;

  guint8 *seed = sodium_malloc(crypto_sign_SEEDBYTES);
  if (seed == NULL)
    g_error("sodium_malloc failed: out of memory or locked memory");
  guint16 key_id = 0;
  guint8 file_pk[crypto_sign_PUBLICKEYBYTES];
  GkSigningKey *key = NULL;
  if (parse_key_file(path, (const char *) data, len, &key_id, file_pk, seed, error)) {
    key = gk_signing_key_new_from_seed(key_id, seed);
    /* The public key is redundant on purpose: a damaged seed yields a different
     * key, and signing with it would make every new ticket fail at the gates. */
    if (sodium_memcmp(key->pk, file_pk, sizeof file_pk) != 0) {
      g_clear_pointer(&key, gk_signing_key_free);
      key_file_invalid(error, path, "public key does not match the secret seed");
    }
  }
  sodium_free(seed);
  gk_secure_free(data, len);
  return key;
}

/* ---- keyring ----------------------------------------------------------------- */

GkKeyring *
gk_keyring_new(void)
{
  GkKeyring *keyring = g_new0(GkKeyring, 1);
  keyring->entries = g_array_new(FALSE, TRUE, sizeof(KeyEntry));
  return keyring;
}

void
gk_keyring_free(GkKeyring *keyring)
{
  if (keyring == NULL)
    return;
  g_array_unref(keyring->entries);
  g_free(keyring);
}

static KeyEntry *
keyring_find(const GkKeyring *keyring, guint16 key_id, guint *out_index)
{
  for (guint i = 0; i < keyring->entries->len; i++) {
    KeyEntry *e = &g_array_index(keyring->entries, KeyEntry, i);
    if (e->key_id == key_id) {
      if (out_index != NULL)
        *out_index = i;
      return e;
    }
  }
  return NULL;
}

void
gk_keyring_add(GkKeyring *keyring, guint16 key_id, const guint8 pk[32])
{
  g_return_if_fail(keyring != NULL && pk != NULL);
  KeyEntry *e = keyring_find(keyring, key_id, NULL);
  if (e != NULL) {
    memcpy(e->pk, pk, sizeof e->pk);
    return;
  }
  KeyEntry entry = { .key_id = key_id };
  memcpy(entry.pk, pk, sizeof entry.pk);
  g_array_append_val(keyring->entries, entry);
}

gboolean
gk_keyring_remove(GkKeyring *keyring, guint16 key_id)
{
  g_return_val_if_fail(keyring != NULL, FALSE);
  guint index = 0;
  if (keyring_find(keyring, key_id, &index) == NULL)
    return FALSE;
  g_array_remove_index_fast(keyring->entries, index);
  return TRUE;
}

gboolean
gk_keyring_lookup(const GkKeyring *keyring, guint16 key_id, guint8 out_pk[32])
{
  g_return_val_if_fail(keyring != NULL, FALSE);
  const KeyEntry *e = keyring_find(keyring, key_id, NULL);
  if (e == NULL)
    return FALSE;
  if (out_pk != NULL)
    memcpy(out_pk, e->pk, sizeof e->pk);
  return TRUE;
}

guint
gk_keyring_size(const GkKeyring *keyring)
{
  g_return_val_if_fail(keyring != NULL, 0);
  return keyring->entries->len;
}

/* ---- encode / decode ------------------------------------------------------- */

static gboolean
ticket_fail(GError **error, GkTicketError code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
ticket_fail(GError **error, GkTicketError code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, GK_TICKET_ERROR, code, msg);
  return FALSE;
}

char *
gk_ticket_encode(const GkTicket *ticket, const GkSigningKey *key, GError **error)
{
  g_return_val_if_fail(ticket != NULL, NULL);
  g_return_val_if_fail(key != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  ensure_sodium();

  if (ticket->version != GK_TICKET_VERSION) {
    ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "cannot encode ticket version %u",
                (guint) ticket->version);
    return NULL;
  }
  if ((ticket->flags & ~GK_TICKET_FLAGS_KNOWN) != 0) {
    ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "reserved ticket flags 0x%02x set",
                (guint) (ticket->flags & ~GK_TICKET_FLAGS_KNOWN));
    return NULL;
  }
  if (ticket->valid_from < 0 || ticket->valid_from > GK_TICKET_TIME_MAX ||
      ticket->valid_until < 0 || ticket->valid_until > GK_TICKET_TIME_MAX) {
    ticket_fail(error, GK_TICKET_ERROR_MALFORMED,
                "ticket times must lie between 1970 and 2106 (0..%" G_GINT64_FORMAT ")",
                GK_TICKET_TIME_MAX);
    return NULL;
  }
  if (ticket->valid_until < ticket->valid_from) {
    ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "ticket valid_until is before valid_from");
    return NULL;
  }
  if (id_is_zero(ticket->id)) {
    /* Almost surely a ticket whose id nobody set (see gk_ticket_init_random). */
    ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "ticket id is all zero");
    return NULL;
  }

  guint8 payload[GK_TICKET_PAYLOAD_LEN];
  payload[OFF_VERSION] = ticket->version;
  payload[OFF_FLAGS] = ticket->flags;
  put_u16(payload + OFF_KEY_ID, key->key_id);
  put_u32(payload + OFF_SITE_ID, ticket->site_id);
  put_u32(payload + OFF_VALID_FROM, (guint32) ticket->valid_from);
  put_u32(payload + OFF_VALID_UNTIL, (guint32) ticket->valid_until);
  memcpy(payload + OFF_ID, ticket->id, sizeof ticket->id);
  crypto_sign_detached(payload + OFF_SIGNATURE, NULL, payload, GK_TICKET_SIGNED_LEN, key->sk);

  g_autofree char *b45 = gk_base45_encode(payload, sizeof payload);
  char *text = g_strconcat(GK_TICKET_PREFIX, b45, NULL);
  g_assert(strlen(text) == GK_TICKET_TEXT_LEN);
  return text;
}

gboolean
gk_ticket_decode(const char *text, gsize text_len, const GkKeyring *keys, gint64 now,
                 GkTicket *out, GError **error)
{
  g_return_val_if_fail(text != NULL || text_len == 0, FALSE);
  g_return_val_if_fail(keys != NULL, FALSE);
  g_return_val_if_fail(out != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  ensure_sodium();

  memset(out, 0, sizeof *out);

  /* Messages never quote the scanned text: it is untrusted and may be anything. */
  if (text_len > GK_TICKET_TEXT_MAX)
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED,
                       "ticket text too long (%" G_GSIZE_FORMAT " bytes, at most %d)",
                       text_len, GK_TICKET_TEXT_MAX);
  if (text_len < GK_TICKET_PREFIX_LEN ||
      memcmp(text, GK_TICKET_PREFIX, GK_TICKET_PREFIX_LEN) != 0)
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED,
                       "not a Genkan ticket (no " GK_TICKET_PREFIX " prefix)");

  guint8 payload[GK_TICKET_TEXT_MAX]; /* base45 never expands, so this always fits */
  gsize len = 0;
  g_autoptr(GError) b45_error = NULL;
  if (!gk_base45_decode(text + GK_TICKET_PREFIX_LEN, text_len - GK_TICKET_PREFIX_LEN,
                        payload, sizeof payload, &len, &b45_error))
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "ticket is not valid base45: %s",
                       b45_error->message);

  /* The version byte is the one field read before the signature: it says where
   * the signature is. It is covered by the signature too. */
  if (len < 1)
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "empty ticket payload");
  if (payload[OFF_VERSION] != GK_TICKET_VERSION)
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "unsupported ticket version %u",
                       (guint) payload[OFF_VERSION]);
  if (len != GK_TICKET_PAYLOAD_LEN)
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED,
                       "ticket payload is %" G_GSIZE_FORMAT " bytes, version %d needs %d",
                       len, GK_TICKET_VERSION, GK_TICKET_PAYLOAD_LEN);

  guint16 key_id = get_u16(payload + OFF_KEY_ID);
  const KeyEntry *key = keyring_find(keys, key_id, NULL);
  if (key == NULL)
    return ticket_fail(error, GK_TICKET_ERROR_UNKNOWN_KEY,
                       "ticket signed with unknown key id %u", (guint) key_id);
  if (crypto_sign_verify_detached(payload + OFF_SIGNATURE, payload, GK_TICKET_SIGNED_LEN,
                                  key->pk) != 0)
    return ticket_fail(error, GK_TICKET_ERROR_BAD_SIGNATURE,
                       "ticket signature does not verify with key id %u", (guint) key_id);

  /* From here on every byte is the issuer's; still check what it promised. */
  guint8 flags = payload[OFF_FLAGS];
  if ((flags & ~GK_TICKET_FLAGS_KNOWN) != 0)
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "reserved ticket flags 0x%02x set",
                       (guint) (flags & ~GK_TICKET_FLAGS_KNOWN));
  gint64 valid_from = get_u32(payload + OFF_VALID_FROM);
  gint64 valid_until = get_u32(payload + OFF_VALID_UNTIL);
  if (valid_until < valid_from)
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED,
                       "ticket valid_until is before valid_from");
  if (id_is_zero(payload + OFF_ID))
    return ticket_fail(error, GK_TICKET_ERROR_MALFORMED, "ticket id is all zero");

  out->version = payload[OFF_VERSION];
  out->flags = flags;
  out->key_id = key_id;
  out->site_id = get_u32(payload + OFF_SITE_ID);
  out->valid_from = valid_from;
  out->valid_until = valid_until;
  memcpy(out->id, payload + OFF_ID, sizeof out->id);

  if (now < valid_from)
    return ticket_fail(error, GK_TICKET_ERROR_NOT_YET_VALID,
                       "ticket not valid before %" G_GINT64_FORMAT " (now %" G_GINT64_FORMAT ")",
                       valid_from, now);
  if (now > valid_until)
    return ticket_fail(error, GK_TICKET_ERROR_EXPIRED,
                       "ticket expired at %" G_GINT64_FORMAT " (now %" G_GINT64_FORMAT ")",
                       valid_until, now);
  return TRUE;
}
