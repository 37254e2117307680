/* Visitor badges: the card's layout (cairo + Pango, QR from libqrencode as
 * vector squares), PDF and image output, and printing through CUPS with a
 * saved-PDF fallback. */
#include "kiosk-badge.h"

#include <cairo-pdf.h>
#include <cups/cups.h>
#include <errno.h>
#include <pango/pangocairo.h>
#include <qrencode.h>
#include <string.h>

#include "gk-log.h"
#include "gk-secure-file.h"

G_DEFINE_QUARK(kiosk-badge-error-quark, kiosk_badge_error)

/* Layout, in points. */
#define MARGIN     8.0
#define HEADER_H   22.0
#define QR_SIDE    80.0 /* 28 mm: a ~60-character code still has 0.5 mm modules */
#define COLUMN_GAP 8.0
#define CUPS_CONNECT_MS 5000
/* Fixed, so no personal data shows in `lpstat -W all` on the print server. */
#define CUPS_JOB_TITLE "Genkan visitor badge"

/* ---- input checks ---- */

static gboolean
check_text(const char *field, const char *text, gboolean required, GError **error)
{
  if (text == NULL || *text == '\0') {
    if (!required)
      return TRUE;
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_INVALID, "the badge's %s is empty", field);
    return FALSE;
  }
  gsize len = strlen(text);
  if (len > KIOSK_BADGE_MAX_TEXT) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_INVALID,
                "the badge's %s is longer than %d bytes", field, KIOSK_BADGE_MAX_TEXT);
    return FALSE;
  }
  if (!g_utf8_validate(text, (gssize) len, NULL)) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_INVALID, "the badge's %s is not UTF-8", field);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_qr_length(const char *qr_text, GError **error)
{
  if (qr_text != NULL && strlen(qr_text) > KIOSK_BADGE_MAX_QR_TEXT) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_QR,
                "the check-out code is longer than %d bytes: too dense to print", KIOSK_BADGE_MAX_QR_TEXT);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_info(const KioskBadgeInfo *info, GError **error)
{
  return check_text("name", info->name, TRUE, error) && check_text("company", info->company, FALSE, error) &&
         check_text("host", info->host, FALSE, error) && check_text("date", info->date, FALSE, error) &&
         check_text("site", info->site, FALSE, error) && check_text("QR text", info->qr_text, FALSE, error) &&
         check_text("title", info->title, FALSE, error) &&
         check_text("host label", info->host_label, FALSE, error) && check_qr_length(info->qr_text, error);
}

/* Control characters (newlines included) become spaces: every field is a line
 * of its own, and Pango would draw C0 codes as hex boxes. */
static char *
printable(const char *text)
{
  char *copy = g_strdup(text != NULL ? text : "");
  for (char *p = copy; *p != '\0'; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  return copy;
}

/* ---- drawing ---- */

/* Lays @text out in a @width x @height box: the largest size from @max_size
 * down to @min_size (half-point steps) at which it fits in @max_lines lines;
 * at @min_size it is ellipsized at the end of the last line. */
static PangoLayout *
fit_text(cairo_t *cr, const char *text, gboolean bold, double max_size, double min_size, int max_lines,
         double width, double height)
{
  PangoLayout *layout = pango_cairo_create_layout(cr);
  pango_context_set_language(pango_layout_get_context(layout), pango_language_from_string("ja"));
  pango_layout_context_changed(layout);
  g_autofree char *clean = printable(text);
  pango_layout_set_text(layout, clean, -1);
  pango_layout_set_width(layout, (int) (width * PANGO_SCALE));
  pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR);

  PangoFontDescription *font = pango_font_description_from_string(KIOSK_BADGE_FONT);
  pango_font_description_set_weight(font, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
  for (double size = max_size;; size -= 0.5) {
    if (size < min_size)
      size = min_size;
    /* Absolute: one Pango size unit is one user-space unit (a point here),
     * whatever resolution the surface reports. */
    pango_font_description_set_absolute_size(font, size * PANGO_SCALE);
    pango_layout_set_font_description(layout, font);
    int h = 0;
    pango_layout_get_size(layout, NULL, &h);
    if (size <= min_size) {
      pango_layout_set_height(layout, -max_lines);
      pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
      break;
    }
    if (pango_layout_get_line_count(layout) <= max_lines && (double) h / PANGO_SCALE <= height)
      break;
  }
  pango_font_description_free(font);
  return layout;
}

/* Draws @layout with its top left at (@x, @y), clipped to the box it was
 * fitted to: belt and braces for "never over the QR code". */
static void
show_clipped(cairo_t *cr, PangoLayout *layout, double x, double y, double width, double height)
{
  cairo_save(cr);
  cairo_rectangle(cr, x, y, width, height);
  cairo_clip(cr);
  cairo_move_to(cr, x, y);
  pango_cairo_show_layout(cr, layout);
  cairo_restore(cr);
}

/* Lays out, draws and returns the height used (at most @height). */
static double
draw_text(cairo_t *cr, const char *text, gboolean bold, double max_size, double min_size, int max_lines,
          double x, double y, double width, double height)
{
  g_autoptr(PangoLayout) layout = fit_text(cr, text, bold, max_size, min_size, max_lines, width, height);
  int h = 0;
  pango_layout_get_size(layout, NULL, &h);
  show_clipped(cr, layout, x, y, width, height);
  return MIN((double) h / PANGO_SCALE, height);
}

/* Dark modules as filled squares, quiet zone included in @side, on white.
 * Antialiasing is off so a raster rendering has crisp module edges. */
static gboolean
draw_qr(cairo_t *cr, const char *text, double x, double y, double side, GError **error)
{
  errno = 0;
  QRcode *code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (code == NULL) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_QR, "the check-out code does not fit a QR symbol: %s",
                g_strerror(errno != 0 ? errno : EINVAL));
    return FALSE;
  }
  const int quiet = 4;
  double module = side / (double) (code->width + 2 * quiet);
  cairo_save(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_rectangle(cr, x, y, side, side);
  cairo_fill(cr);
  cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
  cairo_set_source_rgb(cr, 0, 0, 0);
  for (int row = 0; row < code->width; row++)
    for (int col = 0; col < code->width; col++)
      if (code->data[(gsize) row * (gsize) code->width + (gsize) col] & 1)
        cairo_rectangle(cr, x + (col + quiet) * module, y + (row + quiet) * module, module, module);
  cairo_fill(cr);
  cairo_restore(cr);
  QRcode_free(code);
  return TRUE;
}

static char *
today_text(void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  return g_date_time_format(now, "%Y-%m-%d");
}

gboolean
kiosk_badge_draw(cairo_t *cr, const KioskBadgeInfo *info, GError **error)
{
  g_return_val_if_fail(cr != NULL && info != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  if (!check_info(info, error))
    return FALSE;

  const double W = KIOSK_BADGE_WIDTH_PT, H = KIOSK_BADGE_HEIGHT_PT;
  gboolean has_qr = info->qr_text != NULL && *info->qr_text != '\0';
  gboolean ok = TRUE;
  cairo_save(cr);
  cairo_rectangle(cr, 0, 0, W, H);
  cairo_clip(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  /* Header band: site on the left, the title on the right in white. */
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  cairo_rectangle(cr, 0, 0, W, HEADER_H);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  const char *title = info->title != NULL && *info->title != '\0' ? info->title : "VISITOR";
  double title_w = 80.0, band_text_y = 4.0, band_text_h = HEADER_H - 2 * band_text_y;
  {
    g_autoptr(PangoLayout) t = fit_text(cr, title, TRUE, 12, 7, 1, title_w, band_text_h);
    pango_layout_set_alignment(t, PANGO_ALIGN_RIGHT);
    show_clipped(cr, t, W - MARGIN - title_w, band_text_y, title_w, band_text_h);
  }
  if (info->site != NULL && *info->site != '\0')
    draw_text(cr, info->site, FALSE, 11, 7, 1, MARGIN, band_text_y, W - 3 * MARGIN - title_w, band_text_h);

  /* QR code at the right, below the band; the text column takes the rest. */
  double body_y = HEADER_H + 6.0;
  double column_w = W - 2 * MARGIN;
  if (has_qr) {
    double qr_x = W - MARGIN - QR_SIDE + 4.0; /* the quiet zone is margin enough */
    ok = draw_qr(cr, info->qr_text, qr_x, body_y - 2.0, QR_SIDE, error);
    column_w = qr_x - MARGIN - COLUMN_GAP + 4.0;
  }

  if (ok) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    double y = body_y;
    double date_h = 12.0, bottom = H - MARGIN - date_h;
    y += draw_text(cr, info->name, TRUE, 20, 9, 2, MARGIN, y, column_w, 50.0) + 4.0;
    if (info->company != NULL && *info->company != '\0' && y < bottom)
      y += draw_text(cr, info->company, FALSE, 12, 7, 1, MARGIN, y, column_w, MIN(16.0, bottom - y)) + 3.0;
    if (info->host != NULL && *info->host != '\0' && y < bottom) {
      const char *label = info->host_label != NULL && *info->host_label != '\0' ? info->host_label : "Host";
      g_autofree char *line = g_strdup_printf("%s: %s", label, info->host);
      draw_text(cr, line, FALSE, 11, 7, 1, MARGIN, y, column_w, MIN(15.0, bottom - y));
    }
    g_autofree char *today = info->date != NULL && *info->date != '\0' ? NULL : today_text();
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    draw_text(cr, today != NULL ? today : info->date, FALSE, 9, 7, 1, MARGIN, H - MARGIN - date_h, column_w, date_h);
  }
  cairo_restore(cr);
  if (ok && cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_RENDER, "cannot draw the badge: %s",
                cairo_status_to_string(cairo_status(cr)));
    ok = FALSE;
  }
  return ok;
}

cairo_surface_t *
kiosk_badge_render_image(const KioskBadgeInfo *info, double dpi, GError **error)
{
  g_return_val_if_fail(info != NULL, NULL);
  g_return_val_if_fail(dpi >= 36.0 && dpi <= 1200.0, NULL);
  double scale = dpi / 72.0;
  int w = (int) (KIOSK_BADGE_WIDTH_PT * scale + 0.5), h = (int) (KIOSK_BADGE_HEIGHT_PT * scale + 0.5);
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  cairo_t *cr = cairo_create(surface);
  /* The last pixel column or row may lie partly outside the card: white, not
   * the surface's initial black. */
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_scale(cr, scale, scale);
  gboolean ok = kiosk_badge_draw(cr, info, error);
  cairo_destroy(cr);
  if (ok && cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_RENDER, "cannot render the badge: %s",
                cairo_status_to_string(cairo_surface_status(surface)));
    ok = FALSE;
  }
  if (!ok) {
    cairo_surface_destroy(surface);
    return NULL;
  }
  return surface;
}

static cairo_status_t
append_bytes(void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append(closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

/* Wipes the bytes (a name is personal data) before freeing them. */
static void
byte_array_wipe_free(GByteArray *bytes)
{
  gsize len = 0;
  guint8 *data = g_byte_array_steal(bytes, &len);
  gk_secure_free(data, len);
  g_byte_array_unref(bytes);
}

gboolean
kiosk_badge_write_pdf(const KioskBadgeInfo *info, const char *path, GError **error)
{
  g_return_val_if_fail(info != NULL && path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  if (!check_info(info, error))
    return FALSE;

  /* Made in memory and written once, atomically, with mode 0600: no window in
   * which a half-written or world-readable badge sits on disk. */
  GByteArray *bytes = g_byte_array_new();
  cairo_surface_t *surface =
      cairo_pdf_surface_create_for_stream(append_bytes, bytes, KIOSK_BADGE_WIDTH_PT, KIOSK_BADGE_HEIGHT_PT);
  cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, CUPS_JOB_TITLE);
  cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Genkan " GENKAN_VERSION);
  cairo_t *cr = cairo_create(surface);
  gboolean ok = kiosk_badge_draw(cr, info, error);
  if (ok)
    cairo_show_page(cr);
  cairo_destroy(cr);
  cairo_surface_finish(surface);
  if (ok && cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_RENDER, "cannot write the badge PDF: %s",
                cairo_status_to_string(cairo_surface_status(surface)));
    ok = FALSE;
  }
  cairo_surface_destroy(surface);
  if (ok)
    ok = gk_secure_file_write(path, bytes->data, bytes->len, FALSE, error);
  byte_array_wipe_free(bytes);
  return ok;
}

/* ---- printing ---- */

void
kiosk_badge_print_result_free(KioskBadgePrintResult *result)
{
  if (result == NULL)
    return;
  g_free(result->saved_path);
  g_free(result->reason);
  g_free(result);
}

/* Queues @pdf_path on @printer; the job id, or 0 with *@reason set. */
static int
cups_print(const char *pdf_path, const char *printer, char **reason)
{
  const char *server = cupsServer();
  int port = ippPort();
  http_t *http = httpConnect2(server, port, NULL, AF_UNSPEC, cupsEncryption(), 1, CUPS_CONNECT_MS, NULL);
  if (http == NULL) {
    /* Not cupsLastErrorString(): after a refused connection it says "Host is down". */
    *reason = g_strdup_printf("cannot reach the print server %s:%d", server, port);
    return 0;
  }
  int job = cupsPrintFile2(http, printer, pdf_path, CUPS_JOB_TITLE, 0, NULL);
  if (job == 0)
    *reason = g_strdup_printf("printer %s refused the badge: %s", printer, cupsLastErrorString());
  httpClose(http);
  return job;
}

/* Copies @pdf_path into @save_dir under a new name, mode 0600. */
static char *
save_copy(const char *pdf_path, const char *save_dir, GError **error)
{
  if (g_mkdir_with_parents(save_dir, 0700) != 0) {
    int saved = errno;
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_SAVE, "cannot make the badge folder %s: %s",
                save_dir, g_strerror(saved));
    return NULL;
  }
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!g_file_get_contents(pdf_path, &data, &len, &local)) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_SAVE, "cannot read the badge: %s", local->message);
    return NULL;
  }
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
  char *path = NULL;
  gboolean ok = FALSE;
  /* Exclusive, so two badges in one second (or a stale file) never overwrite each other. */
  for (guint n = 1; n <= 100 && !ok; n++) {
    g_clear_error(&local);
    g_free(path);
    g_autofree char *base = g_strdup_printf("badge-%s-%u.pdf", stamp, n);
    path = g_build_filename(save_dir, base, NULL);
    ok = gk_secure_file_write(path, data, len, TRUE, &local);
    if (!ok && !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_EXIST))
      break;
  }
  gk_secure_free(g_steal_pointer(&data), len);
  if (!ok) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_SAVE, "cannot save the badge in %s: %s", save_dir,
                local != NULL ? local->message : "no free file name");
    g_free(path);
    return NULL;
  }
  return path;
}

KioskBadgePrintResult *
kiosk_badge_print(const char *pdf_path, const char *printer, const char *save_dir, GError **error)
{
  g_return_val_if_fail(pdf_path != NULL && save_dir != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  g_autoptr(KioskBadgePrintResult) result = g_new0(KioskBadgePrintResult, 1);
  if (!g_file_test(pdf_path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_SAVE, "the badge file %s does not exist", pdf_path);
    return NULL;
  }
  if (printer != NULL && *printer != '\0') {
    result->job_id = cups_print(pdf_path, printer, &result->reason);
    if (result->job_id > 0) {
      result->outcome = KIOSK_BADGE_PRINTED;
      GK_LOG_INFO("badge.printed", GK_STR("printer", printer), GK_INT("job", result->job_id));
      return g_steal_pointer(&result);
    }
    GK_LOG_WARN("badge.print_failed", GK_STR("printer", printer), GK_STR("reason", result->reason));
  } else {
    result->reason = g_strdup("no printer is set");
  }
  result->outcome = KIOSK_BADGE_SAVED;
  result->saved_path = save_copy(pdf_path, save_dir, error);
  if (result->saved_path == NULL)
    return NULL;
  GK_LOG_INFO("badge.saved", GK_STR("dir", save_dir));
  return g_steal_pointer(&result);
}

typedef struct {
  char *pdf_path, *printer, *save_dir;
} PrintJob;

static void
print_job_free(gpointer p)
{
  PrintJob *job = p;
  g_free(job->pdf_path);
  g_free(job->printer);
  g_free(job->save_dir);
  g_free(job);
}

static void
print_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  PrintJob *job = data;
  GError *error = NULL;
  KioskBadgePrintResult *result = kiosk_badge_print(job->pdf_path, job->printer, job->save_dir, &error);
  if (result == NULL)
    g_task_return_error(task, error);
  else
    g_task_return_pointer(task, result, (GDestroyNotify) kiosk_badge_print_result_free);
}

void
kiosk_badge_print_async(const char *pdf_path, const char *printer, const char *save_dir,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(pdf_path != NULL && save_dir != NULL);
  PrintJob *job = g_new0(PrintJob, 1);
  job->pdf_path = g_strdup(pdf_path);
  job->printer = g_strdup(printer);
  job->save_dir = g_strdup(save_dir);
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, kiosk_badge_print_async);
  g_task_set_task_data(task, job, print_job_free);
  g_task_run_in_thread(task, print_thread);
}

KioskBadgePrintResult *
kiosk_badge_print_finish(GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}
