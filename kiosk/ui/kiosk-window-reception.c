/* Reception screens: QR and reception-code check-in, walk-in with host search
 * and terms (then the photo screen, kiosk-window-photo.c, where the site takes
 * photos), the done screen with the badge, and check-out ("Leaving"). */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "kiosk-window-private.h"

#define HOST_RESULTS 30
/* Seconds the done screen stays before the welcome screen comes back. */
#define DONE_RETURN_S 8
/* Visitors listed on the leaving screen only once this much of a name is typed,
 * so the lobby screen never lists everyone present. */
#define LEAVING_MIN_CHARS 2

/* ---- outcome texts -------------------------------------------------------------- */

static char *
refusal_text(const GError *refusal, const KioskVisitResult *visit)
{
  if (refusal == NULL || refusal->domain != KIOSK_VISIT_ERROR)
    return g_strdup(_("Something went wrong. Please ask at the reception desk."));
  switch ((KioskVisitError) refusal->code) {
  case KIOSK_VISIT_ERROR_BAD_CODE:
    return g_strdup(_("This code is not valid. Please check your invitation."));
  case KIOSK_VISIT_ERROR_RATE_LIMITED:
    return g_strdup_printf(_("Too many attempts. Please wait %d seconds or ask at the reception desk."),
                           (int) MAX(visit->retry_after, 1));
  case KIOSK_VISIT_ERROR_NOT_VISITING:
    return g_strdup(_("This badge is not checked in."));
  case KIOSK_VISIT_ERROR_NO_HOST:
    return g_strdup(_("Please choose the person you are visiting from the list."));
  case KIOSK_VISIT_ERROR_INVALID:
  default:
    return g_strdup(_("Please check what you entered."));
  }
}

static gboolean
done_return(gpointer data)
{
  KioskWindow *self = data;
  self->done_timeout = 0;
  kiosk_window_go_home(self);
  return G_SOURCE_REMOVE;
}

static void
show_done(KioskWindow *self, const KioskVisitResult *visit, gboolean checkout)
{
  g_autofree char *title = NULL, *detail = NULL;
  const char *notified = "";
  gboolean named = visit->visitor_name != NULL && *visit->visitor_name != '\0';
  if (checkout) {
    title = named ? g_strdup_printf(_("Goodbye, %s"), visit->visitor_name) : g_strdup(_("Goodbye"));
    detail = g_strdup(_("You are checked out. Thank you for visiting."));
    gtk_label_set_text(self->done_badge, _("Please return your badge at the desk."));
  } else {
    /* A ticket issued after the last sync is verified by its signature, but
     * its visitor's name arrives only with the next sync. */
    title = named ? g_strdup_printf(_("Welcome, %s"), visit->visitor_name) : g_strdup(_("Welcome"));
    detail = visit->host_name != NULL ? g_strdup_printf(_("You are visiting %s."), visit->host_name) : g_strdup("");
    if (visit->host_notified)
      notified = _("Your host has been notified.");
    else if (visit->offline)
      notified = _("The reception desk will be informed. Your check-in is saved.");
    else
      notified = _("Please take a seat; the reception desk will contact your host.");
    kiosk_window_badge_print(self, visit);
  }
  gtk_label_set_text(self->done_title, title);
  gtk_label_set_text(self->done_detail, detail);
  gtk_label_set_text(self->done_notified, notified);
  kiosk_window_show_page(self, "done");
  g_clear_handle_id(&self->done_timeout, g_source_remove);
  self->done_timeout = g_timeout_add_seconds(DONE_RETURN_S, done_return, self);
}

typedef enum {
  VISIT_DONE,     /* the done screen is up */
  VISIT_REFUSED,  /* the reason is on @error_label */
  VISIT_GONE,     /* the window is being destroyed: touch nothing */
} VisitEnd;

/* The common end of a code, walk-in or check-out request. */
static VisitEnd
finish_visit(KioskWindow *self, GObject *source, GAsyncResult *result, gboolean checkout, GtkLabel *error_label)
{
  self->busy = FALSE;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (gtk_widget_in_destruction(GTK_WIDGET(self)))
    return VISIT_GONE;
  if (reply != NULL && reply->visit_ok) {
    show_done(self, &reply->visit, checkout);
    return VISIT_DONE;
  }
  g_autofree char *why = reply != NULL ? refusal_text(reply->refusal, &reply->visit)
                                       : g_strdup(_("Something went wrong. Please ask at the reception desk."));
  gtk_label_set_text(error_label, why);
  return VISIT_REFUSED;
}

/* ---- QR (camera / wedge) ----------------------------------------------------------- */

static void
scan_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  self->busy = FALSE;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (gtk_widget_in_destruction(GTK_WIDGET(self)))
    return;
  const char *page = gtk_stack_get_visible_child_name(self->pages);
  gboolean leaving = g_strcmp0(page, "leaving") == 0;
  GtkLabel *status = leaving ? self->leaving_error : self->scan_status;
  if (reply == NULL) {
    gtk_label_set_text(status, _("Something went wrong. Please ask at the reception desk."));
    return;
  }
  kiosk_window_note_latency(self, reply->frame_time_us);
  if (reply->visit_ok) {
    /* A ticket check-in carries the ticket's verdict; a badge scan on any
     * screen is a check-out. */
    show_done(self, &reply->visit, leaving || reply->verdict.ticket_id[0] == '\0');
    return;
  }
  g_autofree char *why = reply->refusal != NULL ? refusal_text(reply->refusal, &reply->visit)
                                                : g_strdup(kiosk_window_reason_text(reply->verdict.reason));
  if (!leaving && g_strcmp0(page, "scan") != 0) {
    gtk_label_set_text(self->scan_title, _("Hold your QR code up to the camera"));
    kiosk_window_show_page(self, "scan");
  }
  gtk_label_set_text(status, why);
}

void
kiosk_window_reception_scan(KioskWindow *self, const char *text, gsize len, gboolean checkout,
                            gint64 frame_time_us)
{
  if (self->busy)
    return;
  self->busy = TRUE;
  kiosk_engine_scan_async(self->engine, text, len, checkout ? KIOSK_SCAN_FOR_CHECKOUT : KIOSK_SCAN_FOR_CHECKIN,
                          frame_time_us, scan_done, g_object_ref(self));
}

/* ---- reception code --------------------------------------------------------------- */

static void
code_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  if (finish_visit(self, source, result, FALSE, self->code_error) != VISIT_REFUSED)
    return;
  memset(self->code->str, 0, self->code->len);
  g_string_truncate(self->code, 0);
  gtk_label_set_text(self->code_display, "");
}

static void
code_submit(KioskWindow *self)
{
  if (self->busy)
    return;
  if (self->code->len != KIOSK_RECEPTION_CODE_DIGITS) {
    g_autofree char *msg = g_strdup_printf(_("The code has %d digits."), KIOSK_RECEPTION_CODE_DIGITS);
    gtk_label_set_text(self->code_error, msg);
    return;
  }
  self->busy = TRUE;
  gtk_label_set_text(self->code_error, _("Checking…"));
  kiosk_engine_reception_code_async(self->engine, self->code->str, code_done, g_object_ref(self));
}

void
kiosk_window_keypad_digit(KioskWindow *self, const char *digit)
{
  const char *page = kiosk_window_page(self);
  if (g_strcmp0(page, "admin/pin") == 0) {
    kiosk_window_pin_digit(self, digit);
    return;
  }
  if (g_strcmp0(page, "code") != 0)
    return;
  if (self->code->len < KIOSK_RECEPTION_CODE_DIGITS)
    g_string_append(self->code, digit);
  gtk_label_set_text(self->code_display, self->code->str);
  gtk_label_set_text(self->code_error, "");
}

static void
on_code_digit(KioskKeypad *keypad, const char *digit, KioskWindow *self)
{
  kiosk_window_keypad_digit(self, digit);
}

static void
on_code_delete(KioskKeypad *keypad, KioskWindow *self)
{
  if (self->code->len > 0)
    g_string_truncate(self->code, self->code->len - 1);
  gtk_label_set_text(self->code_display, self->code->str);
}

static void
on_code_submit(KioskKeypad *keypad, KioskWindow *self)
{
  code_submit(self);
}

/* ---- walk-in ------------------------------------------------------------------------ */

static GtkWidget *
host_row(const KioskHost *host)
{
  g_autofree char *text = host->department != NULL && *host->department != '\0'
                            ? g_strdup_printf("%s — %s", host->name, host->department)
                            : g_strdup(host->name);
  GtkWidget *label = gtk_label_new(text);
  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_label_set_ellipsize(GTK_LABEL(label), PANGO_ELLIPSIZE_END);
  GtkWidget *row = gtk_list_box_row_new();
  gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), label);
  g_object_set_data_full(G_OBJECT(row), "host-id64", g_memdup2(&host->id, sizeof host->id), g_free);
  g_object_set_data_full(G_OBJECT(row), "host-name", g_strdup(host->name), g_free);
  gtk_accessible_update_property(GTK_ACCESSIBLE(row), GTK_ACCESSIBLE_PROPERTY_LABEL, text, -1);
  return row;
}

static void
hosts_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (reply == NULL || gtk_widget_in_destruction(GTK_WIDGET(self)))
    return;
  GtkListBox *list = self->walkin_hosts;
  while (gtk_widget_get_first_child(GTK_WIDGET(list)) != NULL)
    gtk_list_box_remove(list, gtk_widget_get_first_child(GTK_WIDGET(list)));
  for (guint i = 0; i < reply->hosts->len; i++)
    gtk_list_box_append(list, host_row(g_ptr_array_index(reply->hosts, i)));
  self->host_id = 0;
}

static void
search_hosts(KioskWindow *self)
{
  const char *query = gtk_editable_get_text(GTK_EDITABLE(self->walkin_host_search));
  /* Search-only sites never list the directory: results need a query. */
  if (*query == '\0' && !kiosk_engine_setting_bool(self->engine, "host-browse")) {
    while (gtk_widget_get_first_child(GTK_WIDGET(self->walkin_hosts)) != NULL)
      gtk_list_box_remove(self->walkin_hosts, gtk_widget_get_first_child(GTK_WIDGET(self->walkin_hosts)));
    self->host_id = 0;
    return;
  }
  kiosk_engine_search_hosts_async(self->engine, query, HOST_RESULTS, hosts_done, g_object_ref(self));
}

static void
on_host_search_changed(GtkEditable *editable, KioskWindow *self)
{
  search_hosts(self);
}

static void
on_host_selected(GtkListBox *list, GtkListBoxRow *row, KioskWindow *self)
{
  if (row == NULL) {
    self->host_id = 0;
    return;
  }
  gint64 *id = g_object_get_data(G_OBJECT(row), "host-id64");
  self->host_id = id != NULL ? *id : 0;
  gtk_label_set_text(self->walkin_error, "");
}

static void
on_entry_focus(GtkEventControllerFocus *focus, KioskWindow *self)
{
  GtkWidget *entry = gtk_event_controller_get_widget(GTK_EVENT_CONTROLLER(focus));
  KioskKeyboard *keyboard = entry == GTK_WIDGET(self->leaving_search) ? self->leaving_keyboard : self->walkin_keyboard;
  kiosk_keyboard_set_target(keyboard, GTK_EDITABLE(entry));
}

static void
action_start_walkin(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  gtk_widget_activate_action(widget, "win.home", NULL);
  kiosk_keyboard_set_target(self->walkin_keyboard, GTK_EDITABLE(self->walkin_name));
  kiosk_keyboard_set_layout(self->walkin_keyboard, "latin");
  kiosk_window_show_page(self, "walkin");
  gtk_widget_grab_focus(GTK_WIDGET(self->walkin_name));
  search_hosts(self);
}

static gboolean
required(KioskWindow *self, const char *field)
{
  const char *list = kiosk_engine_setting(self->engine, "walkin-required");
  g_auto(GStrv) fields = g_strsplit(list != NULL ? list : "name,host", ",", -1);
  return g_strv_contains((const char *const *) fields, field);
}

static const char *
entry_text(GtkEntry *entry)
{
  return gtk_editable_get_text(GTK_EDITABLE(entry));
}

static void
walkin_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  VisitEnd end = finish_visit(self, source, result, FALSE, self->walkin_error);
  if (end == VISIT_GONE)
    return;
  /* Stored (or refused): the screen's copy of the photo has done its job. */
  kiosk_window_photo_forget(self);
  if (end == VISIT_REFUSED)
    kiosk_window_show_page(self, "walkin");
}

void
kiosk_window_submit_walkin(KioskWindow *self, gboolean terms_accepted)
{
  if (self->busy)
    return;
  self->busy = TRUE;
  KioskWalkin w = {
    .visitor_name = entry_text(self->walkin_name),
    .company = entry_text(self->walkin_company),
    .purpose = entry_text(self->walkin_purpose),
    .host_id = self->host_id,
    .terms_accepted = terms_accepted,
    .photo = self->photo_jpeg,
  };
  kiosk_engine_walkin_async(self->engine, &w, walkin_done, g_object_ref(self));
}

static void
action_walkin_next(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  const char *missing = NULL;
  if (*entry_text(self->walkin_name) == '\0')
    missing = _("Please enter your name.");
  else if (required(self, "company") && *entry_text(self->walkin_company) == '\0')
    missing = _("Please enter your company.");
  else if (required(self, "purpose") && *entry_text(self->walkin_purpose) == '\0')
    missing = _("Please enter the purpose of your visit.");
  else if (self->host_id == 0)
    missing = _("Please choose the person you are visiting from the list.");
  if (missing != NULL) {
    gtk_label_set_text(self->walkin_error, missing);
    return;
  }
  gtk_label_set_text(self->walkin_error, "");
  const char *terms = kiosk_engine_setting(self->engine, "terms-text");
  if (terms != NULL && *terms != '\0') {
    kiosk_window_show_page(self, "terms");
    return;
  }
  if (kiosk_window_photo_wanted(self)) {
    kiosk_window_photo_start(self, FALSE);
    return;
  }
  kiosk_window_submit_walkin(self, FALSE);
}

static void
action_accept_terms(GtkWidget *widget, const char *name, GVariant *param)
{
  KioskWindow *self = KIOSK_WINDOW(widget);
  if (kiosk_window_photo_wanted(self)) {
    kiosk_window_photo_start(self, TRUE);
    return;
  }
  kiosk_window_submit_walkin(self, TRUE);
}

/* ---- leaving -------------------------------------------------------------------------- */

static void
fill_leaving(KioskWindow *self)
{
  GtkListBox *list = self->leaving_list;
  while (gtk_widget_get_first_child(GTK_WIDGET(list)) != NULL)
    gtk_list_box_remove(list, gtk_widget_get_first_child(GTK_WIDGET(list)));
  const char *query = gtk_editable_get_text(GTK_EDITABLE(self->leaving_search));
  if (self->present == NULL || g_utf8_strlen(query, -1) < LEAVING_MIN_CHARS)
    return;
  g_autofree char *needle = g_utf8_casefold(query, -1);
  for (guint i = 0; i < self->present->len; i++) {
    KioskVisitResult *v = g_ptr_array_index(self->present, i);
    if (v->visitor_name == NULL)
      continue;
    g_autofree char *hay = g_utf8_casefold(v->visitor_name, -1);
    if (strstr(hay, needle) == NULL)
      continue;
    g_autofree char *when = kiosk_window_format_time(v->at, FALSE);
    g_autofree char *text = g_strdup_printf(_("%s (since %s)"), v->visitor_name, when);
    GtkWidget *label = gtk_label_new(text);
    gtk_label_set_xalign(GTK_LABEL(label), 0);
    GtkWidget *row = gtk_list_box_row_new();
    gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), label);
    g_object_set_data_full(G_OBJECT(row), "visit-id", g_strdup(v->visit_id), g_free);
    gtk_accessible_update_property(GTK_ACCESSIBLE(row), GTK_ACCESSIBLE_PROPERTY_LABEL, text, -1);
    gtk_list_box_append(list, row);
  }
}

static void
present_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(KIOSK_ENGINE(source), result, &error);
  if (reply == NULL || gtk_widget_in_destruction(GTK_WIDGET(self)))
    return;
  g_clear_pointer(&self->present, g_ptr_array_unref);
  self->present = g_steal_pointer(&reply->present);
  fill_leaving(self);
}

void
kiosk_window_leaving_refresh(KioskWindow *self)
{
  kiosk_engine_list_present_async(self->engine, present_done, g_object_ref(self));
}

static void
on_leaving_search_changed(GtkEditable *editable, KioskWindow *self)
{
  fill_leaving(self);
}

static void
checkout_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(KioskWindow) self = user_data;
  finish_visit(self, source, result, TRUE, self->leaving_error);
}

static void
on_leaving_row(GtkListBox *list, GtkListBoxRow *row, KioskWindow *self)
{
  const char *visit_id = g_object_get_data(G_OBJECT(row), "visit-id");
  if (visit_id == NULL || self->busy)
    return;
  self->busy = TRUE;
  kiosk_engine_checkout_visit_async(self->engine, visit_id, checkout_done, g_object_ref(self));
}

/* ---- set-up --------------------------------------------------------------------------- */

void
kiosk_window_class_init_reception(GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action(widget_class, "win.start-walkin", NULL, action_start_walkin);
  gtk_widget_class_install_action(widget_class, "win.walkin-next", NULL, action_walkin_next);
  gtk_widget_class_install_action(widget_class, "win.accept-terms", NULL, action_accept_terms);
}

static void
watch_focus(KioskWindow *self, GtkEntry *entry)
{
  GtkEventController *focus = gtk_event_controller_focus_new();
  g_signal_connect(focus, "enter", G_CALLBACK(on_entry_focus), self);
  gtk_widget_add_controller(GTK_WIDGET(entry), focus);
}

void
kiosk_window_init_reception(KioskWindow *self)
{
  g_signal_connect(self->code_keypad, "digit", G_CALLBACK(on_code_digit), self);
  g_signal_connect(self->code_keypad, "delete", G_CALLBACK(on_code_delete), self);
  g_signal_connect(self->code_keypad, "submit", G_CALLBACK(on_code_submit), self);
  g_signal_connect(self->walkin_host_search, "changed", G_CALLBACK(on_host_search_changed), self);
  g_signal_connect(self->walkin_hosts, "row-selected", G_CALLBACK(on_host_selected), self);
  g_signal_connect(self->leaving_search, "changed", G_CALLBACK(on_leaving_search_changed), self);
  g_signal_connect(self->leaving_list, "row-activated", G_CALLBACK(on_leaving_row), self);
  GtkEntry *entries[] = { self->walkin_name, self->walkin_company, self->walkin_purpose, self->walkin_host_search,
                          self->leaving_search };
  for (guint i = 0; i < G_N_ELEMENTS(entries); i++)
    watch_focus(self, entries[i]);
}
