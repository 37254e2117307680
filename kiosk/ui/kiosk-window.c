/* The kiosk window: screen flow for reception and gate mode. Widgets only show
 * what the engine decided; every engine call is asynchronous. */
#include "kiosk-window.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "gk-log.h"
#include "gk-logo.h"
#include "kiosk-keyboard.h"
#include "kiosk-keypad.h"
#include "kiosk-window-private.h"

G_DEFINE_FINAL_TYPE(KioskWindow, kiosk_window, GTK_TYPE_APPLICATION_WINDOW)

/* Keystrokes from a USB scanner come this close together; slower typing is a
 * person and starts a new buffer. */
#define WEDGE_GAP_US (80 * 1000)
#define WEDGE_MAX 1024

/* ---- small helpers --------------------------------------------------------------- */

static void
set_text(GtkLabel *label, const char *text)
{
  gtk_label_set_text(label, text != NULL ? text : "");
}

static void
clear_entry(GtkEditable *entry)
{
  gtk_editable_set_text(entry, "");
}

static void
clear_list(GtkListBox *list)
{
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(list))) != NULL)
    gtk_list_box_remove(list, child);
}

/* "12:34" local time of a Unix time, for screens. */
char *
kiosk_window_format_time(gint64 unix_time, gboolean with_date)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(unix_time);
  if (dt == NULL)
    return g_strdup("?");
  return g_date_time_format(dt, with_date ? "%Y-%m-%d %H:%M" : "%H:%M");
}

/* Codes shown as dots or digits while typed. */
static void
show_buffer(GtkLabel *label, const GString *buffer, gboolean masked)
{
  if (!masked) {
    gtk_label_set_text(label, buffer->str);
    return;
  }
  g_autoptr(GString) dots = g_string_new(NULL);
  for (gsize i = 0; i < buffer->len; i++)
    g_string_append(dots, "●");
  gtk_label_set_text(label, dots->str);
}

static void
wipe_buffer(GString *buffer)
{
  memset(buffer->str, 0, buffer->len);
  g_string_truncate(buffer, 0);
}

/* ---- navigation ------------------------------------------------------------------ */

void
kiosk_window_show_page(KioskWindow *self, const char *name)
{
  gtk_stack_set_visible_child_name(self->pages, name);
  self->last_activity_us = g_get_monotonic_time();
  GtkPicture *pictures[] = { self->scan_picture, self->leaving_picture, self->gate_picture, self->enroll_picture,
                             self->photo_live };
  for (guint i = 0; i < G_N_ELEMENTS(pictures); i++)
    gtk_picture_set_paintable(pictures[i], self->preview);
}

static gboolean
is_gate(KioskWindow *self)
{
  return g_strcmp0(kiosk_engine_mode(self->engine), "gate") == 0;
}

/* Forgets everything the last visitor typed or was shown: personal data does
 * not outlive the flow on screen or in our buffers. */
static void
clear_flow(KioskWindow *self)
{
  g_clear_handle_id(&self->done_timeout, g_source_remove);
  GtkEditable *entries[] = { GTK_EDITABLE(self->walkin_name), GTK_EDITABLE(self->walkin_company),
                             GTK_EDITABLE(self->walkin_purpose), GTK_EDITABLE(self->walkin_host_search),
                             GTK_EDITABLE(self->leaving_search), GTK_EDITABLE(self->enroll_entry) };
  for (guint i = 0; i < G_N_ELEMENTS(entries); i++)
    clear_entry(entries[i]);
  GtkLabel *labels[] = { self->done_title, self->done_detail, self->done_notified, self->done_badge,
                         self->walkin_error, self->code_error, self->leaving_error, self->admin_error,
                         self->scan_status, self->admin_status };
  for (guint i = 0; i < G_N_ELEMENTS(labels); i++)
    set_text(labels[i], NULL);
  clear_list(self->walkin_hosts);
  clear_list(self->leaving_list);
  g_clear_pointer(&self->present, g_ptr_array_unref);
  wipe_buffer(self->code);
  wipe_buffer(self->pin);
  wipe_buffer(self->wedge);
  show_buffer(self->code_display, self->code, FALSE);
  show_buffer(self->admin_pin_display, self->pin, TRUE);
  self->host_id = 0;
  self->admin_unlocked = FALSE;
  kiosk_window_badge_forget(self);
  kiosk_window_photo_forget(self);
}

void
kiosk_window_go_home(KioskWindow *self)
{
  clear_flow(self);
  if (!kiosk_engine_is_enrolled(self->engine)) {
    kiosk_window_show_page(self, "enroll");
  } else if (is_gate(self)) {
    kiosk_window_gate_ready(self);
    kiosk_window_show_page(self, "gate");
  } else {
    kiosk_window_show_page(self, "welcome");
  }
}

const char *
kiosk_window_page(KioskWindow *self)
{
  const char *page = gtk_stack_get_visible_child_name(self->pages);
  if (g_strcmp0(page, "admin") == 0)
    return g_strcmp0(gtk_stack_get_visible_child_name(self->admin_stack), "status") == 0 ? "admin/status"
                                                                                            : "admin/pin";
  return page;
}

/* ---- the status corner and settings -------------------------------------------- */

static void
on_state_changed(KioskEngine *engine, KioskWindow *self)
{
  gtk_widget_set_visible(GTK_WIDGET(self->offline_badge),
                         kiosk_engine_is_enrolled(engine) && !kiosk_engine_online(engine));
}

/* The logo was checked when it arrived (kiosk-settings.c); a PNG that still
 * does not decode leaves the welcome screen without one rather than broken. */
static void
apply_logo(KioskWindow *self)
{
  const char *text = kiosk_engine_setting(self->engine, "logo");
  g_autoptr(GBytes) png = text != NULL ? gk_logo_decode(text, NULL, NULL, NULL) : NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GError) error = NULL;
  if (png != NULL && (texture = gdk_texture_new_from_bytes(png, &error)) == NULL)
    GK_LOG_WARN("kiosk.logo.undecodable", GK_STR("error", error->message));
  gtk_picture_set_paintable(self->site_logo, GDK_PAINTABLE(texture));
  gtk_widget_set_visible(GTK_WIDGET(self->site_logo), texture != NULL);
}

static void
apply_site_text(KioskWindow *self)
{
  apply_logo(self);
  set_text(self->site_label, kiosk_engine_setting(self->engine, "site-text"));
  const char *terms = kiosk_engine_setting(self->engine, "terms-text");
  set_text(self->terms_text, terms);
}

static void
on_settings_changed(KioskEngine *engine, KioskWindow *self)
{
  apply_site_text(self);
  kiosk_window_devices_configure(self);
  const char *page = kiosk_window_page(self);
  /* A mode change takes effect on the idle screens only: never mid-visit. */
  if (g_strcmp0(page, "welcome") == 0 || g_strcmp0(page, "gate") == 0)
    kiosk_window_go_home(self);
}

static void
on_revoked(KioskEngine *engine, KioskWindow *self)
{
  kiosk_window_go_home(self);
  set_text(self->enroll_status, _("This device was removed by an administrator. Its data has been erased."));
}

/* ---- the clock, idle timeout -------------------------------------------------------- */

static gboolean
on_tick(gpointer data)
{
  KioskWindow *self = data;
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *clock = g_date_time_format(now, "%H:%M");
  gtk_label_set_text(self->clock_label, clock);

  const char *page = gtk_stack_get_visible_child_name(self->pages);
  gboolean resting = g_strcmp0(page, "welcome") == 0 || g_strcmp0(page, "gate") == 0 ||
                     g_strcmp0(page, "enroll") == 0;
  gint64 idle_s = kiosk_engine_setting_int(self->engine, "idle-timeout-s");
  if (idle_s <= 0)
    idle_s = 60;
  if (!resting && g_get_monotonic_time() - self->last_activity_us > idle_s * G_USEC_PER_SEC)
    kiosk_window_go_home(self);
  return G_SOURCE_CONTINUE;
}

static void
note_activity(KioskWindow *self)
{
  self->last_activity_us = g_get_monotonic_time();
}

static void
on_click(GtkGestureClick *gesture, int n_press, double x, double y, KioskWindow *self)
{
  note_activity(self);
}

/* ---- scans: camera and keyboard wedge -------------------------------------------- */

static gboolean
looks_like_code(const char *text)
{
  return g_str_has_prefix(text, "GK1:") || g_str_has_prefix(text, "GKB1:") || g_str_has_prefix(text, "GKE1:");
}

void
kiosk_window_handle_scan(KioskWindow *self, const char *text, gsize len, gint64 frame_time_us)
{
  g_return_if_fail(KIOSK_IS_WINDOW(self));
  note_activity(self);
  const char *page = gtk_stack_get_visible_child_name(self->pages);
  if (!kiosk_engine_is_enrolled(self->engine)) {
    if (g_str_has_prefix(text, "GKE1:"))
      kiosk_window_enroll(self, text);
    return;
  }
  if (is_gate(self)) {
    kiosk_window_gate_scan(self, text, len, frame_time_us);
    return;
  }
  /* Reception: codes count on the screens that expect them and on the welcome
   * screen (a visitor may scan before choosing). Elsewhere they are ignored so
   * a badge waved by a passer-by does not break another visitor's flow. */
  gboolean checkout = g_strcmp0(page, "leaving") == 0 || g_str_has_prefix(text, "GKB1:");
  if (g_strcmp0(page, "welcome") == 0 || g_strcmp0(page, "scan") == 0 || g_strcmp0(page, "leaving") == 0)
    kiosk_window_reception_scan(self, text, len, checkout, frame_time_us);
}

static gboolean
page_has_entries(KioskWindow *self)
{
  const char *page = gtk_stack_get_visible_child_name(self->pages);
  return g_strcmp0(page, "walkin") == 0 || g_strcmp0(page, "leaving") == 0 || g_strcmp0(page, "enroll") == 0;
}

/* A USB scanner in keyboard mode types the code and Enter. On screens without
 * text entries the keys are ours; on screens with entries they go to the entry
 * and its "activate" checks for a code (on_entry_activate). */
static gboolean
on_key(GtkEventControllerKey *controller, guint keyval, guint keycode, GdkModifierType state, KioskWindow *self)
{
  note_activity(self);
  if (page_has_entries(self))
    return GDK_EVENT_PROPAGATE;
  gint64 now = g_get_monotonic_time();
  if (keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter) {
    if (self->wedge->len > 0) {
      g_autofree char *text = g_strndup(self->wedge->str, self->wedge->len);
      gsize len = self->wedge->len;
      gint64 started = self->wedge_started_us;
      wipe_buffer(self->wedge);
      kiosk_window_handle_scan(self, text, len, started);
    }
    return GDK_EVENT_STOP;
  }
  gunichar c = gdk_keyval_to_unicode(keyval);
  if (c == 0 || c >= 0x80 || c < 0x20)
    return GDK_EVENT_PROPAGATE;
  if (self->wedge->len > 0 && now - self->wedge_last_us > WEDGE_GAP_US)
    wipe_buffer(self->wedge);
  if (self->wedge->len == 0)
    self->wedge_started_us = now;
  if (self->wedge->len < WEDGE_MAX)
    g_string_append_c(self->wedge, (char) c);
  self->wedge_last_us = now;
  /* Digits typed on the code screen or PIN screen feed the keypad too. */
  if (g_ascii_isdigit((char) c)) {
    char digit[2] = { (char) c, 0 };
    kiosk_window_keypad_digit(self, digit);
  }
  return GDK_EVENT_STOP;
}

static void
on_entry_activate(GtkEntry *entry, KioskWindow *self)
{
  const char *text = gtk_editable_get_text(GTK_EDITABLE(entry));
  if (looks_like_code(text)) {
    g_autofree char *copy = g_strdup(text);
    clear_entry(GTK_EDITABLE(entry));
    kiosk_window_handle_scan(self, copy, strlen(copy), g_get_monotonic_time());
  } else if (GTK_WIDGET(entry) == GTK_WIDGET(self->enroll_entry)) {
    gtk_widget_activate_action(GTK_WIDGET(self), "win.enroll-typed", NULL);
  }
}

/* ---- simple actions ------------------------------------------------------------------ */

static void
action_home(GtkWidget *widget, const char *name, GVariant *param)
{
  kiosk_window_go_home(KIOSK_WINDOW(widget));
}

static void
action_start_qr(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  clear_flow(self);
  gtk_label_set_text(self->scan_title, _("Hold your QR code up to the camera"));
  set_text(self->scan_status, _("You can also use the scanner below the screen."));
  kiosk_window_show_page(self, "scan");
}

static void
action_start_code(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  clear_flow(self);
  kiosk_window_show_page(self, "code");
}

static void
action_start_leaving(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  clear_flow(self);
  kiosk_keyboard_set_target(self->leaving_keyboard, GTK_EDITABLE(self->leaving_search));
  kiosk_window_show_page(self, "leaving");
  kiosk_window_leaving_refresh(self);
}

/* ---- life cycle ------------------------------------------------------------------------ */

void
kiosk_window_set_preview(KioskWindow *self, GdkPaintable *paintable)
{
  g_return_if_fail(KIOSK_IS_WINDOW(self));
  g_set_object(&self->preview, paintable);
  self->preview_at_us = g_get_monotonic_time();
  GtkPicture *pictures[] = { self->scan_picture, self->leaving_picture, self->gate_picture, self->enroll_picture,
                             self->photo_live };
  for (guint i = 0; i < G_N_ELEMENTS(pictures); i++)
    if (gtk_widget_get_mapped(GTK_WIDGET(pictures[i])))
      gtk_picture_set_paintable(pictures[i], paintable);
}

void
kiosk_window_set_badge_dir(KioskWindow *self, const char *dir)
{
  g_return_if_fail(KIOSK_IS_WINDOW(self));
  g_free(self->badge_dir);
  self->badge_dir = g_strdup(dir);
}

gboolean
kiosk_window_admin_unlocked(KioskWindow *self)
{
  g_return_val_if_fail(KIOSK_IS_WINDOW(self), FALSE);
  return self->admin_unlocked;
}

gboolean
kiosk_window_offline_shown(KioskWindow *self)
{
  return gtk_widget_get_visible(GTK_WIDGET(self->offline_badge));
}

GArray *
kiosk_window_latencies(KioskWindow *self)
{
  return self->latencies;
}

static void
kiosk_window_dispose(GObject *object)
{
  KioskWindow *self = KIOSK_WINDOW(object);
  g_clear_handle_id(&self->tick, g_source_remove);
  g_clear_handle_id(&self->done_timeout, g_source_remove);
  g_clear_handle_id(&self->gate_timeout, g_source_remove);
  if (self->engine != NULL)
    g_signal_handlers_disconnect_by_data(self->engine, self);
  kiosk_window_devices_free(self);
  kiosk_window_photo_forget(self);
  gtk_widget_dispose_template(GTK_WIDGET(self), KIOSK_TYPE_WINDOW);
  G_OBJECT_CLASS(kiosk_window_parent_class)->dispose(object);
}

static void
kiosk_window_finalize(GObject *object)
{
  KioskWindow *self = KIOSK_WINDOW(object);
  g_clear_object(&self->engine);
  g_clear_object(&self->preview);
  g_clear_pointer(&self->present, g_ptr_array_unref);
  g_clear_pointer(&self->latencies, g_array_unref);
  g_clear_pointer(&self->pending_frames, g_array_unref);
  wipe_buffer(self->code);
  wipe_buffer(self->pin);
  wipe_buffer(self->wedge);
  g_string_free(self->code, TRUE);
  g_string_free(self->pin, TRUE);
  g_string_free(self->wedge, TRUE);
  G_OBJECT_CLASS(kiosk_window_parent_class)->finalize(object);
}

#define BIND(name) gtk_widget_class_bind_template_child(widget_class, KioskWindow, name)

static void
kiosk_window_class_init(KioskWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->dispose = kiosk_window_dispose;
  object_class->finalize = kiosk_window_finalize;
  g_type_ensure(KIOSK_TYPE_KEYPAD);
  g_type_ensure(KIOSK_TYPE_KEYBOARD);
  gtk_widget_class_set_template_from_resource(widget_class, "/jp/genkan/Kiosk/kiosk-window.ui");
  BIND(pages);
  BIND(site_label);
  BIND(site_logo);
  BIND(clock_label);
  BIND(scan_title);
  BIND(scan_picture);
  BIND(scan_status);
  BIND(code_display);
  BIND(code_error);
  BIND(code_keypad);
  BIND(walkin_name);
  BIND(walkin_company);
  BIND(walkin_purpose);
  BIND(walkin_host_search);
  BIND(walkin_hosts);
  BIND(walkin_error);
  BIND(walkin_keyboard);
  BIND(terms_text);
  BIND(done_title);
  BIND(done_detail);
  BIND(done_notified);
  BIND(done_badge);
  BIND(leaving_picture);
  BIND(leaving_search);
  BIND(leaving_list);
  BIND(leaving_error);
  BIND(leaving_keyboard);
  BIND(gate_box);
  BIND(gate_title);
  BIND(gate_reason);
  BIND(gate_detail);
  BIND(gate_picture);
  BIND(admin_stack);
  BIND(admin_pin_display);
  BIND(admin_error);
  BIND(admin_keypad);
  BIND(admin_status);
  BIND(enroll_picture);
  BIND(enroll_entry);
  BIND(enroll_status);
  BIND(offline_badge);
  BIND(staff_button);

  gtk_widget_class_install_action(widget_class, "win.home", NULL, action_home);
  gtk_widget_class_install_action(widget_class, "win.start-qr", NULL, action_start_qr);
  gtk_widget_class_install_action(widget_class, "win.start-code", NULL, action_start_code);
  gtk_widget_class_install_action(widget_class, "win.start-leaving", NULL, action_start_leaving);
  kiosk_window_class_init_reception(widget_class);
  kiosk_window_class_init_photo(widget_class);
  kiosk_window_class_init_admin(widget_class);
}

static void
kiosk_window_init(KioskWindow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  gtk_widget_add_css_class(GTK_WIDGET(self), "kiosk");
  self->code = g_string_new(NULL);
  self->pin = g_string_new(NULL);
  self->wedge = g_string_new(NULL);
  self->latencies = g_array_new(FALSE, FALSE, sizeof(gint64));
  self->pending_frames = g_array_new(FALSE, FALSE, sizeof(gint64));
  self->last_activity_us = g_get_monotonic_time();

  GtkEventController *keys = gtk_event_controller_key_new();
  gtk_event_controller_set_propagation_phase(keys, GTK_PHASE_CAPTURE);
  g_signal_connect(keys, "key-pressed", G_CALLBACK(on_key), self);
  gtk_widget_add_controller(GTK_WIDGET(self), keys);
  GtkGesture *click = gtk_gesture_click_new();
  gtk_event_controller_set_propagation_phase(GTK_EVENT_CONTROLLER(click), GTK_PHASE_CAPTURE);
  g_signal_connect(click, "pressed", G_CALLBACK(on_click), self);
  gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(click));

  GtkEntry *entries[] = { self->walkin_name, self->walkin_company, self->walkin_purpose, self->walkin_host_search,
                          self->leaving_search, self->enroll_entry };
  for (guint i = 0; i < G_N_ELEMENTS(entries); i++)
    g_signal_connect(entries[i], "activate", G_CALLBACK(on_entry_activate), self);
  kiosk_window_init_reception(self);
  kiosk_window_init_admin(self);
}

KioskWindow *
kiosk_window_new(GtkApplication *app, KioskEngine *engine)
{
  KioskWindow *self = g_object_new(KIOSK_TYPE_WINDOW, "application", app, NULL);
  self->engine = g_object_ref(engine);
  g_signal_connect(engine, "state-changed", G_CALLBACK(on_state_changed), self);
  g_signal_connect(engine, "settings-changed", G_CALLBACK(on_settings_changed), self);
  g_signal_connect(engine, "revoked", G_CALLBACK(on_revoked), self);
  apply_site_text(self);
  kiosk_window_devices_configure(self);
  on_state_changed(engine, self);
  on_tick(self);
  self->tick = g_timeout_add_seconds(1, on_tick, self);
  kiosk_window_go_home(self);
  return self;
}
