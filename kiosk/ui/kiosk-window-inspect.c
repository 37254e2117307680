/* What the test driver and the benchmark read from the window: the visible
 * screen's texts, scan latencies, and visitor-like input into its entries. */
#include <string.h>

#include "kiosk-window-private.h"

static void
collect_texts(GtkWidget *widget, GPtrArray *out)
{
  if (!gtk_widget_get_visible(widget) || !gtk_widget_get_child_visible(widget))
    return;
  if (GTK_IS_STACK(widget)) {
    /* Only the page on show. */
    GtkWidget *child = gtk_stack_get_visible_child(GTK_STACK(widget));
    if (child != NULL)
      collect_texts(child, out);
    return;
  }
  if (GTK_IS_LABEL(widget)) {
    const char *text = gtk_label_get_text(GTK_LABEL(widget));
    if (text != NULL && *text != '\0')
      g_ptr_array_add(out, g_strdup(text));
    return;
  }
  if (GTK_IS_PICTURE(widget)) {
    /* A described picture reads as its alternative text and the image's own
     * size, so a test can tell which image is on show. */
    GdkPaintable *paintable = gtk_picture_get_paintable(GTK_PICTURE(widget));
    const char *alt = gtk_picture_get_alternative_text(GTK_PICTURE(widget));
    if (paintable != NULL && alt != NULL)
      g_ptr_array_add(out, g_strdup_printf("image: %s %dx%d", alt,
                                           gdk_paintable_get_intrinsic_width(paintable),
                                           gdk_paintable_get_intrinsic_height(paintable)));
    return;
  }
  if (GTK_IS_EDITABLE(widget) && !GTK_IS_LABEL(widget)) {
    const char *text = gtk_editable_get_text(GTK_EDITABLE(widget));
    if (text != NULL && *text != '\0')
      g_ptr_array_add(out, g_strdup(text));
    return;
  }
  if (g_strcmp0(gtk_widget_get_css_name(widget), "keyboard") == 0)
    return; /* hundreds of key caps say nothing about the state */
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c != NULL; c = gtk_widget_get_next_sibling(c))
    collect_texts(c, out);
}

GPtrArray *
kiosk_window_visible_texts(KioskWindow *self)
{
  g_return_val_if_fail(KIOSK_IS_WINDOW(self), NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  collect_texts(GTK_WIDGET(self->pages), out);
  if (gtk_widget_get_visible(GTK_WIDGET(self->offline_badge)))
    g_ptr_array_add(out, g_strdup(gtk_label_get_text(self->offline_badge)));
  return out;
}

static void
after_paint(GdkFrameClock *clock, KioskWindow *self)
{
  gint64 now = g_get_monotonic_time();
  for (guint i = 0; i < self->pending_frames->len; i++) {
    gint64 latency = now - g_array_index(self->pending_frames, gint64, i);
    g_array_append_val(self->latencies, latency);
  }
  g_array_set_size(self->pending_frames, 0);
  g_signal_handlers_disconnect_by_func(clock, after_paint, self);
}

/* The latency ends when the verdict is on screen: after the next paint. */
void
kiosk_window_note_latency(KioskWindow *self, gint64 frame_time_us)
{
  if (frame_time_us <= 0)
    return;
  GdkFrameClock *clock = gtk_widget_get_frame_clock(GTK_WIDGET(self));
  if (clock == NULL) {
    gint64 latency = g_get_monotonic_time() - frame_time_us;
    g_array_append_val(self->latencies, latency);
    return;
  }
  if (self->pending_frames->len == 0)
    g_signal_connect_object(clock, "after-paint", G_CALLBACK(after_paint), self, G_CONNECT_DEFAULT);
  g_array_append_val(self->pending_frames, frame_time_us);
  gtk_widget_queue_draw(GTK_WIDGET(self));
}

gboolean
kiosk_window_type_into(KioskWindow *self, const char *entry_id, const char *text)
{
  g_return_val_if_fail(KIOSK_IS_WINDOW(self) && entry_id != NULL && text != NULL, FALSE);
  struct {
    const char *id;
    GtkEntry *entry;
  } entries[] = {
    { "walkin_name", self->walkin_name },       { "walkin_company", self->walkin_company },
    { "walkin_purpose", self->walkin_purpose }, { "walkin_host_search", self->walkin_host_search },
    { "leaving_search", self->leaving_search }, { "enroll_entry", self->enroll_entry },
  };
  for (guint i = 0; i < G_N_ELEMENTS(entries); i++) {
    if (strcmp(entries[i].id, entry_id) != 0)
      continue;
    if (!gtk_widget_get_mapped(GTK_WIDGET(entries[i].entry)))
      return FALSE; /* not on the screen a visitor sees */
    gtk_widget_grab_focus(GTK_WIDGET(entries[i].entry));
    gtk_editable_set_text(GTK_EDITABLE(entries[i].entry), text);
    gtk_editable_set_position(GTK_EDITABLE(entries[i].entry), -1);
    self->last_activity_us = g_get_monotonic_time();
    return TRUE;
  }
  return FALSE;
}

gboolean
kiosk_window_choose_row(KioskWindow *self, guint index)
{
  g_return_val_if_fail(KIOSK_IS_WINDOW(self), FALSE);
  GtkListBox *lists[] = { self->walkin_hosts, self->leaving_list };
  for (guint i = 0; i < G_N_ELEMENTS(lists); i++) {
    if (!gtk_widget_get_mapped(GTK_WIDGET(lists[i])))
      continue;
    GtkListBoxRow *row = gtk_list_box_get_row_at_index(lists[i], (int) index);
    if (row == NULL)
      return FALSE;
    if (lists[i] == self->walkin_hosts)
      gtk_list_box_select_row(lists[i], row);
    else
      g_signal_emit_by_name(lists[i], "row-activated", row);
    self->last_activity_us = g_get_monotonic_time();
    return TRUE;
  }
  return FALSE;
}

gboolean
kiosk_window_press_key(KioskWindow *self, char key)
{
  g_return_val_if_fail(KIOSK_IS_WINDOW(self), FALSE);
  const char *page = kiosk_window_page(self);
  KioskKeypad *keypad = g_strcmp0(page, "code") == 0        ? self->code_keypad
                        : g_strcmp0(page, "admin/pin") == 0 ? self->admin_keypad
                                                            : NULL;
  if (keypad == NULL)
    return FALSE;
  self->last_activity_us = g_get_monotonic_time();
  if (g_ascii_isdigit(key)) {
    char digit[2] = { key, 0 };
    g_signal_emit_by_name(keypad, "digit", digit);
  } else if (key == 'D') {
    g_signal_emit_by_name(keypad, "delete");
  } else if (key == 'K') {
    g_signal_emit_by_name(keypad, "submit");
  } else {
    return FALSE;
  }
  return TRUE;
}
