/* Verdict sounds through real GStreamer pipelines: played into fakesink, and
 * into a WAV file whose length and pitch per note are measured here; a broken
 * sink makes the sound unavailable with exactly one log line. */
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <math.h>
#include <string.h>

#include "gk-log.h"
#include "gk-test-util.h"
#include "kiosk-sound.h"

#define DEADLINE_MS 30000 /* a failure deadline, not a performance figure */

typedef struct {
  char *dir;
  guint done;
  KioskSoundKind last_kind;
  GError *error;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  fx->dir = gk_test_make_tmpdir("test-kiosk-sound");
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_clear_error(&fx->error);
  gk_test_rmtree(fx->dir);
  g_free(fx->dir);
}

static void
on_done(KioskSoundKind kind, const GError *error, gpointer data)
{
  Fixture *fx = data;
  fx->done++;
  fx->last_kind = kind;
  g_clear_error(&fx->error);
  if (error != NULL)
    fx->error = g_error_copy(error);
}

static gboolean
wake(gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
wait_done(Fixture *fx, guint n, guint deadline_ms)
{
  GSource *tick = g_timeout_source_new(5);
  g_source_set_callback(tick, wake, NULL, NULL);
  g_source_attach(tick, NULL);
  gint64 end = g_get_monotonic_time() + (gint64) deadline_ms * 1000;
  while (fx->done < n && g_get_monotonic_time() < end)
    g_main_context_iteration(NULL, TRUE);
  g_source_destroy(tick);
  g_source_unref(tick);
  return fx->done >= n;
}

static KioskSound *
new_sound(Fixture *fx, const char *sink)
{
  KioskSound *sound = kiosk_sound_new(sink);
  g_assert_nonnull(sound);
  kiosk_sound_set_done_func(sound, on_done, fx, NULL);
  return sound;
}

static void
test_fakesink(Fixture *fx, gconstpointer data)
{
  /* sync=true: played at the clock's pace, as a sound card would. */
  g_autoptr(KioskSound) sound = new_sound(fx, "fakesink sync=true");
  g_assert_true(kiosk_sound_is_available(sound));
  for (guint kind = 0; kind < KIOSK_SOUND_N_KINDS; kind++) {
    gint64 t0 = g_get_monotonic_time();
    g_assert_true(kiosk_sound_play(sound, kind));
    g_assert_true(wait_done(fx, kind + 1, DEADLINE_MS));
    g_assert_no_error(fx->error);
    g_assert_cmpint(fx->last_kind, ==, kind);
    /* Not done before it could have been heard (a lower bound: never flaky). */
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, (gint64) kiosk_sound_duration_ms(kind) * 1000 * 9 / 10);
  }
  g_assert_true(kiosk_sound_is_available(sound));
}

/* A newer verdict cuts the older sound off: only its callback comes. */
static void
test_newest_wins(Fixture *fx, gconstpointer data)
{
  g_autoptr(KioskSound) sound = new_sound(fx, "fakesink sync=true");
  g_assert_true(kiosk_sound_play(sound, KIOSK_SOUND_ACCEPT));
  g_assert_true(kiosk_sound_play(sound, KIOSK_SOUND_REJECT));
  g_assert_true(wait_done(fx, 1, DEADLINE_MS));
  g_assert_false(wait_done(fx, 2, 300));
  g_assert_no_error(fx->error);
  g_assert_cmpint(fx->last_kind, ==, KIOSK_SOUND_REJECT);
}

/* ---- the WAV file ---- */

typedef struct {
  guint hz, ms;
} Expect;

static const Expect expect_accept[] = { { 1047, 110 }, { 0, 30 }, { 1568, 220 } };
static const Expect expect_reject[] = { { 330, 250 }, { 0, 70 }, { 330, 250 } };
static const Expect expect_attention[] = { { 880, 90 }, { 0, 70 }, { 880, 90 }, { 0, 70 }, { 880, 90 } };

static const struct {
  const Expect *notes;
  guint n;
} expected[KIOSK_SOUND_N_KINDS] = {
  [KIOSK_SOUND_ACCEPT] = { expect_accept, G_N_ELEMENTS(expect_accept) },
  [KIOSK_SOUND_REJECT] = { expect_reject, G_N_ELEMENTS(expect_reject) },
  [KIOSK_SOUND_ATTENTION] = { expect_attention, G_N_ELEMENTS(expect_attention) },
};

static guint32
le32(const guint8 *p)
{
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 | (guint32) p[3] << 24;
}

static guint16
le16(const guint8 *p)
{
  return (guint16) (p[0] | p[1] << 8);
}

/* The samples of a 16-bit mono PCM WAV file at @rate. */
static gint16 *
read_wav(const char *path, guint *out_rate, gsize *out_n)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, (char **) &data, &len, NULL));
  g_assert_cmpuint(len, >=, 44);
  g_assert_cmpmem(data, 4, "RIFF", 4);
  g_assert_cmpmem(data + 8, 4, "WAVE", 4);
  gsize at = 12;
  gint16 *samples = NULL;
  gboolean fmt_seen = FALSE;
  while (at + 8 <= len && samples == NULL) {
    guint32 size = le32(data + at + 4);
    g_assert_cmpuint(at + 8 + size, <=, len);
    if (memcmp(data + at, "fmt ", 4) == 0) {
      g_assert_cmpuint(le16(data + at + 8), ==, 1);   /* PCM */
      g_assert_cmpuint(le16(data + at + 10), ==, 1);  /* mono */
      *out_rate = le32(data + at + 12);
      g_assert_cmpuint(le16(data + at + 22), ==, 16); /* bits */
      fmt_seen = TRUE;
    } else if (memcmp(data + at, "data", 4) == 0) {
      g_assert_true(fmt_seen);
      *out_n = size / 2;
      samples = g_new(gint16, *out_n);
      for (gsize i = 0; i < *out_n; i++)
        samples[i] = (gint16) le16(data + at + 8 + 2 * i);
    }
    at += 8 + size + (size & 1);
  }
  g_assert_nonnull(samples);
  return samples;
}

/* Pitch from rising zero crossings over the middle of a note (the fades at
 * its edges left out). */
static double
pitch(const gint16 *s, gsize from, gsize to, guint rate)
{
  gsize first = 0, last = 0;
  guint crossings = 0;
  for (gsize i = from + 1; i < to; i++)
    if (s[i - 1] < 0 && s[i] >= 0) {
      if (crossings == 0)
        first = i;
      last = i;
      crossings++;
    }
  if (crossings < 2)
    return 0;
  return (double) (crossings - 1) * rate / (double) (last - first);
}

static double
rms(const gint16 *s, gsize from, gsize to)
{
  double sum = 0;
  for (gsize i = from; i < to; i++)
    sum += (double) s[i] * s[i];
  return sqrt(sum / (double) MAX(to - from, 1));
}

static void
test_wav(Fixture *fx, gconstpointer data)
{
  for (guint kind = 0; kind < KIOSK_SOUND_N_KINDS; kind++) {
    g_autofree char *name = g_strdup_printf("tone-%u.wav", kind);
    g_autofree char *wav = g_build_filename(fx->dir, name, NULL);
    g_autofree char *sink = g_strdup_printf("wavenc ! filesink location=%s", wav);
    g_autoptr(KioskSound) sound = new_sound(fx, sink);
    fx->done = 0;
    g_assert_true(kiosk_sound_play(sound, kind));
    g_assert_true(wait_done(fx, 1, DEADLINE_MS));
    g_assert_no_error(fx->error);

    guint rate = 0;
    gsize n = 0;
    g_autofree gint16 *s = read_wav(wav, &rate, &n);
    g_assert_cmpuint(rate, ==, KIOSK_SOUND_RATE);
    guint ms = 0;
    for (guint i = 0; i < expected[kind].n; i++)
      ms += expected[kind].notes[i].ms;
    g_assert_cmpuint(kiosk_sound_duration_ms(kind), ==, ms);
    g_assert_cmpuint(n, ==, (gsize) ms * rate / 1000);

    gsize at = 0;
    for (guint i = 0; i < expected[kind].n; i++) {
      const Expect *e = &expected[kind].notes[i];
      gsize len = (gsize) e->ms * rate / 1000, margin = len / 10;
      if (e->hz == 0) {
        g_assert_cmpfloat(rms(s, at, at + len), <, 1.0);
      } else {
        double hz = pitch(s, at + margin, at + len - margin, rate);
        g_test_message("tone %u note %u: %.1f Hz (want %u), rms %.0f", kind, i, hz, e->hz,
                       rms(s, at + margin, at + len - margin));
        g_assert_cmpfloat(fabs(hz - e->hz), <, e->hz * 0.02);
        g_assert_cmpfloat(rms(s, at + margin, at + len - margin), >, 5000); /* clearly audible */
      }
      at += len;
    }
    /* Never clipped. */
    for (gsize i = 0; i < n; i++)
      g_assert_cmpint(ABS((int) s[i]), <, 32767);
  }
}

static void
test_pcm_matches_duration(Fixture *fx, gconstpointer data)
{
  for (guint kind = 0; kind < KIOSK_SOUND_N_KINDS; kind++) {
    g_autoptr(GBytes) pcm = kiosk_sound_pcm(kind);
    g_assert_cmpuint(g_bytes_get_size(pcm), ==, (gsize) kiosk_sound_duration_ms(kind) * KIOSK_SOUND_RATE / 1000 * 2);
  }
  /* The three are told apart by ear: different lengths and pitches above. */
  g_assert_cmpuint(kiosk_sound_duration_ms(KIOSK_SOUND_ACCEPT), !=, kiosk_sound_duration_ms(KIOSK_SOUND_REJECT));
  g_assert_cmpuint(kiosk_sound_duration_ms(KIOSK_SOUND_REJECT), !=, kiosk_sound_duration_ms(KIOSK_SOUND_ATTENTION));
}

/* ---- no working output ---- */

static guint unavailable_lines;

static void
count_lines(GkLogLevel level, const char *line, gpointer data)
{
  if (strstr(line, "event=sound.unavailable") != NULL)
    unavailable_lines++;
}

static void
test_unavailable(Fixture *fx, gconstpointer data)
{
  g_autofree char *bad_file = g_build_filename(fx->dir, "no-such-dir", "x.wav", NULL);
  g_autofree char *unwritable = g_strdup_printf("wavenc ! filesink location=%s", bad_file);
  /* An element that does not exist; a sink that cannot open; no audio at all. */
  const char *sinks[] = { "genkan-no-such-sink", unwritable, "videotestsrc" };
  for (guint i = 0; i < G_N_ELEMENTS(sinks); i++) {
    unavailable_lines = 0;
    fx->done = 0;
    gk_log_set_sink(count_lines, NULL);
    g_autoptr(KioskSound) sound = new_sound(fx, sinks[i]);
    g_assert_false(kiosk_sound_play(sound, KIOSK_SOUND_ACCEPT));
    g_assert_false(kiosk_sound_is_available(sound));
    g_assert_cmpuint(fx->done, ==, 1);
    g_assert_error(fx->error, KIOSK_SOUND_ERROR, KIOSK_SOUND_ERROR_UNAVAILABLE);
    g_test_message("%s: %s", sinks[i], fx->error->message);
    /* From now on silent: no callback, no more log lines. */
    g_assert_false(kiosk_sound_play(sound, KIOSK_SOUND_REJECT));
    g_assert_false(kiosk_sound_play(sound, KIOSK_SOUND_ATTENTION));
    g_assert_false(wait_done(fx, 2, 100));
    gk_log_set_sink(NULL, NULL);
    g_assert_cmpuint(unavailable_lines, ==, 1);
  }
}

/* kiosk_sound_new(NULL) takes the sink from GENKAN_AUDIO_SINK (set in main). */
static void
test_sink_from_env(Fixture *fx, gconstpointer data)
{
  const char *wav = g_getenv("GK_TEST_ENV_WAV");
  g_assert_false(g_file_test(wav, G_FILE_TEST_EXISTS));
  g_autoptr(KioskSound) sound = new_sound(fx, NULL);
  g_assert_true(kiosk_sound_play(sound, KIOSK_SOUND_ATTENTION));
  g_assert_true(wait_done(fx, 1, DEADLINE_MS));
  g_assert_no_error(fx->error);
  g_assert_true(g_file_test(wav, G_FILE_TEST_IS_REGULAR));
  g_unlink(wav);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Set before any thread starts (setenv is not thread-safe). */
  g_autofree char *wav = g_strdup_printf("%s/test-kiosk-sound-env-%d.wav", g_get_tmp_dir(), (int) getpid());
  g_autofree char *sink = g_strdup_printf("wavenc ! filesink location=%s", wav);
  g_setenv(KIOSK_SOUND_SINK_ENV, sink, TRUE);
  g_setenv("GK_TEST_ENV_WAV", wav, TRUE);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/kiosk/sound/fakesink", test_fakesink);
  ADD("/kiosk/sound/newest-wins", test_newest_wins);
  ADD("/kiosk/sound/wav", test_wav);
  ADD("/kiosk/sound/pcm", test_pcm_matches_duration);
  ADD("/kiosk/sound/unavailable", test_unavailable);
  ADD("/kiosk/sound/sink-from-env", test_sink_from_env);
#undef ADD
  int rc = g_test_run();
  g_unlink(wav);
  gst_deinit();
  return rc;
}
