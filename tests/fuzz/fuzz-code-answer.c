/* Fuzz target for the kiosk's check of a POST /v1/redeem-code answer
 * (kiosk_visit_parse_code_answer): an accepted answer is one of the four
 * results, with a 32-hex ticket id wherever the result needs one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gk-json.h"
#include "kiosk-visit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  JsonNode *root = gk_json_parse_object((const char *) data, size, 1 << 20, NULL);
  if (root == NULL)
    return 0;
  KioskCodeAnswer a;
  if (kiosk_visit_parse_code_answer(json_node_get_object(root), &a, NULL)) {
    gboolean needs_ticket = a.result == KIOSK_CODE_ACCEPTED || a.result == KIOSK_CODE_ALREADY_USED;
    if (a.result > KIOSK_CODE_NOT_YET_VALID || (needs_ticket && strlen(a.ticket_id) != 32))
      abort();
    for (const char *p = a.ticket_id; *p; p++)
      if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
        abort();
    if (a.result != KIOSK_CODE_ACCEPTED && (a.visitor != NULL || a.host_name != NULL))
      abort();
  }
  kiosk_code_answer_clear(&a);
  json_node_unref(root);
  return 0;
}
