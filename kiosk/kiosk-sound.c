/* Verdict sounds: tone sequences synthesised as PCM, played by a short
 * appsrc → audioconvert → audioresample → sink pipeline per sound. */
#include "kiosk-sound.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <math.h>
#include <string.h>

#include "gk-log.h"

G_DEFINE_QUARK(kiosk-sound-error-quark, kiosk_sound_error)

#define FADE_MS   5     /* per note, in and out: no clicks at the edges */
#define AMPLITUDE 0.45  /* of full scale: loud, with headroom for the harmonics */

typedef struct {
  guint hz;       /* 0: silence */
  guint ms;
  gboolean buzz;  /* add the 3rd and 5th harmonics: harsh, unmistakably "no" */
} Note;

static const Note accept_notes[] = { { 1047, 110, FALSE }, { 0, 30, FALSE }, { 1568, 220, FALSE } };
static const Note reject_notes[] = { { 330, 250, TRUE }, { 0, 70, FALSE }, { 330, 250, TRUE } };
static const Note attention_notes[] = {
  { 880, 90, FALSE }, { 0, 70, FALSE }, { 880, 90, FALSE }, { 0, 70, FALSE }, { 880, 90, FALSE },
};

static const struct {
  const char *name;
  const Note *notes;
  guint n_notes;
} tones[KIOSK_SOUND_N_KINDS] = {
  [KIOSK_SOUND_ACCEPT] = { "accept", accept_notes, G_N_ELEMENTS(accept_notes) },
  [KIOSK_SOUND_REJECT] = { "reject", reject_notes, G_N_ELEMENTS(reject_notes) },
  [KIOSK_SOUND_ATTENTION] = { "attention", attention_notes, G_N_ELEMENTS(attention_notes) },
};

struct _KioskSound {
  GMainContext *context;
  char *sink;
  gboolean available;
  gboolean warned_fallback;

  KioskSoundDoneFunc done_func;
  gpointer done_data;
  GDestroyNotify done_notify;

  GstElement *pipeline; /* the sound playing now */
  GSource *bus_source;
  KioskSoundKind playing;
};

guint
kiosk_sound_duration_ms(KioskSoundKind kind)
{
  g_return_val_if_fail((guint) kind < KIOSK_SOUND_N_KINDS, 0);
  guint ms = 0;
  for (guint i = 0; i < tones[kind].n_notes; i++)
    ms += tones[kind].notes[i].ms;
  return ms;
}

GBytes *
kiosk_sound_pcm(KioskSoundKind kind)
{
  g_return_val_if_fail((guint) kind < KIOSK_SOUND_N_KINDS, NULL);
  gsize total = (gsize) kiosk_sound_duration_ms(kind) * KIOSK_SOUND_RATE / 1000;
  gint16 *pcm = g_new0(gint16, total);
  gsize at = 0;
  for (guint i = 0; i < tones[kind].n_notes; i++) {
    const Note *note = &tones[kind].notes[i];
    gsize n = (gsize) note->ms * KIOSK_SOUND_RATE / 1000, fade = (gsize) FADE_MS * KIOSK_SOUND_RATE / 1000;
    for (gsize j = 0; j < n && note->hz > 0; j++) {
      double phase = 2.0 * G_PI * note->hz * (double) j / KIOSK_SOUND_RATE;
      double v = sin(phase);
      if (note->buzz)
        v = (v + sin(3 * phase) / 3.0 + sin(5 * phase) / 5.0) / 1.2;
      double gain = 1.0;
      if (j < fade)
        gain = (double) j / (double) fade;
      else if (n - j <= fade)
        gain = (double) (n - j - 1) / (double) fade;
      pcm[at + j] = (gint16) lrint(v * gain * AMPLITUDE * 32767.0);
    }
    at += n;
  }
  /* Stored little-endian whatever the host is. */
  for (gsize j = 0; j < total; j++)
    pcm[j] = GINT16_TO_LE(pcm[j]);
  return g_bytes_new_take(pcm, total * sizeof(gint16));
}

KioskSound *
kiosk_sound_new(const char *sink)
{
  KioskSound *sound = g_new0(KioskSound, 1);
  sound->context = g_main_context_ref_thread_default();
  const char *env = g_getenv(KIOSK_SOUND_SINK_ENV);
  sound->sink = g_strdup(sink != NULL ? sink : env != NULL && *env != '\0' ? env : KIOSK_SOUND_DEFAULT_SINK);
  g_autoptr(GError) error = NULL;
  sound->available = gst_init_check(NULL, NULL, &error);
  if (!sound->available)
    GK_LOG_WARN("sound.unavailable", GK_STR("error", error->message));
  return sound;
}

static void
stop_playing(KioskSound *sound)
{
  if (sound->pipeline != NULL) {
    gst_element_set_state(sound->pipeline, GST_STATE_NULL);
    g_clear_pointer(&sound->pipeline, gst_object_unref);
  }
  if (sound->bus_source != NULL) {
    g_source_destroy(sound->bus_source);
    g_clear_pointer(&sound->bus_source, g_source_unref);
  }
}

void
kiosk_sound_free(KioskSound *sound)
{
  if (sound == NULL)
    return;
  stop_playing(sound);
  if (sound->done_notify != NULL)
    sound->done_notify(sound->done_data);
  g_main_context_unref(sound->context);
  g_free(sound->sink);
  g_free(sound);
}

void
kiosk_sound_set_done_func(KioskSound *sound, KioskSoundDoneFunc func, gpointer user_data, GDestroyNotify notify)
{
  g_return_if_fail(sound != NULL);
  if (sound->done_notify != NULL)
    sound->done_notify(sound->done_data);
  sound->done_func = func;
  sound->done_data = user_data;
  sound->done_notify = notify;
}

gboolean
kiosk_sound_is_available(KioskSound *sound)
{
  g_return_val_if_fail(sound != NULL, FALSE);
  return sound->available;
}

/* The one log line, then silence for good. */
static void
mark_unavailable(KioskSound *sound, const char *why)
{
  sound->available = FALSE;
  GK_LOG_WARN("sound.unavailable", GK_STR("sink", sound->sink), GK_STR("error", why));
}

/* Owner context. Nothing of the sound is used after the callback. */
static gboolean
on_bus_message(GstBus *bus, GstMessage *message, gpointer data)
{
  KioskSound *sound = data;
  g_autoptr(GError) error = NULL;
  switch (GST_MESSAGE_TYPE(message)) {
  case GST_MESSAGE_EOS:
    break;
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) gst_error = NULL;
    gst_message_parse_error(message, &gst_error, NULL);
    mark_unavailable(sound, gst_error != NULL ? gst_error->message : "unknown error");
    error = g_error_new(KIOSK_SOUND_ERROR, KIOSK_SOUND_ERROR_UNAVAILABLE, "sound output failed: %s",
                        gst_error != NULL ? gst_error->message : "unknown error");
    break;
  }
  case GST_MESSAGE_WARNING:
    /* autoaudiosink says so when it found no device and plays into a fake
     * sink: silent, but working, so one line and carry on. */
    if (!sound->warned_fallback) {
      g_autoptr(GError) warning = NULL;
      gst_message_parse_warning(message, &warning, NULL);
      GK_LOG_INFO("sound.warning", GK_STR("sink", sound->sink),
                  GK_STR("warning", warning != NULL ? warning->message : "?"));
      sound->warned_fallback = TRUE;
    }
    return G_SOURCE_CONTINUE;
  default:
    return G_SOURCE_CONTINUE;
  }
  KioskSoundKind kind = sound->playing;
  stop_playing(sound);
  if (sound->done_func != NULL)
    sound->done_func(kind, error, sound->done_data);
  return G_SOURCE_REMOVE;
}

static GstElement *
build_pipeline(KioskSound *sound, KioskSoundKind kind, GError **error)
{
  g_autoptr(GstElement) pipeline = gst_pipeline_new("kiosk-sound");
  GstElement *src = gst_element_factory_make("appsrc", NULL);
  GstElement *convert = gst_element_factory_make("audioconvert", NULL);
  GstElement *resample = gst_element_factory_make("audioresample", NULL);
  GstElement *sink = gst_parse_bin_from_description(sound->sink, TRUE, error);
  if (src == NULL || convert == NULL || resample == NULL || sink == NULL) {
    if (sink != NULL)
      g_set_error_literal(error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                          "appsrc, audioconvert or audioresample is not installed");
    for (guint i = 0; i < 4; i++) {
      GstElement *e = i == 0 ? src : i == 1 ? convert : i == 2 ? resample : sink;
      if (e != NULL)
        gst_object_unref(gst_object_ref_sink(e));
    }
    return NULL;
  }
  gst_bin_add_many(GST_BIN(pipeline), src, convert, resample, sink, NULL);
  if (!gst_element_link_many(src, convert, resample, sink, NULL)) {
    g_set_error(error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "the sink \"%s\" does not take audio",
                sound->sink);
    return NULL;
  }

  g_autoptr(GstCaps) caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "S16LE", "layout",
                                                G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT,
                                                KIOSK_SOUND_RATE, "channels", G_TYPE_INT, 1, NULL);
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, NULL);
  /* The whole tone is one buffer, queued before the pipeline runs. */
  g_autoptr(GBytes) pcm = kiosk_sound_pcm(kind);
  GstBuffer *buffer = gst_buffer_new_wrapped_bytes(pcm); /* takes its own ref */
  GST_BUFFER_PTS(buffer) = 0;
  GST_BUFFER_DURATION(buffer) = (GstClockTime) kiosk_sound_duration_ms(kind) * GST_MSECOND;
  gst_app_src_push_buffer(GST_APP_SRC(src), buffer);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  return g_steal_pointer(&pipeline);
}

gboolean
kiosk_sound_play(KioskSound *sound, KioskSoundKind kind)
{
  g_return_val_if_fail(sound != NULL, FALSE);
  g_return_val_if_fail((guint) kind < KIOSK_SOUND_N_KINDS, FALSE);
  if (!sound->available)
    return FALSE;
  stop_playing(sound);

  g_autoptr(GError) error = NULL;
  sound->pipeline = build_pipeline(sound, kind, &error);
  if (sound->pipeline != NULL) {
    sound->playing = kind;
    g_autoptr(GstBus) bus = gst_element_get_bus(sound->pipeline);
    sound->bus_source = gst_bus_create_watch(bus);
    g_source_set_callback(sound->bus_source, G_SOURCE_FUNC(on_bus_message), sound, NULL);
    g_source_set_static_name(sound->bus_source, "kiosk-sound-bus");
    g_source_attach(sound->bus_source, sound->context);
    if (gst_element_set_state(sound->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      g_autoptr(GstMessage) message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
      if (message != NULL)
        gst_message_parse_error(message, &error, NULL);
      else
        g_set_error_literal(&error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE, "the sink did not start");
      stop_playing(sound);
    }
  }
  if (sound->pipeline == NULL) {
    mark_unavailable(sound, error->message);
    if (sound->done_func != NULL) {
      g_autoptr(GError) failed = g_error_new(KIOSK_SOUND_ERROR, KIOSK_SOUND_ERROR_UNAVAILABLE,
                                             "sound output \"%s\" does not work: %s", sound->sink, error->message);
      sound->done_func(kind, failed, sound->done_data);
    }
    return FALSE;
  }
  GK_LOG_DEBUG("sound.play", GK_STR("tone", tones[kind].name));
  return TRUE;
}
