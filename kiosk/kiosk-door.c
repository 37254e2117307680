/* Door output: a GPIO pulse timed by a GSource, or the door command run with
 * GSubprocess and killed when it hangs; both report on the owner's context. */
#include "kiosk-door.h"

#include <errno.h>
#include <gpiod.h>
#include <string.h>

#include "gk-log.h"
#include "kiosk-settings.h"

G_DEFINE_QUARK(kiosk-door-error-quark, kiosk_door_error)

#define GPIO_CONSUMER "genkan-kiosk"

struct _KioskDoor {
  gint refs;     /* async callbacks hold one while they are pending */
  gboolean freed; /* kiosk_door_free() ran: callbacks only drop their ref */
  GMainContext *context;
  KioskDoorOutput output;
  guint pulse_ms;

  KioskDoorDoneFunc done_func;
  gpointer done_data;
  GDestroyNotify done_notify;
  GError *first_error; /* of the opening in progress */

  /* GPIO */
  struct gpiod_chip *chip;
  struct gpiod_line *line;
  char *gpio_name; /* CHIP:LINE, for messages */
  gboolean high;

  /* COMMAND */
  char **argv;
  GSubprocess *process;
  GCancellable *cancellable;
  gboolean rerun;
  gboolean timed_out;

  GSource *timer; /* GPIO: end of pulse; COMMAND: kill deadline */
};

static const char *
output_name(KioskDoorOutput output)
{
  switch (output) {
  case KIOSK_DOOR_NONE:
    return "none";
  case KIOSK_DOOR_COMMAND:
    return "command";
  case KIOSK_DOOR_GPIO:
    return "gpio";
  }
  return "?";
}

static KioskDoor *
door_ref(KioskDoor *door)
{
  g_atomic_int_inc(&door->refs);
  return door;
}

static void
door_unref(KioskDoor *door)
{
  if (!g_atomic_int_dec_and_test(&door->refs))
    return;
  g_clear_error(&door->first_error);
  g_free(door->gpio_name);
  g_strfreev(door->argv);
  g_clear_object(&door->cancellable);
  g_main_context_unref(door->context);
  g_free(door);
}

static void
clear_timer(KioskDoor *door)
{
  if (door->timer != NULL) {
    g_source_destroy(door->timer);
    g_clear_pointer(&door->timer, g_source_unref);
  }
}

static void
start_timer(KioskDoor *door, guint ms, GSourceFunc func)
{
  clear_timer(door);
  door->timer = g_timeout_source_new(ms);
  g_source_set_callback(door->timer, func, door, NULL);
  g_source_set_static_name(door->timer, "kiosk-door");
  g_source_attach(door->timer, door->context);
}

/* Keeps the first failure of the opening in progress; takes @error. */
static void
note_error(KioskDoor *door, GError *error)
{
  GK_LOG_WARN("door.error", GK_STR("output", output_name(door->output)), GK_STR("error", error->message));
  if (door->first_error == NULL)
    door->first_error = error;
  else
    g_error_free(error);
}

/* The opening is over: tells the owner how it went. Nothing of the door is
 * used after the callback, which may free it. */
static void
finish_opening(KioskDoor *door)
{
  g_autoptr(GError) error = g_steal_pointer(&door->first_error);
  if (error == NULL)
    GK_LOG_DEBUG("door.closed", GK_STR("output", output_name(door->output)));
  if (door->done_func != NULL)
    door->done_func(error, door->done_data);
}

/* ---- GPIO ---- */

static gboolean
gpio_request(KioskDoor *door, const char *target, GError **error)
{
  const char *colon = strrchr(target, ':');
  guint64 offset = 0;
  if (colon == NULL || colon == target ||
      !g_ascii_string_to_unsigned(colon + 1, 10, 0, 1023, &offset, NULL)) {
    g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_CONFIG,
                "door-gpio \"%s\" is not CHIP:LINE (e.g. gpiochip0:17)", target);
    return FALSE;
  }
  g_autofree char *chip_name = g_strndup(target, (gsize) (colon - target));
  errno = 0;
  door->chip = gpiod_chip_open_lookup(chip_name);
  if (door->chip == NULL) {
    int saved = errno;
    if (saved == ENOENT || saved == 0)
      g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_GPIO,
                  "GPIO chip %s not found (no such /dev/gpiochip*: is its driver loaded?)", chip_name);
    else
      g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_GPIO, "cannot open GPIO chip %s: %s", chip_name,
                  g_strerror(saved));
    return FALSE;
  }
  if (offset >= gpiod_chip_num_lines(door->chip)) {
    g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_GPIO, "GPIO chip %s has no line %u (it has %u)",
                chip_name, (guint) offset, gpiod_chip_num_lines(door->chip));
    return FALSE;
  }
  door->line = gpiod_chip_get_line(door->chip, (unsigned int) offset);
  if (door->line == NULL || gpiod_line_request_output(door->line, GPIO_CONSUMER, 0) < 0) {
    int saved = errno;
    door->line = NULL;
    g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_GPIO, "cannot use GPIO line %s as an output: %s%s",
                target, g_strerror(saved), saved == EBUSY ? " (another program holds it)" : "");
    return FALSE;
  }
  door->gpio_name = g_strdup(target);
  return TRUE;
}

static gboolean
gpio_set(KioskDoor *door, int value, GError **error)
{
  if (gpiod_line_set_value(door->line, value) < 0) {
    int saved = errno;
    g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_GPIO, "cannot set GPIO line %s to %d: %s",
                door->gpio_name, value, g_strerror(saved));
    return FALSE;
  }
  door->high = value != 0;
  return TRUE;
}

static gboolean
gpio_pulse_end(gpointer data)
{
  KioskDoor *door = data;
  g_clear_pointer(&door->timer, g_source_unref);
  GError *error = NULL;
  if (!gpio_set(door, 0, &error))
    note_error(door, error);
  door->high = FALSE; /* nothing more we can do: the opening is over */
  finish_opening(door);
  return G_SOURCE_REMOVE;
}

static gboolean
gpio_open(KioskDoor *door, GError **error)
{
  if (!gpio_set(door, 1, error))
    return FALSE;
  /* A new pulse from now: a second visitor gets the full time too. */
  start_timer(door, door->pulse_ms, gpio_pulse_end);
  return TRUE;
}

/* ---- COMMAND ---- */

static gboolean spawn_command(KioskDoor *door, GError **error);

static gboolean
command_deadline(gpointer data)
{
  KioskDoor *door = data;
  g_clear_pointer(&door->timer, g_source_unref);
  if (door->process != NULL) {
    door->timed_out = TRUE;
    g_subprocess_force_exit(door->process);
  }
  return G_SOURCE_REMOVE;
}

static GError *
command_failure(KioskDoor *door, GSubprocess *process)
{
  if (door->timed_out)
    return g_error_new(KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND,
                       "the door command did not finish within %u ms and was killed",
                       door->pulse_ms + KIOSK_DOOR_COMMAND_GRACE_MS);
  if (g_subprocess_get_if_exited(process))
    return g_error_new(KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND, "the door command failed with exit status %d",
                       g_subprocess_get_exit_status(process));
  return g_error_new(KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND, "the door command was killed by signal %d",
                     g_subprocess_get_term_sig(process));
}

static void
command_exited(GObject *source, GAsyncResult *result, gpointer data)
{
  KioskDoor *door = data;
  GSubprocess *process = G_SUBPROCESS(source);
  g_autoptr(GError) wait_error = NULL;
  gboolean waited = g_subprocess_wait_finish(process, result, &wait_error);
  if (door->freed || process != door->process) {
    door_unref(door);
    return;
  }
  clear_timer(door);
  if (!waited)
    note_error(door, g_error_new(KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND, "cannot wait for the door command: %s",
                                 wait_error->message));
  else if (!g_subprocess_get_successful(process))
    note_error(door, command_failure(door, process));
  g_clear_object(&door->process);

  /* An open() while it ran: once more, right away, so the door stays open. */
  GError *error = NULL;
  if (door->rerun && !spawn_command(door, &error))
    note_error(door, error);
  door->rerun = FALSE;
  if (door->process == NULL)
    finish_opening(door);
  door_unref(door);
}

static gboolean
spawn_command(KioskDoor *door, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autofree char *pulse = g_strdup_printf("%u", door->pulse_ms);
  g_subprocess_launcher_setenv(launcher, KIOSK_DOOR_PULSE_ENV, pulse, TRUE);
  g_autoptr(GError) local = NULL;
  door->process = g_subprocess_launcher_spawnv(launcher, (const char *const *) door->argv, &local);
  if (door->process == NULL) {
    g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_COMMAND, "cannot start the door command: %s",
                local->message);
    return FALSE;
  }
  door->timed_out = FALSE;
  start_timer(door, door->pulse_ms + KIOSK_DOOR_COMMAND_GRACE_MS, command_deadline);
  g_subprocess_wait_async(door->process, door->cancellable, command_exited, door_ref(door));
  return TRUE;
}

/* ---- public ---- */

KioskDoor *
kiosk_door_new(KioskDoorOutput output, const char *target, guint pulse_ms, GError **error)
{
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  if (output != KIOSK_DOOR_NONE && (pulse_ms < KIOSK_DOOR_PULSE_MIN_MS || pulse_ms > KIOSK_DOOR_PULSE_MAX_MS)) {
    g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_CONFIG, "door pulse %u ms is outside %u..%u ms", pulse_ms,
                KIOSK_DOOR_PULSE_MIN_MS, KIOSK_DOOR_PULSE_MAX_MS);
    return NULL;
  }
  if (output != KIOSK_DOOR_NONE && (target == NULL || *target == '\0')) {
    g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_CONFIG, "door output %s needs %s", output_name(output),
                output == KIOSK_DOOR_GPIO ? "door-gpio (CHIP:LINE)" : "door-command");
    return NULL;
  }

  KioskDoor *door = g_new0(KioskDoor, 1);
  door->refs = 1;
  door->context = g_main_context_ref_thread_default();
  door->output = output;
  door->pulse_ms = pulse_ms;
  door->cancellable = g_cancellable_new();
  gboolean ok = TRUE;
  if (output == KIOSK_DOOR_COMMAND) {
    g_autoptr(GError) local = NULL;
    ok = g_shell_parse_argv(target, NULL, &door->argv, &local);
    if (!ok)
      g_set_error(error, KIOSK_DOOR_ERROR, KIOSK_DOOR_ERROR_CONFIG, "door-command cannot be split: %s",
                  local->message);
  } else if (output == KIOSK_DOOR_GPIO) {
    ok = gpio_request(door, target, error);
  }
  if (!ok) {
    kiosk_door_free(door);
    return NULL;
  }
  return door;
}

KioskDoor *
kiosk_door_new_from_settings(KioskStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, NULL);
  g_autofree char *output = kiosk_settings_get(store, "door-output");
  guint pulse = (guint) CLAMP(kiosk_settings_get_int(store, "door-pulse-ms"), 0, G_MAXUINT);
  if (g_strcmp0(output, "command") == 0) {
    g_autofree char *command = kiosk_settings_get(store, "door-command");
    return kiosk_door_new(KIOSK_DOOR_COMMAND, command, pulse, error);
  }
  if (g_strcmp0(output, "gpio") == 0) {
    g_autofree char *gpio = kiosk_settings_get(store, "door-gpio");
    return kiosk_door_new(KIOSK_DOOR_GPIO, gpio, pulse, error);
  }
  return kiosk_door_new(KIOSK_DOOR_NONE, NULL, pulse, error);
}

void
kiosk_door_free(KioskDoor *door)
{
  if (door == NULL)
    return;
  door->freed = TRUE;
  clear_timer(door);
  if (door->line != NULL) {
    if (door->high)
      gpiod_line_set_value(door->line, 0);
    gpiod_line_release(door->line);
  }
  if (door->chip != NULL)
    gpiod_chip_close(door->chip);
  door->chip = NULL;
  door->line = NULL;
  g_cancellable_cancel(door->cancellable);
  if (door->process != NULL) {
    g_subprocess_force_exit(door->process);
    g_clear_object(&door->process);
  }
  if (door->done_notify != NULL)
    door->done_notify(door->done_data);
  door->done_func = NULL;
  door_unref(door);
}

void
kiosk_door_set_done_func(KioskDoor *door, KioskDoorDoneFunc func, gpointer user_data, GDestroyNotify notify)
{
  g_return_if_fail(door != NULL);
  if (door->done_notify != NULL)
    door->done_notify(door->done_data);
  door->done_func = func;
  door->done_data = user_data;
  door->done_notify = notify;
}

KioskDoorOutput
kiosk_door_get_output(KioskDoor *door)
{
  g_return_val_if_fail(door != NULL, KIOSK_DOOR_NONE);
  return door->output;
}

gboolean
kiosk_door_is_open(KioskDoor *door)
{
  g_return_val_if_fail(door != NULL, FALSE);
  return door->high || door->process != NULL;
}

gboolean
kiosk_door_open(KioskDoor *door, GError **error)
{
  g_return_val_if_fail(door != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  GError *local = NULL;
  gboolean ok = TRUE;
  switch (door->output) {
  case KIOSK_DOOR_NONE:
    return TRUE;
  case KIOSK_DOOR_GPIO:
    ok = gpio_open(door, &local);
    break;
  case KIOSK_DOOR_COMMAND:
    if (door->process != NULL)
      door->rerun = TRUE;
    else
      ok = spawn_command(door, &local);
    break;
  }
  if (ok) {
    GK_LOG_INFO("door.open", GK_STR("output", output_name(door->output)), GK_UINT("pulse_ms", door->pulse_ms));
  } else {
    GK_LOG_WARN("door.error", GK_STR("output", output_name(door->output)), GK_STR("error", local->message));
    g_propagate_error(error, local);
  }
  return ok;
}
