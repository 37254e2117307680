/* Fuzz target: the bodies of the retention routes (srv_retention_parse_body
 * for POST /v1/sites/{id}/retention, srv_retention_parse_confirm for DELETE
 * /v1/sites/{id}) must refuse bad input cleanly, leaving the settings as they
 * were, or accept it with every value within its bounds. The first byte picks
 * the parser. */
#include <stdint.h>
#include <string.h>

#include "srv-retention.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_body(const char *text, size_t len)
{
  SrvRetention r = { .site_id = 7, .visitor_days = 90, .audit_days = 400 };
  GError *error = NULL;
  if (!srv_retention_parse_body(text, len, &r, &error)) {
    /* Refused: a reason, and the settings untouched. */
    if (error == NULL || r.site_id != 7 || r.visitor_days != 90 || r.audit_days != 400)
      __builtin_trap();
    g_error_free(error);
    return;
  }
  if (error != NULL || r.site_id != 7)
    __builtin_trap();
  if (r.visitor_days < SRV_RETENTION_VISITOR_MIN || r.visitor_days > SRV_RETENTION_VISITOR_MAX ||
      r.audit_days < SRV_RETENTION_AUDIT_MIN || r.audit_days > SRV_RETENTION_AUDIT_MAX)
    __builtin_trap();
}

static void
check_confirm(const char *text, size_t len)
{
  char *confirm = NULL;
  GError *error = NULL;
  if (!srv_retention_parse_confirm(text, len, &confirm, &error)) {
    if (error == NULL || confirm != NULL)
      __builtin_trap();
    g_error_free(error);
    return;
  }
  if (confirm == NULL || *confirm == '\0' || strlen(confirm) > 200 || !g_utf8_validate(confirm, -1, NULL))
    __builtin_trap();
  g_free(confirm);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *text = (const char *) data + 1;
  if (data[0] & 1)
    check_confirm(text, size - 1);
  else
    check_body(text, size - 1);
  return 0;
}
