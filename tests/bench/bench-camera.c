/* Camera path benchmark: a still image of a ticket QR in a 1280x720 frame runs
 * through the real GStreamer pipeline (filesrc ! decodebin ! imagefreeze !
 * videoconvert ! appsink) into the scanner. Figures: frames per second handed
 * over and decoded unpaced, frame-to-decode latency p50/p99 at a camera's
 * 30 fps; both against the baseline of kiosk_scan_gray() on the same frame
 * directly, in the same run.
 * "--quick" (CTest) measures for shorter. */
#include <cairo.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

#include "gk-log.h"
#include "gk-qr.h"
#include "gk-test-util.h"
#include "kiosk-camera.h"

#define FRAME_W 1280
#define FRAME_H 720

static const char base45_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

typedef struct {
  GMutex lock;
  GArray *latency_ms; /* double */
  guint64 wrong;
} Collect;

static void
on_code(const char *text, gsize len, gint64 frame_time_us, gpointer data)
{
  Collect *c = data;
  double ms = (double) (g_get_monotonic_time() - frame_time_us) / 1000.0;
  g_mutex_lock(&c->lock);
  g_array_append_val(c->latency_ms, ms);
  if (len < 4 || memcmp(text, "GK1:", 4) != 0)
    c->wrong++;
  g_mutex_unlock(&c->lock);
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile(GArray *ms, guint pct)
{
  if (ms->len == 0)
    return 0;
  g_array_sort(ms, cmp_double);
  return g_array_index(ms, double, MIN(ms->len - 1, ms->len * pct / 100));
}

/* A camera-sized frame: light gray paper, the ticket's symbol at 5 px a module
 * off-centre, as a phone screen held up to the camera would give. */
static char *
make_frame(const char *dir, char **out_text)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed(42);
  GString *text = g_string_new("GK1:");
  for (guint i = 0; i < 144; i++)
    g_string_append_c(text, base45_alphabet[g_rand_int_range(rand, 0, (gint32) strlen(base45_alphabet))]);
  g_autofree char *qr = g_build_filename(dir, "qr.png", NULL);
  g_autoptr(GError) error = NULL;
  if (!gk_qr_write_png(text->str, qr, 5, &error))
    g_error("qr: %s", error->message);

  cairo_surface_t *symbol = cairo_image_surface_create_from_png(qr);
  cairo_surface_t *frame = cairo_image_surface_create(CAIRO_FORMAT_RGB24, FRAME_W, FRAME_H);
  cairo_t *cr = cairo_create(frame);
  cairo_set_source_rgb(cr, 0.82, 0.82, 0.80);
  cairo_paint(cr);
  cairo_set_source_surface(cr, symbol, 380, 140);
  cairo_paint(cr);
  cairo_destroy(cr);
  char *path = g_build_filename(dir, "frame.png", NULL);
  if (cairo_surface_write_to_png(frame, path) != CAIRO_STATUS_SUCCESS)
    g_error("cannot write %s", path);
  cairo_surface_destroy(frame);
  cairo_surface_destroy(symbol);
  *out_text = g_string_free(text, FALSE);
  return path;
}

/* kiosk_scan_gray() on the frame, repeatedly: the decoder alone. */
static double
baseline_ms(const char *frame, const char *want, guint n)
{
  int w = 0, h = 0;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *gray = kiosk_scanner_load_gray(frame, &w, &h, &error);
  if (gray == NULL)
    g_error("load: %s", error->message);
  g_autoptr(GArray) ms = g_array_new(FALSE, FALSE, sizeof(double));
  for (guint i = 0; i < n; i++) {
    g_autofree char *text = NULL;
    gint64 t0 = g_get_monotonic_time();
    if (!kiosk_scan_gray(gray, w, h, w, KIOSK_SCAN_DEFAULT, &text, NULL, &error))
      g_error("baseline decode: %s", error->message);
    double one = (double) (g_get_monotonic_time() - t0) / 1000.0;
    g_array_append_val(ms, one);
    if (strcmp(text, want) != 0)
      g_error("baseline decoded the wrong text");
  }
  double p50 = percentile(ms, 50), p99 = percentile(ms, 99);
  printf("%-46s n=%-5u p50 %8.3f ms   p99 %8.3f ms   (%.1f frames/s)\n", "baseline: kiosk_scan_gray, same frame", n,
         p50, p99, 1000.0 / p50);
  return p50;
}

static gboolean
stop_loop(gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the image through the camera pipeline for @seconds at @fps (0:
 * unpaced); prints the figures and returns decoded frames per second. */
static double
run_pipeline(const char *frame, guint fps, double seconds, double base_ms)
{
  Collect c = { .latency_ms = g_array_new(FALSE, FALSE, sizeof(double)) };
  g_mutex_init(&c.lock);
  KioskScanner *scanner = kiosk_scanner_new(on_code, &c);
  /* Report every frame that decodes, not once per code: each is a sample. */
  kiosk_scanner_set_repeat(scanner, 0, 0);
  g_autofree char *source = g_strconcat("image:", frame, NULL);
  g_autoptr(GError) error = NULL;
  KioskCamera *camera = kiosk_camera_new(source, scanner, &error);
  if (camera == NULL)
    g_error("camera: %s", error->message);
  kiosk_camera_set_fps(camera, fps);
  gint64 t0 = g_get_monotonic_time();
  if (!kiosk_camera_start(camera, &error))
    g_error("camera start: %s", error->message);
  gboolean done = FALSE;
  g_timeout_add((guint) (seconds * 1000), stop_loop, &done);
  while (!done)
    g_main_context_iteration(NULL, TRUE);
  kiosk_camera_stop(camera);
  kiosk_scanner_wait_idle(scanner, 10000);
  double elapsed = (double) (g_get_monotonic_time() - t0) / G_USEC_PER_SEC;

  KioskCameraStats cs;
  KioskScannerStats ss;
  kiosk_camera_stats(camera, &cs);
  kiosk_scanner_stats(scanner, &ss);
  kiosk_camera_free(camera);
  kiosk_scanner_free(scanner);
  if (c.wrong > 0 || ss.decoded == 0)
    g_error("pipeline: %" G_GUINT64_FORMAT " wrong texts, %" G_GUINT64_FORMAT " decoded", c.wrong, ss.decoded);

  double decoded_fps = (double) ss.decoded / elapsed;
  g_autofree char *label = fps > 0 ? g_strdup_printf("pipeline at %u fps: frame-to-decode", fps)
                                   : g_strdup("pipeline unpaced: frame-to-decode");
  double p50 = percentile(c.latency_ms, 50), p99 = percentile(c.latency_ms, 99);
  printf("%-46s n=%-5u p50 %8.3f ms   p99 %8.3f ms   (p50 = %.2fx baseline)\n", label, c.latency_ms->len, p50, p99,
         p50 / base_ms);
  printf("%-46s %.1f frames/s at the sink, %.1f decoded/s (%.2fx baseline rate), %" G_GUINT64_FORMAT
         " dropped, decode %.3f ms/frame on the worker\n",
         "", (double) cs.frames / elapsed, decoded_fps, decoded_fps * base_ms / 1000.0, ss.dropped, ss.mean_decode_ms);
  g_array_unref(c.latency_ms);
  g_mutex_clear(&c.lock);
  return decoded_fps;
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
  g_autofree char *tmp = gk_test_make_tmpdir("bench-camera");
  g_autofree char *text = NULL;
  g_autofree char *frame = make_frame(tmp, &text);
  printf("frame %dx%d, ticket QR of %zu characters, 5 px per module\n", FRAME_W, FRAME_H, strlen(text));

  double base = baseline_ms(frame, text, quick ? 30 : 200);
  /* Unpaced: how fast appsink hands frames over and how many the scanner
   * decodes meanwhile (the producer then spins on a core of its own, which
   * slows the decoder: a worst case); 30 fps: a camera, for latency. (Paced
   * runs above ~120 fps do not help: imagefreeze + a synchronised appsink top
   * out there.) */
  run_pipeline(frame, 0, quick ? 2.0 : 10.0, base);
  run_pipeline(frame, 30, quick ? 3.0 : 20.0, base);

  gk_test_rmtree(tmp);
  gst_deinit();
  return 0;
}
