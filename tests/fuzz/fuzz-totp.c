/* Fuzz target: what a sign-in request carries for the second factor (a TOTP
 * code, a recovery code) and the base32 secret decoder genkanctl and tests
 * use: no crash, no read past the input, and base32 round-trips. */
#include <stdint.h>
#include <string.h>

#include "srv-totp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const guint8 key[20] = "12345678901234567890";
  char *text = g_strndup((const char *) data, size);
  gint64 step = 0;
  if (srv_totp_verify(key, sizeof key, 1234567890, text, 0, &step) &&
      (strlen(text) != SRV_TOTP_DIGITS || step < srv_totp_step(1234567890) - 1 ||
       step > srv_totp_step(1234567890) + 1))
    __builtin_trap();
  char norm[17];
  if (srv_totp_recovery_normalize(text, norm) && strlen(norm) != 16)
    __builtin_trap();
  guint8 out[64];
  gsize n = 0;
  if (srv_base32_decode(text, out, sizeof out, &n)) {
    char *enc = srv_base32_encode(out, n);
    guint8 back[64];
    gsize m = 0;
    if (!srv_base32_decode(enc, back, sizeof back, &m) || m != n || memcmp(back, out, n) != 0)
      __builtin_trap();
    g_free(enc);
  }
  g_free(text);
  return 0;
}
