/* The window's hardware: the visitor badge (rendered and printed off the main
 * thread), the door output and the verdict sounds. */
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "gk-log.h"
#include "kiosk-badge.h"
#include "kiosk-door.h"
#include "kiosk-sound.h"
#include "kiosk-window-private.h"

/* ---- badge ---------------------------------------------------------------------- */

typedef struct {
  char *name, *company, *host, *date, *site, *qr_text, *title, *host_label;
  char *pdf_path, *printer, *save_dir;
} BadgeJob;

static void
badge_job_free(BadgeJob *job)
{
  g_free(job->name);
  g_free(job->company);
  g_free(job->host);
  g_free(job->date);
  g_free(job->site);
  g_free(job->qr_text);
  g_free(job->title);
  g_free(job->host_label);
  g_free(job->pdf_path);
  g_free(job->printer);
  g_free(job->save_dir);
  g_free(job);
}

static void
badge_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  BadgeJob *job = data;
  KioskBadgeInfo info = { .name = job->name, .company = job->company, .host = job->host, .date = job->date,
                          .site = job->site, .qr_text = job->qr_text, .title = job->title,
                          .host_label = job->host_label };
  GError *error = NULL;
  if (g_mkdir_with_parents(job->save_dir, 0700) != 0 || !kiosk_badge_write_pdf(&info, job->pdf_path, &error)) {
    if (error == NULL)
      error = g_error_new(KIOSK_BADGE_ERROR, KIOSK_BADGE_ERROR_SAVE, "cannot create %s", job->save_dir);
    g_task_return_error(task, error);
    return;
  }
  KioskBadgePrintResult *result = kiosk_badge_print(job->pdf_path, job->printer, job->save_dir, &error);
  if (result == NULL)
    g_task_return_error(task, error);
  else
    g_task_return_pointer(task, result, (GDestroyNotify) kiosk_badge_print_result_free);
}

static void
badge_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  KioskWindow *self = KIOSK_WINDOW(source);
  guint flow = GPOINTER_TO_UINT(user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskBadgePrintResult) result = g_task_propagate_pointer(G_TASK(res), &error);
  if (flow != self->badge_flow)
    return; /* that visitor's screen is gone */
  if (result == NULL) {
    GK_LOG_WARN("kiosk.badge.failed", GK_STR("error", error->message));
    gtk_label_set_text(self->done_badge, _("Your badge could not be printed. Please ask at the reception desk."));
  } else if (result->outcome == KIOSK_BADGE_PRINTED) {
    gtk_label_set_text(self->done_badge, _("Please take your badge from the printer."));
  } else {
    GK_LOG_INFO("kiosk.badge.saved", GK_STR("reason", result->reason));
    gtk_label_set_text(self->done_badge, _("Your badge is ready at the reception desk."));
  }
}

void
kiosk_window_badge_print(KioskWindow *self, const KioskVisitResult *visit)
{
  if (self->badge_dir == NULL || visit->visitor_name == NULL || visit->visit_id == NULL)
    return;
  BadgeJob *job = g_new0(BadgeJob, 1);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  job->name = g_strdup(visit->visitor_name);
  job->company = g_strdup(visit->company);
  job->host = g_strdup(visit->host_name);
  job->date = g_date_time_format(now, "%Y-%m-%d");
  job->site = g_strdup(kiosk_engine_setting(self->engine, "site-text"));
  job->qr_text = g_strconcat(KIOSK_BADGE_PREFIX, visit->visit_id, NULL);
  job->title = g_strdup(_("VISITOR"));
  job->host_label = g_strdup(_("Host"));
  job->printer = g_strdup(kiosk_engine_setting(self->engine, "printer"));
  job->save_dir = g_strdup(self->badge_dir);
  job->pdf_path = g_build_filename(self->badge_dir, "printing.pdf", NULL);
  g_free(self->badge_path);
  self->badge_path = g_strdup(job->pdf_path);
  gtk_label_set_text(self->done_badge, _("Printing your badge…"));
  GTask *task = g_task_new(self, NULL, badge_done, GUINT_TO_POINTER(++self->badge_flow));
  g_task_set_task_data(task, job, (GDestroyNotify) badge_job_free);
  g_task_run_in_thread(task, badge_thread);
  g_object_unref(task);
}

void
kiosk_window_badge_forget(KioskWindow *self)
{
  /* The PDF sent to the printer holds the visitor's name: it goes when the
   * flow ends. (Copies saved for a missing printer stay for the desk.) */
  self->badge_flow++;
  if (self->badge_path != NULL) {
    g_unlink(self->badge_path);
    g_clear_pointer(&self->badge_path, g_free);
  }
}

/* ---- door and sounds ------------------------------------------------------------------ */

static KioskDoorOutput
door_output(const char *name)
{
  if (g_strcmp0(name, "command") == 0)
    return KIOSK_DOOR_COMMAND;
  if (g_strcmp0(name, "gpio") == 0)
    return KIOSK_DOOR_GPIO;
  return KIOSK_DOOR_NONE;
}

static void
on_door_done(const GError *error, gpointer user_data)
{
  if (error != NULL)
    GK_LOG_WARN("kiosk.door.failed", GK_STR("error", error->message));
}

/* (Re)creates the door from the settings: at start and after each settings change. */
void
kiosk_window_devices_configure(KioskWindow *self)
{
  g_clear_pointer(&self->door, kiosk_door_free);
  KioskDoorOutput output = door_output(kiosk_engine_setting(self->engine, "door-output"));
  if (output == KIOSK_DOOR_NONE)
    return;
  const char *target = kiosk_engine_setting(self->engine, output == KIOSK_DOOR_GPIO ? "door-gpio" : "door-command");
  g_autoptr(GError) error = NULL;
  self->door = kiosk_door_new(output, target, (guint) kiosk_engine_setting_int(self->engine, "door-pulse-ms"), &error);
  if (self->door == NULL)
    GK_LOG_WARN("kiosk.door.unavailable", GK_STR("error", error->message));
  else
    kiosk_door_set_done_func(self->door, on_door_done, NULL, NULL);
}

void
kiosk_window_signal_verdict(KioskWindow *self, gboolean accepted)
{
  if (accepted && self->door != NULL) {
    g_autoptr(GError) error = NULL;
    if (!kiosk_door_open(self->door, &error))
      GK_LOG_WARN("kiosk.door.failed", GK_STR("error", error->message));
  }
  kiosk_window_play_sound(self, accepted);
}

void
kiosk_window_play_sound(KioskWindow *self, gboolean accepted)
{
  /* NULL sink: $GENKAN_AUDIO_SINK or autoaudiosink; without audio it logs
   * once and stays silent. */
  if (self->sound == NULL)
    self->sound = kiosk_sound_new(NULL);
  kiosk_sound_play(self->sound, accepted ? KIOSK_SOUND_ACCEPT : KIOSK_SOUND_REJECT);
}

void
kiosk_window_devices_free(KioskWindow *self)
{
  g_clear_pointer(&self->door, kiosk_door_free);
  g_clear_pointer(&self->sound, kiosk_sound_free);
  kiosk_window_badge_forget(self);
  g_clear_pointer(&self->badge_dir, g_free);
}
