/* Fuzz target: the query strings of GET /v1/exports/visits|checkins|hosts.
 * A query that parses has values within the documented bounds (a label only
 * for visits, visible text without a comma; until after since); one that does
 * not leaves nothing behind and says why. */
#include <stdint.h>
#include <string.h>

#include "srv-export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *text, SrvExportKind kind)
{
  SrvExportQuery q;
  GError *error = NULL;
  if (srv_export_query_parse(text, kind, &q, &error)) {
    if (error != NULL || q.since < 0 || q.until < 0 || (q.has_until && q.until == 0) ||
        (q.has_since && q.has_until && q.until <= q.since) || (!q.has_since && q.since != 0))
      __builtin_trap();
    if (q.label != NULL && (kind != SRV_EXPORT_VISITS || q.label[0] == '\0' || strlen(q.label) > SRV_EXPORT_LABEL_MAX ||
                            strchr(q.label, ',') != NULL || !g_utf8_validate(q.label, -1, NULL)))
      __builtin_trap();
    srv_export_query_clear(&q);
  } else {
    if (error == NULL || error->message == NULL || q.label != NULL || q.bom || q.has_since || q.has_until)
      __builtin_trap();
    g_error_free(error);
  }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = g_strndup((const char *) data, size);
  for (int kind = 0; kind < SRV_EXPORT_N_KINDS; kind++)
    check(text, (SrvExportKind) kind);
  g_free(text);
  return 0;
}
