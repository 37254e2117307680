/* KioskWindow's instance struct and the functions its files share:
 * kiosk-window.c (navigation, scanners, idle), kiosk-window-reception.c
 * (QR/code/walk-in/terms/done/leaving), kiosk-window-gate.c (verdicts),
 * kiosk-window-admin.c (PIN, status, enrollment), kiosk-window-photo.c (the
 * walk-in photo), kiosk-window-inspect.c (what the test driver reads). */
#pragma once
#include "kiosk-keyboard.h"
#include "kiosk-keypad.h"
#include "kiosk-window.h"

G_BEGIN_DECLS

struct _KioskWindow {
  GtkApplicationWindow parent_instance;

  KioskEngine *engine;
  GdkPaintable *preview;
  guint tick;
  guint done_timeout;
  guint gate_timeout;
  gint64 last_activity_us;
  GString *code;          /* reception code being typed */
  GString *pin;           /* admin PIN being typed */
  GString *wedge;         /* keyboard-wedge scanner buffer */
  gint64 wedge_started_us;
  gint64 wedge_last_us;
  gint64 host_id;         /* walk-in: the chosen host */
  gboolean admin_unlocked;
  gboolean busy;          /* an engine request of the flow is under way */
  GPtrArray *present;     /* leaving: KioskVisitResult* from the engine */
  GArray *latencies;      /* gint64 us, frame to verdict on screen */
  GArray *pending_frames; /* gint64 frame times waiting for the next paint */
  char *badge_path;       /* the last badge PDF, deleted when the flow ends */
  char *badge_dir;        /* where badges are written (and saved without a printer) */
  guint badge_flow;       /* a print result for an older flow is not shown */
  struct _KioskDoor *door;
  struct _KioskSound *sound;
  guint scan_serial;      /* gate: newer scans win */
  gint64 preview_at_us;   /* monotonic time of the last camera frame */
  /* walk-in photo (kiosk-window-photo.c) */
  int photo_state;
  gboolean photo_terms;   /* the terms were accepted before the photo screen */
  GdkTexture *photo_frame;/* the frame taken, shown as the still */
  GBytes *photo_jpeg;     /* its JPEG (wipes itself), held until the walk-in is submitted */
  GCancellable *photo_cancel;
  guint photo_tick;

  /* template children */
  GtkStack *pages;
  GtkLabel *site_label, *clock_label;
  GtkPicture *site_logo;
  GtkLabel *scan_title, *scan_status;
  GtkPicture *scan_picture;
  GtkLabel *code_display, *code_error;
  KioskKeypad *code_keypad;
  GtkEntry *walkin_name, *walkin_company, *walkin_purpose, *walkin_host_search;
  GtkListBox *walkin_hosts;
  GtkLabel *walkin_error;
  KioskKeyboard *walkin_keyboard;
  GtkLabel *terms_text;
  GtkStack *photo_view, *photo_actions;
  GtkPicture *photo_live, *photo_still;
  GtkLabel *photo_status;
  GtkLabel *done_title, *done_detail, *done_notified, *done_badge;
  GtkPicture *leaving_picture;
  GtkEntry *leaving_search;
  GtkListBox *leaving_list;
  GtkLabel *leaving_error;
  KioskKeyboard *leaving_keyboard;
  GtkBox *gate_box;
  GtkLabel *gate_title, *gate_reason, *gate_detail;
  GtkPicture *gate_picture;
  GtkStack *admin_stack;
  GtkLabel *admin_pin_display, *admin_error, *admin_status;
  KioskKeypad *admin_keypad;
  GtkPicture *enroll_picture;
  GtkEntry *enroll_entry;
  GtkLabel *enroll_status;
  GtkLabel *offline_badge;
  GtkButton *staff_button;
};

void kiosk_window_show_page(KioskWindow *self, const char *name);
void kiosk_window_go_home(KioskWindow *self);
char *kiosk_window_format_time(gint64 unix_time, gboolean with_date);
/* Records frame-to-verdict latency of a scan just shown. */
void kiosk_window_note_latency(KioskWindow *self, gint64 frame_time_us);

/* kiosk-window-reception.c */
void kiosk_window_class_init_reception(GtkWidgetClass *widget_class);
void kiosk_window_init_reception(KioskWindow *self);
void kiosk_window_reception_scan(KioskWindow *self, const char *text, gsize len, gboolean checkout,
                                 gint64 frame_time_us);
void kiosk_window_leaving_refresh(KioskWindow *self);
/* A digit from the keypad or a hardware key, for the code or PIN screen. */
void kiosk_window_keypad_digit(KioskWindow *self, const char *digit);
void kiosk_window_badge_forget(KioskWindow *self);
/* Registers the walk-in with what the form holds, the terms acceptance and
 * the photo taken (if any). */
void kiosk_window_submit_walkin(KioskWindow *self, gboolean terms_accepted);

/* kiosk-window-photo.c */
void kiosk_window_class_init_photo(GtkWidgetClass *widget_class);
/* TRUE when the site takes walk-in photos (setting "photo"). */
gboolean kiosk_window_photo_wanted(KioskWindow *self);
/* Shows the photo screen; the walk-in is submitted from there. */
void kiosk_window_photo_start(KioskWindow *self, gboolean terms_accepted);
/* Drops the photo (its bytes are wiped), any encoding under way and the
 * screen's timer: when the flow ends, the walk-in was submitted, or the window goes. */
void kiosk_window_photo_forget(KioskWindow *self);

/* kiosk-window-gate.c */
void kiosk_window_gate_ready(KioskWindow *self);
void kiosk_window_gate_scan(KioskWindow *self, const char *text, gsize len, gint64 frame_time_us);
/* Plain words for a verdict reason (translated). */
const char *kiosk_window_reason_text(KioskReason reason);

/* kiosk-window-devices.c */
void kiosk_window_badge_print(KioskWindow *self, const KioskVisitResult *visit);
void kiosk_window_devices_configure(KioskWindow *self);
void kiosk_window_signal_verdict(KioskWindow *self, gboolean accepted);
void kiosk_window_play_sound(KioskWindow *self, gboolean accepted);
void kiosk_window_devices_free(KioskWindow *self);

/* kiosk-window-admin.c */
void kiosk_window_class_init_admin(GtkWidgetClass *widget_class);
void kiosk_window_init_admin(KioskWindow *self);
void kiosk_window_enroll(KioskWindow *self, const char *code);
void kiosk_window_pin_digit(KioskWindow *self, const char *digit);

G_END_DECLS
