/* Argon2id password hashing, the password policy and one-time passwords. */
#include "gk-password.h"

#include <argon2.h>
#include <sodium.h>
#include <string.h>

G_DEFINE_QUARK(gk-password-error-quark, gk_password_error)

#define SALT_LEN 16
#define HASH_LEN 32

char *
gk_password_hash(const char *password, GError **error)
{
  g_return_val_if_fail(password != NULL, NULL);
  guint8 salt[SALT_LEN];
  randombytes_buf(salt, sizeof salt);
  gsize enc_len = argon2_encodedlen(GK_PASSWORD_T_COST, GK_PASSWORD_M_COST_KIB, 1, SALT_LEN, HASH_LEN, Argon2_id);
  char *encoded = g_malloc0(enc_len);
  int rc = argon2id_hash_encoded(GK_PASSWORD_T_COST, GK_PASSWORD_M_COST_KIB, 1, password, strlen(password), salt,
                                 sizeof salt, HASH_LEN, encoded, enc_len);
  if (rc != ARGON2_OK) {
    g_free(encoded);
    g_set_error(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_HASH, "password hashing failed: %s",
                argon2_error_message(rc));
    return NULL;
  }
  return encoded;
}

gboolean
gk_password_verify(const char *encoded_hash, const char *password)
{
  if (encoded_hash == NULL || password == NULL || !g_str_has_prefix(encoded_hash, "$argon2id$"))
    return FALSE;
  return argon2id_verify(encoded_hash, password, strlen(password)) == ARGON2_OK;
}

gboolean
gk_password_check_policy(const char *password, GError **error)
{
  g_return_val_if_fail(password != NULL, FALSE);
  gsize len = strlen(password);
  if (len < GK_PASSWORD_MIN_LEN || len > GK_PASSWORD_MAX_LEN) {
    g_set_error(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_POLICY,
                "the password must be %d to %d characters long", GK_PASSWORD_MIN_LEN, GK_PASSWORD_MAX_LEN);
    return FALSE;
  }
  gboolean upper = FALSE, lower = FALSE, digit = FALSE, symbol = FALSE;
  for (const char *p = password; *p; p++) {
    guchar c = (guchar) *p;
    if (c < 0x20 || c > 0x7e) {
      g_set_error(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_POLICY,
                  "the password may hold printable ASCII characters only");
      return FALSE;
    }
    upper |= g_ascii_isupper(c);
    lower |= g_ascii_islower(c);
    digit |= g_ascii_isdigit(c);
    symbol |= !g_ascii_isalnum(c);
  }
  if (upper + lower + digit + symbol < 3) {
    g_set_error(error, GK_PASSWORD_ERROR, GK_PASSWORD_ERROR_POLICY,
                "the password needs at least three of: upper-case letters, lower-case letters, digits, symbols");
    return FALSE;
  }
  return TRUE;
}

char *
gk_password_generate(guint length)
{
  /* No 0/O, 1/l/I: the password is read off a file and typed once. */
  static const char upper[] = "ABCDEFGHJKLMNPQRSTUVWXYZ";
  static const char lower[] = "abcdefghijkmnopqrstuvwxyz";
  static const char digits[] = "23456789";
  static const char symbols[] = "-_.+=%";
  const char *sets[] = { upper, lower, digits, symbols };
  length = MAX(length, 12u);
  char *out = g_malloc0(length + 1);
  for (;;) {
    for (guint i = 0; i < length; i++) {
      const char *set = sets[i < 4 ? i : randombytes_uniform(4)];
      out[i] = set[randombytes_uniform((uint32_t) strlen(set))];
    }
    /* Shuffle so the first four are not always one of each class in order. */
    for (guint i = length - 1; i > 0; i--) {
      guint j = randombytes_uniform(i + 1);
      char t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    if (gk_password_check_policy(out, NULL))
      return out;
  }
}
