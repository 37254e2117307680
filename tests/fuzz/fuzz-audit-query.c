/* Fuzz target: the audit log's query strings (GET /v1/audit, /v1/audit/export).
 * A query that parses has values within the documented bounds; one that does
 * not leaves nothing behind and says why. */
#include <stdint.h>
#include <string.h>

#include "srv-audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *text, gboolean allow_bom)
{
  SrvAuditQuery q;
  GError *error = NULL;
  if (srv_audit_query_parse(text, allow_bom, &q, &error)) {
    if (error != NULL || q.limit > SRV_AUDIT_LIST_MAX || q.since < 0 || q.after_seq < 0 || (q.bom && !allow_bom))
      __builtin_trap();
    const char *names[] = { q.actor, q.action };
    for (guint i = 0; i < G_N_ELEMENTS(names); i++)
      if (names[i] != NULL && (names[i][0] == '\0' || strlen(names[i]) > 128 || !g_utf8_validate(names[i], -1, NULL)))
        __builtin_trap();
    srv_audit_query_clear(&q);
  } else {
    if (error == NULL || q.actor != NULL || q.action != NULL)
      __builtin_trap();
    g_error_free(error);
  }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = g_strndup((const char *) data, size);
  check(text, FALSE);
  check(text, TRUE);
  g_free(text);
  return 0;
}
