/* Verdict sounds: distinct accept, reject and attention tones generated in
 * memory (no asset files) and played through GStreamer; with no working audio
 * output the kiosk stays silent after one log line. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

#define KIOSK_SOUND_ERROR kiosk_sound_error_quark()
GQuark kiosk_sound_error_quark(void);
typedef enum {
  KIOSK_SOUND_ERROR_UNAVAILABLE, /* the audio output failed (to start, or while playing) */
} KioskSoundError;

typedef enum {
  KIOSK_SOUND_ACCEPT,    /* two rising notes, 1047 then 1568 Hz */
  KIOSK_SOUND_REJECT,    /* two low buzzes, 330 Hz (odd harmonics) */
  KIOSK_SOUND_ATTENTION, /* three short 880 Hz beeps */
} KioskSoundKind;
#define KIOSK_SOUND_N_KINDS 3

/* The sink when kiosk_sound_new() gets NULL: a gst-launch description such as
 * "fakesink" (tests, CI), "pulsesink" or "alsasink device=hw:1". */
#define KIOSK_SOUND_SINK_ENV "GENKAN_AUDIO_SINK"
#define KIOSK_SOUND_DEFAULT_SINK "autoaudiosink"
/* Generated PCM: signed 16-bit little-endian mono at this rate. */
#define KIOSK_SOUND_RATE 48000

/* Runs on the sound's main context when a sound has finished (@error NULL) or
 * failed; a sound replaced by a newer kiosk_sound_play() gets no callback. When
 * the sink fails to start it runs inside kiosk_sound_play(). */
typedef void (*KioskSoundDoneFunc)(KioskSoundKind kind, const GError *error, gpointer user_data);

typedef struct _KioskSound KioskSound;

/* @sink: a gst-launch description of the audio output (the first element's
 * sink pad takes audio/x-raw); NULL: $GENKAN_AUDIO_SINK, else autoaudiosink.
 * Nothing is opened yet. Belongs to the thread-default main context at this
 * call (callbacks run there; use it from that thread). Never NULL: when
 * GStreamer cannot start, the sound is just unavailable. */
KioskSound *kiosk_sound_new(const char *sink);
/* Stops what is playing; no callback runs after this. NULL is fine. */
void kiosk_sound_free(KioskSound *sound);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskSound, kiosk_sound_free)

void kiosk_sound_set_done_func(KioskSound *sound, KioskSoundDoneFunc func, gpointer user_data,
                               GDestroyNotify notify);

/* Starts @kind and returns at once, cutting off a sound still playing (the
 * newest verdict wins). FALSE, silently, when sound is unavailable. The first
 * failure of the sink logs one line and makes it unavailable for good (the
 * done callback gets UNAVAILABLE); autoaudiosink falling back to its fake sink
 * (no sound card) logs one line too but counts as working. */
gboolean kiosk_sound_play(KioskSound *sound, KioskSoundKind kind);
gboolean kiosk_sound_is_available(KioskSound *sound);

/* The tone's length and its samples (KIOSK_SOUND_RATE, S16LE, mono). */
guint kiosk_sound_duration_ms(KioskSoundKind kind);
GBytes *kiosk_sound_pcm(KioskSoundKind kind);

G_END_DECLS
