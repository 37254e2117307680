/* Prints a fresh TOTP code for shell tests, from a file "SECRET STEP" (base32
 * secret, last step used) that it updates; waits for the next 30-second step
 * when the window holds no unused one.   helper-totp FILE */
#include <stdio.h>

#include "gk-test-server.h"

int
main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  char *code = gk_test_totp_next_from_file(argv[1]);
  printf("%s\n", code);
  g_free(code);
  return 0;
}
