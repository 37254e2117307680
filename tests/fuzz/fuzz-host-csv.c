/* Fuzz target: the hosts CSV an admin imports (srv_host_csv_parse) must refuse
 * malformed text cleanly, or return either good rows or problems, never both,
 * with every good row inside the rules the store relies on. */
#include <stdint.h>
#include <string.h>

#include "srv-host-csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_row(const SrvHostCsvRow *row, guint last_line, SrvHostCsvFlags flags)
{
  const char *why = NULL;
  if (row->line < 2 || row->line < last_line || row->name == NULL || !srv_host_text_ok(row->name, &why))
    __builtin_trap();
  if ((row->reading != NULL && !srv_host_text_ok(row->reading, &why)) ||
      (row->department != NULL && !srv_host_text_ok(row->department, &why)) ||
      (row->email != NULL && !srv_host_email_ok(row->email, &why)))
    __builtin_trap();
  if (row->channel != NULL) {
    char *channel = NULL, *target = NULL;
    if (!srv_host_channel_parse(row->channel, &channel, &target, NULL))
      __builtin_trap();
    if (strcmp(channel, "email") == 0 && ((target == NULL && row->email == NULL) || (flags & SRV_HOST_CSV_NO_EMAIL)))
      __builtin_trap();
    g_free(channel);
    g_free(target);
  }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  SrvHostCsv csv;
  GError *error = NULL;
  /* The last byte's low bit picks the flags (the file may or may not end with it). */
  SrvHostCsvFlags flags = size > 0 && (data[size - 1] & 1) ? SRV_HOST_CSV_NO_EMAIL : SRV_HOST_CSV_NONE;
  if (!srv_host_csv_parse((const char *) data, size, flags, &csv, &error)) {
    /* Refused: a reason, and nothing half-filled. */
    if (error == NULL || csv.rows != NULL || csv.problems != NULL)
      __builtin_trap();
    g_error_free(error);
    return 0;
  }
  if (error != NULL || csv.rows == NULL || csv.problems == NULL)
    __builtin_trap();
  /* All or nothing: any problem means no rows. */
  if (csv.problems->len > 0 && csv.rows->len > 0)
    __builtin_trap();
  guint last = 0;
  for (guint i = 0; i < csv.rows->len; i++) {
    const SrvHostCsvRow *row = &g_array_index(csv.rows, SrvHostCsvRow, i);
    check_row(row, last, flags);
    last = row->line;
  }
  last = 0;
  for (guint i = 0; i < csv.problems->len; i++) {
    const SrvHostCsvProblem *p = &g_array_index(csv.problems, SrvHostCsvProblem, i);
    if (p->line < 2 || p->line < last || p->reason == NULL || p->column == NULL ||
        !g_utf8_validate(p->reason, -1, NULL) || !g_utf8_validate(p->column, -1, NULL))
      __builtin_trap();
    last = p->line;
  }
  srv_host_csv_clear(&csv);
  return 0;
}
