/* Fuzz target: enrollment code parsing; what parses must format back to the
 * same canonical text. */
#include <stdint.h>
#include <string.h>

#include "gk-enroll-code.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = g_strndup((const char *) data, size);
  GkEnrollCode code;
  GError *error = NULL;
  if (gk_enroll_code_parse(text, 0, &code, &error)) {
    char *again = gk_enroll_code_format(&code, NULL);
    GkEnrollCode back;
    if (again == NULL || !gk_enroll_code_parse(again, 0, &back, NULL) || memcmp(&back, &code, sizeof code) != 0)
      __builtin_trap();
    g_free(again);
  } else {
    if (error == NULL)
      __builtin_trap();
    g_error_free(error);
  }
  g_free(text);
  return 0;
}
