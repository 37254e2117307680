/* Visitor badges: the PDF's page size, text and mode (read back with
 * poppler-utils), the QR code on the raster rendering (zbar), Japanese text,
 * long texts that must stay inside the card, bad input, and the print fallback
 * that saves the PDF when there is no printer or no CUPS. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <pango/pangocairo.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include "gk-test-util.h"
#include "kiosk-badge.h"
#include "kiosk-scanner.h"

#define CHECKOUT_TEXT "GKO1:7Q3M-XK2P-99ZD-4HTR-BADGE-CHECKOUT"

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  fx->dir = gk_test_make_tmpdir("test-kiosk-badge");
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  gk_test_rmtree(fx->dir);
  g_free(fx->dir);
}

static KioskBadgeInfo
sample_info(void)
{
  return (KioskBadgeInfo){
    .name = "Jane Example",
    .company = "Example Industries",
    .host = "Kenji Sato",
    .date = "2025-01-15",
    .site = "Genkan Tower",
    .qr_text = CHECKOUT_TEXT,
  };
}

/* Runs a poppler-utils tool on @pdf; its stdout. poppler-utils is in the
 * [test] package list, so its absence is a failure, not a skip. */
static char *
poppler(const char *tool, const char *pdf)
{
  /* "pdftotext-bbox": pdftotext's word boxes, as XHTML. */
  gboolean bbox = strcmp(tool, "pdftotext-bbox") == 0;
  if (bbox)
    tool = "pdftotext";
  g_autofree char *path = g_find_program_in_path(tool);
  if (path == NULL)
    g_error("%s not found: install poppler-utils (packaging/debian-packages.txt, [test])", tool);
  const char *argv_text[] = { path, "-enc", "UTF-8", pdf, "-", NULL };
  const char *argv_bbox[] = { path, "-bbox", "-enc", "UTF-8", pdf, "-", NULL };
  const char *argv_plain[] = { path, pdf, NULL };
  const char *const *argv = bbox ? argv_bbox : strcmp(tool, "pdftotext") == 0 ? argv_text : argv_plain;
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error(error);
  if (!g_spawn_check_wait_status(status, NULL))
    g_error("%s failed: %s", tool, err);
  return g_steal_pointer(&out);
}

/* pdftotext breaks lines where the layout does; compare without white space. */
static char *
squeeze(const char *text)
{
  GString *s = g_string_new(NULL);
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isspace(*p))
      g_string_append_c(s, *p);
  return g_string_free(s, FALSE);
}

static char *
write_pdf(Fixture *fx, const char *name, const KioskBadgeInfo *info)
{
  char *path = g_build_filename(fx->dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_badge_write_pdf(info, path, &error));
  g_assert_no_error(error);
  return path;
}

static guint32
pixel(cairo_surface_t *s, int x, int y)
{
  const guint8 *data = cairo_image_surface_get_data(s);
  return *(const guint32 *) (data + (gsize) y * (gsize) cairo_image_surface_get_stride(s) + (gsize) x * 4) &
         0xffffff;
}

/* The rendering as 8-bit gray (every badge colour is a gray, so the byte order
 * of CAIRO_FORMAT_RGB24 does not matter to the luma). */
static char *
decode_qr(cairo_surface_t *s)
{
  cairo_surface_flush(s);
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  g_autofree guint8 *gray = g_malloc((gsize) w * (gsize) h);
  kiosk_scanner_rgb_to_gray(cairo_image_surface_get_data(s), w, h, cairo_image_surface_get_stride(s), 4, gray);
  char *text = NULL;
  g_autoptr(GError) error = NULL;
  if (!kiosk_scan_gray(gray, w, h, w, KIOSK_SCAN_DEFAULT, &text, NULL, &error))
    return NULL;
  return text;
}

static cairo_surface_t *
render(const KioskBadgeInfo *info, double dpi)
{
  g_autoptr(GError) error = NULL;
  cairo_surface_t *s = kiosk_badge_render_image(info, dpi, &error);
  g_assert_no_error(error);
  g_assert_nonnull(s);
  return s;
}

/* ---- PDF ---- */

static void
test_pdf(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = sample_info();
  g_autofree char *pdf = write_pdf(fx, "badge.pdf", &info);

  struct stat st;
  g_assert_cmpint(g_stat(pdf, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600); /* a visitor's name is personal data */

  /* "Page size:      255.118 x 153.071 pts": 90 x 54 mm. */
  g_autofree char *pdfinfo = poppler("pdfinfo", pdf);
  const char *size = strstr(pdfinfo, "Page size:");
  g_assert_nonnull(size);
  double w = 0, h = 0;
  g_assert_cmpint(sscanf(size, "Page size: %lf x %lf pts", &w, &h), ==, 2);
  g_assert_cmpfloat_with_epsilon(w, 90.0 * 72.0 / 25.4, 0.01);
  g_assert_cmpfloat_with_epsilon(h, 54.0 * 72.0 / 25.4, 0.01);
  const char *pages = strstr(pdfinfo, "Pages:");
  int n_pages = 0;
  g_assert_nonnull(pages);
  g_assert_cmpint(sscanf(pages, "Pages: %d", &n_pages), ==, 1);
  g_assert_cmpint(n_pages, ==, 1);
  /* The document title is fixed, never the visitor's name. */
  g_assert_null(strstr(pdfinfo, "Jane"));

  g_autofree char *raw = poppler("pdftotext", pdf);
  g_autofree char *text = squeeze(raw);
  const char *wanted[] = { "JaneExample", "ExampleIndustries", "Host:KenjiSato", "2025-01-15", "GenkanTower",
                           "VISITOR" };
  for (guint i = 0; i < G_N_ELEMENTS(wanted); i++)
    if (strstr(text, wanted[i]) == NULL)
      g_error("\"%s\" missing from the PDF text: %s", wanted[i], raw);
}

static void
test_pdf_labels_and_today(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = sample_info();
  info.date = NULL;
  info.title = "GUEST";
  info.host_label = "Visiting";
  info.company = NULL;
  g_autofree char *pdf = write_pdf(fx, "today.pdf", &info);
  g_autofree char *raw = poppler("pdftotext", pdf);
  g_autofree char *text = squeeze(raw);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *today = g_date_time_format(now, "%Y-%m-%d");
  g_assert_nonnull(strstr(text, today));
  g_assert_nonnull(strstr(text, "GUEST"));
  g_assert_nonnull(strstr(text, "Visiting:KenjiSato"));
  g_assert_null(strstr(text, "VISITOR"));
  g_assert_null(strstr(text, "Industries"));
}

/* Replacing a PDF keeps 0600 even when the old file was world-readable. */
static void
test_pdf_replaces_mode(Fixture *fx, gconstpointer data)
{
  g_autofree char *pdf = g_build_filename(fx->dir, "old.pdf", NULL);
  g_assert_true(g_file_set_contents(pdf, "old", -1, NULL));
  g_assert_cmpint(g_chmod(pdf, 0644), ==, 0);
  KioskBadgeInfo info = sample_info();
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_badge_write_pdf(&info, pdf, &error));
  g_assert_no_error(error);
  struct stat st;
  g_assert_cmpint(g_stat(pdf, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  g_assert_cmpint(st.st_size, >, 1000);
}

/* ---- raster rendering ---- */

static void
test_qr_decodes(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = sample_info();
  /* 300 dpi: what a label printer gets; 150 dpi: the on-screen preview. */
  const double dpis[] = { 300, 150 };
  for (guint i = 0; i < G_N_ELEMENTS(dpis); i++) {
    cairo_surface_t *s = render(&info, dpis[i]);
    g_assert_cmpint(cairo_image_surface_get_width(s), ==, (int) (90.0 / 25.4 * dpis[i] + 0.5));
    g_assert_cmpint(cairo_image_surface_get_height(s), ==, (int) (54.0 / 25.4 * dpis[i] + 0.5));
    g_autofree char *got = decode_qr(s);
    g_assert_cmpstr(got, ==, CHECKOUT_TEXT);
    cairo_surface_destroy(s);
  }

  /* No check-out text: no QR code at all. */
  info.qr_text = NULL;
  cairo_surface_t *s = render(&info, 300);
  g_autofree char *none = decode_qr(s);
  g_assert_null(none);
  cairo_surface_destroy(s);
}

/* Every pixel of the rectangle (in points) is white. */
static gboolean
blank(cairo_surface_t *s, double dpi, double x0, double y0, double x1, double y1)
{
  double k = dpi / 72.0;
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  for (int y = (int) (y0 * k); y < MIN((int) (y1 * k + 1), h); y++)
    for (int x = (int) (x0 * k); x < MIN((int) (x1 * k + 1), w); x++)
      if (pixel(s, x, y) != 0xffffff)
        return FALSE;
  return TRUE;
}

/* What the card's own text layout would leave as missing-glyph boxes. */
static int
unknown_glyphs(const char *text)
{
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 10, 10);
  cairo_t *cr = cairo_create(s);
  g_autoptr(PangoLayout) layout = pango_cairo_create_layout(cr);
  pango_context_set_language(pango_layout_get_context(layout), pango_language_from_string("ja"));
  PangoFontDescription *font = pango_font_description_from_string(KIOSK_BADGE_FONT);
  pango_font_description_set_absolute_size(font, 12 * PANGO_SCALE);
  pango_layout_set_font_description(layout, font);
  pango_layout_set_text(layout, text, -1);
  int n = pango_layout_get_unknown_glyphs_count(layout);
  pango_font_description_free(font);
  cairo_destroy(cr);
  cairo_surface_destroy(s);
  return n;
}

static void
test_japanese(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = {
    .name = "山田 太郎",
    .company = "株式会社げんかん商事",
    .host = "佐藤 花子",
    .host_label = "担当",
    .title = "来訪者",
    .date = "2025年1月15日",
    .site = "玄関タワー",
    .qr_text = CHECKOUT_TEXT,
  };
  g_assert_cmpint(unknown_glyphs("山田 太郎 株式会社げんかん商事 佐藤 花子 担当 来訪者 2025年1月15日 玄関タワー"), ==, 0);

  g_autofree char *pdf = write_pdf(fx, "ja.pdf", &info);
  g_autofree char *raw = poppler("pdftotext", pdf);
  g_autofree char *text = squeeze(raw);
  const char *wanted[] = { "山田太郎", "株式会社げんかん商事", "担当:佐藤花子", "来訪者", "2025年1月15日", "玄関タワー" };
  for (guint i = 0; i < G_N_ELEMENTS(wanted); i++)
    if (strstr(text, wanted[i]) == NULL)
      g_error("\"%s\" missing from the PDF text: %s", wanted[i], raw);
  /* The glyphs come from a Japanese font embedded in the PDF. */
  g_autofree char *fonts = poppler("pdffonts", pdf);
  g_assert_nonnull(strstr(fonts, "IPA"));

  /* On the raster too: the name's area is not blank, and the QR still reads. */
  cairo_surface_t *s = render(&info, 300);
  g_assert_false(blank(s, 300, 8, 28, 100, 50));
  g_autofree char *got = decode_qr(s);
  g_assert_cmpstr(got, ==, CHECKOUT_TEXT);
  cairo_surface_destroy(s);
}

/* The same pixels in a rectangle (in points) of two renderings. */
static gboolean
same_pixels(cairo_surface_t *a, cairo_surface_t *b, double dpi, double x0, double y0, double x1, double y1)
{
  double k = dpi / 72.0;
  for (int y = (int) (y0 * k); y < (int) (y1 * k); y++)
    for (int x = (int) (x0 * k); x < (int) (x1 * k); x++)
      if (pixel(a, x, y) != pixel(b, x, y))
        return FALSE;
  return TRUE;
}

static void
test_long_texts_stay_inside(Fixture *fx, gconstpointer data)
{
  const double W = KIOSK_BADGE_WIDTH_PT, H = KIOSK_BADGE_HEIGHT_PT, dpi = 200;
  KioskBadgeInfo info = sample_info();
  cairo_surface_t *normal = render(&info, dpi);

  /* 200 characters with spaces, 200 without any break, and 200 Japanese. */
  GString *words = g_string_new(NULL), *one = g_string_new(NULL), *ja = g_string_new(NULL);
  while (words->len < 200)
    g_string_append(words, "Maximilian ");
  g_string_truncate(words, 200);
  for (guint i = 0; i < 200; i++)
    g_string_append_c(one, (char) ('A' + i % 26));
  for (guint i = 0; i < 200; i++)
    g_string_append(ja, "長");
  const char *names[] = { words->str, one->str, ja->str };
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    info.name = names[i];
    info.company = names[(i + 1) % G_N_ELEMENTS(names)];
    info.host = names[(i + 2) % G_N_ELEMENTS(names)];
    cairo_surface_t *s = render(&info, dpi);
    /* The QR code and everything right of the text column are untouched... */
    g_assert_true(same_pixels(s, normal, dpi, W * 0.66, 24, W, H));
    g_autofree char *got = decode_qr(s);
    g_assert_cmpstr(got, ==, CHECKOUT_TEXT);
    /* ...and the card's edges below the header band stay blank. */
    g_assert_true(blank(s, dpi, 0, 24, 3, H));
    g_assert_true(blank(s, dpi, 0, H - 3, W, H));
    g_assert_true(blank(s, dpi, W - 3, 24, W, H));
    cairo_surface_destroy(s);

    /* In the PDF every word's box lies on the card, and below the header
     * left of the QR code: the texts were shrunk and ellipsized, not merely
     * clipped (a clipped word's box would reach past the column). */
    g_autofree char *file = g_strdup_printf("long-%u.pdf", i);
    g_autofree char *pdf = write_pdf(fx, file, &info);
    g_autofree char *bbox = poppler("pdftotext-bbox", pdf);
    guint n_words = 0;
    for (const char *p = strstr(bbox, "<word "); p != NULL; p = strstr(p + 1, "<word ")) {
      double x0 = -1, y0 = -1, x1 = -1, y1 = -1;
      g_assert_cmpint(sscanf(p, "<word xMin=\"%lf\" yMin=\"%lf\" xMax=\"%lf\" yMax=\"%lf\"", &x0, &y0, &x1, &y1),
                      ==, 4);
      g_assert_cmpfloat(x0, >=, 0);
      g_assert_cmpfloat(y0, >=, 0);
      g_assert_cmpfloat(x1, <=, W);
      g_assert_cmpfloat(y1, <=, H);
      if (y0 > 24)
        g_assert_cmpfloat(x1, <=, W * 0.66);
      n_words++;
    }
    g_assert_cmpuint(n_words, >=, 5);
  }
  cairo_surface_destroy(normal);
  g_string_free(words, TRUE);
  g_string_free(one, TRUE);
  g_string_free(ja, TRUE);
}

/* Newlines and other control characters never break the layout. */
static void
test_control_characters(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = sample_info();
  info.name = "Jane\nExample\r\t\x01";
  g_autofree char *pdf = write_pdf(fx, "ctl.pdf", &info);
  g_autofree char *raw = poppler("pdftotext", pdf);
  g_autofree char *text = squeeze(raw);
  g_assert_nonnull(strstr(text, "JaneExample"));
}

static void
test_invalid(Fixture *fx, gconstpointer data)
{
  g_autofree char *pdf = g_build_filename(fx->dir, "bad.pdf", NULL);
  g_autofree char *too_long = g_strnfill(KIOSK_BADGE_MAX_TEXT + 1, 'x');
  g_autofree char *too_long_qr = g_strnfill(KIOSK_BADGE_MAX_QR_TEXT + 1, 'x');
  struct {
    const char *name, *company, *qr;
    int code;
  } cases[] = {
    { NULL, NULL, NULL, KIOSK_BADGE_ERROR_INVALID },
    { "", NULL, NULL, KIOSK_BADGE_ERROR_INVALID },
    { "ok", "\xff\xfe", NULL, KIOSK_BADGE_ERROR_INVALID },
    { too_long, NULL, NULL, KIOSK_BADGE_ERROR_INVALID },
    { "ok", NULL, too_long, KIOSK_BADGE_ERROR_INVALID },
    { "ok", NULL, too_long_qr, KIOSK_BADGE_ERROR_QR },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    KioskBadgeInfo info = { .name = cases[i].name, .company = cases[i].company, .qr_text = cases[i].qr };
    g_autoptr(GError) error = NULL;
    g_assert_false(kiosk_badge_write_pdf(&info, pdf, &error));
    g_assert_error(error, KIOSK_BADGE_ERROR, cases[i].code);
    g_assert_false(g_file_test(pdf, G_FILE_TEST_EXISTS));
    g_clear_error(&error);
    g_assert_null(kiosk_badge_render_image(&info, 100, &error));
    g_assert_error(error, KIOSK_BADGE_ERROR, cases[i].code);
  }
}

/* ---- printing ---- */

static void
assert_saved_copy(const KioskBadgePrintResult *result, const char *pdf, const char *save_dir)
{
  g_assert_cmpint(result->outcome, ==, KIOSK_BADGE_SAVED);
  g_assert_cmpint(result->job_id, ==, 0);
  g_assert_nonnull(result->reason);
  g_assert_nonnull(result->saved_path);
  g_autofree char *dir = g_path_get_dirname(result->saved_path);
  g_assert_cmpstr(dir, ==, save_dir);
  g_autofree char *base = g_path_get_basename(result->saved_path);
  g_assert_true(g_str_has_prefix(base, "badge-") && g_str_has_suffix(base, ".pdf"));
  struct stat st;
  g_assert_cmpint(g_stat(result->saved_path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  g_autofree char *a = NULL, *b = NULL;
  gsize alen = 0, blen = 0;
  g_assert_true(g_file_get_contents(pdf, &a, &alen, NULL));
  g_assert_true(g_file_get_contents(result->saved_path, &b, &blen, NULL));
  g_assert_cmpmem(a, alen, b, blen);
  /* The original stays for the caller to delete. */
  g_assert_true(g_file_test(pdf, G_FILE_TEST_IS_REGULAR));
}

static void
test_print_no_printer(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = sample_info();
  g_autofree char *pdf = write_pdf(fx, "p.pdf", &info);
  g_autofree char *save_dir = g_build_filename(fx->dir, "saved", NULL);
  const char *printers[] = { NULL, "" };
  g_autofree char *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS(printers); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(KioskBadgePrintResult) result = kiosk_badge_print(pdf, printers[i], save_dir, &error);
    g_assert_no_error(error);
    g_assert_nonnull(result);
    assert_saved_copy(result, pdf, save_dir);
    g_assert_nonnull(strstr(result->reason, "no printer"));
    /* Two badges in the same second get two files. */
    if (first == NULL)
      first = g_strdup(result->saved_path);
    else
      g_assert_cmpstr(result->saved_path, !=, first);
  }
  struct stat st;
  g_assert_cmpint(g_stat(save_dir, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0700);
}

/* A loopback port nothing listens on. */
static guint16
closed_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint(fd, >=, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof sa;
  g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_assert_cmpint(getsockname(fd, (struct sockaddr *) &sa, &len), ==, 0);
  close(fd);
  return ntohs(sa.sin_port);
}

static void
print_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GAsyncResult **out = data;
  *out = g_object_ref(res);
}

static void
test_print_cups_unreachable(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = sample_info();
  g_autofree char *pdf = write_pdf(fx, "p.pdf", &info);

  /* The async form, as the UI uses it: the main loop keeps running. */
  GAsyncResult *res = NULL;
  kiosk_badge_print_async(pdf, "Badge_Printer", fx->dir, NULL, print_done, &res);
  guint spins = 0;
  while (res == NULL) {
    g_main_context_iteration(NULL, TRUE);
    spins++;
  }
  g_assert_cmpuint(spins, >=, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskBadgePrintResult) result = kiosk_badge_print_finish(res, &error);
  g_object_unref(res);
  g_assert_no_error(error);
  assert_saved_copy(result, pdf, fx->dir);
  g_test_message("reason: %s", result->reason);
  g_autofree char *server = g_strdup_printf("127.0.0.1:%s", g_getenv("GK_TEST_CUPS_PORT"));
  g_assert_nonnull(strstr(result->reason, server));
}

static void
test_print_cannot_save(Fixture *fx, gconstpointer data)
{
  KioskBadgeInfo info = sample_info();
  g_autofree char *pdf = write_pdf(fx, "p.pdf", &info);
  /* The folder to save into is a file: nothing works, and it says so. */
  g_autofree char *not_dir = g_build_filename(fx->dir, "file", NULL);
  g_assert_true(g_file_set_contents(not_dir, "x", -1, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskBadgePrintResult) result = kiosk_badge_print(pdf, NULL, not_dir, &error);
  g_assert_null(result);
  g_assert_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_SAVE);
  g_clear_error(&error);

  /* No such badge file. */
  g_autofree char *missing = g_build_filename(fx->dir, "missing.pdf", NULL);
  g_assert_null(kiosk_badge_print(missing, NULL, fx->dir, &error));
  g_assert_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_SAVE);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Every test talks to a CUPS that is not there, never to a real print
   * server; set before any thread starts (setenv is not thread-safe). */
  g_autofree char *port = g_strdup_printf("%u", closed_port());
  g_autofree char *server = g_strdup_printf("127.0.0.1:%s", port);
  g_setenv("CUPS_SERVER", server, TRUE);
  g_setenv("GK_TEST_CUPS_PORT", port, TRUE);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/kiosk/badge/pdf", test_pdf);
  ADD("/kiosk/badge/pdf-labels-today", test_pdf_labels_and_today);
  ADD("/kiosk/badge/pdf-mode-on-replace", test_pdf_replaces_mode);
  ADD("/kiosk/badge/qr-decodes", test_qr_decodes);
  ADD("/kiosk/badge/japanese", test_japanese);
  ADD("/kiosk/badge/long-texts", test_long_texts_stay_inside);
  ADD("/kiosk/badge/control-characters", test_control_characters);
  ADD("/kiosk/badge/invalid", test_invalid);
  ADD("/kiosk/badge/print-no-printer", test_print_no_printer);
  ADD("/kiosk/badge/print-cups-unreachable", test_print_cups_unreachable);
  ADD("/kiosk/badge/print-cannot-save", test_print_cannot_save);
#undef ADD
  return g_test_run();
}
