/* Passwords and PINs: Argon2id hashes (never plain text), the password policy,
 * and random one-time passwords. */
#pragma once
#include <glib.h>

#define GK_PASSWORD_ERROR gk_password_error_quark()
GQuark gk_password_error_quark(void);
typedef enum {
  GK_PASSWORD_ERROR_POLICY, /* the password breaks the policy; message says how */
  GK_PASSWORD_ERROR_HASH,   /* hashing failed or a stored hash is malformed */
} GkPasswordError;

/* Argon2id cost: 19 MiB and 2 passes (OWASP's minimum for Argon2id). */
#define GK_PASSWORD_M_COST_KIB 19456
#define GK_PASSWORD_T_COST 2
#define GK_PASSWORD_MIN_LEN 8
#define GK_PASSWORD_MAX_LEN 128

/* The PHC-encoded Argon2id hash of @password with a fresh random salt (g_free). */
char *gk_password_hash(const char *password, GError **error);
/* Constant-time check of @password against an encoded hash; FALSE on mismatch or
 * on a malformed hash (never an exception for the caller to forget). */
gboolean gk_password_verify(const char *encoded_hash, const char *password);
/* 8–128 printable ASCII characters with at least 3 of: upper, lower, digit, symbol. */
gboolean gk_password_check_policy(const char *password, GError **error);
/* A random password that meets the policy: @length (>= 12) characters from an
 * alphabet without look-alikes (g_free, then the caller forgets it). */
char *gk_password_generate(guint length);
