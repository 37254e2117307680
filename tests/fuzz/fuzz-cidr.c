/* Fuzz target: the allow-list CIDR parser and the peer-address parser; what
 * parses must format to a canonical text that parses back to the same range,
 * and a range always contains its own network address. */
#include <stdint.h>
#include <string.h>

#include "srv-cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = g_strndup((const char *) data, size);
  SrvCidr range, again, ip;
  GError *error = NULL;
  if (srv_cidr_parse(text, &range, &error)) {
    char *canonical = srv_cidr_to_string(&range);
    if (!srv_cidr_parse(canonical, &again, NULL) || memcmp(&again, &range, sizeof range) != 0)
      __builtin_trap();
    char *slash = strchr(canonical, '/');
    *slash = '\0';
    if (!srv_ip_parse(canonical, &ip) || !srv_cidr_contains(&range, &ip))
      __builtin_trap();
    g_free(canonical);
  } else {
    if (error == NULL)
      __builtin_trap();
    g_error_free(error);
  }
  if (srv_ip_parse(text, &ip) && (ip.family != 4 && ip.family != 6))
    __builtin_trap();
  g_free(text);
  return 0;
}
