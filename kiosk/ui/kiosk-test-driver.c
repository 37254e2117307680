/* --test-driver: reads commands from stdin on the main loop and answers each
 * with one JSON line on stdout. Commands (arguments split at the first spaces):
 *   state                          {"page","texts":[…],"offline","fullscreen","width","height","language","mode"}
 *   action NAME [GVARIANT]         activate win.* / app.* (e.g. app.language 'en')
 *   scan-image FILE                the image's pixels go to the camera's scanner
 *   scan-text TEXT                 a keyboard-wedge scan (text + Enter)
 *   keypad KEYS                    digits, D (delete), K (OK) on the visible keypad
 *   type ENTRY TEXT                fills a visible entry (walkin_name, …)
 *   choose N                       picks the N-th row of the visible list
 *   wait-page PAGE MS              answers once PAGE is shown (or fails after MS)
 *   wait-text TEXT MS              answers once a visible text contains TEXT
 *   screenshot FILE                PNG of the window as drawn
 *   latencies                      {"latencies_us":[…]}
 *   quit
 * The driver has no access the touchscreen does not have: it presses the same
 * actions and fills the same widgets; only scan-image bypasses the camera
 * hardware (the frame enters the same scanner). */
#include "kiosk-test-driver.h"

#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kiosk-scanner.h"

typedef struct {
  KioskApp *app;
  GDataInputStream *in;
  /* wait-page / wait-text in progress */
  char *wait_page;
  char *wait_text;
  gint64 wait_deadline;
  guint wait_source;
} Driver;

static void read_next(Driver *d);

static void
reply_node(JsonBuilder *b)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree char *line = json_generator_to_data(gen, NULL);
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void
reply_ok(void)
{
  fputs("{\"ok\":true}\n", stdout);
  fflush(stdout);
}

static void
reply_error(const char *message)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "ok");
  json_builder_add_boolean_value(b, FALSE);
  json_builder_set_member_name(b, "error");
  json_builder_add_string_value(b, message);
  json_builder_end_object(b);
  reply_node(b);
}

static void
reply_state(Driver *d)
{
  KioskWindow *w = kiosk_app_get_window(d->app);
  g_autoptr(GPtrArray) texts = kiosk_window_visible_texts(w);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "ok");
  json_builder_add_boolean_value(b, TRUE);
  json_builder_set_member_name(b, "page");
  json_builder_add_string_value(b, kiosk_window_page(w));
  json_builder_set_member_name(b, "offline");
  json_builder_add_boolean_value(b, kiosk_window_offline_shown(w));
  json_builder_set_member_name(b, "fullscreen");
  json_builder_add_boolean_value(b, gtk_window_is_fullscreen(GTK_WINDOW(w)));
  json_builder_set_member_name(b, "width");
  json_builder_add_int_value(b, gtk_widget_get_width(GTK_WIDGET(w)));
  json_builder_set_member_name(b, "height");
  json_builder_add_int_value(b, gtk_widget_get_height(GTK_WIDGET(w)));
  json_builder_set_member_name(b, "language");
  json_builder_add_string_value(b, kiosk_app_get_language(d->app));
  json_builder_set_member_name(b, "mode");
  json_builder_add_string_value(b, kiosk_engine_mode(kiosk_app_get_engine(d->app)));
  json_builder_set_member_name(b, "texts");
  json_builder_begin_array(b);
  for (guint i = 0; i < texts->len; i++)
    json_builder_add_string_value(b, g_ptr_array_index(texts, i));
  json_builder_end_array(b);
  json_builder_end_object(b);
  reply_node(b);
}

static gboolean
texts_contain(KioskWindow *w, const char *needle)
{
  g_autoptr(GPtrArray) texts = kiosk_window_visible_texts(w);
  for (guint i = 0; i < texts->len; i++)
    if (strstr(g_ptr_array_index(texts, i), needle) != NULL)
      return TRUE;
  return FALSE;
}

static gboolean
wait_tick(gpointer data)
{
  Driver *d = data;
  KioskWindow *w = kiosk_app_get_window(d->app);
  gboolean met = d->wait_page != NULL ? g_strcmp0(kiosk_window_page(w), d->wait_page) == 0
                                      : texts_contain(w, d->wait_text);
  if (!met && g_get_monotonic_time() < d->wait_deadline)
    return G_SOURCE_CONTINUE;
  d->wait_source = 0;
  if (met) {
    reply_state(d);
  } else {
    g_autofree char *msg = g_strdup_printf("timed out waiting for %s (page is %s)",
                                           d->wait_page != NULL ? d->wait_page : d->wait_text, kiosk_window_page(w));
    reply_error(msg);
  }
  g_clear_pointer(&d->wait_page, g_free);
  g_clear_pointer(&d->wait_text, g_free);
  read_next(d);
  return G_SOURCE_REMOVE;
}

/* ---- screenshots: after the next frame, so the window shows the new state ---- */

typedef struct {
  Driver *driver;
  char *path;
} Shot;

static void
take_screenshot(Shot *shot)
{
  KioskWindow *w = kiosk_app_get_window(shot->driver->app);
  GtkWidget *widget = GTK_WIDGET(w);
  int width = gtk_widget_get_width(widget), height = gtk_widget_get_height(widget);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new(widget);
  GtkSnapshot *snapshot = gtk_snapshot_new();
  gdk_paintable_snapshot(paintable, GDK_SNAPSHOT(snapshot), width, height);
  g_autoptr(GskRenderNode) node = gtk_snapshot_free_to_node(snapshot);
  if (node == NULL || width <= 0 || height <= 0) {
    reply_error("nothing drawn yet");
    return;
  }
  GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(w));
  g_autoptr(GdkTexture) texture =
    gsk_renderer_render_texture(renderer, node, &GRAPHENE_RECT_INIT(0, 0, (float) width, (float) height));
  if (!gdk_texture_save_to_png(texture, shot->path))
    reply_error("cannot write the screenshot");
  else
    reply_ok();
}

static void
after_paint(GdkFrameClock *clock, gpointer data)
{
  Shot *shot = data;
  g_signal_handlers_disconnect_by_func(clock, after_paint, data);
  take_screenshot(shot);
  Driver *d = shot->driver;
  g_free(shot->path);
  g_free(shot);
  read_next(d);
}

static void
screenshot(Driver *d, const char *path)
{
  KioskWindow *w = kiosk_app_get_window(d->app);
  GdkFrameClock *clock = gtk_widget_get_frame_clock(GTK_WIDGET(w));
  Shot *shot = g_new0(Shot, 1);
  shot->driver = d;
  shot->path = g_strdup(path);
  if (clock == NULL) {
    take_screenshot(shot);
    g_free(shot->path);
    g_free(shot);
    read_next(d);
    return;
  }
  g_signal_connect(clock, "after-paint", G_CALLBACK(after_paint), shot);
  gtk_widget_queue_draw(GTK_WIDGET(w));
  gdk_frame_clock_request_phase(clock, GDK_FRAME_CLOCK_PHASE_PAINT);
}

/* ---- commands -------------------------------------------------------------------------- */

static void
cmd_action(Driver *d, const char *arg)
{
  g_autofree char *name = g_strdup(arg);
  char *space = strchr(name, ' ');
  g_autoptr(GVariant) param = NULL;
  if (space != NULL) {
    *space = '\0';
    g_autoptr(GError) error = NULL;
    param = g_variant_parse(NULL, space + 1, NULL, NULL, &error);
    if (param == NULL) {
      reply_error(error->message);
      return;
    }
  }
  KioskWindow *w = kiosk_app_get_window(d->app);
  if (g_str_has_prefix(name, "app.")) {
    if (!g_action_group_has_action(G_ACTION_GROUP(d->app), name + 4)) {
      reply_error("no such action");
      return;
    }
    g_action_group_activate_action(G_ACTION_GROUP(d->app), name + 4, param);
  } else if (!gtk_widget_activate_action_variant(GTK_WIDGET(w), name, param)) {
    reply_error("no such action, or it is disabled");
    return;
  }
  reply_ok();
}

static void
cmd_scan_image(Driver *d, const char *path)
{
  int width = 0, height = 0;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *gray = kiosk_scanner_load_gray(path, &width, &height, &error);
  if (gray == NULL) {
    reply_error(error->message);
    return;
  }
  /* Two empty frames first, so the scanner forgets the previous code (as when
   * a visitor takes the ticket away), then the code's frame, not waited for:
   * its latency is the camera path's alone. */
  g_autofree guint8 *blank = g_malloc((gsize) width * (gsize) height);
  memset(blank, 0xff, (gsize) width * (gsize) height);
  for (int i = 0; i < 2; i++) {
    kiosk_app_push_frame(d->app, blank, width, height, width);
    kiosk_app_wait_scanner(d->app);
  }
  kiosk_app_push_frame(d->app, gray, width, height, width);
  reply_ok();
}

static void
cmd_keypad(Driver *d, const char *keys)
{
  KioskWindow *w = kiosk_app_get_window(d->app);
  for (const char *k = keys; *k != '\0'; k++) {
    if (!kiosk_window_press_key(w, *k)) {
      reply_error("no keypad on this screen, or not a key");
      return;
    }
  }
  reply_ok();
}

static gboolean
parse_wait(Driver *d, const char *arg, gboolean page)
{
  const char *space = strrchr(arg, ' ');
  gint64 ms = 0;
  if (space == NULL || !g_ascii_string_to_signed(space + 1, 10, 0, 600000, &ms, NULL))
    return FALSE;
  g_autofree char *what = g_strndup(arg, (gsize) (space - arg));
  if (page)
    d->wait_page = g_steal_pointer(&what);
  else
    d->wait_text = g_steal_pointer(&what);
  d->wait_deadline = g_get_monotonic_time() + ms * 1000;
  d->wait_source = g_timeout_add(20, wait_tick, d);
  return TRUE;
}

/* Runs one command; FALSE when the command answers later (then it calls
 * read_next itself). */
static gboolean
run_command(Driver *d, char *line)
{
  char *arg = strchr(line, ' ');
  if (arg != NULL)
    *arg++ = '\0';
  else
    arg = line + strlen(line);
  KioskWindow *w = kiosk_app_get_window(d->app);
  if (strcmp(line, "state") == 0) {
    reply_state(d);
  } else if (strcmp(line, "action") == 0) {
    cmd_action(d, arg);
  } else if (strcmp(line, "scan-image") == 0) {
    cmd_scan_image(d, arg);
  } else if (strcmp(line, "scan-text") == 0) {
    kiosk_window_handle_scan(w, arg, strlen(arg), g_get_monotonic_time());
    reply_ok();
  } else if (strcmp(line, "keypad") == 0) {
    cmd_keypad(d, arg);
  } else if (strcmp(line, "type") == 0) {
    char *text = strchr(arg, ' ');
    if (text != NULL)
      *text++ = '\0';
    if (text != NULL && kiosk_window_type_into(w, arg, text))
      reply_ok();
    else
      reply_error("no such entry on this screen");
  } else if (strcmp(line, "choose") == 0) {
    gint64 n = 0;
    if (g_ascii_string_to_signed(arg, 10, 0, 10000, &n, NULL) && kiosk_window_choose_row(w, (guint) n))
      reply_ok();
    else
      reply_error("no such row on this screen");
  } else if (strcmp(line, "wait-page") == 0 || strcmp(line, "wait-text") == 0) {
    if (parse_wait(d, arg, strcmp(line, "wait-page") == 0))
      return FALSE;
    reply_error("usage: wait-page PAGE MS | wait-text TEXT MS");
  } else if (strcmp(line, "screenshot") == 0) {
    screenshot(d, arg);
    return FALSE;
  } else if (strcmp(line, "latencies") == 0) {
    GArray *lat = kiosk_window_latencies(w);
    g_autoptr(GString) out = g_string_new("{\"ok\":true,\"latencies_us\":[");
    for (guint i = 0; i < lat->len; i++)
      g_string_append_printf(out, "%s%" G_GINT64_FORMAT, i > 0 ? "," : "", g_array_index(lat, gint64, i));
    g_string_append(out, "]}\n");
    fputs(out->str, stdout);
    fflush(stdout);
  } else if (strcmp(line, "quit") == 0) {
    reply_ok();
    g_application_quit(G_APPLICATION(d->app));
    return FALSE;
  } else {
    reply_error("unknown command");
  }
  return TRUE;
}

static void
on_line(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Driver *d = user_data;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8(d->in, result, &len, &error);
  if (line == NULL) {
    /* End of input (or an unreadable line): the test is over. */
    g_application_quit(G_APPLICATION(d->app));
    return;
  }
  if (run_command(d, line))
    read_next(d);
}

static void
read_next(Driver *d)
{
  g_data_input_stream_read_line_async(d->in, G_PRIORITY_DEFAULT, NULL, on_line, d);
}

static void
driver_free(gpointer data)
{
  Driver *d = data;
  g_clear_handle_id(&d->wait_source, g_source_remove);
  g_clear_object(&d->in);
  g_free(d->wait_page);
  g_free(d->wait_text);
  g_free(d);
}

void
kiosk_test_driver_start(KioskApp *app)
{
  Driver *d = g_new0(Driver, 1);
  d->app = app;
  g_autoptr(GInputStream) raw = g_unix_input_stream_new(STDIN_FILENO, FALSE);
  d->in = g_data_input_stream_new(raw);
  g_object_set_data_full(G_OBJECT(app), "kiosk-test-driver", d, driver_free);
  read_next(d);
}
