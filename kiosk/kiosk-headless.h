/* The screenless gate reader: scans arrive as lines on a file descriptor (a USB
 * scanner in keyboard mode), verdicts leave as JSON lines; a background thread
 * syncs on a schedule without ever holding up a verdict. */
#pragma once
#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

typedef struct {
  const char *data_dir;
  double sync_interval_s;  /* between successful rounds; <= 0: no background sync */
  gboolean checkout;       /* an exit door: scans become checkout events */
  long redeem_timeout_ms;  /* 0: KIOSK_REDEEM_TIMEOUT_MS */
  int in_fd;               /* scans, one per line */
  FILE *out;               /* verdict lines, flushed one by one */
} KioskHeadlessOptions;

/* Exit statuses of kiosk_headless_run(). */
#define KIOSK_EXIT_OK      0
#define KIOSK_EXIT_FAILURE 1
#define KIOSK_EXIT_USAGE   2
#define KIOSK_EXIT_REVOKED 3

/* Runs until end of input, SIGTERM or SIGINT (then flushes the queue if the
 * server answers within a few seconds), or until the server says this device
 * is revoked (then wipes the data dir). Returns an exit status. */
int kiosk_headless_run(const KioskHeadlessOptions *options);

G_END_DECLS
