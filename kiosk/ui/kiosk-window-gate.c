/* Gate mode: one full-screen verdict per scan, green or red with the reason
 * in plain words, then "ready" again. A new scan is taken at any moment. */
#include <glib/gi18n-lib.h>

#include "kiosk-window-private.h"

#define GATE_VERDICT_MS 2500

const char *
kiosk_window_reason_text(KioskReason reason)
{
  switch (reason) {
  case KIOSK_REASON_OK:
    return _("Welcome");
  case KIOSK_REASON_ALREADY_USED:
    return _("This ticket has already been used");
  case KIOSK_REASON_BAD_SIGNATURE:
    return _("This ticket is not genuine");
  case KIOSK_REASON_EXPIRED:
    return _("This ticket has expired");
  case KIOSK_REASON_NOT_YET_VALID:
    return _("This ticket is not valid yet");
  case KIOSK_REASON_REVOKED:
    return _("This ticket was cancelled");
  case KIOSK_REASON_WRONG_SITE:
    return _("This ticket is for another site");
  case KIOSK_REASON_MALFORMED:
    return _("This is not a Genkan ticket");
  case KIOSK_REASON_UNKNOWN_KEY:
    return _("This ticket cannot be checked on this device");
  case KIOSK_REASON_UNKNOWN_TICKET:
    return _("This ticket is unknown");
  case KIOSK_REASON_INTERNAL_ERROR:
  default:
    return _("Device error: please call staff");
  }
}

static void
set_gate_class(KioskWindow *self, const char *state)
{
  static const char *const states[] = { "ready", "accepted", "rejected" };
  for (guint i = 0; i < G_N_ELEMENTS(states); i++)
    gtk_widget_remove_css_class(GTK_WIDGET(self->gate_box), states[i]);
  gtk_widget_add_css_class(GTK_WIDGET(self->gate_box), state);
}

void
kiosk_window_gate_ready(KioskWindow *self)
{
  g_clear_handle_id(&self->gate_timeout, g_source_remove);
  set_gate_class(self, "ready");
  gtk_label_set_text(self->gate_title, _("Scan your ticket"));
  gtk_label_set_text(self->gate_reason, "");
  gtk_label_set_text(self->gate_detail, _("Hold the QR code up to the camera or the scanner."));
  gtk_widget_set_visible(GTK_WIDGET(self->gate_picture), TRUE);
}

static gboolean
gate_timeout(gpointer data)
{
  KioskWindow *self = data;
  self->gate_timeout = 0;
  kiosk_window_gate_ready(self);
  return G_SOURCE_REMOVE;
}

static void
show_verdict(KioskWindow *self, const KioskVerdict *v)
{
  set_gate_class(self, v->accepted ? "accepted" : "rejected");
  gtk_label_set_text(self->gate_title, v->accepted ? _("ACCEPTED") : _("REJECTED"));
  gtk_label_set_text(self->gate_reason, kiosk_window_reason_text(v->reason));
  g_autofree char *detail = NULL;
  if (v->reason == KIOSK_REASON_ALREADY_USED && v->used_at > 0) {
    g_autofree char *when = kiosk_window_format_time(v->used_at, TRUE);
    detail = g_strdup_printf(_("First used at %s at %s"), when, v->used_by != NULL ? v->used_by : _("another gate"));
  } else if (v->checkout && v->accepted) {
    detail = g_strdup(_("Goodbye"));
  }
  gtk_label_set_text(self->gate_detail, detail != NULL ? detail : "");
  gtk_widget_set_visible(GTK_WIDGET(self->gate_picture), FALSE);
  g_clear_handle_id(&self->gate_timeout, g_source_remove);
  self->gate_timeout = g_timeout_add(GATE_VERDICT_MS, gate_timeout, self);
  kiosk_window_signal_verdict(self, v->accepted);
}

typedef struct {
  KioskWindow *window;
  guint serial;
} GateScan;

static void
gate_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GateScan *scan = user_data;
  g_autoptr(KioskWindow) self = scan->window;
  guint serial = scan->serial;
  g_free(scan);
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (gtk_widget_in_destruction(GTK_WIDGET(self)) || serial != self->scan_serial)
    return; /* a newer scan's verdict is (or will be) on screen */
  if (reply == NULL) {
    KioskVerdict v = { .reason = KIOSK_REASON_INTERNAL_ERROR };
    show_verdict(self, &v);
    return;
  }
  show_verdict(self, &reply->verdict);
  kiosk_window_note_latency(self, reply->frame_time_us);
}

void
kiosk_window_gate_scan(KioskWindow *self, const char *text, gsize len, gint64 frame_time_us)
{
  GateScan *scan = g_new0(GateScan, 1);
  scan->window = g_object_ref(self);
  scan->serial = ++self->scan_serial;
  kiosk_engine_scan_async(self->engine, text, len, KIOSK_SCAN_FOR_CHECKIN, frame_time_us, gate_done, scan);
}
