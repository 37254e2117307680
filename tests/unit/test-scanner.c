/* The kiosk's QR scanner: file decoding and its refusals, the worker's frame
 * queue (drops, bounded backlog, clean join), de-duplication and RGB luma. */
#include <cairo.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <string.h>

#include "gk-qr.h"
#include "gk-test-util.h"
#include "kiosk-scanner.h"

static const char base45_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  fx->dir = gk_test_make_tmpdir("test-scanner");
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  gk_test_rmtree(fx->dir);
  g_free(fx->dir);
}

/* "GK1:" + 144 base45 characters: the shape of a real ticket text. */
static char *
ticket_like_text(guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
  GString *s = g_string_new("GK1:");
  for (guint i = 0; i < 144; i++)
    g_string_append_c(s, base45_alphabet[g_rand_int_range(rand, 0, (gint32) strlen(base45_alphabet))]);
  return g_string_free(s, FALSE);
}

static char *
write_qr(Fixture *fx, const char *name, const char *text, guint module_px)
{
  char *path = g_build_filename(fx->dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_qr_write_png(text, path, module_px, &error));
  g_assert_no_error(error);
  return path;
}

static guint8 *
load_gray(const char *path, int *w, int *h)
{
  g_autoptr(GError) error = NULL;
  guint8 *gray = kiosk_scanner_load_gray(path, w, h, &error);
  g_assert_no_error(error);
  g_assert_nonnull(gray);
  return gray;
}

/* ---- synchronous decoding ---- */

static void
test_file_roundtrip(Fixture *fx, gconstpointer data)
{
  g_autofree char *text = ticket_like_text(1);
  g_autofree char *png = write_qr(fx, "ticket.png", text, 4);
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  g_assert_true(kiosk_scan_image_file(png, &got, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(got, ==, text);

  /* The same symbol as a JPEG (what a phone camera or a mail client makes). */
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file(png, &error);
  g_assert_no_error(error);
  g_autofree char *jpg = g_build_filename(fx->dir, "ticket.jpg", NULL);
  g_assert_true(gdk_pixbuf_save(pixbuf, jpg, "jpeg", &error, "quality", "85", NULL));
  g_autofree char *got_jpg = NULL;
  g_assert_true(kiosk_scan_image_file(jpg, &got_jpg, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(got_jpg, ==, text);
}

static cairo_surface_t *
surface_from_png(const char *path)
{
  cairo_surface_t *s = cairo_image_surface_create_from_png(path);
  g_assert_cmpint(cairo_surface_status(s), ==, CAIRO_STATUS_SUCCESS);
  return s;
}

static void
write_surface(cairo_surface_t *s, const char *path)
{
  g_assert_cmpint(cairo_surface_write_to_png(s, path), ==, CAIRO_STATUS_SUCCESS);
}

static void
test_file_two_codes(Fixture *fx, gconstpointer data)
{
  g_autofree char *a = ticket_like_text(2), *b = ticket_like_text(3);
  g_autofree char *pa = write_qr(fx, "a.png", a, 4), *pb = write_qr(fx, "b.png", b, 4);
  cairo_surface_t *sa = surface_from_png(pa), *sb = surface_from_png(pb);
  int w = cairo_image_surface_get_width(sa), h = cairo_image_surface_get_height(sa);
  cairo_surface_t *both = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 2 * w + 40, h + 40);
  cairo_t *cr = cairo_create(both);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_set_source_surface(cr, sa, 10, 20);
  cairo_paint(cr);
  cairo_set_source_surface(cr, sb, 30 + w, 20);
  cairo_paint(cr);
  cairo_destroy(cr);
  g_autofree char *path = g_build_filename(fx->dir, "both.png", NULL);
  write_surface(both, path);
  cairo_surface_destroy(both);
  cairo_surface_destroy(sa);
  cairo_surface_destroy(sb);

  /* Documented: one of them, the first zbar returns. */
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  g_assert_true(kiosk_scan_image_file(path, &got, &error));
  g_assert_no_error(error);
  g_assert_true(g_strcmp0(got, a) == 0 || g_strcmp0(got, b) == 0);
}

static void
test_file_no_code(Fixture *fx, gconstpointer data)
{
  /* A picture with edges and blocks but no symbol. */
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 400, 300);
  cairo_t *cr = cairo_create(s);
  cairo_set_source_rgb(cr, 0.9, 0.9, 0.85);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  for (int i = 0; i < 12; i++)
    cairo_rectangle(cr, 20 + 30 * i, 40 + (i % 3) * 50, 14, 14 + 7 * i);
  cairo_fill(cr);
  cairo_destroy(cr);
  g_autofree char *path = g_build_filename(fx->dir, "nocode.png", NULL);
  write_surface(s, path);
  cairo_surface_destroy(s);

  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  g_assert_false(kiosk_scan_image_file(path, &got, &error));
  g_assert_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_NO_CODE);
  g_assert_null(got);
}

static void
test_file_too_long_text(Fixture *fx, gconstpointer data)
{
  /* A valid QR code whose text is longer than anything we issue is dropped
   * unread: to the caller it is as if there were no code. */
  GString *s = g_string_new(NULL);
  while (s->len <= KIOSK_SCANNER_MAX_TEXT)
    g_string_append(s, "ABCDEFGHIJ0123456789");
  g_autofree char *text = g_string_free(s, FALSE);
  g_autofree char *png = write_qr(fx, "long.png", text, 3);
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  g_assert_false(kiosk_scan_image_file(png, &got, &error));
  g_assert_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_NO_CODE);
}

static void
expect_file_error(const char *path, int code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  g_assert_false(kiosk_scan_image_file(path, &got, &error));
  g_assert_error(error, KIOSK_SCANNER_ERROR, code);
  g_assert_null(got);
}

static void
test_file_bad_image(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *txt = g_build_filename(fx->dir, "notes.png", NULL);
  g_assert_true(g_file_set_contents(txt, "GK1:not an image at all\n", -1, &error));
  expect_file_error(txt, KIOSK_SCANNER_ERROR_BAD_IMAGE);

  g_autofree char *missing = g_build_filename(fx->dir, "missing.png", NULL);
  expect_file_error(missing, KIOSK_SCANNER_ERROR_BAD_IMAGE);
  expect_file_error(fx->dir, KIOSK_SCANNER_ERROR_BAD_IMAGE); /* a directory */

  /* A real PNG cut short, and one with its pixel data overwritten. */
  g_autofree char *text = ticket_like_text(4);
  g_autofree char *png = write_qr(fx, "ok.png", text, 4);
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(png, &contents, &len, &error));
  g_assert_cmpuint(len, >, 200);
  g_autofree char *cut = g_build_filename(fx->dir, "cut.png", NULL);
  g_assert_true(g_file_set_contents(cut, contents, 100, &error));
  expect_file_error(cut, KIOSK_SCANNER_ERROR_BAD_IMAGE);
  memset(contents + 60, 0x5a, len - 80);
  g_autofree char *garbled = g_build_filename(fx->dir, "garbled.png", NULL);
  g_assert_true(g_file_set_contents(garbled, contents, (gssize) len, &error));
  expect_file_error(garbled, KIOSK_SCANNER_ERROR_BAD_IMAGE);

  /* Formats gdk-pixbuf could read but we do not accept. */
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file(png, &error);
  g_assert_no_error(error);
  g_autofree char *bmp = g_build_filename(fx->dir, "ticket.bmp", NULL);
  g_assert_true(gdk_pixbuf_save(pixbuf, bmp, "bmp", &error, NULL));
  expect_file_error(bmp, KIOSK_SCANNER_ERROR_BAD_IMAGE);
}

static void
test_file_too_large(Fixture *fx, gconstpointer data)
{
  /* Over the side limit: a tiny file that would decode to a huge image. The
   * refusal comes from the header, before the pixel buffer is allocated. */
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, KIOSK_SCANNER_MAX_IMAGE_SIDE + 1, 8);
  g_autofree char *wide = g_build_filename(fx->dir, "wide.png", NULL);
  write_surface(s, wide);
  cairo_surface_destroy(s);
  expect_file_error(wide, KIOSK_SCANNER_ERROR_TOO_LARGE);

  /* Exactly at the limit is fine (and holds no code). */
  s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, KIOSK_SCANNER_MAX_IMAGE_SIDE, 8);
  g_autofree char *edge = g_build_filename(fx->dir, "edge.png", NULL);
  write_surface(s, edge);
  cairo_surface_destroy(s);
  expect_file_error(edge, KIOSK_SCANNER_ERROR_NO_CODE);

  /* Over the byte limit: a sparse file that starts like a PNG. */
  g_autofree char *big = g_build_filename(fx->dir, "big.png", NULL);
  FILE *f = g_fopen(big, "wb");
  g_assert_nonnull(f);
  static const guint8 magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  g_assert_cmpuint(fwrite(magic, 1, sizeof magic, f), ==, sizeof magic);
  g_assert_cmpint(fseek(f, KIOSK_SCANNER_MAX_FILE_BYTES, SEEK_SET), ==, 0);
  g_assert_cmpint(fputc(0, f), ==, 0);
  g_assert_cmpint(fclose(f), ==, 0);
  expect_file_error(big, KIOSK_SCANNER_ERROR_TOO_LARGE);
}

static void
test_gray_bad_geometry(void)
{
  guint8 px[16] = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  g_assert_false(kiosk_scan_gray(px, 4, 4, 3, KIOSK_SCAN_DEFAULT, &got, NULL, &error));
  g_assert_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE);
  g_clear_error(&error);
  g_assert_false(kiosk_scan_gray(px, 0, 4, 4, KIOSK_SCAN_DEFAULT, &got, NULL, &error));
  g_assert_error(error, KIOSK_SCANNER_ERROR, KIOSK_SCANNER_ERROR_BAD_IMAGE);
}

/* ---- RGB ---- */

static void
test_rgb_to_gray(void)
{
  /* Two rows of RGBx pixels with 4 bytes of row padding; the x byte must be
   * ignored (set to values that would change the result if read). */
  static const guint8 rgb[][3] = {
    { 0, 0, 0 }, { 255, 255, 255 }, { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 128, 128, 128 },
    { 10, 200, 30 }, { 1, 2, 3 },
  };
  /* (77 R + 150 G + 29 B + 128) >> 8 */
  static const guint8 want[] = { 0, 255, 77, 149, 29, 128, 124, 2 };
  const int w = 4, h = 2, stride = w * 4 + 4;
  guint8 px4[2 * (4 * 4 + 4)], px3[2 * (4 * 3 + 5)];
  memset(px4, 0xee, sizeof px4);
  memset(px3, 0xee, sizeof px3);
  for (int i = 0; i < 8; i++) {
    int x = i % w, y = i / w;
    memcpy(px4 + y * stride + 4 * x, rgb[i], 3);
    px4[y * stride + 4 * x + 3] = (guint8) (i * 31);
    memcpy(px3 + y * (w * 3 + 5) + 3 * x, rgb[i], 3);
  }
  guint8 out[8];
  kiosk_scanner_rgb_to_gray(px4, w, h, stride, 4, out);
  g_assert_cmpmem(out, sizeof out, want, sizeof want);
  memset(out, 0, sizeof out);
  kiosk_scanner_rgb_to_gray(px3, w, h, w * 3 + 5, 3, out);
  g_assert_cmpmem(out, sizeof out, want, sizeof want);
}

/* ---- the asynchronous scanner ---- */

typedef struct {
  GMutex lock;
  GPtrArray *texts; /* every reported text, in order */
  GThread *caller;  /* the test's thread: callbacks must never run on it */
  gboolean on_caller_thread;
  gint64 max_latency_us;
} Collector;

static void
collector_init(Collector *c)
{
  g_mutex_init(&c->lock);
  c->texts = g_ptr_array_new_with_free_func(g_free);
  c->caller = g_thread_self();
  c->on_caller_thread = FALSE;
  c->max_latency_us = 0;
}

static void
collector_clear(Collector *c)
{
  g_ptr_array_unref(c->texts);
  g_mutex_clear(&c->lock);
}

static void
on_code(const char *text, gsize len, gint64 frame_time_us, gpointer data)
{
  Collector *c = data;
  g_assert_cmpuint(strlen(text), ==, len);
  g_mutex_lock(&c->lock);
  g_ptr_array_add(c->texts, g_strndup(text, len));
  if (g_thread_self() == c->caller)
    c->on_caller_thread = TRUE;
  c->max_latency_us = MAX(c->max_latency_us, g_get_monotonic_time() - frame_time_us);
  g_mutex_unlock(&c->lock);
}

static guint
collector_count(Collector *c, const char *text)
{
  guint n = 0;
  g_mutex_lock(&c->lock);
  for (guint i = 0; i < c->texts->len; i++)
    n += g_strcmp0(c->texts->pdata[i], text) == 0;
  g_mutex_unlock(&c->lock);
  return n;
}

static void
test_async_once(Fixture *fx, gconstpointer data)
{
  g_autofree char *text = ticket_like_text(10);
  g_autofree char *png = write_qr(fx, "t.png", text, 4);
  int w, h;
  g_autofree guint8 *gray = load_gray(png, &w, &h);

  Collector c;
  collector_init(&c);
  KioskScanner *scanner = kiosk_scanner_new(on_code, &c);
  /* A ticket held in front of the camera: 100 frames as fast as we can. */
  for (int i = 0; i < 100; i++)
    kiosk_scanner_push_frame(scanner, gray, w, h, w);
  g_assert_true(kiosk_scanner_wait_idle(scanner, 30000));
  KioskScannerStats st;
  kiosk_scanner_stats(scanner, &st);
  g_assert_cmpuint(st.frames_in, ==, 100);
  g_assert_cmpuint(st.scanned + st.dropped, ==, 100);
  g_assert_cmpuint(st.decoded, ==, st.scanned);
  g_assert_cmpuint(st.reported, ==, 1);
  g_assert_cmpfloat(st.mean_decode_ms, >, 0.0);
  kiosk_scanner_free(scanner);

  g_assert_cmpuint(c.texts->len, ==, 1);
  g_assert_cmpstr(c.texts->pdata[0], ==, text);
  g_assert_false(c.on_caller_thread);
  g_assert_cmpint(c.max_latency_us, >, 0);
  collector_clear(&c);
}

static void
test_async_alternating(Fixture *fx, gconstpointer data)
{
  g_autofree char *a = ticket_like_text(11), *b = ticket_like_text(12);
  g_autofree char *pa = write_qr(fx, "a.png", a, 4), *pb = write_qr(fx, "b.png", b, 4);
  int wa, ha, wb, hb;
  g_autofree guint8 *ga = load_gray(pa, &wa, &ha);
  g_autofree guint8 *gb = load_gray(pb, &wb, &hb);

  /* Defaults: two tickets swapped back and forth quickly are each reported
   * once (neither was away for 1.5 s). Waiting between pushes makes every
   * frame count, so the result does not depend on timing. */
  Collector c;
  collector_init(&c);
  KioskScanner *scanner = kiosk_scanner_new(on_code, &c);
  for (int i = 0; i < 10; i++) {
    if (i % 2 == 0)
      g_assert_true(kiosk_scanner_push_frame(scanner, ga, wa, ha, wa));
    else
      g_assert_true(kiosk_scanner_push_frame(scanner, gb, wb, hb, wb));
    g_assert_true(kiosk_scanner_wait_idle(scanner, 30000));
  }
  g_assert_cmpuint(collector_count(&c, a), ==, 1);
  g_assert_cmpuint(collector_count(&c, b), ==, 1);

  /* Repeat after one missed frame and no minimum time: every swap reports. */
  kiosk_scanner_set_repeat(scanner, 0, 1);
  for (int i = 0; i < 4; i++) {
    if (i % 2 == 0)
      kiosk_scanner_push_frame(scanner, ga, wa, ha, wa);
    else
      kiosk_scanner_push_frame(scanner, gb, wb, hb, wb);
    g_assert_true(kiosk_scanner_wait_idle(scanner, 30000));
  }
  kiosk_scanner_free(scanner);
  g_assert_cmpuint(collector_count(&c, a), ==, 3);
  g_assert_cmpuint(collector_count(&c, b), ==, 3);
  collector_clear(&c);
}

static void
test_async_reappear(Fixture *fx, gconstpointer data)
{
  g_autofree char *text = ticket_like_text(13);
  g_autofree char *png = write_qr(fx, "t.png", text, 4);
  int w, h;
  g_autofree guint8 *gray = load_gray(png, &w, &h);
  g_autofree guint8 *blank = g_malloc((gsize) w * (gsize) h);
  memset(blank, 200, (gsize) w * (gsize) h);

  Collector c;
  collector_init(&c);
  KioskScanner *scanner = kiosk_scanner_new(on_code, &c);
  kiosk_scanner_set_repeat(scanner, 500, 2);
#define PUSH(px)                                                                                              \
  do {                                                                                                        \
    kiosk_scanner_push_frame(scanner, (px), w, h, w);                                                         \
    g_assert_true(kiosk_scanner_wait_idle(scanner, 30000));                                                   \
  } while (0)
  PUSH(gray);
  /* Away for two frames but a short time: not again (a blurred frame or two). */
  PUSH(blank);
  PUSH(blank);
  PUSH(gray);
  g_assert_cmpuint(collector_count(&c, text), ==, 1);
  /* No frames for a while (camera stalled), still held: not again. */
  g_usleep(700 * 1000);
  PUSH(gray);
  g_assert_cmpuint(collector_count(&c, text), ==, 1);
  /* Away for two frames and long enough: shown again, reported again. */
  PUSH(blank);
  PUSH(blank);
  g_usleep(700 * 1000);
  PUSH(gray);
  g_assert_cmpuint(collector_count(&c, text), ==, 2);
#undef PUSH
  kiosk_scanner_free(scanner);
  collector_clear(&c);
}

static void
test_async_burst(Fixture *fx, gconstpointer data)
{
  g_autofree char *text = ticket_like_text(14);
  g_autofree char *png = write_qr(fx, "t.png", text, 6);
  int w, h;
  g_autofree guint8 *gray = load_gray(png, &w, &h);
  /* Put the symbol into a 640x480 frame, like a camera's. */
  const int fw = 640, fh = 480;
  g_assert_cmpint(w, <=, fw);
  g_assert_cmpint(h, <=, fh);
  g_autofree guint8 *frame = g_malloc((gsize) fw * fh);
  memset(frame, 180, (gsize) fw * fh);
  for (int y = 0; y < h; y++)
    memcpy(frame + (gsize) (y + (fh - h) / 2) * fw + (fw - w) / 2, gray + (gsize) y * w, (gsize) w);

  Collector c;
  collector_init(&c);
  KioskScanner *scanner = kiosk_scanner_new(on_code, &c);
  guint refused = 0;
  gint64 start = g_get_monotonic_time();
  for (int i = 0; i < 1000; i++)
    refused += !kiosk_scanner_push_frame(scanner, frame, fw, fh, fw);
  gint64 push_us = g_get_monotonic_time() - start;
  KioskScannerStats st;
  kiosk_scanner_stats(scanner, &st);
  g_test_message("1000 pushes took %.1f ms; %" G_GUINT64_FORMAT " scanned meanwhile", push_us / 1000.0,
                 st.scanned);
  /* Pushing is a copy, far faster than decoding: most frames were replaced
   * while waiting. The backlog is bounded: besides those scanned or dropped,
   * only the frame being decoded and the one waiting are unaccounted for. */
  g_assert_cmpuint(st.frames_in, ==, 1000);
  g_assert_cmpuint(st.dropped, ==, refused);
  g_assert_cmpuint(st.dropped, >, 500);
  g_assert_cmpuint(st.scanned + st.dropped, >=, 998);
  g_assert_true(kiosk_scanner_wait_idle(scanner, 30000));
  kiosk_scanner_stats(scanner, &st);
  g_assert_cmpuint(st.scanned + st.dropped, ==, 1000);
  g_assert_cmpuint(st.reported, ==, 1);

  /* Another burst, then free at once: the frame waiting is discarded, the one
   * being decoded finishes, the thread is joined (ASan/LSan check the rest). */
  for (int i = 0; i < 200; i++)
    kiosk_scanner_push_frame(scanner, frame, fw, fh, fw);
  kiosk_scanner_free(scanner);
  g_assert_cmpuint(collector_count(&c, text), ==, 1);
  collector_clear(&c);
}

static void
test_async_rgb(Fixture *fx, gconstpointer data)
{
  g_autofree char *text = ticket_like_text(15);
  g_autofree char *png = write_qr(fx, "t.png", text, 4);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file(png, &error);
  g_assert_no_error(error);
  /* Camera frames come as RGB or RGBx with padded rows. */
  g_autoptr(GdkPixbuf) rgba = gdk_pixbuf_add_alpha(pixbuf, FALSE, 0, 0, 0);
  Collector c;
  collector_init(&c);
  KioskScanner *scanner = kiosk_scanner_new(on_code, &c);
  g_assert_true(kiosk_scanner_push_rgb(scanner, gdk_pixbuf_read_pixels(pixbuf), gdk_pixbuf_get_width(pixbuf),
                                       gdk_pixbuf_get_height(pixbuf), gdk_pixbuf_get_rowstride(pixbuf),
                                       gdk_pixbuf_get_n_channels(pixbuf)));
  g_assert_true(kiosk_scanner_wait_idle(scanner, 30000));
  kiosk_scanner_set_repeat(scanner, 0, 0); /* report again at once */
  g_assert_true(kiosk_scanner_push_rgb(scanner, gdk_pixbuf_read_pixels(rgba), gdk_pixbuf_get_width(rgba),
                                       gdk_pixbuf_get_height(rgba), gdk_pixbuf_get_rowstride(rgba), 4));
  g_assert_true(kiosk_scanner_wait_idle(scanner, 30000));
  kiosk_scanner_free(scanner);
  g_assert_cmpuint(collector_count(&c, text), ==, 2);
  collector_clear(&c);
}

static void
test_async_free_idle(void)
{
  /* A scanner that never saw a frame stops and joins at once. */
  Collector c;
  collector_init(&c);
  g_autoptr(KioskScanner) scanner = kiosk_scanner_new(on_code, &c);
  g_assert_true(kiosk_scanner_wait_idle(scanner, 0));
  g_clear_pointer(&scanner, kiosk_scanner_free);
  g_assert_cmpuint(c.texts->len, ==, 0);
  collector_clear(&c);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/kiosk/scanner/file/roundtrip", test_file_roundtrip);
  ADD("/kiosk/scanner/file/two-codes", test_file_two_codes);
  ADD("/kiosk/scanner/file/no-code", test_file_no_code);
  ADD("/kiosk/scanner/file/too-long-text", test_file_too_long_text);
  ADD("/kiosk/scanner/file/bad-image", test_file_bad_image);
  ADD("/kiosk/scanner/file/too-large", test_file_too_large);
  g_test_add_func("/kiosk/scanner/gray/bad-geometry", test_gray_bad_geometry);
  g_test_add_func("/kiosk/scanner/rgb-to-gray", test_rgb_to_gray);
  ADD("/kiosk/scanner/async/once", test_async_once);
  ADD("/kiosk/scanner/async/alternating", test_async_alternating);
  ADD("/kiosk/scanner/async/reappear", test_async_reappear);
  ADD("/kiosk/scanner/async/burst", test_async_burst);
  ADD("/kiosk/scanner/async/rgb", test_async_rgb);
  g_test_add_func("/kiosk/scanner/async/free-idle", test_async_free_idle);
#undef ADD
  return g_test_run();
}
