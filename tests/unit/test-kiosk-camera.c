/* Camera pipelines for real: a QR image shown through GStreamer reaches the
 * scanner; previews arrive on the main context, throttled, with the frame's
 * pixels; missing or wrong devices give clear errors; stop and free are safe
 * at any moment, from a callback too. */
#include <gst/gst.h>
#include <string.h>

#include "gk-qr.h"
#include "gk-test-util.h"
#include "kiosk-camera.h"

#define QR_TEXT "GK1:CAMERA-TEST 0123456789 $%*+-./:"
#define DEADLINE_MS 30000 /* a failure deadline, not a performance figure */

typedef struct {
  char *dir;
  char *qr_png;
  GThread *main_thread;

  GMutex lock; /* scanner worker ↔ test */
  char *scanned;
  guint n_scanned;

  /* main thread only */
  guint previews;
  guint wrong_thread;
  int width, height, stride;
  GBytes *last_preview;
  GError *error;
  guint errors;
  guint want_previews;
  KioskCamera *stop_in_preview; /* stop this camera from the Nth preview */
  guint stop_after;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  fx->dir = gk_test_make_tmpdir("test-kiosk-camera");
  fx->qr_png = g_build_filename(fx->dir, "qr.png", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_qr_write_png(QR_TEXT, fx->qr_png, 6, &error));
  g_assert_no_error(error);
  fx->main_thread = g_thread_self();
  g_mutex_init(&fx->lock);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_clear_pointer(&fx->last_preview, g_bytes_unref);
  g_clear_error(&fx->error);
  g_free(fx->scanned);
  g_mutex_clear(&fx->lock);
  gk_test_rmtree(fx->dir);
  g_free(fx->dir);
  g_free(fx->qr_png);
}

static void
on_code(const char *text, gsize len, gint64 frame_time_us, gpointer data)
{
  Fixture *fx = data;
  g_mutex_lock(&fx->lock);
  g_free(fx->scanned);
  fx->scanned = g_strndup(text, len);
  fx->n_scanned++;
  g_mutex_unlock(&fx->lock);
  g_main_context_wakeup(NULL);
}

static void
on_preview(GBytes *pixels, int width, int height, int stride, gpointer data)
{
  Fixture *fx = data;
  fx->previews++;
  if (g_thread_self() != fx->main_thread)
    fx->wrong_thread++;
  fx->width = width;
  fx->height = height;
  fx->stride = stride;
  g_clear_pointer(&fx->last_preview, g_bytes_unref);
  fx->last_preview = g_bytes_ref(pixels);
  if (fx->stop_in_preview != NULL && fx->previews == fx->stop_after)
    kiosk_camera_stop(fx->stop_in_preview);
}

static void
on_error(const GError *error, gpointer data)
{
  Fixture *fx = data;
  fx->errors++;
  g_clear_error(&fx->error);
  fx->error = g_error_copy(error);
}

static gboolean
wake(gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until @done(fx) or the deadline; FALSE on the deadline. */
static gboolean
spin_until(Fixture *fx, gboolean (*done)(Fixture *fx), guint deadline_ms)
{
  GSource *tick = g_timeout_source_new(5);
  g_source_set_callback(tick, wake, NULL, NULL);
  g_source_attach(tick, NULL);
  gint64 end = g_get_monotonic_time() + (gint64) deadline_ms * 1000;
  gboolean ok;
  while (!(ok = done(fx)) && g_get_monotonic_time() < end)
    g_main_context_iteration(NULL, TRUE);
  g_source_destroy(tick);
  g_source_unref(tick);
  return ok;
}

/* Just runs the main loop for @ms. */
static gboolean
never(Fixture *fx)
{
  return FALSE;
}

static gboolean
scanned_and_previewed(Fixture *fx)
{
  g_mutex_lock(&fx->lock);
  gboolean got = fx->scanned != NULL;
  g_mutex_unlock(&fx->lock);
  return got && fx->previews >= 2;
}

static gboolean
enough_previews(Fixture *fx)
{
  return fx->previews >= fx->want_previews;
}

static gboolean
got_error(Fixture *fx)
{
  return fx->errors > 0;
}

static KioskCamera *
new_camera(Fixture *fx, const char *source, KioskScanner *scanner)
{
  g_autoptr(GError) error = NULL;
  KioskCamera *camera = kiosk_camera_new(source, scanner, &error);
  g_assert_no_error(error);
  g_assert_nonnull(camera);
  kiosk_camera_set_preview_func(camera, on_preview, fx, NULL);
  kiosk_camera_set_error_func(camera, on_error, fx, NULL);
  return camera;
}

static void
start(KioskCamera *camera)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_camera_start(camera, &error));
  g_assert_no_error(error);
  g_assert_true(kiosk_camera_is_running(camera));
}

static void
test_image_to_scanner(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskScanner) scanner = kiosk_scanner_new(on_code, fx);
  g_autofree char *source = g_strconcat("image:", fx->qr_png, NULL);
  g_autoptr(KioskCamera) camera = new_camera(fx, source, scanner);
  start(camera);
  g_assert_true(spin_until(fx, scanned_and_previewed, DEADLINE_MS));
  g_mutex_lock(&fx->lock);
  g_assert_cmpstr(fx->scanned, ==, QR_TEXT);
  g_mutex_unlock(&fx->lock);

  /* Previews on the main thread, with the image's own size and pixels. */
  g_assert_cmpuint(fx->wrong_thread, ==, 0);
  int png_w = 0, png_h = 0;
  g_autofree guint8 *png_gray = kiosk_scanner_load_gray(fx->qr_png, &png_w, &png_h, NULL);
  g_assert_nonnull(png_gray);
  g_assert_cmpint(fx->width, ==, png_w);
  g_assert_cmpint(fx->height, ==, png_h);
  g_assert_cmpint(fx->stride, >=, fx->width * 3);
  g_assert_cmpuint(g_bytes_get_size(fx->last_preview), ==, (gsize) fx->stride * (gsize) fx->height);
  g_autofree guint8 *gray = g_malloc((gsize) fx->width * (gsize) fx->height);
  kiosk_scanner_rgb_to_gray(g_bytes_get_data(fx->last_preview, NULL), fx->width, fx->height, fx->stride, 3, gray);
  g_assert_cmpmem(gray, (gsize) png_w * png_h, png_gray, (gsize) png_w * png_h);

  KioskCameraStats stats;
  kiosk_camera_stats(camera, &stats);
  g_assert_cmpuint(stats.frames, >=, stats.scanned);
  g_assert_cmpuint(stats.scanned, >=, 1);
  g_assert_cmpuint(stats.previews, ==, fx->previews);
  g_assert_cmpint(stats.width, ==, png_w);

  /* Stop while running: nothing arrives afterwards. */
  kiosk_camera_stop(camera);
  g_assert_false(kiosk_camera_is_running(camera));
  kiosk_camera_stop(camera); /* twice is fine */
  guint previews = fx->previews;
  kiosk_camera_stats(camera, &stats);
  guint64 frames = stats.frames;
  spin_until(fx, never, 300);
  g_assert_cmpuint(fx->previews, ==, previews);
  kiosk_camera_stats(camera, &stats);
  g_assert_cmpuint(stats.frames, ==, frames);
  g_assert_cmpuint(fx->errors, ==, 0);

  /* And it starts again. */
  start(camera);
  fx->want_previews = fx->previews + 3;
  g_assert_true(spin_until(fx, enough_previews, DEADLINE_MS));
  g_assert_cmpuint(fx->errors, ==, 0);
}

/* As fast as the pipeline goes: the scanner drops what it cannot take, and
 * the UI still gets at most KIOSK_CAMERA_PREVIEW_FPS previews a second. */
static void
test_preview_throttled(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskScanner) scanner = kiosk_scanner_new(on_code, fx);
  g_autofree char *source = g_strconcat("image:", fx->qr_png, NULL);
  g_autoptr(KioskCamera) camera = new_camera(fx, source, scanner);
  kiosk_camera_set_fps(camera, 0);
  gint64 t0 = g_get_monotonic_time();
  start(camera);
  fx->want_previews = 10;
  g_assert_true(spin_until(fx, enough_previews, DEADLINE_MS));
  kiosk_camera_stop(camera);
  double seconds = (double) (g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
  KioskCameraStats stats;
  kiosk_camera_stats(camera, &stats);
  g_test_message("%.2f s: %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT " scanned, %u previews", seconds,
                 stats.frames, stats.scanned, fx->previews);
  /* An upper bound only: a slow machine makes fewer previews, never more. */
  g_assert_cmpfloat((double) fx->previews, <=, seconds * KIOSK_CAMERA_PREVIEW_FPS + 2);
  g_assert_cmpuint(stats.frames, >, fx->previews);
  KioskScannerStats sstats;
  kiosk_scanner_stats(scanner, &sstats);
  g_assert_cmpuint(sstats.frames_in, ==, stats.scanned);
  g_assert_cmpuint(fx->wrong_thread, ==, 0);
}

static void
test_missing_device(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskScanner) scanner = kiosk_scanner_new(on_code, fx);
  g_autofree char *missing_image = g_build_filename(fx->dir, "missing.png", NULL);
  g_autofree char *image_source = g_strconcat("image:", missing_image, NULL);
  struct {
    const char *source, *needle;
    int code;
  } cases[] = {
    { "/dev/video99", "/dev/video99 does not exist", KIOSK_CAMERA_ERROR_NO_DEVICE },
    { "v4l2:/dev/video99", "/dev/video99 does not exist", KIOSK_CAMERA_ERROR_NO_DEVICE },
    { "v4l2:/dev", "/dev is not a device", KIOSK_CAMERA_ERROR_NO_DEVICE },
    /* A character device that is no camera: v4l2src refuses it at start. */
    { "/dev/null", "/dev/null", KIOSK_CAMERA_ERROR_STREAM },
    { image_source, "does not exist", KIOSK_CAMERA_ERROR_NO_DEVICE },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(KioskCamera) camera = new_camera(fx, cases[i].source, scanner);
    g_autoptr(GError) error = NULL;
    g_assert_false(kiosk_camera_start(camera, &error));
    g_assert_error(error, KIOSK_CAMERA_ERROR, cases[i].code);
    g_test_message("%s: %s", cases[i].source, error->message);
    g_assert_nonnull(strstr(error->message, cases[i].needle));
    g_assert_false(kiosk_camera_is_running(camera));
    /* Asking again gives the same answer: nothing half-started lingers. */
    g_clear_error(&error);
    g_assert_false(kiosk_camera_start(camera, &error));
    g_assert_error(error, KIOSK_CAMERA_ERROR, cases[i].code);
  }
  spin_until(fx, never, 100);
  g_assert_cmpuint(fx->errors, ==, 0); /* reported by start(), not again */
  g_assert_cmpuint(fx->previews, ==, 0);

  const char *bad[] = { "", "camera", "image:", "v4l2:", "http://example.com/cam" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(kiosk_camera_new(bad[i], scanner, &error));
    g_assert_error(error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_INVALID);
  }
}

/* A file that is no image: start() cannot know yet; the error callback says
 * so on the main context and the camera has stopped. */
static void
test_bad_image(Fixture *fx, gconstpointer data)
{
  g_autofree char *path = g_build_filename(fx->dir, "not-an-image.png", NULL);
  g_assert_true(g_file_set_contents(path, "this is not a picture at all\n", -1, NULL));
  g_autofree char *source = g_strconcat("image:", path, NULL);
  g_autoptr(KioskCamera) camera = new_camera(fx, source, NULL);
  start(camera);
  g_assert_true(spin_until(fx, got_error, DEADLINE_MS));
  g_assert_error(fx->error, KIOSK_CAMERA_ERROR, KIOSK_CAMERA_ERROR_STREAM);
  g_test_message("%s", fx->error->message);
  g_assert_false(kiosk_camera_is_running(camera));
  g_assert_cmpuint(fx->previews, ==, 0);
  spin_until(fx, never, 100);
  g_assert_cmpuint(fx->errors, ==, 1);
}

/* The live test pattern; the UI stops the camera from inside a preview. */
static void
test_stop_from_preview(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskScanner) scanner = kiosk_scanner_new(on_code, fx);
  g_autoptr(KioskCamera) camera = new_camera(fx, "test", scanner);
  fx->stop_in_preview = camera;
  fx->stop_after = 3;
  start(camera);
  fx->want_previews = 3;
  g_assert_true(spin_until(fx, enough_previews, DEADLINE_MS));
  g_assert_false(kiosk_camera_is_running(camera));
  spin_until(fx, never, 200);
  g_assert_cmpuint(fx->previews, ==, 3);
  g_assert_cmpint(fx->width, ==, 640);
  g_assert_cmpint(fx->height, ==, 480);
  g_mutex_lock(&fx->lock);
  g_assert_null(fx->scanned); /* no QR code in the test pattern */
  g_mutex_unlock(&fx->lock);
}

/* Scanning off: frames still flow to the preview, none to the scanner. */
static void
test_scanning_off(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskScanner) scanner = kiosk_scanner_new(on_code, fx);
  g_autofree char *source = g_strconcat("image:", fx->qr_png, NULL);
  g_autoptr(KioskCamera) camera = new_camera(fx, source, scanner);
  kiosk_camera_set_scanning(camera, FALSE);
  start(camera);
  fx->want_previews = 3;
  g_assert_true(spin_until(fx, enough_previews, DEADLINE_MS));
  kiosk_camera_stop(camera);
  KioskCameraStats stats;
  kiosk_camera_stats(camera, &stats);
  g_assert_cmpuint(stats.frames, >=, 3);
  g_assert_cmpuint(stats.scanned, ==, 0);
  g_assert_true(kiosk_scanner_wait_idle(scanner, 5000));
  g_mutex_lock(&fx->lock);
  g_assert_null(fx->scanned);
  g_mutex_unlock(&fx->lock);
}

/* Freed while frames flow and a preview is waiting for the main loop: no
 * callback afterwards, no crash, nothing leaked (ASan builds check). */
static void
test_free_while_running(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskScanner) scanner = kiosk_scanner_new(on_code, fx);
  g_autofree char *source = g_strconcat("image:", fx->qr_png, NULL);
  for (guint i = 0; i < 5; i++) {
    KioskCamera *camera = new_camera(fx, i % 2 ? "test" : source, scanner);
    kiosk_camera_set_fps(camera, 0);
    start(camera);
    /* Let frames arrive without running the main loop, so a preview is queued. */
    g_usleep(50 * 1000);
    kiosk_camera_free(camera);
  }
  guint previews = fx->previews;
  spin_until(fx, never, 200);
  g_assert_cmpuint(fx->previews, ==, previews);
  g_assert_cmpuint(fx->errors, ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/kiosk/camera/image-to-scanner", test_image_to_scanner);
  ADD("/kiosk/camera/preview-throttled", test_preview_throttled);
  ADD("/kiosk/camera/missing-device", test_missing_device);
  ADD("/kiosk/camera/bad-image", test_bad_image);
  ADD("/kiosk/camera/stop-from-preview", test_stop_from_preview);
  ADD("/kiosk/camera/scanning-off", test_scanning_off);
  ADD("/kiosk/camera/free-while-running", test_free_while_running);
#undef ADD
  int rc = g_test_run();
  gst_deinit();
  return rc;
}
