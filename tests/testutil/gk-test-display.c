/* Xvfb for GUI tests: started with -displayfd so two tests never race for a
 * display number. */
#include "gk-test-display.h"

#include <gio/gio.h>
#include <signal.h>
#include <string.h>

struct GkTestDisplay {
  GSubprocess *xvfb;
  char *name;
};

GkTestDisplay *
gk_test_display_start(int width, int height)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *screen = g_strdup_printf("%dx%dx24", width, height);
  g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                              &error, "Xvfb", "-displayfd", "1", "-screen", "0", screen, "-nolisten",
                                              "tcp", "-noreset", NULL);
  if (p == NULL) {
    g_printerr("cannot start Xvfb: %s\n", error->message);
    return NULL;
  }
  /* Xvfb writes the display number and a newline once it accepts clients. */
  g_autoptr(GDataInputStream) in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
  g_autofree char *line = g_data_input_stream_read_line_utf8(in, NULL, NULL, &error);
  gint64 n = 0;
  if (line == NULL || !g_ascii_string_to_signed(g_strstrip(line), 10, 0, 65535, &n, NULL)) {
    g_printerr("Xvfb did not start: %s\n", error != NULL ? error->message : "no display number");
    g_subprocess_force_exit(p);
    return NULL;
  }
  GkTestDisplay *d = g_new0(GkTestDisplay, 1);
  d->xvfb = g_steal_pointer(&p);
  d->name = g_strdup_printf(":%" G_GINT64_FORMAT, n);
  return d;
}

const char *
gk_test_display_name(GkTestDisplay *d)
{
  return d->name;
}

void
gk_test_display_stop(GkTestDisplay *d)
{
  if (d == NULL)
    return;
  g_subprocess_send_signal(d->xvfb, SIGTERM);
  g_subprocess_wait(d->xvfb, NULL, NULL);
  g_object_unref(d->xvfb);
  g_free(d->name);
  g_free(d);
}
