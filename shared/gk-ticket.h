/* Signed visitor tickets (docs/ticket-format.md): a 96-byte Ed25519-signed payload
 * shown as "GK1:" + base45 in a QR code, the signing keys and the public keyring. */
#pragma once
#include <glib.h>

#define GK_TICKET_ERROR gk_ticket_error_quark()

/* Why a ticket was refused. The order matches the order of the checks: a ticket
 * is only reported NOT_YET_VALID or EXPIRED after its signature verified. */
typedef enum {
  GK_TICKET_ERROR_MALFORMED,     /* not a ticket: length, prefix, base45, version, fields */
  GK_TICKET_ERROR_UNKNOWN_KEY,   /* key id not in the keyring (rotated out, or not synced) */
  GK_TICKET_ERROR_BAD_SIGNATURE, /* forged or altered */
  GK_TICKET_ERROR_NOT_YET_VALID, /* genuine, now < valid_from */
  GK_TICKET_ERROR_EXPIRED,       /* genuine, now > valid_until */
} GkTicketError;

GQuark gk_ticket_error_quark(void);

/* Stable machine-readable reason for verdicts, logs and JSON: "malformed",
 * "unknown-key", "bad-signature", "not-yet-valid", "expired" ("unknown" for a
 * value outside the enum). */
const char *gk_ticket_error_reason(GkTicketError code);

typedef enum {
  GK_TICKET_FLAG_MULTI_ENTRY = 1 << 0, /* unset: single (one-time) entry */
} GkTicketFlags;

/* Flag bits version 1 defines; the others are reserved and must be zero. */
#define GK_TICKET_FLAGS_KNOWN ((guint8) GK_TICKET_FLAG_MULTI_ENTRY)

#define GK_TICKET_VERSION      1
#define GK_TICKET_PREFIX       "GK1:"
#define GK_TICKET_PREFIX_LEN   4
#define GK_TICKET_SIGNED_LEN   32  /* payload bytes covered by the signature */
#define GK_TICKET_PAYLOAD_LEN  96  /* signed bytes + 64-byte Ed25519 signature */
#define GK_TICKET_TEXT_LEN     148 /* prefix + base45 of the payload */
/* Decode refuses longer text before doing any work. Scanner code may use it to
 * cap the length of a line it reads. */
#define GK_TICKET_TEXT_MAX     256
/* Times travel as unsigned 32-bit Unix seconds: 1970-01-01 .. 2106-02-07 UTC. */
#define GK_TICKET_TIME_MAX     ((gint64) G_MAXUINT32)

typedef struct {
  guint8 version;     /* GK_TICKET_VERSION */
  guint8 flags;       /* GkTicketFlags */
  guint16 key_id;     /* id of the key that signed it */
  guint32 site_id;
  gint64 valid_from;  /* Unix seconds UTC, inclusive */
  gint64 valid_until; /* Unix seconds UTC, inclusive */
  guint8 id[16];      /* random, never all zero */
} GkTicket;

/* Sets every field to zero, the version to GK_TICKET_VERSION and the id to 16
 * random bytes. The caller then sets flags, site and window. */
void gk_ticket_init_random(GkTicket *ticket);

/* 32 lowercase hex characters (g_free), for logs and JSON. */
char *gk_ticket_id_to_hex(const guint8 id[16]);

/* ---- signing keys (issuer side only; devices never hold one) ---- */

/* Opaque. The secret key lives in sodium_malloc'd memory (guard pages, mlock'd,
 * zeroed on free) and never leaves this module except through
 * gk_signing_key_save(). */
typedef struct _GkSigningKey GkSigningKey;

GkSigningKey *gk_signing_key_generate(guint16 key_id);
/* Deterministic key from a 32-byte Ed25519 seed: for published test vectors,
 * fuzz corpora and restoring an escrowed seed. Never use a constant seed in
 * production. */
GkSigningKey *gk_signing_key_new_from_seed(guint16 key_id, const guint8 seed[32]);

/* Writes the key to @path with gk_secure_file_write() (mode 0600, refuses to
 * replace an existing file). Format: docs/ticket-format.md, "Key file". */
gboolean gk_signing_key_save(const GkSigningKey *key, const char *path, GError **error);
/* Reads a key file with gk_secure_file_read() (refuses group/other access) and
 * parses it strictly; a file whose public key does not match its seed is
 * refused. File errors use G_FILE_ERROR; bad contents G_FILE_ERROR_INVAL. */
GkSigningKey *gk_signing_key_load(const char *path, GError **error);

guint16 gk_signing_key_id(const GkSigningKey *key);
void gk_signing_key_public(const GkSigningKey *key, guint8 out_pk[32]);
void gk_signing_key_free(GkSigningKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GkSigningKey, gk_signing_key_free)

/* ---- keyring: the public keys a device accepts, by key id ---- */

/* Not locked: build or change it in one thread; concurrent decodes with a
 * keyring nobody changes are fine. */
typedef struct _GkKeyring GkKeyring;

GkKeyring *gk_keyring_new(void);
void gk_keyring_free(GkKeyring *keyring);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GkKeyring, gk_keyring_free)
/* Adds a key; a key with the same id is replaced. */
void gk_keyring_add(GkKeyring *keyring, guint16 key_id, const guint8 pk[32]);
/* FALSE when no key had that id. */
gboolean gk_keyring_remove(GkKeyring *keyring, guint16 key_id);
/* Copies the public key with that id into @out_pk (may be NULL); FALSE if absent. */
gboolean gk_keyring_lookup(const GkKeyring *keyring, guint16 key_id, guint8 out_pk[32]);
guint gk_keyring_size(const GkKeyring *keyring);

/* ---- encoding and verification ---- */

/* Signs @ticket with @key and returns its text form (GK_TICKET_TEXT_LEN characters,
 * g_free). The key id written is @key's; ticket->key_id is ignored. Nothing random
 * is filled in: set the id with gk_ticket_init_random(). Refuses
 * (GK_TICKET_ERROR_MALFORMED) a version other than GK_TICKET_VERSION, reserved
 * flag bits, times outside 0..GK_TICKET_TIME_MAX, valid_until < valid_from and an
 * all-zero id. */
char *gk_ticket_encode(const GkTicket *ticket, const GkSigningKey *key, GError **error);

/* Verifies and decodes @text_len bytes of scanned text (no NUL needed). Strict:
 * no surrounding whitespace, so a caller reading a keyboard-mode scanner strips
 * its "\r"/"\n" first. Checks, in order: length <= GK_TICKET_TEXT_MAX, prefix,
 * base45, version and exact payload length, key id in @keys, signature, then the
 * signed fields, then valid_from <= @now <= valid_until (@now in Unix seconds).
 * On success fills @out. On GK_TICKET_ERROR_NOT_YET_VALID or _EXPIRED @out holds
 * the (signature-checked) ticket so a verdict can say when it is or was valid; on
 * every other error @out is zeroed. */
gboolean gk_ticket_decode(const char *text, gsize text_len, const GkKeyring *keys,
                          gint64 now, GkTicket *out, GError **error) G_GNUC_WARN_UNUSED_RESULT;
