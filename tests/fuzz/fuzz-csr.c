/* Fuzz target: enrollment CSRs from devices. Whatever the bytes, signing either
 * fails with an error or yields a certificate whose subject the server chose. */
#include <mbedtls/x509_crt.h>
#include <stdint.h>
#include <string.h>

#include "gk-test-util.h"
#include "srv-ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SrvCa *
fuzz_ca(void)
{
  static SrvCa *ca;
  if (ca == NULL) {
    /* One CA for the whole run; its directory is removed right away, the CA
     * object keeps what it loaded. */
    char *dir = gk_test_make_tmpdir("genkan-fuzz-ca");
    ca = srv_ca_create(dir, "Fuzz CA", NULL);
    gk_test_rmtree(dir);
    g_free(dir);
    if (ca == NULL)
      __builtin_trap();
  }
  return ca;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GError *error = NULL;
  guint8 serial[SRV_CA_SERIAL_LEN];
  char *pem = srv_ca_sign_device_csr(fuzz_ca(), data, size, "dev-fuzz", 1, serial, &error);
  if (pem == NULL) {
    if (error == NULL)
      __builtin_trap();
    g_error_free(error);
    return 0;
  }
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  char subject[256];
  if (mbedtls_x509_crt_parse(&crt, (const unsigned char *) pem, strlen(pem) + 1) != 0 ||
      mbedtls_x509_dn_gets(subject, sizeof subject, &crt.subject) < 0 || strstr(subject, "CN=dev-fuzz") == NULL ||
      crt.ca_istrue)
    __builtin_trap();
  mbedtls_x509_crt_free(&crt);
  g_free(pem);
  return 0;
}
