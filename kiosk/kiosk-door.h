/* Door output for gate mode: on an accepted ticket, pulse a GPIO line (libgpiod)
 * or run the site's door command, without ever blocking the caller. */
#pragma once
#include <gio/gio.h>

#include "kiosk-store.h"

G_BEGIN_DECLS

#define KIOSK_DOOR_ERROR kiosk_door_error_quark()
GQuark kiosk_door_error_quark(void);
typedef enum {
  KIOSK_DOOR_ERROR_CONFIG,  /* missing or malformed door-command / door-gpio / pulse */
  KIOSK_DOOR_ERROR_GPIO,    /* the GPIO chip or line is missing, busy or refused a value */
  KIOSK_DOOR_ERROR_COMMAND, /* the command could not start, failed or was killed */
} KioskDoorError;

typedef enum {
  KIOSK_DOOR_NONE,    /* open() does nothing */
  KIOSK_DOOR_COMMAND, /* run door-command (no shell) for every opening */
  KIOSK_DOOR_GPIO,    /* drive door-gpio high for the pulse */
} KioskDoorOutput;

/* The command gets the pulse length in this environment variable. */
#define KIOSK_DOOR_PULSE_ENV "GENKAN_DOOR_PULSE_MS"
/* A command still running this long after its pulse should have ended is
 * killed (SIGKILL) and reported. */
#define KIOSK_DOOR_COMMAND_GRACE_MS 5000
#define KIOSK_DOOR_PULSE_MIN_MS 50
#define KIOSK_DOOR_PULSE_MAX_MS 10000

/* Runs on the door's main context when an opening ended: @error is NULL when it
 * went well (the command exited 0, the GPIO line went back to 0), else why not.
 * It may free the door. */
typedef void (*KioskDoorDoneFunc)(const GError *error, gpointer user_data);

typedef struct _KioskDoor KioskDoor;

/* @target is the command line (split like a shell would, but never run by one:
 * g_shell_parse_argv) for COMMAND, or "CHIP:LINE" (chip by name, number, label
 * or /dev path: gpiod_chip_open_lookup) for GPIO; ignored for NONE. A GPIO line
 * is requested here (as an output at 0, consumer "genkan-kiosk") and held
 * until the door is freed, so a missing chip or a busy line is a clear error
 * now rather than at the first visitor. The door belongs to the thread-default
 * main context at this call: use it from that context's thread, where timers
 * and the done callback run. */
KioskDoor *kiosk_door_new(KioskDoorOutput output, const char *target, guint pulse_ms, GError **error);
/* From the device settings door-output, door-command, door-gpio and
 * door-pulse-ms. */
KioskDoor *kiosk_door_new_from_settings(KioskStore *store, GError **error);
/* Ends a running pulse (the line goes to 0; a running command is killed),
 * releases the line; no callback runs after this. NULL is fine. */
void kiosk_door_free(KioskDoor *door);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskDoor, kiosk_door_free)

void kiosk_door_set_done_func(KioskDoor *door, KioskDoorDoneFunc func, gpointer user_data, GDestroyNotify notify);
KioskDoorOutput kiosk_door_get_output(KioskDoor *door);

/* Opens the door for the pulse and returns at once. GPIO: the line goes to 1
 * and back to 0 after the pulse; an open() during a pulse restarts the pulse
 * from now (one done callback, at the end). COMMAND: the command runs with
 * KIOSK_DOOR_PULSE_ENV set; an open() while it still runs makes it run once
 * more right after (never two at once, never a queue), so the opening is
 * extended. FALSE with @error only when nothing could be started (the GPIO
 * write or the spawn failed); later failures go to the done callback. */
gboolean kiosk_door_open(KioskDoor *door, GError **error);
/* TRUE from open() until the opening ended (including a pending re-run). */
gboolean kiosk_door_is_open(KioskDoor *door);

G_END_DECLS
