/* TOTP second factor (RFC 6238: HMAC-SHA-1, 30-second steps, 6 digits), its
 * base32 secrets and otpauth:// URIs, and one-time recovery codes. */
#pragma once
#include <glib.h>

#define SRV_TOTP_SECRET_LEN 20   /* bytes: the HMAC-SHA-1 block RFC 4226 recommends (160 bits) */
#define SRV_TOTP_PERIOD 30
#define SRV_TOTP_DIGITS 6
#define SRV_TOTP_WINDOW 1        /* steps accepted either side of now (clock drift) */
#define SRV_TOTP_RECOVERY_CODES 10
/* "abcd-efgh-jkmn-pqrs": 16 base32 characters (80 bits) in four groups. */
#define SRV_TOTP_RECOVERY_LEN 19

/* The HOTP value (RFC 4226) of @key at @counter, @digits (6..8) digits. */
guint32 srv_totp_hotp(const guint8 *key, gsize key_len, guint64 counter, guint digits);
/* The time step of Unix time @now. */
gint64 srv_totp_step(gint64 now);

/* Checks a typed @code (exactly SRV_TOTP_DIGITS digits; FALSE for anything
 * else) against the steps now-1 .. now+1 that are later than @last_step (a
 * code is spent with its step: a step once used, and every earlier one, never
 * counts again). On success *out_step is the step that matched, for the caller
 * to record as the new last step. Runs in time independent of which step
 * matched. */
gboolean srv_totp_verify(const guint8 *secret, gsize secret_len, gint64 now, const char *code, gint64 last_step,
                         gint64 *out_step);

/* RFC 4648 base32 without padding (g_free). */
char *srv_base32_encode(const guint8 *data, gsize len);
/* Decodes base32 (upper or lower case, spaces ignored, no padding) into @out
 * (room for @max bytes); FALSE on any other character or a dangling bit group. */
gboolean srv_base32_decode(const char *text, guint8 *out, gsize max, gsize *out_len);

/* otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 * with the label parts percent-encoded (g_free). */
char *srv_totp_uri(const char *issuer, const char *account, const guint8 *secret, gsize secret_len);

/* A fresh recovery code in the display form (g_free). */
char *srv_totp_recovery_new(void);
/* Normalises a typed recovery code (case, dashes and spaces ignored) into the
 * 16 lower-case characters it stands for (@out: 17 bytes); FALSE when it is not
 * one. */
gboolean srv_totp_recovery_normalize(const char *text, char out[17]);
/* The stored form of a normalised code: SHA-256 of the account id and the code
 * (80 random bits make a slow hash unnecessary; the id keeps equal codes of two
 * accounts apart). */
void srv_totp_recovery_hash(gint64 account_id, const char normalized[17], guint8 out[32]);
