/* Fuzz target for the one parser of events devices push (srv_visit_parse_event),
 * walk-ins and check-outs included: whatever the input, an accepted event obeys
 * the protocol's rules (a walk-in has a well-formed visit id and a visitor name
 * that passes the visitor text rules; visitor data only on walk-ins; a photo
 * only on a walk-in, and then a JPEG within the size limit). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gk-json.h"
#include "gk-visit.h"
#include "srv-visit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  JsonNode *root = gk_json_parse_object((const char *) data, size, 1 << 20, NULL);
  if (root == NULL)
    return 0;
  SrvEvent ev = { 0 };
  if (srv_visit_parse_event(root, 0, &ev, NULL)) {
    if (ev.id == NULL || !srv_event_id_ok(ev.id))
      abort();
    if (ev.visit_id != NULL && !gk_visit_id_ok(ev.visit_id))
      abort();
    if (ev.kind == SRV_EVENT_WALKIN) {
      if (ev.visit_id == NULL || ev.has_ticket || !gk_visit_text_ok(ev.visitor_name, GK_VISIT_NAME_MAX, NULL))
        abort();
      if (ev.company != NULL && !gk_visit_text_ok(ev.company, GK_VISIT_COMPANY_MAX, NULL))
        abort();
      if (ev.purpose != NULL && !gk_visit_text_ok(ev.purpose, GK_VISIT_PURPOSE_MAX, NULL))
        abort();
    } else if (ev.visitor_name != NULL || ev.company != NULL || ev.purpose != NULL || ev.host_id != 0) {
      abort();
    }
    if (ev.photo != NULL) {
      gsize len = 0;
      const guint8 *jpeg = g_bytes_get_data(ev.photo, &len);
      if (ev.kind != SRV_EVENT_WALKIN || !srv_visit_photo_ok(jpeg, len))
        abort();
    }
    if (ev.kind == SRV_EVENT_CHECKIN && !ev.has_ticket)
      abort();
    if (ev.kind == SRV_EVENT_CHECKOUT && !ev.has_ticket && ev.visit_id == NULL)
      abort();
  }
  srv_event_clear(&ev);
  json_node_unref(root);
  return 0;
}
