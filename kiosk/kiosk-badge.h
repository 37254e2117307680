/* Visitor badges: one 90 x 54 mm card (the Japanese business-card size, which
 * label printers take as die-cut labels) drawn with cairo + Pango, written as a
 * PDF for CUPS or as an image for the on-screen preview; and printing through
 * CUPS, falling back to saving the PDF when there is no printer. */
#pragma once
#include <cairo.h>
#include <gio/gio.h>

G_BEGIN_DECLS

#define KIOSK_BADGE_ERROR kiosk_badge_error_quark()
GQuark kiosk_badge_error_quark(void);
typedef enum {
  KIOSK_BADGE_ERROR_INVALID, /* no name, text not UTF-8 or over KIOSK_BADGE_MAX_TEXT */
  KIOSK_BADGE_ERROR_QR,      /* the check-out text is over KIOSK_BADGE_MAX_QR_TEXT */
  KIOSK_BADGE_ERROR_RENDER,  /* cairo failed (out of memory) */
  KIOSK_BADGE_ERROR_SAVE,    /* could not print, and could not save the PDF either */
} KioskBadgeError;

/* The page, in PostScript points (1/72 inch): 90 x 54 mm, landscape. */
#define KIOSK_BADGE_WIDTH_MM  90.0
#define KIOSK_BADGE_HEIGHT_MM 54.0
#define KIOSK_BADGE_WIDTH_PT  (KIOSK_BADGE_WIDTH_MM * 72.0 / 25.4)
#define KIOSK_BADGE_HEIGHT_PT (KIOSK_BADGE_HEIGHT_MM * 72.0 / 25.4)
/* Pango families, in order; fontconfig falls back per character, and the
 * layout's language is Japanese so Han characters take Japanese glyph forms
 * (fonts-ipafont-gothic on Debian). */
#define KIOSK_BADGE_FONT "DejaVu Sans, IPAGothic, IPAexGothic, Noto Sans CJK JP, Sans"
/* Longest text of any field, in bytes; longer is refused (INVALID), not cut. */
#define KIOSK_BADGE_MAX_TEXT 1024
/* Longest check-out text (QR error): more would print modules under 0.45 mm,
 * too small for a 203 dpi label printer and a phone-sized scanner. */
#define KIOSK_BADGE_MAX_QR_TEXT 160

/* Every text is plain UTF-8 (never markup); control characters show as spaces.
 * Texts too wide for their place shrink down to a minimum size and are then
 * ellipsized, so nothing ever runs off the card or over the QR code. */
typedef struct {
  const char *name;       /* the visitor's name: required, non-empty; up to 2 lines */
  const char *company;    /* NULL or "": line left out */
  const char *host;       /* the host's name; NULL or "": line left out */
  const char *date;       /* as the UI formats it for its language; NULL: today, YYYY-MM-DD */
  const char *site;       /* in the header band; NULL: none */
  const char *qr_text;    /* the check-out code; NULL or "": no QR */
  const char *title;      /* header word; NULL: "VISITOR" (the UI passes its translation) */
  const char *host_label; /* before the host's name; NULL: "Host" */
} KioskBadgeInfo;

/* Draws the badge at the origin of @cr's user space, taken as points
 * (KIOSK_BADGE_WIDTH_PT x KIOSK_BADGE_HEIGHT_PT); scale @cr first for other
 * units (a GtkDrawingArea can draw the preview with this directly). @cr's state
 * is saved and restored. */
gboolean kiosk_badge_draw(cairo_t *cr, const KioskBadgeInfo *info, GError **error);

/* The badge as an opaque image surface (CAIRO_FORMAT_RGB24) at @dpi
 * (36..1200): for the preview and for tests. cairo_surface_destroy(). */
cairo_surface_t *kiosk_badge_render_image(const KioskBadgeInfo *info, double dpi, GError **error);

/* Writes the badge as a one-page PDF to @path, atomically and with mode 0600
 * (it holds a visitor's name). The caller deletes it once printed. */
gboolean kiosk_badge_write_pdf(const KioskBadgeInfo *info, const char *path, GError **error);

typedef enum {
  KIOSK_BADGE_PRINTED, /* queued on the printer: job_id is set */
  KIOSK_BADGE_SAVED,   /* not printed: the PDF was copied to saved_path */
} KioskBadgeOutcome;

typedef struct {
  KioskBadgeOutcome outcome;
  int job_id;       /* CUPS job id when PRINTED, else 0 */
  char *saved_path; /* the copy when SAVED (mode 0600), else NULL */
  char *reason;     /* why it was SAVED ("no printer is set", CUPS's message), else NULL */
} KioskBadgePrintResult;

void kiosk_badge_print_result_free(KioskBadgePrintResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskBadgePrintResult, kiosk_badge_print_result_free)

/* Sends @pdf_path to the CUPS queue @printer (cupsPrintFile2 on the default
 * CUPS server: client.conf or $CUPS_SERVER; connecting waits at most 5 s). The
 * job title is a fixed word, never the visitor's name: queues show titles to
 * anyone who can list jobs. When @printer is NULL or empty, CUPS cannot be
 * reached or refuses the job, the PDF is copied (0600) into @save_dir (made
 * 0700 when missing) as badge-YYYYMMDD-HHMMSS-N.pdf and the result says SAVED
 * and why. NULL with KIOSK_BADGE_ERROR_SAVE only when neither worked. @pdf_path
 * is left in place either way. Blocks (network): use the _async form from a UI. */
KioskBadgePrintResult *kiosk_badge_print(const char *pdf_path, const char *printer, const char *save_dir,
                                         GError **error);
/* kiosk_badge_print() on a worker thread; @callback runs on the calling
 * thread's default main context. */
void kiosk_badge_print_async(const char *pdf_path, const char *printer, const char *save_dir,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
KioskBadgePrintResult *kiosk_badge_print_finish(GAsyncResult *result, GError **error);

G_END_DECLS
