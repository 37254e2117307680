/* The touchscreen app itself (genkan-kiosk under Xvfb, gate mode, cairo
 * renderer, --camera none) driven through --test-driver against a real
 * genkan-server on loopback: start-up time to the first screen, frame-to-verdict
 * latency through the UI path (scan-image, plus scan-text to split off the
 * decoding), resident memory over many scans. Baselines in the same run:
 * `genkan-kiosk --version` (process start) and the same frames decoded and
 * decided in this process by a second gate device (kiosk_scan_gray +
 * kiosk_gate_scan). Last, a start with OpenGL set up (GENKAN_KIOSK_GL=1; the
 * app turns it off by default) to show what it would cost.
 * "--quick" (CTest) does fewer start-ups and 100 scans instead of 1,000. */
#include <cairo.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "gk-log.h"
#include "gk-qr.h"
#include "gk-test-display.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "kiosk-net.h"
#include "kiosk-scanner.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"
#include "kiosk-verdict.h"

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_ASAN 1
#endif
#endif

#define KIOSK GK_BUILD_DIR "/kiosk/genkan-kiosk"
#define OWNER_PW "B3nch-UI-Owner-Passw0rd!"
/* A camera-sized frame, as tests/bench/bench-camera.c uses. */
#define FRAME_W 1280
#define FRAME_H 720
#define MODULE_PX 5
#define N_MULTI 24 /* multi-use tickets, shown in turn */
#define N_USED 4   /* one-time tickets, used before the measurement */
#define USED_EVERY 10 /* every 10th scan is an already-used ticket */
#define WARMUP_SCANS 3
#define MEMORY_GOAL_KB (128 * 1024)
#define LATENCY_GOAL_MS 100.0

typedef struct {
  GkTestDisplay *display;
  GkTestServer *server;
  char *token;
  char *tmp;
  gint64 host;
  GPtrArray *multi;      /* frame paths */
  GPtrArray *multi_text; /* their ticket texts, for keyboard-wedge scans */
  GPtrArray *used;
  gboolean with_gl; /* start the app with GENKAN_KIOSK_GL=1 (OpenGL set up) */
} Bench;

typedef struct {
  GSubprocess *process;
  GOutputStream *in;
  GDataInputStream *out;
  const char *pid;
} App;

/* ---- figures ------------------------------------------------------------------------ */

static GArray *
ms_array(void)
{
  return g_array_new(FALSE, FALSE, sizeof(double));
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* Sorts @ms; the value at @pct percent (nearest rank below). */
static double
pct(GArray *ms, guint p)
{
  if (ms->len == 0)
    return 0;
  g_array_sort(ms, cmp_double);
  return g_array_index(ms, double, MIN(ms->len - 1, ms->len * p / 100));
}

static void
report_latency(const char *what, GArray *ms)
{
  double p50 = pct(ms, 50), p99 = pct(ms, 99), max = pct(ms, 100);
  printf("  %-52s n=%-5u p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", what, ms->len, p50, p99, max);
}

static void
report_startup(const char *what, GArray *ms)
{
  double median = pct(ms, 50), min = pct(ms, 0), max = pct(ms, 100);
  printf("  %-52s n=%-3u median %8.1f ms  min %8.1f ms  max %8.1f ms\n", what, ms->len, median, min, max);
}

static double
ms_since(gint64 t0)
{
  return (double) (g_get_monotonic_time() - t0) / 1000.0;
}

/* A "Name:   1234 kB" line of /proc/PID/@file, in kB (-1 when absent). */
static gint64
proc_kb(const char *pid, const char *file, const char *field)
{
  g_autofree char *path = g_strdup_printf("/proc/%s/%s", pid, file);
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return -1;
  g_autofree char *key = g_strdup_printf("\n%s:", field);
  const char *at = strstr(text, key);
  return at != NULL ? g_ascii_strtoll(at + strlen(key), NULL, 10) : -1;
}

static gint64
status_kb(const char *pid, const char *field)
{
  return proc_kb(pid, "status", field);
}

/* Proportional set size: shared library pages counted once per sharer, the
 * fairer figure when other GTK programs run beside the kiosk. */
static gint64
rollup_kb(const char *pid, const char *field)
{
  return proc_kb(pid, "smaps_rollup", field);
}

static void
report_memory(const char *when, const char *pid)
{
  gint64 rss = status_kb(pid, "VmRSS"), hwm = status_kb(pid, "VmHWM"), anon = status_kb(pid, "RssAnon");
  gint64 file = status_kb(pid, "RssFile"), pss = rollup_kb(pid, "Pss");
  printf("  %-38s VmRSS %6.1f MB  VmHWM %6.1f MB  (RssAnon %5.1f MB, RssFile %5.1f MB, Pss %5.1f MB)\n", when,
         (double) rss / 1024.0, (double) hwm / 1024.0, (double) anon / 1024.0, (double) file / 1024.0,
         (double) pss / 1024.0);
}

typedef struct {
  char *name;
  gint64 kb;
} Mapping;

static int
cmp_mapping(gconstpointer a, gconstpointer b)
{
  gint64 x = ((const Mapping *) a)->kb, y = ((const Mapping *) b)->kb;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The @n largest resident parts of the process by mapped file (or [heap],
 * anonymous, ...), from /proc/PID/smaps: where the resident memory goes. */
static void
report_mappings(const char *pid, guint n)
{
  g_autofree char *path = g_strdup_printf("/proc/%s/smaps", pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return;
  g_autoptr(GHashTable) by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  const char *current = "(anonymous)";
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *line = lines[i];
    if (g_ascii_isxdigit(line[0]) && strchr(line, '-') != NULL) {
      /* "start-end perms offset dev inode [path]": the path is the 6th field. */
      g_auto(GStrv) f = g_strsplit_set(line, " ", -1);
      guint field = 0;
      current = "(anonymous)";
      for (guint k = 0; f[k] != NULL; k++)
        if (*f[k] != '\0' && ++field == 6)
          current = strstr(line, f[k]);
    } else if (g_str_has_prefix(line, "Rss:")) {
      gint64 kb = g_ascii_strtoll(line + 4, NULL, 10);
      gpointer old = g_hash_table_lookup(by_name, current);
      g_hash_table_replace(by_name, g_strdup(current), GSIZE_TO_POINTER(GPOINTER_TO_SIZE(old) + (gsize) kb));
    }
  }
  g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(Mapping));
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, by_name);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    Mapping m = { key, (gint64) GPOINTER_TO_SIZE(value) };
    g_array_append_val(all, m);
  }
  g_array_sort(all, cmp_mapping);
  printf("  largest resident parts:");
  for (guint i = 0; i < MIN(n, all->len); i++) {
    const Mapping *m = &g_array_index(all, Mapping, i);
    const char *base = strrchr(m->name, '/');
    printf("%s %s %.1f MB", i > 0 ? "," : "", base != NULL ? base + 1 : m->name, (double) m->kb / 1024.0);
  }
  printf("\n");
}

/* ---- the server side -------------------------------------------------------------------- */

static long
admin(Bench *b, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = b->server->ca_path, .token = b->token };
  g_autofree char *url = g_strconcat(b->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static char *
enroll_code(Bench *b, const char *name, const char *mode)
{
  g_autofree char *req = g_strdup_printf("{\"name\":\"%s\",\"mode\":\"%s\"}", name, mode);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(b, "POST", "/v1/devices/enroll-codes", req, &reply), ==, 201);
  return g_strdup(gk_test_json_str(reply, "code"));
}

/* A camera frame of a freshly issued ticket: light gray paper with the
 * symbol off-centre; returns the PNG's path. */
static char *
issue_frame(Bench *b, gboolean multi, guint n)
{
  g_autofree char *req = g_strdup_printf("{\"visitor\":\"Bench %u\",\"host\":\"%" G_GINT64_FORMAT "\",\"multi\":%s}",
                                         n, b->host, multi ? "true" : "false");
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(b, "POST", "/v1/tickets", req, &reply), ==, 201);
  g_autofree char *qr = g_build_filename(b->tmp, "qr.png", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_qr_write_png(gk_test_json_str(reply, "text"), qr, MODULE_PX, &error));
  g_assert_no_error(error);
  if (multi)
    g_ptr_array_add(b->multi_text, g_strdup(gk_test_json_str(reply, "text")));

  cairo_surface_t *symbol = cairo_image_surface_create_from_png(qr);
  g_assert_cmpint(cairo_surface_status(symbol), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_t *frame = cairo_image_surface_create(CAIRO_FORMAT_RGB24, FRAME_W, FRAME_H);
  cairo_t *cr = cairo_create(frame);
  cairo_set_source_rgb(cr, 0.82, 0.82, 0.80);
  cairo_paint(cr);
  cairo_set_source_surface(cr, symbol, 380 + 7 * (n % 8), 140 + 5 * (n % 6));
  cairo_paint(cr);
  cairo_destroy(cr);
  char *path = g_strdup_printf("%s/%s-%u.png", b->tmp, multi ? "multi" : "once", n);
  g_assert_cmpint(cairo_surface_write_to_png(frame, path), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(frame);
  cairo_surface_destroy(symbol);
  return path;
}

/* ---- the app ------------------------------------------------------------------------------ */

static GSubprocessLauncher *
launcher(Bench *b, GSubprocessFlags flags)
{
  GSubprocessLauncher *l = g_subprocess_launcher_new(flags);
  g_subprocess_launcher_setenv(l, "DISPLAY", gk_test_display_name(b->display), TRUE);
  g_subprocess_launcher_setenv(l, "GDK_BACKEND", "x11", TRUE);
  /* What a kiosk without a GPU runs; the memory goal is stated for it. */
  g_subprocess_launcher_setenv(l, "GSK_RENDERER", "cairo", TRUE);
  g_subprocess_launcher_setenv(l, "GENKAN_AUDIO_SINK", "fakesink", TRUE);
  g_subprocess_launcher_setenv(l, "GTK_A11Y", "none", TRUE);
  g_subprocess_launcher_unsetenv(l, "LANGUAGE");
  g_subprocess_launcher_unsetenv(l, "GDK_DEBUG");
  if (b->with_gl)
    g_subprocess_launcher_setenv(l, "GENKAN_KIOSK_GL", "1", TRUE);
  else
    g_subprocess_launcher_unsetenv(l, "GENKAN_KIOSK_GL");
  return l;
}

static App *
app_spawn(Bench *b, const char *data_dir)
{
  g_autoptr(GSubprocessLauncher) l = launcher(b, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GError) error = NULL;
  App *app = g_new0(App, 1);
  app->process = g_subprocess_launcher_spawn(l, &error, KIOSK, "--data-dir", data_dir, "--camera", "none",
                                             "--language", "en", "--log-level", "warning", "--test-driver", NULL);
  g_assert_no_error(error);
  app->in = g_object_ref(g_subprocess_get_stdin_pipe(app->process));
  app->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(app->process));
  app->pid = g_subprocess_get_identifier(app->process);
  return app;
}

static void
app_send(App *app, const char *line)
{
  g_autofree char *with_nl = g_strconcat(line, "\n", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_output_stream_write_all(app->in, with_nl, strlen(with_nl), NULL, NULL, &error));
  g_assert_no_error(error);
}

/* The next answer; stops the benchmark when it is not {"ok":true,…}. */
static JsonNode *
app_answer(App *app, const char *what)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *answer = g_data_input_stream_read_line_utf8(app->out, NULL, NULL, &error);
  g_assert_no_error(error);
  if (answer == NULL)
    g_error("the app ended during `%s`", what);
  JsonNode *node = json_from_string(answer, &error);
  g_assert_no_error(error);
  JsonObject *o = json_node_get_object(node);
  if (!json_object_get_boolean_member(o, "ok"))
    g_error("`%s` failed: %s", what, json_object_get_string_member_with_default(o, "error", "?"));
  return node;
}

static JsonNode *
app_cmd(App *app, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static JsonNode *
app_cmd(App *app, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *line = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  app_send(app, line);
  return app_answer(app, line);
}

/* A command whose answer only has to be ok. */
#define app_do(app, ...) json_node_unref(app_cmd(app, __VA_ARGS__))

static void
app_quit(App *app)
{
  app_do(app, "quit");
  g_autoptr(GError) error = NULL;
  g_output_stream_close(app->in, NULL, NULL);
  g_assert_true(g_subprocess_wait(app->process, NULL, &error));
  g_assert_true(g_subprocess_get_if_exited(app->process));
  g_assert_cmpint(g_subprocess_get_exit_status(app->process), ==, 0);
  g_object_unref(app->in);
  g_object_unref(app->out);
  g_object_unref(app->process);
  g_free(app);
}

static const char *
state_page(JsonNode *state)
{
  return json_object_get_string_member_with_default(json_node_get_object(state), "page", "");
}

static gboolean
state_shows(JsonNode *state, const char *needle)
{
  JsonArray *texts = json_object_get_array_member(json_node_get_object(state), "texts");
  for (guint i = 0; i < json_array_get_length(texts); i++)
    if (strstr(json_array_get_string_element(texts, i), needle) != NULL)
      return TRUE;
  return FALSE;
}

/* ---- 1. start-up ---------------------------------------------------------------------------- */

/* Spawn to exit of `genkan-kiosk --version`: what any start costs before the
 * app does anything (exec, dynamic linking of GTK and the rest). */
static void
startup_baseline(Bench *b, guint runs, GArray *ms)
{
  for (guint i = 0; i < runs; i++) {
    g_autoptr(GSubprocessLauncher) l = launcher(b, G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(GSubprocess) p = g_subprocess_launcher_spawn(l, &error, KIOSK, "--version", NULL);
    g_assert_no_error(error);
    g_assert_true(g_subprocess_wait_check(p, NULL, &error));
    g_assert_no_error(error);
    double one = ms_since(t0);
    g_array_append_val(ms, one);
  }
}

/* One start of an enrolled device: the first `state` (the driver answers as
 * soon as the main loop runs; the page is set when the window is built) and
 * `wait-page PAGE` (polls every 20 ms, so up to 20 ms later), both sent at
 * spawn. Returns the running app. */
static App *
startup_run(Bench *b, const char *data_dir, const char *page, GArray *state_ms, GArray *page_ms)
{
  gint64 t0 = g_get_monotonic_time();
  App *app = app_spawn(b, data_dir);
  g_autofree char *wait = g_strdup_printf("wait-page %s 30000", page);
  app_send(app, "state");
  app_send(app, wait);
  g_autoptr(JsonNode) first = app_answer(app, "state");
  double one = ms_since(t0);
  g_array_append_val(state_ms, one);
  json_node_unref(app_answer(app, wait));
  one = ms_since(t0);
  g_array_append_val(page_ms, one);
  if (g_strcmp0(state_page(first), page) != 0)
    printf("  note: the first `state` showed page \"%s\", not \"%s\"\n", state_page(first), page);
  return app;
}

/* First start of a new device: the enrollment screen, then the code typed in
 * as an installer would. Leaves @data_dir enrolled as a gate. */
static void
enroll_through_screen(Bench *b, const char *data_dir, GArray *first_ms)
{
  gint64 t0 = g_get_monotonic_time();
  App *app = app_spawn(b, data_dir);
  app_do(app, "wait-page enroll 30000");
  double one = ms_since(t0);
  g_array_append_val(first_ms, one);
  g_autofree char *code = enroll_code(b, "Bench gate UI", "gate");
  app_do(app, "type enroll_entry %s", code);
  app_do(app, "action win.enroll-typed");
  g_autoptr(JsonNode) gate = app_cmd(app, "wait-page gate 30000");
  g_assert_true(state_shows(gate, "Scan your ticket"));
  app_quit(app);
}

/* A reception device, enrolled with the command line (its own screen is not
 * what is measured here). */
static void
enroll_reception(Bench *b, const char *data_dir)
{
  g_autofree char *code = enroll_code(b, "Bench lobby UI", "reception");
  g_autoptr(GSubprocessLauncher) l = launcher(b, G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p =
    g_subprocess_launcher_spawn(l, &error, KIOSK, "--data-dir", data_dir, "--log-level", "warning", "enroll", code, NULL);
  g_assert_no_error(error);
  g_assert_true(g_subprocess_wait_check(p, NULL, &error));
  g_assert_no_error(error);
}

/* ---- 2. frame to verdict through the UI ---------------------------------------------------- */

typedef struct {
  guint accepted, already_used, wrong, offline_shown;
} Outcomes;

static guint
latency_count(JsonNode *node, GArray *out_ms)
{
  JsonArray *values = json_object_get_array_member(json_node_get_object(node), "latencies_us");
  guint n = json_array_get_length(values);
  if (out_ms != NULL) {
    for (guint i = 0; i < n; i++) {
      double ms = (double) json_array_get_int_element(values, i) / 1000.0;
      g_array_append_val(out_ms, ms);
    }
  }
  return n;
}

/* The frame of scan @i: mostly multi-use tickets in turn, every
 * USED_EVERY-th an already-used one-time ticket. */
static const char *
frame_for(Bench *b, guint i, gboolean *is_used)
{
  *is_used = i % USED_EVERY == USED_EVERY - 1;
  return *is_used ? b->used->pdata[(i / USED_EVERY) % b->used->len] : b->multi->pdata[i % b->multi->len];
}

/* Sends one scan command; returns once the window recorded its verdict
 * (the `latencies` list grew), then checks what the screen says. The
 * command's round trip goes to @cmd_ms (may be NULL). */
static void
ui_scan(App *app, const char *line, gboolean is_used, guint *seen, Outcomes *o, GArray *cmd_ms)
{
  gint64 t0 = g_get_monotonic_time();
  app_do(app, "%s", line);
  double round_trip = ms_since(t0);
  if (cmd_ms != NULL)
    g_array_append_val(cmd_ms, round_trip);
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  for (;;) {
    g_autoptr(JsonNode) lat = app_cmd(app, "latencies");
    guint n = latency_count(lat, NULL);
    if (n > *seen) {
      g_assert_cmpuint(n, ==, *seen + 1);
      *seen = n;
      break;
    }
    if (g_get_monotonic_time() > deadline)
      g_error("`%s`: no verdict on screen after 10 s", line);
    g_usleep(500);
  }
  g_autoptr(JsonNode) state = app_cmd(app, "state");
  if (!is_used && state_shows(state, "ACCEPTED"))
    o->accepted++;
  else if (is_used && state_shows(state, "REJECTED") && state_shows(state, "already been used"))
    o->already_used++;
  else
    o->wrong++;
  if (json_object_get_boolean_member(json_node_get_object(state), "offline"))
    o->offline_shown++;
}

static void
ui_scan_frame(App *app, Bench *b, guint i, guint *seen, Outcomes *o, GArray *cmd_ms)
{
  gboolean is_used = FALSE;
  const char *frame = frame_for(b, i, &is_used);
  g_autofree char *line = g_strdup_printf("scan-image %s", frame);
  ui_scan(app, line, is_used, seen, o, cmd_ms);
}

/* The window's frame-to-verdict figures of scans @first to @first + @n - 1. */
static GArray *
ui_latencies(App *app, guint first, guint n)
{
  g_autoptr(JsonNode) lat = app_cmd(app, "latencies");
  g_autoptr(GArray) all = ms_array();
  g_assert_cmpuint(latency_count(lat, all), >=, first + n);
  GArray *out = ms_array();
  g_array_append_vals(out, &g_array_index(all, double, first), n);
  return out;
}

/* Runs @n measured frame scans (after a few unmeasured ones) on the running
 * gate app, printing memory at 100 and @n scans; fills the arrays with the
 * window's own frame-to-verdict figures, split by kind, and the scan-image
 * commands' round trips. */
static void
ui_frame_scans(App *app, Bench *b, guint n, guint *seen, GArray *acc_ms, GArray *used_ms, GArray *cmd_ms,
               Outcomes *o)
{
  Outcomes warm = { 0 };
  /* The first scans pay for the TLS handshake and first-use caches. */
  for (guint i = 0; i < WARMUP_SCANS; i++)
    ui_scan_frame(app, b, i * USED_EVERY, seen, &warm, NULL);
  o->wrong += warm.wrong;
  for (guint i = 0; i < n; i++) {
    ui_scan_frame(app, b, i, seen, o, cmd_ms);
    if (i + 1 == 100 || i + 1 == n) {
      g_autofree char *when = g_strdup_printf("after %u scans", i + 1);
      report_memory(when, app->pid);
    }
  }
  g_autoptr(GArray) all = ui_latencies(app, WARMUP_SCANS, n);
  for (guint i = 0; i < n; i++) {
    gboolean is_used = FALSE;
    frame_for(b, i, &is_used);
    g_array_append_val(is_used ? used_ms : acc_ms, g_array_index(all, double, i));
  }
}

/* The same tickets typed by a keyboard-wedge scanner (scan-text): the window
 * and verdict path without any frame decoding, to split the frame figure. */
static void
ui_wedge_scans(App *app, Bench *b, guint n, guint *seen, GArray *ms, Outcomes *o)
{
  guint first = *seen;
  for (guint i = 0; i < n; i++) {
    g_autofree char *line = g_strdup_printf("scan-text %s", (char *) b->multi_text->pdata[i % b->multi_text->len]);
    ui_scan(app, line, FALSE, seen, o, NULL);
  }
  g_autoptr(GArray) got = ui_latencies(app, first, n);
  g_array_append_vals(ms, got->data, got->len);
}

/* ---- baseline: the same frames decoded and decided in this process --------------------------- */

typedef struct {
  GkTestDevice *device;
  char *ca;
  KioskStore *store;
  KioskClient *client;
  KioskGate *gate;
} Baseline;

/* A second gate device of the same site, enrolled through the API, with its
 * own store synced once: the verdict path the app's engine runs. */
static void
baseline_open(Bench *b, Baseline *base)
{
  base->device = gk_test_enroll_device(b->server, b->token, "Bench gate in-process", "gate");
  g_assert_true(g_file_get_contents(b->server->ca_path, &base->ca, NULL, NULL));
  g_autofree char *dir = g_build_filename(b->tmp, "baseline-store", NULL);
  g_autoptr(GError) error = NULL;
  base->store = kiosk_store_create(dir, &error);
  g_assert_no_error(error);
  KioskIdentity id = { .device_id = base->device->device_id, .name = (char *) "Bench gate in-process",
                       .mode = (char *) "gate", .site_id = base->device->site_id, .host = (char *) "localhost",
                       .admin_port = b->server->admin_port, .device_port = b->server->device_port,
                       .ca_pem = base->ca, .cert_pem = base->device->cert_pem, .key_pem = base->device->key_pem };
  g_assert_true(kiosk_store_save_identity(base->store, &id, &error));
  base->client = kiosk_client_new("localhost", b->server->admin_port, b->server->device_port, base->ca,
                                  base->device->cert_pem, base->device->key_pem);
  KioskSyncSummary sum = { 0 };
  g_assert_true(kiosk_sync_pull(base->store, base->client, NULL, NULL, &sum, &error));
  g_assert_no_error(error);
  /* The app's gate keeps the default redeem timeout too. */
  base->gate = kiosk_gate_new(base->store, base->client, &error);
  g_assert_no_error(error);
}

static void
baseline_close(Baseline *base)
{
  g_clear_pointer(&base->gate, kiosk_gate_free);
  g_clear_pointer(&base->client, kiosk_client_free);
  g_clear_pointer(&base->store, kiosk_store_close);
  g_clear_pointer(&base->device, gk_test_device_free);
  g_clear_pointer(&base->ca, g_free);
}

typedef struct {
  double decode, blanks, decide; /* ms */
} Parts;

/* A frame with no code, as the test driver pushes after each code. */
static void
decode_blank(void)
{
  static guint8 blank[FRAME_W * FRAME_H];
  memset(blank, 0xff, sizeof blank);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_false(kiosk_scan_gray(blank, FRAME_W, FRAME_H, FRAME_W, KIOSK_SCAN_DEFAULT, &text, NULL, &error));
}

/* Decodes @frame (loaded beforehand: the app's clock starts at the push, after
 * loading), then two blank frames as the test driver does (timed apart: a
 * camera does not add them), then decides. */
static void
baseline_one(Baseline *base, const char *frame, KioskVerdict *v, Parts *parts)
{
  int w = 0, h = 0;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *gray = kiosk_scanner_load_gray(frame, &w, &h, &error);
  g_assert_no_error(error);
  g_autofree char *text = NULL;
  gsize len = 0;
  gint64 t0 = g_get_monotonic_time();
  g_assert_true(kiosk_scan_gray(gray, w, h, w, KIOSK_SCAN_DEFAULT, &text, &len, &error));
  g_assert_no_error(error);
  parts->decode = ms_since(t0);
  t0 = g_get_monotonic_time();
  decode_blank();
  decode_blank();
  parts->blanks = ms_since(t0);
  t0 = g_get_monotonic_time();
  g_assert_true(kiosk_gate_scan(base->gate, text, len, 0, v, &error));
  g_assert_no_error(error);
  parts->decide = ms_since(t0);
}

/* The one-time tickets are redeemed once here, so both gates see them used. */
static void
baseline_use_once(Baseline *base, Bench *b)
{
  for (guint i = 0; i < b->used->len; i++) {
    KioskVerdict v;
    Parts parts;
    baseline_one(base, b->used->pdata[i], &v, &parts);
    g_assert_true(v.accepted);
    kiosk_verdict_clear(&v);
  }
}

typedef struct {
  GArray *acc, *used;     /* decode + decide, by kind */
  GArray *decode, *decide;
  GArray *blanks;         /* the two blank frames */
  GArray *as_driver;      /* decode + blanks + decide */
} BaselineFigures;

static void
baseline_scans(Baseline *base, Bench *b, guint n, BaselineFigures *f, Outcomes *o)
{
  for (guint i = 0; i < WARMUP_SCANS; i++) {
    KioskVerdict v;
    Parts parts;
    baseline_one(base, b->multi->pdata[i], &v, &parts);
    kiosk_verdict_clear(&v);
  }
  for (guint i = 0; i < n; i++) {
    gboolean is_used = FALSE;
    const char *frame = frame_for(b, i, &is_used);
    KioskVerdict v;
    Parts p;
    baseline_one(base, frame, &v, &p);
    double both = p.decode + p.decide, all = both + p.blanks;
    g_array_append_val(is_used ? f->used : f->acc, both);
    g_array_append_val(f->decode, p.decode);
    g_array_append_val(f->decide, p.decide);
    g_array_append_val(f->blanks, p.blanks);
    g_array_append_val(f->as_driver, all);
    if (!is_used && v.accepted)
      o->accepted++;
    else if (is_used && v.reason == KIOSK_REASON_ALREADY_USED)
      o->already_used++;
    else
      o->wrong++;
    o->offline_shown += v.offline;
    kiosk_verdict_clear(&v);
  }
}

/* ---- the three measurements --------------------------------------------------------------- */

static void
merge(GArray *into, GArray *from)
{
  g_array_append_vals(into, from->data, from->len);
}

/* Start-ups of a reception and a gate device against `--version`; returns the
 * last gate start, still running, for the scans. */
static App *
measure_startup(Bench *b, guint starts)
{
  g_autoptr(GArray) version_ms = ms_array();
  g_autoptr(GArray) enroll_ms = ms_array();
  g_autoptr(GArray) gate_state_ms = ms_array();
  g_autoptr(GArray) gate_page_ms = ms_array();
  g_autoptr(GArray) lobby_state_ms = ms_array();
  g_autoptr(GArray) lobby_page_ms = ms_array();
  g_autofree char *gate_dir = g_build_filename(b->tmp, "gate", NULL);
  g_autofree char *lobby_dir = g_build_filename(b->tmp, "lobby", NULL);
  enroll_through_screen(b, gate_dir, enroll_ms);
  startup_baseline(b, starts, version_ms);
  enroll_reception(b, lobby_dir);
  for (guint i = 0; i < starts; i++)
    app_quit(startup_run(b, lobby_dir, "welcome", lobby_state_ms, lobby_page_ms));
  App *app = NULL;
  for (guint i = 0; i < starts; i++) {
    if (app != NULL)
      app_quit(app);
    app = startup_run(b, gate_dir, "gate", gate_state_ms, gate_page_ms);
  }
  printf("\nstart-up: spawn to answer, %u runs each\n", starts);
  report_startup("baseline: `genkan-kiosk --version` to exit", version_ms);
  report_startup("gate device: first `state` (page set)", gate_state_ms);
  report_startup("gate device: `wait-page gate` answered", gate_page_ms);
  report_startup("reception device: first `state` (page set)", lobby_state_ms);
  report_startup("reception device: `wait-page welcome` answered", lobby_page_ms);
  report_startup("first start, not enrolled: `wait-page enroll`", enroll_ms);
  double base = pct(version_ms, 50);
  printf("  ratio gate start / --version:      %5.1fx (wait-page)  %5.1fx (state)\n", pct(gate_page_ms, 50) / base,
         pct(gate_state_ms, 50) / base);
  printf("  ratio reception start / --version: %5.1fx (wait-page)  %5.1fx (state)\n", pct(lobby_page_ms, 50) / base,
         pct(lobby_state_ms, 50) / base);
  printf("  (wait-page polls every 20 ms; `state` may answer before GTK painted the first frame)\n");
  return app;
}

/* GDK on X11 sets up OpenGL (Mesa's llvmpipe: libLLVM, swrast_dri) even when
 * GSK_RENDERER=cairo never uses it, unless the app turns it off (it does by
 * default); starts with it show what that would cost. */
static void
measure_with_gl(Bench *b, guint starts)
{
  g_autoptr(GArray) state_ms = ms_array();
  g_autoptr(GArray) page_ms = ms_array();
  g_autofree char *gate_dir = g_build_filename(b->tmp, "gate", NULL);
  b->with_gl = TRUE;
  App *app = NULL;
  for (guint i = 0; i < starts; i++) {
    if (app != NULL)
      app_quit(app);
    app = startup_run(b, gate_dir, "gate", state_ms, page_ms);
  }
  b->with_gl = FALSE;
  printf("\nfor comparison, with OpenGL set up (GENKAN_KIOSK_GL=1; the kiosk turns it off by default)\n");
  report_startup("gate device: `wait-page gate` answered", page_ms);
  g_usleep(G_USEC_PER_SEC);
  report_memory("after start (1 s after the gate page)", app->pid);
  app_quit(app);
}

typedef struct {
  GArray *acc, *used; /* frame push to verdict, by kind */
  GArray *wedge;      /* scan-text to verdict */
  GArray *cmd;        /* scan-image round trips */
} UiFigures;

static void
print_frame_figures(guint scans, UiFigures *ui, BaselineFigures *base)
{
  printf("\nframe to verdict: %dx%d frames, %u scans (%u multi-use, %u already-used) after %u unmeasured\n",
         FRAME_W, FRAME_H, scans, ui->acc->len, ui->used->len, WARMUP_SCANS);
  g_autoptr(GArray) ui_all = ms_array();
  g_autoptr(GArray) base_all = ms_array();
  merge(ui_all, ui->acc);
  merge(ui_all, ui->used);
  merge(base_all, base->acc);
  merge(base_all, base->used);
  report_latency("baseline: in-process decode + kiosk_gate_scan, all", base_all);
  report_latency("baseline: accepted (multi-use, online redeem)", base->acc);
  report_latency("baseline: already-used", base->used);
  report_latency("baseline: of which kiosk_scan_gray (decode)", base->decode);
  report_latency("baseline: of which kiosk_gate_scan (decide)", base->decide);
  report_latency("baseline: 2 blank frames (scan-image shows them before the code; not timed in UI)", base->blanks);
  report_latency("UI: frame push to verdict painted, all", ui_all);
  report_latency("UI: accepted", ui->acc);
  report_latency("UI: already-used", ui->used);
  report_latency("UI: keyboard-wedge scan-text to verdict (no decode)", ui->wedge);
  report_latency("UI: scan-image round trip (PNG load + 3 decodes)", ui->cmd);
  double ui50 = pct(ui_all, 50), ui99 = pct(ui_all, 99);
  printf("  ratio UI / baseline:                      p50 %5.2fx   p99 %5.2fx\n", ui50 / pct(base_all, 50),
         ui99 / pct(base_all, 99));
  printf("  goal: p99 under %.0f ms: %s (UI p99 %.2f ms, to the painted frame)\n", LATENCY_GOAL_MS,
         ui99 < LATENCY_GOAL_MS ? "MET" : "NOT MET", ui99);
}

/* Frame scans, keyboard-wedge scans and memory on the running gate @app
 * (quits it), then the in-process baseline on the same frames. FALSE when a
 * verdict was not the expected one. */
static gboolean
measure_scans(Bench *b, Baseline *base, App *app, guint scans, gboolean quick)
{
  printf("\nresident memory of the gate app (/proc/PID/status, smaps_rollup)%s\n",
         quick ? "; quick mode: 100 scans, the 1,000-scan figure is not measured" : "");
  g_usleep(G_USEC_PER_SEC);
  report_memory("after start (1 s after the gate page)", app->pid);
  UiFigures ui = { ms_array(), ms_array(), ms_array(), ms_array() };
  Outcomes ui_out = { 0 }, wedge_out = { 0 }, base_out = { 0 };
  guint seen = 0;
  ui_frame_scans(app, b, scans, &seen, ui.acc, ui.used, ui.cmd, &ui_out);
  gint64 rss = status_kb(app->pid, "VmRSS"), hwm = status_kb(app->pid, "VmHWM");
  if (quick)
    printf("  goal: VmRSS under 128 MB after 1,000 scans: not judged in quick mode\n");
  else
    printf("  goal: VmRSS under 128 MB after 1,000 scans: %s (VmRSS %.1f MB, VmHWM %.1f MB)\n",
           rss < MEMORY_GOAL_KB ? "MET" : "NOT MET", (double) rss / 1024.0, (double) hwm / 1024.0);
  report_mappings(app->pid, 8);
  ui_wedge_scans(app, b, scans / 4, &seen, ui.wedge, &wedge_out);
  app_quit(app);

  BaselineFigures bf = { ms_array(), ms_array(), ms_array(), ms_array(), ms_array(), ms_array() };
  baseline_scans(base, b, scans, &bf, &base_out);
  print_frame_figures(scans, &ui, &bf);
  printf("  verdicts as expected: UI %u accepted + %u already-used, %u wrong, offline badge %u times; "
         "wedge %u accepted, %u wrong; baseline %u + %u, %u wrong, %u offline\n",
         ui_out.accepted, ui_out.already_used, ui_out.wrong, ui_out.offline_shown, wedge_out.accepted,
         wedge_out.wrong, base_out.accepted, base_out.already_used, base_out.wrong, base_out.offline_shown);

  GArray *all[] = { ui.acc, ui.used, ui.wedge, ui.cmd, bf.acc, bf.used, bf.decode, bf.decide, bf.blanks, bf.as_driver };
  for (guint i = 0; i < G_N_ELEMENTS(all); i++)
    g_array_unref(all[i]);
  return ui_out.wrong == 0 && wedge_out.wrong == 0 && base_out.wrong == 0;
}

int
main(int argc, char **argv)
{
  gboolean quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (argc > 2 || (argc == 2 && !quick)) {
    fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
    return 2;
  }
  gk_log_set_level(GK_LOG_WARNING);
  Bench b = { 0 };
  b.display = gk_test_display_start(1280, 800);
  if (b.display == NULL) {
    printf("bench-kiosk-ui: skipped (no Xvfb)\n");
    return 0;
  }
  printf("genkan-kiosk UI benchmark%s: Xvfb 1280x800, GSK_RENDERER=cairo, gate mode, --camera none\n",
         quick ? " (quick)" : "");
#if defined(BENCH_ASAN)
  printf("note: sanitizer build: times and memory are far above a release build's\n");
#elif !defined(NDEBUG)
  printf("note: not a release build (-DCMAKE_BUILD_TYPE=Release gives the figures that count)\n");
#endif
  b.tmp = gk_test_make_tmpdir("bench-kiosk-ui");
  b.server = gk_test_server_init();
  gk_test_server_start(b.server);
  b.token = gk_test_server_login_owner(b.server, OWNER_PW);
  g_autoptr(JsonNode) host = NULL;
  g_assert_cmpint(admin(&b, "POST", "/v1/hosts", "{\"name\":\"Bench Host\"}", &host), ==, 201);
  b.host = gk_test_json_int(host, "id");
  b.multi = g_ptr_array_new_with_free_func(g_free);
  b.multi_text = g_ptr_array_new_with_free_func(g_free);
  b.used = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < N_MULTI; i++)
    g_ptr_array_add(b.multi, issue_frame(&b, TRUE, i));
  for (guint i = 0; i < N_USED; i++)
    g_ptr_array_add(b.used, issue_frame(&b, FALSE, i));
  Baseline base = { 0 };
  baseline_open(&b, &base);
  baseline_use_once(&base, &b);

  App *app = measure_startup(&b, quick ? 3 : 7);
  gboolean ok = measure_scans(&b, &base, app, quick ? 100 : 1000, quick);
  /* Not in quick mode (CTest): Mesa's GL driver leaks at exit, which a
   * sanitizer build reports as an error of the app. */
  if (!quick)
    measure_with_gl(&b, 3);

  baseline_close(&base);
  gk_test_server_free(b.server);
  gk_test_display_stop(b.display);
  gk_test_rmtree(b.tmp);
  g_ptr_array_unref(b.multi);
  g_ptr_array_unref(b.multi_text);
  g_ptr_array_unref(b.used);
  g_free(b.token);
  g_free(b.tmp);
  return ok ? 0 : 1;
}
