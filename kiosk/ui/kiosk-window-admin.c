/* Staff screens: the admin PIN (checked by the engine against the Argon2id
 * hash the server pushed), device status, sync now, re-enroll, and the
 * first-start enrollment screen. */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "kiosk-window-private.h"

#define PIN_MAX 12

static void
show_pin(KioskWindow *self)
{
  g_autoptr(GString) dots = g_string_new(NULL);
  for (gsize i = 0; i < self->pin->len; i++)
    g_string_append(dots, "●");
  gtk_label_set_text(self->admin_pin_display, dots->str);
}

static void
wipe_pin(KioskWindow *self)
{
  memset(self->pin->str, 0, self->pin->len);
  g_string_truncate(self->pin, 0);
  show_pin(self);
}

static void
status_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (reply == NULL || gtk_widget_in_destruction(GTK_WIDGET(self)))
    return;
  const KioskEngineStatus *st = &reply->status;
  g_autofree char *last_sync = st->last_sync_at > 0 ? kiosk_window_format_time(st->last_sync_at, TRUE)
                                                    : g_strdup(_("never"));
  g_autofree char *cert = st->cert_expires_at > 0 ? kiosk_window_format_time(st->cert_expires_at, TRUE)
                                                  : g_strdup("-");
  g_autofree char *text = g_strdup_printf(
    "%s\t%s\n%s\t%s\n%s\t%s\n%s\t%s\n%s\t%s\n%s\t%s\n%s\t%" G_GINT64_FORMAT "\n%s\t%+.1f s\n%s\t%" G_GINT64_FORMAT
    "\n%s\t%s",
    _("Device"), st->device_id != NULL ? st->device_id : "-",
    _("Name"), st->device_name != NULL ? st->device_name : "-",
    _("Enrolled"), st->enrolled ? _("yes") : _("no"),
    _("Mode"), st->mode != NULL ? st->mode : "-",
    _("Server"), st->server != NULL ? st->server : "-",
    _("Last sync"), last_sync,
    _("Queue"), st->queue_length,
    _("Clock offset"), (double) st->clock_offset_ms / 1000.0,
    _("Settings version"), st->config_version,
    _("Certificate until"), cert);
  gtk_label_set_text(self->admin_status, text);
}

static void
show_status(KioskWindow *self)
{
  gtk_stack_set_visible_child_name(self->admin_stack, "status");
  kiosk_engine_status_async(self->engine, status_done, g_object_ref(self));
}

static void
pin_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  self->busy = FALSE;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (gtk_widget_in_destruction(GTK_WIDGET(self)))
    return;
  wipe_pin(self);
  if (reply != NULL) {
    self->admin_unlocked = TRUE;
    gtk_label_set_text(self->admin_error, "");
    show_status(self);
    return;
  }
  if (g_error_matches(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_NO_PIN))
    gtk_label_set_text(self->admin_error, _("No admin PIN is set for this device. Set one from the server."));
  else if (g_error_matches(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_PIN_LOCKED))
    gtk_label_set_text(self->admin_error, g_strcmp0(error->message, "wrong PIN") == 0
                                            ? _("Wrong PIN.")
                                            : _("Too many wrong PINs. Please wait and try again."));
  else
    gtk_label_set_text(self->admin_error, _("The PIN could not be checked."));
}

void
kiosk_window_pin_digit(KioskWindow *self, const char *digit)
{
  if (self->pin->len < PIN_MAX)
    g_string_append(self->pin, digit);
  show_pin(self);
}

static void
on_pin_digit(KioskKeypad *keypad, const char *digit, KioskWindow *self)
{
  kiosk_window_pin_digit(self, digit);
}

static void
on_pin_delete(KioskKeypad *keypad, KioskWindow *self)
{
  if (self->pin->len > 0) {
    self->pin->str[self->pin->len - 1] = 0;
    g_string_truncate(self->pin, self->pin->len - 1);
  }
  show_pin(self);
}

static void
on_pin_submit(KioskKeypad *keypad, KioskWindow *self)
{
  if (self->busy || self->pin->len == 0)
    return;
  self->busy = TRUE;
  gtk_label_set_text(self->admin_error, _("Checking…"));
  kiosk_engine_check_pin_async(self->engine, self->pin->str, pin_done, g_object_ref(self));
}

static void
action_admin(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  if (!kiosk_engine_is_enrolled(self->engine))
    return;
  wipe_pin(self);
  gtk_label_set_text(self->admin_error, "");
  gtk_stack_set_visible_child_name(self->admin_stack, "pin");
  kiosk_window_show_page(self, "admin");
}

static void
action_sync_now(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  if (!self->admin_unlocked)
    return;
  kiosk_engine_sync_now(self->engine);
  show_status(self);
}

static void
action_reenroll(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  if (!self->admin_unlocked)
    return;
  g_autoptr(GError) error = NULL;
  if (!kiosk_engine_forget(self->engine, &error)) {
    gtk_label_set_text(self->admin_error, error->message);
    return;
  }
  kiosk_window_go_home(self);
}

/* ---- enrollment ------------------------------------------------------------------ */

static void
enroll_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  self->busy = FALSE;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (gtk_widget_in_destruction(GTK_WIDGET(self)))
    return;
  if (reply == NULL) {
    /* The reason is for the installer standing at the device: it names what
     * failed (expired code, wrong server), never a secret. */
    g_autofree char *msg = g_strdup_printf(_("Enrollment failed: %s"), error->message);
    gtk_label_set_text(self->enroll_status, msg);
    return;
  }
  gtk_label_set_text(self->enroll_status, "");
  kiosk_window_go_home(self);
}

void
kiosk_window_enroll(KioskWindow *self, const char *code)
{
  if (self->busy)
    return;
  self->busy = TRUE;
  gtk_label_set_text(self->enroll_status, _("Enrolling…"));
  kiosk_engine_enroll_async(self->engine, code, enroll_done, g_object_ref(self));
}

static void
action_enroll_typed(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  g_autofree char *code = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(self->enroll_entry))));
  if (*code == '\0') {
    gtk_label_set_text(self->enroll_status, _("Type or scan the enrollment code first."));
    return;
  }
  gtk_editable_set_text(GTK_EDITABLE(self->enroll_entry), "");
  kiosk_window_enroll(self, code);
}

void
kiosk_window_class_init_admin(GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action(widget_class, "win.admin", NULL, action_admin);
  gtk_widget_class_install_action(widget_class, "win.sync-now", NULL, action_sync_now);
  gtk_widget_class_install_action(widget_class, "win.reenroll", NULL, action_reenroll);
  gtk_widget_class_install_action(widget_class, "win.enroll-typed", NULL, action_enroll_typed);
}

void
kiosk_window_init_admin(KioskWindow *self)
{
  g_signal_connect(self->admin_keypad, "digit", G_CALLBACK(on_pin_digit), self);
  g_signal_connect(self->admin_keypad, "delete", G_CALLBACK(on_pin_delete), self);
  g_signal_connect(self->admin_keypad, "submit", G_CALLBACK(on_pin_submit), self);
}
